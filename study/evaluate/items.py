"""Per-item evaluation results of a run (`items.npz` beside metrics.json): the model's cosine for
every word pair of each pair benchmark and, per analogy question, whether it was counted and
answered right by 3CosAdd and 3CosMul, so any statistic (a bootstrap interval, a paired test)
can be recomputed later without the vectors.
"""

from __future__ import annotations

import io
import math
import os
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from study.core.atomic import atomic_write_bytes
from study.core.errors import StudyError
from study.core.files import FileProblem, read_regular
from study.evaluate import benchmarks

ITEMS_FILE = "items.npz"
ITEMS_VERSION = 2


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
        return np.array([benchmarks.section_kind(s) for s in self.sections])[self.section_ids]


@dataclass(frozen=True)
class RunItems:
    """Per-item results by item-set key: the metric-name prefix (`men`, `men_wc` for w+c,
    `analogy` for Google's analogies, a user pair file's stem).

    On disk (`items.npz`, version 2), every array is named `<group>.<key>.<field>`: group
    `pairs` with fields gold, predicted (float64, one per pair); group `analogy` with fields
    sections (str), section_ids (int16, one per question), n (the question count) and covered,
    correct_add, correct_mul (bit-packed, n bits). Version 1 files (one analogy set, arrays
    `analogy.<field>`) read as the key `analogy`.
    """

    pairs: dict[str, PairItems] = field(default_factory=dict)
    analogies: dict[str, AnalogyItems] = field(default_factory=dict)

    @property
    def analogy(self) -> AnalogyItems | None:
        """The Google analogy set's items (key `analogy`), if any."""
        return self.analogies.get("analogy")

    def to_bytes(self) -> bytes:
        arrays: dict[str, np.ndarray] = {"version": np.array(ITEMS_VERSION)}
        for name, pair in self.pairs.items():
            arrays[f"pairs.{name}.gold"] = pair.gold
            arrays[f"pairs.{name}.predicted"] = pair.predicted
        for name, a in self.analogies.items():
            arrays[f"analogy.{name}.sections"] = np.asarray(a.sections, dtype=str)
            arrays[f"analogy.{name}.section_ids"] = a.section_ids.astype(np.int16)
            for key in ANALOGY_FLAGS:
                flags = np.asarray(getattr(a, key), dtype=bool)
                arrays[f"analogy.{name}.{key}"] = np.packbits(flags)  # 8 questions per byte
            arrays[f"analogy.{name}.n"] = np.array(len(a.section_ids))
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> RunItems:
        """The items in `data`, every array checked against the format (a `ValueError` naming
        the first problem): a damaged file is never half-used, nor allowed to make a reader
        allocate what its counts claim."""
        if not data.startswith(b"PK"):  # np.load would try it as a pickle, and say so
            raise ValueError("not an .npz archive of arrays")
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive of arrays")
        with loaded as npz:
            arrays = _Arrays(npz)
            version = arrays.scalar("version")
            if version not in (1, ITEMS_VERSION):
                raise ValueError(f"items file version {version}, expected {ITEMS_VERSION}")
            pairs = {name: _pair_items(arrays, name) for name in _keys(npz.files, "pairs")}
            if version == 1:  # one analogy set, `analogy.<field>`
                prefixes = {"analogy": "analogy"} if "analogy.n" in npz.files else {}
            else:
                prefixes = {n: f"analogy.{n}" for n in _keys(npz.files, "analogy")}
            analogies = {name: _analogy_items(arrays, p) for name, p in prefixes.items()}
        return cls(pairs, analogies)


ANALOGY_FLAGS = ("covered", "correct_add", "correct_mul")


def _keys(files: list[str], group: str) -> list[str]:
    """The item-set keys of a group: `<group>.<key>.<field>` (keys are metric prefixes and
    hold no dot)."""
    return sorted(
        {f.split(".")[1] for f in files if f.startswith(group + ".") and f.count(".") == 2}
    )


MAX_ITEMS = 1 << 24  # items per benchmark: far beyond any benchmark, bounds what a file can claim
MAX_ARRAY_BYTES = 1 << 28


class _Arrays:
    """An items file's arrays by name, each checked for size before NumPy reads it."""

    def __init__(self, npz: Any):
        self.npz = npz

    def get(self, name: str, kinds: str, ndim: int = 1) -> np.ndarray:
        """Array `name`, of `ndim` dimensions and a dtype of one of the `kinds` (numpy's dtype
        kind letters); its header is read first, since NumPy allocates what a header claims."""
        if name not in self.npz.files:
            raise ValueError(f"{name!r} is missing")
        with self.npz.zip.open(f"{name}.npy") as member:
            version = np.lib.format.read_magic(member)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(member)
        if len(shape) != ndim or dtype.kind not in kinds:
            want = "a scalar" if ndim == 0 else f"{ndim}-D"
            raise ValueError(f"{name!r} is {len(shape)}-D of {dtype}, expected {want} ({kinds})")
        if math.prod(shape) * dtype.itemsize > MAX_ARRAY_BYTES:
            raise ValueError(f"{name!r} claims {shape} items, far more than any benchmark")
        return np.asarray(self.npz[name])

    def scalar(self, name: str) -> int:
        value = int(self.get(name, "iu", ndim=0))
        if not 0 <= value <= MAX_ITEMS:
            raise ValueError(f"{name!r} is {value}, not a count of items")
        return value


def _pair_items(arrays: _Arrays, name: str) -> PairItems:
    gold = arrays.get(f"pairs.{name}.gold", "f").astype(np.float64)
    predicted = arrays.get(f"pairs.{name}.predicted", "f").astype(np.float64)
    if len(gold) != len(predicted) or not 0 < len(gold) <= MAX_ITEMS:
        raise ValueError(f"pairs.{name}: {len(gold)} gold scores, {len(predicted)} cosines")
    if not np.isfinite(gold).all():
        raise ValueError(f"pairs.{name}.gold holds NaN or infinite scores")
    if np.isinf(predicted).any():  # NaN marks a pair not in the vocabulary
        raise ValueError(f"pairs.{name}.predicted holds infinite values")
    return PairItems(gold, predicted)


def _analogy_items(arrays: _Arrays, prefix: str) -> AnalogyItems:
    n = arrays.scalar(f"{prefix}.n")
    sections = [str(s) for s in arrays.get(f"{prefix}.sections", "U")]
    ids = arrays.get(f"{prefix}.section_ids", "iu").astype(np.int64)
    if len(ids) != n or (n and not 0 <= ids.min() <= ids.max() < len(sections)):
        raise ValueError(f"{prefix}.section_ids: not {n} indexes into {len(sections)} sections")
    flags = {}
    for key in ANALOGY_FLAGS:
        packed = arrays.get(f"{prefix}.{key}", "u")
        if packed.dtype != np.uint8 or len(packed) != (n + 7) // 8:
            raise ValueError(f"{prefix}.{key}: {len(packed)} bytes do not hold {n} flags")
        flags[key] = np.unpackbits(packed, count=n).astype(bool)
    if (flags["correct_add"] & ~flags["covered"]).any() or (
        flags["correct_mul"] & ~flags["covered"]
    ).any():
        raise ValueError(f"{prefix}: questions answered right that were not counted")
    return AnalogyItems(sections, ids, **flags)


def write_items(path: str | os.PathLike[str], items: RunItems) -> None:
    atomic_write_bytes(path, items.to_bytes())


def read_items(path: str | os.PathLike[str]) -> RunItems | None:
    """The per-item results at `path`, or None when the run has none (older runs)."""
    try:
        return load_items(path)
    except ValueError as exc:
        raise StudyError(f"unreadable result file {path}: {exc}") from None


def load_items(path: str | os.PathLike[str]) -> RunItems | None:
    """`read_items` with a damaged file as a `ValueError` naming the problem (not the path).
    Read like every file of a study folder: a regular file, not through a symbolic link."""
    try:
        data = read_regular(path, follow_symlinks=False, max_bytes=MAX_FILE_BYTES)
    except FileProblem as exc:
        if exc.missing:
            return None
        raise ValueError(str(exc)) from None
    try:
        return RunItems.from_bytes(data)
    except (KeyError, TypeError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"not an items file ({type(exc).__name__}: {exc})") from None


MAX_FILE_BYTES = 1 << 30


@dataclass(frozen=True)
class ItemScores:
    """What one metric is computed from, item by item: `spearman` over (gold, predicted) pairs
    or the `mean` of per-item scores; NaN marks an item the run did not count."""

    kind: str  # "spearman" | "mean"
    arrays: tuple[np.ndarray, ...]  # spearman: (gold, predicted); mean: (scores,)

    @property
    def n_items(self) -> int:
        return len(self.arrays[0])


_ANSWERS = {"3cosadd": "correct_add", "3cosmul": "correct_mul"}  # method -> AnalogyItems field
_ANALOGY_STATS = {  # stat -> (which answers, which questions)
    stat: (_ANSWERS[method], questions)
    for stat, (method, questions) in benchmarks.ANALOGY_ACCURACIES.items()
}
_PAIR_STAT = benchmarks.PRIMARY_STAT["spearman"]


def has_item_form(metric: str) -> bool:
    """Whether a run's `metric` (a name in its metrics.json) is computed from per-item results
    that its items.npz holds: every pair benchmark's Spearman ρ and every analogy accuracy
    (`<key>_spearman`, `<key>_acc`, `<key>_3cosmul_sem_acc`, ...: `benchmarks.ITEM_STATS`)."""
    return benchmarks.stat_of(metric) is not None


def check_against_metrics(items: RunItems, metrics: Mapping[str, Any]) -> None:
    """A `ValueError` unless `items` hold the per-item results of every metric in `metrics`
    that has them and give the same value: NaN or inf written into a file, or an array taken
    out, would otherwise change the intervals silently or make them fall back to seeds alone."""
    from study.evaluate.stats import item_statistic

    for metric, recorded in metrics.items():
        if not has_item_form(metric):
            continue
        scores = metric_scores(items, metric)
        if scores is None:
            raise ValueError(f"it lacks the per-item results of {metric}")
        with warnings.catch_warnings():  # a constant benchmark column: NaN, as when recorded
            warnings.simplefilter("ignore")
            value = float(item_statistic(scores, *scores.arrays))
        if not _same(value, recorded):
            raise ValueError(
                f"its items give {metric} = {value:.6g}, metrics.json records {recorded}"
            )


def _same(value: float, recorded: Any) -> bool:
    recorded = math.nan if recorded is None else float(recorded)
    if math.isnan(value) or math.isnan(recorded):
        return math.isnan(value) and math.isnan(recorded)
    return abs(value - recorded) <= 1e-9


def metric_scores(items: RunItems, metric: str) -> ItemScores | None:
    """The per-item form of a metric of `study.evaluate.score` (`<key>_spearman` of a pair set,
    `<key>_acc` ... of an analogy set); None when it has none (or no data)."""
    for key in sorted([*items.pairs, *items.analogies], key=len, reverse=True):
        if not metric.startswith(key + "_"):
            continue
        stat = metric[len(key) + 1 :]
        if key in items.pairs and stat == _PAIR_STAT:
            pair = items.pairs[key]
            return ItemScores("spearman", (pair.gold, pair.predicted))
        if key in items.analogies and stat in _ANALOGY_STATS:
            which, kind = _ANALOGY_STATS[stat]
            a = items.analogies[key]
            counted = a.covered if kind is None else a.covered & (a.kinds() == kind)
            scores = np.where(counted, getattr(a, which).astype(np.float64), np.nan)
            return ItemScores("mean", (scores,))
    return None
