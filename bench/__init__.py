"""Benchmarks for chainmine: figures, not tests (``make bench``)."""
