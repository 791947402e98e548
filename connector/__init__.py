"""The core shared by every process: settings, Elasticsearch stores, job states, security."""
