"""Benchmarks: head cost and full train steps."""
