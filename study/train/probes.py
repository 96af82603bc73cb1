"""Closed-form SGNS loss and gradient-norm probe, one callback for every trainer: a fixed sample
of training-like pairs and negatives, scored in float64 at every epoch end from the sampled rows
of W_in and W_out only (columns in `PROBE_COLUMNS`; docs/DESIGN.md, "The gradient probe").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from study.core.errors import CorpusError
from study.data.sampling import noise_distribution
from study.data.vocab import EncodedCorpus, retained_stream
from study.train.sgns_math import grad_center, grad_context, grad_negatives, sgns_terms
from study.train.trainers.base import Callback, TrainState

REFERENCE_ALPHA = 0.75  # word2vec's default noise exponent: the fixed yardstick across α
PROBE_COLUMNS = [
    "probe_loss",
    "probe_loss_ref",
    "grad_v_norm",
    "grad_c_norm",
    "grad_n_norm",
    "probe_seconds",
]


@dataclass(frozen=True)
class ProbeSample:
    """Fixed probe pairs (ids into the vocabulary) and their negatives."""

    centers: np.ndarray  # (B,) int64
    contexts: np.ndarray  # (B,) int64
    negatives: np.ndarray  # (B, K) int64, drawn from count**alpha (the run's α)
    negatives_ref: np.ndarray  # (B, K) int64, drawn from count**0.75

    def __len__(self) -> int:
        return int(self.centers.shape[0])


@dataclass
class PairGradients:
    """Per-pair float64 loss and closed-form gradients (torch, on the vectors' device)."""

    loss: torch.Tensor  # (B,)
    grad_v: torch.Tensor  # (B, d)  ∂L/∂v_w
    grad_c: torch.Tensor  # (B, d)  ∂L/∂u_c
    grad_n: torch.Tensor  # (B, K, d)  ∂L/∂u_{n_k}


def draw_probe_sample(
    corpus: EncodedCorpus,
    n_pairs: int,
    window: int,
    negative: int,
    alpha: float,
    sample: float,
    seed: int,
) -> ProbeSample:
    """Draw `n_pairs` (center, context) pairs distributed like the training pairs.

    Training pairs come from the subsampled corpus (windows run over the retained words, never
    across sentences) with a dynamic window b ~ U{1..window} per center. Drawing a retained
    position uniformly, a distance d with P(d) ∝ P(b >= d) and a side uniformly, and rejecting
    contexts outside the sentence gives each training pair (in expectation over b) the same
    probability, sentence edges included. One subsampling draw is made for the whole corpus
    (a few hundred ms on wiki8, once per corpus, window, sample and seed in a process).

    Pairs and reference negatives depend only on (corpus, window, sample, seed): runs that
    differ only in α are probed on the very same pairs and the same reference negatives.
    """
    centers, contexts = probe_pairs(corpus, n_pairs, window, sample, seed)
    counts = corpus.vocab.counts
    shape = (n_pairs, negative)
    rng_ref = np.random.default_rng([seed, 1])
    ref_p = noise_distribution(counts, REFERENCE_ALPHA)
    negatives_ref = rng_ref.choice(len(counts), size=shape, p=ref_p).astype(np.int64)
    if alpha == REFERENCE_ALPHA:
        negatives = negatives_ref  # the same array: probe_loss == probe_loss_ref exactly
    else:
        rng_alpha = np.random.default_rng([seed, 2])
        run_p = noise_distribution(counts, alpha)
        negatives = rng_alpha.choice(len(counts), size=shape, p=run_p).astype(np.int64)
    return ProbeSample(centers, contexts, negatives, negatives_ref)


# The last pairs drawn in this process, by (corpus object, pairs, window, sample, seed): a
# grid's runs share a few (subsampling wiki8 for them took ~0.6 s of every run on a 2-core VM).
# Entries hold their corpus, so an id is never reused while its entry lives.
_PAIRS_CACHE: dict[tuple[int, int, int, float, int], tuple[EncodedCorpus, np.ndarray, np.ndarray]]
_PAIRS_CACHE = {}
_PAIRS_CACHE_SIZE = 4


def probe_pairs(
    corpus: EncodedCorpus, n_pairs: int, window: int, sample: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The probe's (centers, contexts), read-only; see `draw_probe_sample`."""
    key = (id(corpus), n_pairs, window, sample, seed)
    cached = _PAIRS_CACHE.get(key)
    if cached is None or cached[0] is not corpus:
        if len(_PAIRS_CACHE) >= _PAIRS_CACHE_SIZE:
            del _PAIRS_CACHE[next(iter(_PAIRS_CACHE))]
        centers, contexts = _draw_pairs(corpus, n_pairs, window, sample, seed)
        centers.flags.writeable = contexts.flags.writeable = False
        cached = _PAIRS_CACHE[key] = (corpus, centers, contexts)
    return cached[1], cached[2]


def _draw_pairs(
    corpus: EncodedCorpus, n_pairs: int, window: int, sample: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    rng_pairs = np.random.default_rng([seed, 0])
    kept, sentence_of = retained_stream(corpus, sample, rng_pairs)
    n_kept = kept.shape[0]
    if n_kept < 2:
        raise CorpusError(
            "corpus too small for the gradient probe: fewer than 2 words after subsampling "
            "(use a larger corpus, or probe_pairs=0 to run without the probe)"
        )
    # A center with window b has one pair at each distance d <= b on each side, so a
    # training pair is at distance d with probability ∝ P(b >= d) = (window - d + 1) / window.
    distances = np.arange(1, window + 1)
    p_distance = (window + 1 - distances) / (window + 1 - distances).sum()
    signs = np.array([-1, 1])
    centers_pos: list[np.ndarray] = []
    contexts_pos: list[np.ndarray] = []
    found = 0
    for _ in range(100):  # rejection rounds; one or two suffice except on tiny corpora
        m = max(2 * (n_pairs - found), 1024)
        pos = rng_pairs.integers(0, n_kept, m)
        off = rng_pairs.choice(distances, m, p=p_distance) * rng_pairs.choice(signs, m)
        ctx = pos + off
        ok = (ctx >= 0) & (ctx < n_kept)
        ok[ok] = sentence_of[ctx[ok]] == sentence_of[pos[ok]]
        centers_pos.append(pos[ok])
        contexts_pos.append(ctx[ok])
        found += int(ok.sum())
        if found >= n_pairs:
            break
    else:
        raise CorpusError(
            "corpus too small for the gradient probe: almost no (center, context) pairs within "
            "a window (use a larger corpus, or probe_pairs=0 to run without the probe)"
        )
    centers = kept[np.concatenate(centers_pos)[:n_pairs]]
    contexts = kept[np.concatenate(contexts_pos)[:n_pairs]]
    return centers, contexts


def gather_rows(table: Any, rows: np.ndarray) -> torch.Tensor:
    """Rows of a (vocab, dim) torch tensor or NumPy array as a float64 tensor.

    Only the requested rows are gathered (on the tensor's device); nothing else is copied.
    """
    if isinstance(table, torch.Tensor):
        index = torch.tensor(rows, device=table.device)  # a copy: the probe's ids are read-only
        return table.detach()[index].to(torch.float64)
    return torch.from_numpy(np.asarray(table)[rows]).to(torch.float64)


def pair_gradients(
    w_in: Any, w_out: Any, centers: np.ndarray, contexts: np.ndarray, negatives: np.ndarray
) -> PairGradients:
    """Per-pair SGNS loss and closed-form gradients, in float64, for the given rows."""
    v = gather_rows(w_in, centers)
    u_pos = gather_rows(w_out, contexts)
    u_neg = gather_rows(w_out, negatives.reshape(-1)).reshape(*negatives.shape, -1)
    terms = sgns_terms(v, u_pos, u_neg)
    return PairGradients(
        loss=terms.loss,
        grad_v=grad_center(terms, u_pos, u_neg),
        grad_c=grad_context(terms, v),
        grad_n=grad_negatives(terms, v),
    )


def probe_metrics(w_in: Any, w_out: Any, sample: ProbeSample) -> dict[str, float]:
    """The probe's columns (except `probe_seconds`) for these vectors."""
    run = pair_gradients(w_in, w_out, sample.centers, sample.contexts, sample.negatives)
    if sample.negatives_ref is sample.negatives:
        loss_ref = run.loss
    else:
        v = gather_rows(w_in, sample.centers)
        u_pos = gather_rows(w_out, sample.contexts)
        neg = sample.negatives_ref
        u_neg = gather_rows(w_out, neg.reshape(-1)).reshape(*neg.shape, -1)
        loss_ref = sgns_terms(v, u_pos, u_neg).loss
    return {
        "probe_loss": float(run.loss.mean()),
        "probe_loss_ref": float(loss_ref.mean()),
        "grad_v_norm": float(run.grad_v.norm(dim=-1).mean()),
        "grad_c_norm": float(run.grad_c.norm(dim=-1).mean()),
        "grad_n_norm": float(run.grad_n.norm(dim=-1).mean()),
    }


class GradientProbe(Callback):
    """Adds the probe columns (`PROBE_COLUMNS`, meanings in docs/DESIGN.md) to every epoch row.

    `evaluate_at_begin=True` also records the metrics of the initial vectors in
    `initial_metrics` (not a row: rows are epochs).
    """

    def __init__(self, evaluate_at_begin: bool = False) -> None:
        self.sample: ProbeSample | None = None
        self.sample_seconds = 0.0  # one-time cost of drawing the sample
        self.evaluate_at_begin = evaluate_at_begin
        self.initial_metrics: dict[str, float] = {}

    def on_train_begin(self, state: TrainState) -> None:
        config = state.config
        self.sample = None
        if config.probe_pairs == 0:
            return
        start = time.perf_counter()
        self.sample = draw_probe_sample(
            state.corpus,
            n_pairs=config.probe_pairs,
            window=config.window,
            negative=config.negative,
            alpha=config.alpha,
            sample=config.sample,
            seed=config.probe_seed,
        )
        self.sample_seconds = time.perf_counter() - start
        if self.evaluate_at_begin:
            self.initial_metrics = probe_metrics(state.w_in, state.w_out, self.sample)

    def on_epoch_end(self, state: TrainState) -> None:
        if self.sample is None:
            return
        start = time.perf_counter()
        metrics = probe_metrics(state.w_in, state.w_out, self.sample)
        metrics["probe_seconds"] = time.perf_counter() - start
        state.row.update(metrics)
