"""Benchmarks: each script prints figures beside a baseline measured in the same run."""
