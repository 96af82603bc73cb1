"""Sequential NumPy SGD in word2vec.c's order: the oracle for the Triton kernels.

Given the same stream, draws and slices, it does what the kernels do, one program after
another and one launch after another (the order in which Triton's interpreter runs a grid), in
float64. Skip-gram: each context word's input vector predicts the centre's output vector
against K negatives (per centre: the centre's rows are updated in a private copy during its
window and added back after it; per pair: read, then updated, for every pair). A negative equal
to the centre is kept, as in the batched torch step.
"""

from __future__ import annotations

import numpy as np


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _contexts(p: int, reach: int, window: int, stream_sent: np.ndarray) -> list[tuple[int, int]]:
    """(slot, position) of the contexts of the centre at p, in slot order."""
    n = len(stream_sent)
    found = []
    for o in range(2 * window + 1):
        q = p + o - window
        if o != window and abs(o - window) <= reach and 0 <= q < n:
            if stream_sent[q] == stream_sent[p]:
                found.append((o if o < window else o - 1, q))
    return found


def reference_epoch(
    model: str,
    w_in: np.ndarray,
    w_out: np.ndarray,
    stream: np.ndarray,
    sent: np.ndarray,
    launches: list[tuple[np.ndarray, np.ndarray]],
    slice_len: int,
    count: int,
    lr0: float,
    lr_step: float,
    window: int,
    per_pair: bool,
) -> tuple[float, int]:
    """Updates w_in, w_out (float64) in place; returns (summed loss, pairs or examples).

    `launches`: the (reach, negatives) arrays of each launch, shaped as the kernels take them."""
    n = len(stream)
    loss, pairs = 0.0, 0
    for index, (reach, negatives) in enumerate(launches):
        first = index * count
        for pid in range(reach.shape[0]):
            for j in range(first, first + count):
                p = pid * slice_len + j
                if j >= slice_len or p >= n:
                    continue
                lr = lr0 - lr_step * j
                r = j - first
                contexts = _contexts(p, int(reach[pid, r]), window, sent)
                center = int(stream[p])
                if model == "sg":
                    step = _sg_center(
                        w_in, w_out, stream, center, contexts, negatives[pid, r], lr, per_pair
                    )
                else:
                    step = _cbow_center(
                        w_in, w_out, stream, center, contexts, negatives[pid, r], lr
                    )
                loss += step[0]
                pairs += step[1]
    return loss, pairs


def _targets(center: int, negatives: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    targets = np.concatenate([[center], negatives]).astype(np.int64)
    use = np.ones(len(targets), dtype=bool)
    label = np.zeros(len(targets))
    label[0] = 1.0
    return targets, use, label


def _pair(
    x: np.ndarray, rows: np.ndarray, use: np.ndarray, label: np.ndarray, lr: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """One (input, targets) SGD step: (Δ of the input, Δ of the target rows, loss)."""
    f = rows @ x
    g = np.where(use, (label - _sigmoid(f)) * lr, 0.0)
    z = np.where(label == 1.0, -f, f)
    loss = float(np.where(use, _softplus(z), 0.0).sum())
    return g @ rows, np.outer(g, x), loss


def _sg_center(
    w_in: np.ndarray,
    w_out: np.ndarray,
    stream: np.ndarray,
    center: int,
    contexts: list[tuple[int, int]],
    negatives: np.ndarray,
    lr: float,
    per_pair: bool,
) -> tuple[float, int]:
    loss = 0.0
    if not per_pair:
        targets, use, label = _targets(center, negatives)
        delta = np.zeros((len(targets), w_out.shape[1]))
        rows = w_out[targets].copy()
    for slot, q in contexts:
        context = int(stream[q])
        x = w_in[context].copy()
        if per_pair:
            targets, use, label = _targets(center, negatives[slot])
            d_x, d_rows, term = _pair(x, w_out[targets].copy(), use, label, lr)
            np.add.at(w_out, targets[use], d_rows[use])
        else:
            d_x, d_rows, term = _pair(x, rows + delta, use, label, lr)
            delta += d_rows
        w_in[context] = x + d_x
        loss += term
    if not per_pair:
        np.add.at(w_out, targets[use], delta[use])
    return loss, len(contexts)


def _cbow_center(
    w_in: np.ndarray,
    w_out: np.ndarray,
    stream: np.ndarray,
    center: int,
    contexts: list[tuple[int, int]],
    negatives: np.ndarray,
    lr: float,
) -> tuple[float, int]:
    if not contexts:
        return 0.0, 0
    ids = np.array([int(stream[q]) for _, q in contexts])
    h = w_in[ids].sum(0) / len(ids)
    targets, use, label = _targets(center, negatives)
    d_h, d_rows, loss = _pair(h, w_out[targets].copy(), use, label, lr)
    np.add.at(w_out, targets[use], d_rows[use])
    np.add.at(w_in, ids, np.broadcast_to(d_h, (len(ids), len(d_h))))
    return loss, 1
