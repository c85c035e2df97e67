"""Benchmarks and harnesses outside the installed package (``python -m benchmarks.<name>``)."""
