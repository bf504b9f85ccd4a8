"""Batch engines for ``trendml score`` / ``trendml embed`` beyond one process (see docs/scale.md).

A shell package like ``service/`` and ``training/``: it may start or join a Ray cluster (network,
process-global state), which the ``trendml`` library never does.
"""
