"""Running: one run end to end, grids of runs (local, shared through Optuna, one worker per
GPU) and Optuna searches.

Layers, bottom to top: core, data, train, evaluate, store, run, analyze, cli. A module imports
only from its own layer or those below it (tests/test_layering.py).
"""
