"""Benchmarks run on demand (python tests/benchmarks/bench_*.py); pytest never collects them."""

collect_ignore_glob = ["bench_*.py"]
