"""Statistical tables of a study: every cell's metric with its interval, the cells tied with the
best, torch vs gensim per cell (paired Δ, Holm-corrected p, equivalence verdict), any two cells
compared, and how many seeds a given difference needs. Numbers come from `study.stats` on the
runs' per-item results (`items.npz`); runs stored without them fall back to seeds alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from study import stats
from study.analysis import cell_fields, cell_table, done_runs, fmt_value, select
from study.config import parse_assignments
from study.errors import StudyError
from study.items import ItemScores, RunItems, metric_scores
from study.results import ResultStore
from study.stats import Estimate

DEFAULT_MARGIN = 0.01  # equivalence margin for torch vs gensim, in metric units
ALPHA = 0.05


class StudyItems:
    """The per-item results of a study's runs, each file read once; estimates are cached."""

    def __init__(self, store: ResultStore, n_resamples: int = stats.N_RESAMPLES):
        self.store = store
        self.n_resamples = n_resamples
        self._items: dict[str, RunItems | None] = {}
        self._cache: dict[tuple[Any, ...], Estimate] = {}

    def scores(self, run_id: str, metric: str) -> ItemScores | None:
        if run_id not in self._items:
            self._items[run_id] = self.store.read_items(run_id)
        items = self._items[run_id]
        return None if items is None else metric_scores(items, metric)

    def cell(self, runs: pd.DataFrame, metric: str) -> Estimate:
        """Mean over the seeds of these runs (one cell), interval over seeds and items."""
        runs = runs.sort_values("seed")
        key = ("cell", metric, tuple(runs["run_id"]))
        if key not in self._cache:
            scores = [self.scores(r, metric) for r in runs["run_id"]]
            units = [[(1.0, s)] for s in scores if s is not None]
            units = units if len(units) == len(scores) else []
            values = [float(v) for v in runs[metric]]
            self._cache[key] = stats.estimate(units, values, n_resamples=self.n_resamples)
        return self._cache[key]

    def paired(
        self, a: pd.DataFrame, b: pd.DataFrame, metric: str, metric_b: str | None = None
    ) -> Estimate | None:
        """A − B over the seeds both cells finished (None: no seed in common). `metric_b`:
        B's metric when it differs from A's (w+c against w of the same runs)."""
        metric_b = metric if metric_b is None else metric_b
        seeds = sorted(set(a["seed"]) & set(b["seed"]))
        if not seeds:
            return None
        a_ids = [a.loc[a["seed"] == s, "run_id"].iloc[0] for s in seeds]
        b_ids = [b.loc[b["seed"] == s, "run_id"].iloc[0] for s in seeds]
        key = ("paired", metric, metric_b, tuple(a_ids), tuple(b_ids))
        if key not in self._cache:
            units: list[list[tuple[float, ItemScores]]] = []
            for ra, rb in zip(a_ids, b_ids, strict=True):
                sa, sb = self.scores(ra, metric), self.scores(rb, metric_b)
                if sa is None or sb is None or sa.n_items != sb.n_items:
                    units = []
                    break
                units.append([(1.0, sa), (-1.0, sb)])
            values = [_value(a, s, metric) - _value(b, s, metric_b) for s in seeds]
            self._cache[key] = stats.estimate(units, values, n_resamples=self.n_resamples)
        return self._cache[key]


def _value(runs: pd.DataFrame, seed: int, metric: str) -> float:
    return float(runs.loc[runs["seed"] == seed, metric].iloc[0])


def cells(runs: pd.DataFrame) -> list[dict[str, Any]]:
    """The cells of a study (trainer + swept fields) with a done run, in `cell_table` order."""
    keys = cell_fields(runs) or ["trainer"]
    table = cell_table(runs, [])
    return [dict(zip(keys, row, strict=True)) for row in table[keys].itertuples(index=False)]


def cell_runs(runs: pd.DataFrame, cell: Mapping[str, Any]) -> pd.DataFrame:
    return select(done_runs(runs), cell)


def describe(cell: Mapping[str, Any], skip: Sequence[str] = ("trainer",)) -> str:
    return ", ".join(f"{k}={fmt_value(v)}" for k, v in cell.items() if k not in skip) or "(all)"


def resolve_cell(
    runs: pd.DataFrame, where: Sequence[str], assignments: Sequence[str], flag: str
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The one cell that `where` + `assignments` (KEY=VALUE strings) select, and its done runs;
    a one-line error when they select none or several cells."""
    chosen = {**parse_assignments(where), **parse_assignments(assignments)}
    keys = cell_fields(runs) or ["trainer"]
    picked = select(done_runs(runs), {k: v for k, v in chosen.items() if k in runs})
    text = " ".join(assignments)
    if picked.empty:
        raise StudyError(f"{flag} {text} matches no finished run of the study")
    free = [k for k in keys if k not in chosen]
    options = picked[free].drop_duplicates() if free else picked.iloc[:1]
    if len(options) > 1:
        listed = "; ".join(describe(dict(zip(free, row, strict=True)), ()) for row in
                           options.itertuples(index=False))  # fmt: skip
        raise StudyError(
            f"{flag} {text} matches {len(options)} cells ({listed}): pin the others with --where"
        )
    first = picked.iloc[0]
    return {k: first[k] for k in keys}, picked


# -- tables -------------------------------------------------------------------------------------
def cell_intervals(items: StudyItems, runs: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """`cell_table` plus, per metric, `<m>_low`, `<m>_high` (95%) and `<m>_method`."""
    table = cell_table(runs, metrics)
    keys = cell_fields(runs) or ["trainer"]
    for metric in metrics:
        found = [
            items.cell(cell_runs(runs, dict(zip(keys, row, strict=True))), metric)
            for row in table[keys].itertuples(index=False)
        ]
        table[f"{metric}_low"] = [e.low for e in found]
        table[f"{metric}_high"] = [e.high for e in found]
        table[f"{metric}_method"] = [e.method for e in found]
    return table


@dataclass
class Versus:
    """One cell compared with a reference cell (`best` or the other trainer)."""

    cell: dict[str, Any]
    metric: str
    value: float
    difference: Estimate | None  # cell − reference
    p_holm: float = math.nan


def best_and_ties(
    items: StudyItems, runs: pd.DataFrame, metric: str, trainer: str
) -> tuple[dict[str, Any], Estimate, list[Versus]] | None:
    """The best cell of a trainer by mean `metric`, and every other cell compared with it
    (paired, Holm-corrected over the family); a cell is tied when its p_holm ≥ 0.05."""
    table = cell_table(runs, [metric])
    keys = cell_fields(runs) or ["trainer"]
    if "trainer" in table:
        table = table[table["trainer"] == trainer]
    table = table.dropna(subset=[metric])
    if table.empty:
        return None
    best_row = table.iloc[int(table[metric].to_numpy().argmax())]
    best = {k: best_row[k] for k in keys}
    best_runs = cell_runs(runs, best)
    others = []
    for _, row in table.iterrows():
        cell = {k: row[k] for k in keys}
        if cell == best:
            continue
        difference = items.paired(cell_runs(runs, cell), best_runs, metric)
        others.append(Versus(cell, metric, float(row[metric]), difference))
    adjusted = stats.holm([v.difference.p_value if v.difference else math.nan for v in others])
    for versus, p in zip(others, adjusted, strict=True):
        versus.p_holm = p
    return best, items.cell(best_runs, metric), others


def is_tied(versus: Versus) -> bool:
    """Not significantly worse than the best (or not testable: no matched seeds)."""
    return not (versus.p_holm < ALPHA)


@dataclass
class TrainerPair:
    cell: dict[str, Any]  # swept fields, no trainer
    metric: str
    torch: Estimate
    gensim: Estimate
    difference: Estimate | None  # torch − gensim, matched seeds and items
    p_holm: float
    verdict: str


def trainer_comparison(
    items: StudyItems, runs: pd.DataFrame, metrics: Sequence[str], margin: float = DEFAULT_MARGIN
) -> list[TrainerPair]:
    """torch vs gensim in every cell both ran; Holm across the cells, per metric."""
    if "trainer" not in runs or not {"torch", "gensim"} <= set(done_runs(runs)["trainer"]):
        return []
    out: list[TrainerPair] = []
    for metric in metrics:
        family = []
        for cell in cells(runs):
            if cell.get("trainer") != "torch":
                continue
            rest = {k: v for k, v in cell.items() if k != "trainer"}
            a, b = cell_runs(runs, cell), cell_runs(runs, {**rest, "trainer": "gensim"})
            if a.empty or b.empty:
                continue
            family.append((rest, a, b, items.paired(a, b, metric)))
        adjusted = stats.holm([d.p_value if d else math.nan for *_, d in family])
        for (rest, a, b, d), p in zip(family, adjusted, strict=True):
            verdict = stats.verdict(d, margin, p) if d is not None else "no matched seeds"
            out.append(
                TrainerPair(
                    rest, metric, items.cell(a, metric), items.cell(b, metric), d, p, verdict
                )  # fmt: skip
            )
    return out


def seed_planning(
    estimates: Sequence[Estimate], deltas: Sequence[float] = (0.01, 0.02, 0.05)
) -> dict[str, Any] | None:
    """From a study's paired differences of one metric: the typical spread of one seed's
    difference, the item part more seeds cannot remove, the difference detectable (80% power,
    5% two-sided) with 2, 3, 5, 10 seeds, and the seeds needed for each of `deltas`."""
    usable = [e for e in estimates if e.n_seeds >= 2 and math.isfinite(e.seed_var)]
    if not usable:
        return None
    seed_sd = math.sqrt(float(np.median([e.seed_var for e in usable])))
    item_vars = [e.item_var for e in usable if math.isfinite(e.item_var)]
    item_se = math.sqrt(max(float(np.median(item_vars)), 0.0)) if item_vars else 0.0
    row: dict[str, Any] = {"comparisons": len(usable), "seed_sd": seed_sd, "item_se": item_se}
    for n in (2, 3, 5, 10):
        row[f"detectable_{n}"] = stats.detectable_difference(seed_sd, item_se, n)
    for delta in deltas:
        row[f"seeds_for_{delta:g}"] = stats.seeds_needed(delta, seed_sd, item_se)
    return row
