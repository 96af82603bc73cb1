"""Sequential NumPy SGD in word2vec.c's order: the oracle for the Triton kernels.

Given the same stream, key and slices, it does what the kernels do, one program after another
and one launch after another (the order in which Triton's interpreter runs a grid), in float64.
It reproduces the kernels' draws on its own: Philox4x32-10 (Salmon et al. 2011, as
`tl.philox`) of (key, draw slot, stream position, epoch, pair slot), the reach as
⌊r·window/2³²⌋ + 1 and each negative from the alias table. Skip-gram: each context word's
input vector predicts the centre's output vector against K negatives (per centre: the centre's
rows are updated in a private copy during its window and added back after it; per pair: read,
then updated, for every pair). A negative equal to the centre is kept, as in the batched torch
step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

M32 = np.uint64(0xFFFFFFFF)


def philox(key: int, c0: object, c1: object, c2: object, c3: object) -> tuple[np.ndarray, ...]:
    """Philox4x32 with 10 rounds: four uint32 outputs per counter (c0, c1, c2, c3)."""
    c = [np.asarray(x, dtype=np.uint64) & M32 for x in (c0, c1, c2, c3)]
    k0, k1 = np.uint64(key & 0xFFFFFFFF), np.uint64((key >> 32) & 0xFFFFFFFF)
    mul_a, mul_b = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
    for _ in range(10):
        hi_b, lo_b = (mul_b * c[2]) >> np.uint64(32), (mul_b * c[2]) & M32
        hi_a, lo_a = (mul_a * c[0]) >> np.uint64(32), (mul_a * c[0]) & M32
        c = [hi_b ^ c[1] ^ k0, lo_b, hi_a ^ c[3] ^ k1, lo_a]
        k0, k1 = (k0 + np.uint64(0x9E3779B9)) & M32, (k1 + np.uint64(0xBB67AE85)) & M32
    return tuple(x.astype(np.uint32) for x in c)


def below(r: np.ndarray, bound: int) -> np.ndarray:
    """⌊r·bound/2³²⌋ for uint32 r."""
    return ((r.astype(np.uint64) * np.uint64(bound)) >> np.uint64(32)).astype(np.int64)


@dataclass
class Draws:
    """The kernels' random draws of one epoch, recomputed."""

    key: int
    epoch: int
    table: np.ndarray  # int64 alias << 32 | threshold, as `AliasSampler.packed`
    window: int
    negative: int

    def reach(self, p: int) -> int:
        r = philox(self.key, 0, p, self.epoch, 0)[0]
        return int(below(r, self.window)) + 1

    def negatives(self, p: int, pair_slot: int = 0) -> np.ndarray:
        lanes = np.arange(1, self.negative + 1)
        r_slot, r_coin, _, _ = philox(self.key, lanes, p, self.epoch, pair_slot)
        slot = below(r_slot, len(self.table))
        entry = self.table[slot]
        keep = r_coin.astype(np.int64) < (entry & 0xFFFFFFFF)
        return np.where(keep, slot, entry >> 32)


@dataclass(frozen=True)
class Order:
    """How the kernels share out an epoch: programs × slice_len positions, count per launch."""

    programs: int
    slice_len: int
    count: int


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
    draws: Draws,
    order: Order,
    lr0: float,
    lr_step: float,
    per_pair: bool,
) -> tuple[float, int]:
    """Updates w_in, w_out (float64) in place; returns (summed loss, pairs or examples)."""
    n, window = len(stream), draws.window
    loss, pairs = 0.0, 0
    for first in range(0, order.slice_len, order.count):
        for pid in range(order.programs):
            for j in range(first, first + order.count):
                p = pid * order.slice_len + j
                if j >= order.slice_len or p >= n:
                    continue
                lr = lr0 - lr_step * j
                contexts = _contexts(p, draws.reach(p), window, sent)
                center = int(stream[p])
                if model == "sg":
                    step = _sg_center(w_in, w_out, stream, center, contexts, draws, p, lr, per_pair)
                else:
                    step = _cbow_center(
                        w_in, w_out, stream, center, contexts, draws.negatives(p), lr
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
    draws: Draws,
    p: int,
    lr: float,
    per_pair: bool,
) -> tuple[float, int]:
    loss = 0.0
    if not per_pair:
        targets, use, label = _targets(center, draws.negatives(p))
        delta = np.zeros((len(targets), w_out.shape[1]))
        rows = w_out[targets].copy()
    for slot, q in contexts:
        context = int(stream[q])
        x = w_in[context].copy()
        if per_pair:
            targets, use, label = _targets(center, draws.negatives(p, slot))
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
