"""The registry of evaluation benchmarks: `study/evaluate/sets/manifest.json`, one entry per
benchmark (name, kind, file, label, published item count, sha256, source, license, citation).
Evaluation, the per-item file, the metric lists of tables, figures, Optuna objectives and
`compare` all derive from it, so adding a benchmark is one entry there (and its data file).

Metric names: `<name>_<stat>` for the input vectors w, `<name>_wc_<stat>` for w+c (input plus
output vectors of the same run). Word-pair sets have the stats `spearman` and `coverage`;
analogy sets `acc` (3CosAdd), `3cosmul_acc`, `coverage` and `questions`, plus `sem_acc`,
`syn_acc`, `3cosmul_sem_acc`, `3cosmul_syn_acc` when the file mixes semantic and syntactic
sections (Google's).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from study.core.errors import ConfigError

DATA_DIR = Path(__file__).parent / "sets"
MANIFEST = DATA_DIR / "manifest.json"
GENSIM_PREFIX = "gensim:"

Kind = Literal["spearman", "analogy"]
KINDS: tuple[Kind, ...] = ("spearman", "analogy")
# Which vectors are scored: the input vectors w, and w+c (input + output vectors: Levy et al.).
VECTORS: dict[str, str] = {"w": "", "w+c": "_wc"}  # vectors -> infix of the metric name
# The stats of each kind, in the order evaluation reports them. Accuracy stats of analogy
# sets: stat -> (method, questions): 3CosAdd or 3CosMul, over every question or one kind of
# question ("semantic" / "syntactic": only for files that mix both, `Benchmark.mixed`).
ANALOGY_ACCURACIES: dict[str, tuple[str, str | None]] = {
    "acc": ("3cosadd", None),
    "3cosmul_acc": ("3cosmul", None),
    "sem_acc": ("3cosadd", "semantic"),
    "syn_acc": ("3cosadd", "syntactic"),
    "3cosmul_sem_acc": ("3cosmul", "semantic"),
    "3cosmul_syn_acc": ("3cosmul", "syntactic"),
}
COVERAGE, QUESTIONS = "coverage", "questions"
PAIR_STATS = ("spearman", COVERAGE)
ANALOGY_STATS = (*(s for s, (_, q) in ANALOGY_ACCURACIES.items() if q is None), COVERAGE, QUESTIONS)
ANALOGY_KIND_STATS = tuple(s for s, (_, q) in ANALOGY_ACCURACIES.items() if q is not None)
PRIMARY_STAT: dict[str, str] = {"spearman": "spearman", "analogy": "acc"}
# Stats computed from per-item results (items.npz), so with intervals and paired tests: a
# pair set's Spearman ρ and every analogy accuracy. Coverage and question counts are not.
ITEM_STATS = ("spearman", *ANALOGY_ACCURACIES)
# Stats that do not depend on the vectors scored (same vocabulary): only reported for w.
_VOCABULARY_STATS = {COVERAGE, QUESTIONS}
# Which way is better, per kind (Optuna's default direction): every item stat is a
# correlation or an accuracy, higher is better.
DIRECTION: dict[Kind, str] = {"spearman": "maximize", "analogy": "maximize"}


def section_kind(section: str) -> str:
    """ "semantic" or "syntactic" for an analogy section: Google's syntactic sections are
    gram1..gram9, its other five semantic; any other name counts as semantic."""
    return "syntactic" if section.startswith("gram") else "semantic"


@dataclass(frozen=True)
class Benchmark:
    """One registry entry (see `MANIFEST`)."""

    name: str  # metric-name prefix
    kind: Kind
    label: str  # for tables and figures
    file: str  # as in the manifest: relative to DATA_DIR, or "gensim:<name>"
    items: int  # published number of word pairs / questions
    sha256: str
    shown: bool  # in the default metric lists
    source: str
    license: str
    citation: str
    section: str | None = None  # analogy files without ': section' headers: their one section
    changes: str | None = None

    @property
    def path(self) -> Path:
        if self.file.startswith(GENSIM_PREFIX):
            import gensim

            return Path(gensim.__file__).parent / "test" / "test_data" / self.file[7:]
        return DATA_DIR / self.file

    @property
    def metric(self) -> str:
        """The headline metric for w: `<name>_spearman` or `<name>_acc`."""
        return metric_name(self.name, PRIMARY_STAT[self.kind])

    @property
    def mixed(self) -> bool:
        """An analogy file whose `: section` headers mix semantic and syntactic sections
        (Google's), so it also reports `ANALOGY_KIND_STATS`; a file without headers is the one
        section `section` names."""
        return self.kind == "analogy" and self.section is None

    @property
    def direction(self) -> str:
        """ "maximize": a higher Spearman ρ or accuracy is better."""
        return DIRECTION[self.kind]

    def stats(self) -> tuple[str, ...]:
        """The stats evaluation reports for w, in order (w+c: the same less coverage and
        questions)."""
        if self.kind == "spearman":
            return PAIR_STATS
        if self.mixed:
            return (*ANALOGY_STATS[:-2], *ANALOGY_KIND_STATS, *ANALOGY_STATS[-2:])
        return ANALOGY_STATS


def metric_name(benchmark: str, stat: str, vectors: str = "w") -> str:
    return f"{benchmark}{VECTORS[vectors]}_{stat}"


@cache
def registry() -> dict[str, Benchmark]:
    """Every benchmark of the manifest, in its order, by name."""
    entries: list[dict[str, Any]] = json.loads(MANIFEST.read_text(encoding="utf-8"))["benchmarks"]
    found = {entry["name"]: Benchmark(**entry) for entry in entries}
    for bench in found.values():
        if bench.kind not in KINDS or bench.name.endswith("_wc") or "_wc_" in bench.name:
            raise ValueError(f"{MANIFEST}: bad entry {bench.name!r}")  # a packaging bug
    return found


def select(names: str | Iterable[str] | None) -> list[Benchmark]:
    """The benchmarks named (a comma-separated string or a list), in registry order; None or
    "all": every benchmark. An unknown name is a ConfigError listing the known ones."""
    every = registry()
    if names is None:
        return list(every.values())
    wanted = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    wanted = [n for n in wanted if n]
    if wanted == ["all"]:
        return list(every.values())
    if not wanted:
        raise ConfigError(f"no benchmark named; choose from all, {', '.join(every)}")
    for name in wanted:
        if name not in every:
            raise ConfigError(f"unknown benchmark {name!r}; choose from all, {', '.join(every)}")
    return [b for b in every.values() if b.name in wanted]


def selection_names(names: str | Iterable[str] | None) -> list[str] | None:
    """The checked names of a selection (None: all benchmarks), for storing and passing on."""
    return None if names is None else [b.name for b in select(names)]


def shown_metrics(vectors: Sequence[str] = ("w",)) -> list[str]:
    """The headline metric of every shown benchmark, for each of `vectors` (default lists of
    tables, figures and compare)."""
    return [
        metric_name(b.name, PRIMARY_STAT[b.kind], v)
        for v in vectors
        for b in registry().values()
        if b.shown
    ]


def metric_names(
    names: str | Iterable[str] | None = None, vectors: Sequence[str] = tuple(VECTORS)
) -> list[str]:
    """Every metric evaluation reports for the benchmarks named (`select`; None: all), in its
    order: for each of `vectors`, each benchmark's `stats()` (under w+c without coverage and
    questions, which are the vocabulary's)."""
    return [
        metric_name(b.name, s, v)
        for v in vectors
        for b in select(names)
        for s in b.stats()
        if v == "w" or s not in _VOCABULARY_STATS
    ]


def objective_metrics(vectors: Sequence[str] = tuple(VECTORS)) -> list[str]:
    """Metrics that make sense as Optuna objectives: every accuracy/Spearman (`ITEM_STATS`) of
    every benchmark, for each of `vectors` (default w and w+c)."""
    return [
        metric_name(b.name, s, v)
        for v in vectors
        for b in registry().values()
        for s in b.stats()
        if s in ITEM_STATS
    ]


def stat_of(metric: str, stats: Iterable[str] = ITEM_STATS) -> str | None:
    """The stat (of `stats`) a metric name ends with, after a non-empty prefix: `acc` for
    `analogy_acc`, `3cosmul_sem_acc` for `analogy_wc_3cosmul_sem_acc`, `spearman` for a user
    pair file's `mine_spearman`; None for anything else. The longest match wins."""
    found = [s for s in stats if metric.endswith("_" + s) and len(metric) > len(s) + 1]
    return max(found, key=len, default=None)


def metric_direction(metric: str) -> str | None:
    """ "maximize" or "minimize" for a registry metric's item stat; None for anything else."""
    parsed = parse_metric(metric)
    if parsed is None or parsed.stat not in ITEM_STATS:
        return None
    return registry()[parsed.benchmark].direction


@dataclass(frozen=True)
class MetricName:
    benchmark: str
    vectors: str  # "w" | "w+c"
    stat: str


def parse_metric(metric: str) -> MetricName | None:
    """Benchmark, vectors and stat of a registry metric name; None for anything else."""
    for bench in sorted(registry().values(), key=lambda b: -len(b.name)):
        if not metric.startswith(bench.name + "_"):
            continue
        rest = metric[len(bench.name) + 1 :]
        vectors = "w"
        if rest.startswith("wc_"):
            vectors, rest = "w+c", rest[3:]
        stats = PAIR_STATS if bench.kind == "spearman" else ANALOGY_STATS + ANALOGY_KIND_STATS
        if rest in stats and not (vectors == "w+c" and rest in _VOCABULARY_STATS):
            return MetricName(bench.name, vectors, rest)
    return None


def with_vectors(metric: str, vectors: str) -> str:
    """The same metric for other vectors: `men_spearman` -> `men_wc_spearman` for "w+c".
    A metric outside the registry is returned unchanged for "w" and is an error otherwise."""
    if vectors not in VECTORS:
        raise ConfigError(f"vectors must be one of {', '.join(VECTORS)}, got {vectors!r}")
    parsed = parse_metric(metric)
    if parsed is None:
        if vectors == "w":
            return metric
        raise ConfigError(f"{metric!r} is not a benchmark metric: no w+c variant")
    return metric_name(parsed.benchmark, parsed.stat, vectors)


_STAT_LABELS = {
    "spearman": "Spearman ρ",
    "coverage": "coverage",
    "questions": "questions counted",
    "acc": "accuracy (3CosAdd)",
    "sem_acc": "semantic accuracy (3CosAdd)",
    "syn_acc": "syntactic accuracy (3CosAdd)",
    "3cosmul_acc": "accuracy (3CosMul)",
    "3cosmul_sem_acc": "semantic accuracy (3CosMul)",
    "3cosmul_syn_acc": "syntactic accuracy (3CosMul)",
}


# The `metric` column of `study.evaluate.score.benchmark_table` (what `study run` prints).
TABLE_STAT_LABELS = {"spearman": "spearman", "acc": "acc (3CosAdd)"}


def metric_label(metric: str) -> str:
    """ "MEN Spearman ρ (w+c)"; the metric name itself when it is not a registry metric."""
    parsed = parse_metric(metric)
    if parsed is None:
        return metric
    label = f"{registry()[parsed.benchmark].label} {_STAT_LABELS[parsed.stat]}"
    return label + (" (w+c)" if parsed.vectors == "w+c" else "")
