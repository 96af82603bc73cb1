"""Training: the trainers (PyTorch batched step, Triton Hogwild kernel, CPU worker processes,
gensim baseline), the closed-form SGNS gradients, gradient-norm probes and vectors.

Layers, bottom to top: core, data, train, evaluate, store, run, analyze, cli. A module imports
only from its own layer or those below it (tests/test_layering.py).
"""
