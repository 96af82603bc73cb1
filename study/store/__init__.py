"""Storage: a study folder of runs (records, metrics, items, vectors), its tables, the Optuna
storage shared by grid workers, and checks that a run matches its corpus.

Layers, bottom to top: core, data, train, evaluate, store, run, analyze, cli. A module imports
only from its own layer or those below it (tests/test_layering.py).
"""
