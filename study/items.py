"""Per-item evaluation results of a run (`items.npz` beside metrics.json): the model's cosine for
every word pair of each pair benchmark and, per analogy question, whether it was counted and
answered right by 3CosAdd and 3CosMul, so any statistic (a bootstrap interval, a paired test)
can be recomputed later without the vectors.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from study.atomic import atomic_write_bytes
from study.errors import StudyError

ITEMS_FILE = "items.npz"
ITEMS_VERSION = 1


@dataclass(frozen=True)
class PairItems:
    """One pair benchmark, in file order: gold scores and the model's cosines (NaN: a word of
    the pair is not in the vocabulary, so the pair is not counted)."""

    gold: np.ndarray  # float64
    predicted: np.ndarray  # float64, NaN where not found


@dataclass(frozen=True)
class AnalogyItems:
    """The analogy questions in file order."""

    sections: list[str]
    section_ids: np.ndarray  # int, index into sections
    covered: np.ndarray  # bool: all four words in the restricted vocabulary (counted)
    correct_add: np.ndarray  # bool, False where not covered
    correct_mul: np.ndarray

    def kinds(self) -> np.ndarray:
        """ "semantic" or "syntactic" per question (Google's gram1..gram9 are syntactic)."""
        kind = ["syntactic" if s.startswith("gram") else "semantic" for s in self.sections]
        return np.array(kind)[self.section_ids]


@dataclass(frozen=True)
class RunItems:
    pairs: dict[str, PairItems] = field(default_factory=dict)  # by metric prefix: ws353, ...
    analogy: AnalogyItems | None = None

    def to_bytes(self) -> bytes:
        arrays: dict[str, np.ndarray] = {"version": np.array(ITEMS_VERSION)}
        for name, pair in self.pairs.items():
            arrays[f"pairs.{name}.gold"] = pair.gold
            arrays[f"pairs.{name}.predicted"] = pair.predicted
        if self.analogy is not None:
            a = self.analogy
            arrays["analogy.sections"] = np.asarray(a.sections, dtype=str)
            arrays["analogy.section_ids"] = a.section_ids.astype(np.int16)
            for key in ("covered", "correct_add", "correct_mul"):
                flags = np.asarray(getattr(a, key), dtype=bool)
                arrays[f"analogy.{key}"] = np.packbits(flags)  # 8 questions per byte
            arrays["analogy.n"] = np.array(len(a.section_ids))
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> RunItems:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            version = int(npz["version"])
            if version != ITEMS_VERSION:
                raise ValueError(f"items file version {version}, expected {ITEMS_VERSION}")
            names = {k.split(".")[1] for k in npz.files if k.startswith("pairs.")}
            pairs = {
                n: PairItems(npz[f"pairs.{n}.gold"], npz[f"pairs.{n}.predicted"])
                for n in sorted(names)
            }
            analogy = None
            if "analogy.n" in npz.files:
                n = int(npz["analogy.n"])
                flags = {
                    k: np.unpackbits(npz[f"analogy.{k}"], count=n).astype(bool)
                    for k in ("covered", "correct_add", "correct_mul")
                }
                analogy = AnalogyItems(
                    [str(s) for s in npz["analogy.sections"]],
                    npz["analogy.section_ids"].astype(np.int64),
                    **flags,
                )
        return cls(pairs, analogy)


def write_items(path: str | os.PathLike[str], items: RunItems) -> None:
    atomic_write_bytes(path, items.to_bytes())


def read_items(path: str | os.PathLike[str]) -> RunItems | None:
    """The per-item results at `path`, or None when the run has none (older runs)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StudyError(f"unreadable result file {path}: {exc.strerror or exc}") from exc
    try:
        return RunItems.from_bytes(data)
    except (ValueError, KeyError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise StudyError(f"unreadable result file {path}: {exc}") from exc


@dataclass(frozen=True)
class ItemScores:
    """What one metric is computed from, item by item: `spearman` over (gold, predicted) pairs
    or the `mean` of per-item scores; NaN marks an item the run did not count."""

    kind: str  # "spearman" | "mean"
    arrays: tuple[np.ndarray, ...]  # spearman: (gold, predicted); mean: (scores,)

    @property
    def n_items(self) -> int:
        return len(self.arrays[0])


_ANALOGY_METRICS = {  # metric -> (which answers, which questions)
    "analogy_acc": ("correct_add", None),
    "analogy_sem_acc": ("correct_add", "semantic"),
    "analogy_syn_acc": ("correct_add", "syntactic"),
    "analogy_3cosmul_acc": ("correct_mul", None),
    "analogy_3cosmul_sem_acc": ("correct_mul", "semantic"),
    "analogy_3cosmul_syn_acc": ("correct_mul", "syntactic"),
}


def metric_scores(items: RunItems, metric: str) -> ItemScores | None:
    """The per-item form of a metric of `study.evaluate`; None when it has none (or no data)."""
    prefix, _, stat = metric.rpartition("_")
    if stat == "spearman" and prefix in items.pairs:
        pair = items.pairs[prefix]
        return ItemScores("spearman", (pair.gold, pair.predicted))
    if metric in _ANALOGY_METRICS and items.analogy is not None:
        which, kind = _ANALOGY_METRICS[metric]
        a = items.analogy
        counted = a.covered if kind is None else a.covered & (a.kinds() == kind)
        scores = np.where(counted, getattr(a, which).astype(np.float64), np.nan)
        return ItemScores("mean", (scores,))
    return None
