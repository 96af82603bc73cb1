"""Corpora: reading and verifying text, building and caching the vocabulary and encoded
corpus, and the noise distribution negatives are drawn from.

Layers, bottom to top: core, data, train, evaluate, store, run, analyze, cli. A module imports
only from its own layer or those below it (tests/test_layering.py).
"""
