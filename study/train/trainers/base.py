"""What every trainer shares: the `Trainer` protocol, the `TrainState` callbacks see, and callbacks
with gensim's four hooks on a no-op base. Both trainers call them with the same state, so a
callback (probe, pruning reporter) is written once; each callback may add columns to the epoch
row (`TrainState.row`) before the trainer keeps it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from gensim.models import KeyedVectors

from study.core.config import RunConfig
from study.core.errors import CorpusError, DivergenceError
from study.data.vocab import EncodedCorpus

# The standard columns of an epoch row, in order; callbacks may add more after them.
EPOCH_COLUMNS = ["epoch", "loss", "lr", "seconds", "words", "pairs", "words_per_sec"]


@dataclass
class TrainState:
    """A trainer's state as callbacks see it.

    `w_in` (input/center vectors, the embeddings) and `w_out` (output/context vectors) are the
    live parameters, shape (vocab, dim): a `torch.Tensor` (any device) or a NumPy array.
    Callbacks must treat them as read-only; `input_vectors()`/`output_vectors()` give NumPy copies.
    """

    config: RunConfig
    corpus: EncodedCorpus
    epochs: int
    w_in: Any
    w_out: Any
    epoch: int = 0  # epochs completed (0 before the first, 1 after the first, ...)
    words: int = 0  # corpus words processed in the current epoch (before subsampling)
    pairs: int = 0  # (center, context) pairs trained on in the current epoch
    seconds: float = 0.0  # wall time of the current epoch
    lr: float = 0.0  # learning rate at the end of the current epoch
    loss: float = math.nan  # mean training loss per (center, context) pair in the epoch
    total_seconds: float = 0.0
    row: dict[str, float] = field(default_factory=dict)

    def input_vectors(self) -> np.ndarray:
        return as_numpy(self.w_in)

    def output_vectors(self) -> np.ndarray:
        return as_numpy(self.w_out)

    def standard_row(self) -> dict[str, float]:
        words_per_sec = self.words / self.seconds if self.seconds > 0 else math.nan
        return {
            "epoch": self.epoch,
            "loss": self.loss,
            "lr": self.lr,
            "seconds": self.seconds,
            "words": self.words,
            "pairs": self.pairs,
            "words_per_sec": words_per_sec,
        }


class Callback:
    """Base class with gensim's four hooks, all no-ops. Override the ones you need."""

    def on_train_begin(self, state: TrainState) -> None:
        pass

    def on_epoch_begin(self, state: TrainState) -> None:
        pass

    def on_epoch_end(self, state: TrainState) -> None:
        pass

    def on_train_end(self, state: TrainState) -> None:
        pass


@dataclass
class TrainResult:
    """What `fit` returns: the embeddings, the output vectors and one row per epoch."""

    vectors: KeyedVectors  # input vectors keyed by word (most_similar, save_word2vec_format)
    output_vectors: np.ndarray  # (vocab, dim) float32
    epochs: list[dict[str, float]]
    seconds: float  # wall time of training (all epochs, callbacks included)
    train_seconds: float  # wall time of training alone (callbacks excluded)
    words: int  # corpus words processed over all epochs
    info: dict[str, Any] = field(default_factory=dict)  # how it ran (kernel, threads, ...)

    @property
    def words_per_sec(self) -> float:
        return self.words / self.train_seconds if self.train_seconds > 0 else math.nan


class Trainer(Protocol):
    """A word2vec trainer: `fit` trains on an encoded corpus with a config and callbacks."""

    name: str

    def fit(
        self, corpus: EncodedCorpus, config: RunConfig, callbacks: Sequence[Callback] = ()
    ) -> TrainResult: ...


def emit(callbacks: Sequence[Callback], hook: str, state: TrainState) -> None:
    """Call `hook` on every callback, in order."""
    for callback in callbacks:
        getattr(callback, hook)(state)


def lr_at(config: RunConfig, progress: float) -> float:
    """Linear decay from lr_start to lr_end; `progress` in [0, 1] over all epochs."""
    progress = min(max(progress, 0.0), 1.0)
    return config.lr_start - (config.lr_start - config.lr_end) * progress


# A mean loss per pair this large is divergence even if still finite: a fresh model starts at
# (1 + K)·ln 2 (≤ 70 for K ≤ 100) for SGNS and ln V for the full softmax.
EXPLODED_LOSS = 1e6


def no_pairs_error(config: RunConfig, epoch: int) -> CorpusError:
    """An epoch without one (center, context) pair: the message names only fixes that apply
    (lowering sample only when it is above 0; never lr_start, which is not the cause)."""
    if config.sample > 0:
        why = "after subsampling"
        fix = f"lower sample (now {config.sample:g}) or use a larger corpus"
    else:
        why = "in the vocabulary"
        fix = "use a larger corpus" + (" or lower min_count" if config.min_count > 1 else "")
    return CorpusError(
        f"no training pairs in epoch {epoch}: every sentence has fewer than two words {why}; {fix}"
    )


def check_finite(loss: float, *arrays: Any, where: str) -> None:
    """Divergence guard: NaN/inf in the loss or any parameter array, or an exploded loss."""
    bad_loss = not math.isfinite(loss) or loss > EXPLODED_LOSS
    bad_array = any(not bool(torch.isfinite(torch.as_tensor(a)).all()) for a in arrays)
    if bad_loss or bad_array:
        what = f"loss per pair {loss:.3g}" if bad_loss else "NaN/inf in the vectors"
        raise DivergenceError(f"training diverged at {where} ({what}): lower lr_start")


def as_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu").numpy().copy()
    return np.array(x, copy=True)
