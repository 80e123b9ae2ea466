"""Reproducible benchmarks (``python -m bench``); results in bench/README.md."""
