"""Benchmarks: ratios against a baseline measured in the same run; results in docs/BENCHMARKS.md."""
