"""Benchmarks: ``python -m benchmarks [NAME ...]`` (``make bench``).

Each ``bench_<name>.py`` defines ``run() -> str`` returning a Markdown section; it is written
to ``benchmarks/results/<name>.md`` and all sections are joined into ``benchmarks/RESULTS.md``.
Speed is reported as ratios against a baseline run in the same process, never asserted.
"""
