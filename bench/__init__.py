"""Reproducible benchmarks (``python -m bench``); results in bench/README.md.

The benchmarks start servers the way the test suite does: the repository root and ``tests/`` are
put on ``sys.path`` here, once, so ``tests.conftest`` (the throwaway PostgreSQL) and
``live_server`` (free ports, live WSGI servers) are importable from every benchmark."""
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _path in (os.path.join(_ROOT, "tests"), _ROOT):
    if _path not in sys.path:
        sys.path.insert(0, _path)
