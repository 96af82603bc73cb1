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
PAIR_STATS = ("spearman", "coverage")
ANALOGY_STATS = ("acc", "3cosmul_acc", "coverage", "questions")
ANALOGY_KIND_STATS = ("sem_acc", "syn_acc", "3cosmul_sem_acc", "3cosmul_syn_acc")
PRIMARY_STAT: dict[str, str] = {"spearman": "spearman", "analogy": "acc"}
# Stats that do not depend on the vectors scored (same vocabulary): only reported for w.
_VOCABULARY_STATS = {"coverage", "questions"}


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


def objective_metrics() -> list[str]:
    """Metrics that make sense as Optuna objectives: every accuracy/Spearman of w and w+c."""
    names = []
    for vectors in VECTORS:
        for b in registry().values():
            stats: tuple[str, ...] = (
                ("spearman",) if b.kind == "spearman" else ("acc", "3cosmul_acc")
            )
            if b.kind == "analogy" and b.section is None:
                stats += ANALOGY_KIND_STATS
            names += [metric_name(b.name, s, vectors) for s in stats]
    return names


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


def metric_label(metric: str) -> str:
    """ "MEN Spearman ρ (w+c)"; the metric name itself when it is not a registry metric."""
    parsed = parse_metric(metric)
    if parsed is None:
        return metric
    label = f"{registry()[parsed.benchmark].label} {_STAT_LABELS[parsed.stat]}"
    return label + (" (w+c)" if parsed.vectors == "w+c" else "")
