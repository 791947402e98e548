"""The processes around runs: claiming and executing them, schedules, reaping, memory."""
