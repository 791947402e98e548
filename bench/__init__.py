"""Benchmark harness: datasets, an acknowledging bulk sink, baselines and the engine, side by side."""
