"""The base layer: run configuration, errors, file and atomic-write helpers, redaction, and the
label of the training step a run used. Imports nothing else from `study`.

Layers, bottom to top: core, data, train, evaluate, store, run, analyze, cli. A module imports
only from its own layer or those below it (tests/test_layering.py).
"""
