"""Evaluation: the benchmark registry and data sets, per-item scores, scoring a run's vectors,
and the statistics (intervals, tests) computed on per-item and per-seed scores.

Layers, bottom to top: core, data, train, evaluate, store, run, analyze, cli. A module imports
only from its own layer or those below it (tests/test_layering.py).
"""
