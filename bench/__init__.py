"""Benchmarks that print speed ratios measured in one run (not collected by pytest)."""
