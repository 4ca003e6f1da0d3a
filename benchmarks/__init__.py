"""Benchmarks: scripts that measure; never timed tests. Figures go to benchmarks/RESULTS.md."""
