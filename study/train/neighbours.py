"""A callback that prints the nearest neighbours of chosen words after each epoch and keeps them
in the run folder's `neighbours.csv` (docs/DESIGN.md, "Trainers and callbacks").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from study.core.atomic import atomic_write_bytes
from study.train.trainers.base import Callback, TrainState

NEIGHBOURS_FILE = "neighbours.csv"
COLUMNS = ["epoch", "word", "rank", "neighbour", "cosine"]


def nearest(
    vectors: np.ndarray, words: Sequence[str], index: dict[str, int], probes: Sequence[str], k: int
) -> dict[str, list[tuple[str, float]]]:
    """The k nearest neighbours (cosine, the word itself excluded) of each probe word."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.maximum(norms, 1e-12)
    rows = [index[w] for w in probes]
    sims = unit[rows] @ unit.T  # (probes, vocab)
    sims[np.arange(len(rows)), rows] = -np.inf
    k = min(k, len(words) - 1)
    result: dict[str, list[tuple[str, float]]] = {}
    for i, word in enumerate(probes):
        top = np.argpartition(-sims[i], k - 1)[:k] if k > 0 else np.array([], dtype=np.int64)
        top = top[np.argsort(-sims[i, top])]
        result[word] = [(words[j], float(sims[i, j])) for j in top]
    return result


class NeighboursCallback(Callback):
    """Prints and stores the nearest neighbours of `words` during training."""

    def __init__(
        self,
        words: Sequence[str],
        k: int = 8,
        every: int = 1,
        out_dir: str | Path | None = None,
        write: Callable[[str], None] | None = tqdm.write,
    ) -> None:
        if k < 1 or every < 1:
            raise ValueError("k and every must be >= 1")
        self.words = list(dict.fromkeys(words))
        self.k = k
        self.every = every
        self.path = Path(out_dir) / NEIGHBOURS_FILE if out_dir is not None else None
        self.write = write
        self.rows: list[tuple[int, str, int, str, float]] = []
        self._probes: list[str] = []
        self._index: dict[str, int] = {}

    def on_train_begin(self, state: TrainState) -> None:
        self.rows = []
        self._index = state.corpus.vocab.index
        self._probes = [w for w in self.words if w in self._index]
        missing = [w for w in self.words if w not in self._index]
        if missing and self.write is not None:
            self.write(f"neighbours: not in the vocabulary, skipped: {', '.join(missing)}")

    def on_epoch_end(self, state: TrainState) -> None:
        if not self._probes or (state.epoch % self.every and state.epoch != state.epochs):
            return
        found = nearest(
            state.input_vectors(), state.corpus.vocab.words, self._index, self._probes, self.k
        )
        for word, neighbours in found.items():
            if self.write is not None:
                shown = ", ".join(f"{n} ({c:.2f})" for n, c in neighbours)
                self.write(f"  epoch {state.epoch} {word}: {shown}")
            self.rows += [
                (state.epoch, word, rank, n, c) for rank, (n, c) in enumerate(neighbours, 1)
            ]
        if self.path is not None:
            self._save(self.path)

    def _save(self, path: Path) -> None:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")  # quotes words with commas or quotes
        writer.writerow(COLUMNS)
        writer.writerows((e, w, r, n, f"{c:.6f}") for e, w, r, n, c in self.rows)
        atomic_write_bytes(path, text.getvalue().encode())
