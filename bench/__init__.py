"""Benchmarks of sdax: pytest-benchmark groups (``bench_*.py``) and ``report.py``.

Not part of the installed package. See ``bench/RESULTS.md``.
"""
