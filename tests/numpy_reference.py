"""A NumPy reference of SGNS (and full softmax) loss and gradients, the tests' oracle: built from
small textbook layers (embedding-dot, sigmoid-with-loss, a unigram sampler), independently of
the torch closed form in `study.train.sgns_math`, all in float64, never on a hot path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class EmbeddingDot:
    """score[b] = W[idx[b]] · h[b]; backward scatters into a dense dW with np.add.at."""

    def __init__(self, weights: np.ndarray):
        self.weights = weights
        self.idx: np.ndarray | None = None
        self.h: np.ndarray | None = None

    def forward(self, h: np.ndarray, idx: np.ndarray) -> np.ndarray:
        self.h, self.idx = h, idx
        return np.einsum("bd,bd->b", self.weights[idx], h)

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Returns (dL/dh, dL/dW) for upstream dL/dscore `dout` (B,)."""
        assert self.idx is not None and self.h is not None
        dh = dout[:, None] * self.weights[self.idx]
        dw = np.zeros_like(self.weights)
        np.add.at(dw, self.idx, dout[:, None] * self.h)
        return dh, dw


class SigmoidWithLoss:
    """Binary cross-entropy on a logit: loss = log(1 + e^x) - t·x; dL/dx = σ(x) - t."""

    def __init__(self) -> None:
        self.x: np.ndarray | None = None
        self.t: np.ndarray | None = None

    def forward(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        self.x, self.t = x, t
        return np.logaddexp(0.0, x) - t * x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        assert self.x is not None and self.t is not None
        return (1.0 / (1.0 + np.exp(-self.x)) - self.t) * dout


class UnigramSampler:
    """Negatives ∝ count**power (the word2vec noise distribution), via `rng.choice`."""

    def __init__(self, counts: np.ndarray, power: float):
        weights = np.asarray(counts, dtype=np.float64) ** power
        self.probs = weights / weights.sum()

    def sample(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return rng.choice(len(self.probs), size=shape, p=self.probs)


@dataclass
class Gradients:
    loss: np.ndarray  # (B,) loss per (center, context) pair
    d_in: np.ndarray  # (V, d) dL/dW_in, summed over the batch
    d_out: np.ndarray  # (V, d) dL/dW_out, summed over the batch


def sgns(
    w_in: np.ndarray,
    w_out: np.ndarray,
    centers: np.ndarray,
    contexts: np.ndarray,
    negatives: np.ndarray,
) -> Gradients:
    """SGNS loss per pair and gradients of the summed loss w.r.t. both full matrices.

    centers, contexts: (B,) ids; negatives: (B, K) ids.
    """
    h = w_in[centers]
    batch, k = negatives.shape
    # One EmbeddingDot + SigmoidWithLoss for the positive and one per negative column.
    layers = [(EmbeddingDot(w_out), SigmoidWithLoss(), contexts, 1.0)]
    layers += [(EmbeddingDot(w_out), SigmoidWithLoss(), negatives[:, j], 0.0) for j in range(k)]
    loss = np.zeros(batch)
    dh = np.zeros_like(h)
    d_out = np.zeros_like(w_out)
    for dot, sig, idx, label in layers:
        loss += sig.forward(dot.forward(h, idx), np.full(batch, label))
        dh_part, dw_part = dot.backward(sig.backward(np.ones(batch)))
        dh += dh_part
        d_out += dw_part
    d_in = np.zeros_like(w_in)
    np.add.at(d_in, centers, dh)
    return Gradients(loss, d_in, d_out)


def sgns_pair_terms(
    v: np.ndarray, u_pos: np.ndarray, u_neg: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-pair (loss, dL/dv, dL/du_pos, dL/du_neg) for gathered rows v, u_pos (B,d), u_neg (B,K,d).

    The same layers on a private vocabulary where every row is its own word, so the per-row
    gradients of `sgns` are exactly the per-pair gradients.
    """
    batch, k, dim = u_neg.shape
    w_out = np.concatenate([u_pos, u_neg.reshape(batch * k, dim)])
    contexts = np.arange(batch)
    negatives = batch + np.arange(batch * k).reshape(batch, k)
    grads = sgns(v, w_out, np.arange(batch), contexts, negatives)
    return grads.loss, grads.d_in, grads.d_out[:batch], grads.d_out[batch:].reshape(batch, k, dim)


def softmax(
    w_in: np.ndarray, w_out: np.ndarray, centers: np.ndarray, contexts: np.ndarray
) -> Gradients:
    """Exact full-softmax skip-gram: loss = -log softmax(W_out h)[context], gradients summed."""
    h = w_in[centers]
    logits = h @ w_out.T
    logits -= logits.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(logits).sum(axis=1))
    rows = np.arange(len(centers))
    loss = log_z - logits[rows, contexts]
    coef = np.exp(logits - log_z[:, None])
    coef[rows, contexts] -= 1.0
    d_in = np.zeros_like(w_in)
    np.add.at(d_in, centers, coef @ w_out)
    return Gradients(loss, d_in, coef.T @ h)
