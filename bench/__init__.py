"""Benchmarks: a reproducible crawl generator and timed jobs (`make bench`)."""
