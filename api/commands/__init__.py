"""The client commands of `connector`: datasources, ingestions and jobs, against a running service."""
