"""Benchmark harness (filled by the evals issue)."""
