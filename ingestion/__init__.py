"""The ingestion engine: SQL reading, templating, transforms, bulk writing, runs, workers."""
