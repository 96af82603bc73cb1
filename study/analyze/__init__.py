"""Analysis: cell tables, paired comparisons with verdicts, figures and the generated report.

Layers, bottom to top: core, data, train, evaluate, store, run, analyze, cli. A module imports
only from its own layer or those below it (tests/test_layering.py).
"""
