"""Statistical tables of a study: every cell's metric with its interval, the cells not worse than
the best (multiple comparisons with the best), each trainer vs the baseline (gensim) per cell
(paired Δ and one of the four outcomes, difference and equivalence tests in one family), any two
cells compared, and how many seeds a given difference needs. Numbers come from
`study.evaluate.stats` on the runs' per-item results (`items.npz`); runs stored without them fall
back to seeds alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from study.analyze.analysis import (
    STEP,
    cell_fields,
    cell_table,
    challengers,
    done_runs,
    fmt_value,
    select,
)
from study.core.config import parse_assignments
from study.core.errors import StudyError
from study.core.trainers import BASELINE, trainer_ignores
from study.evaluate import stats
from study.evaluate.items import metric_scores
from study.evaluate.stats import Draws, Estimate, Verdict
from study.store.results import ResultStore, load_table

DEFAULT_MARGIN = 0.01  # equivalence margin for a trainer vs the baseline, in metric units


class StudyItems:
    """The per-item results of a study's runs: every run of a metric scored on the same item
    resamples (`stats.item_draws`, once per metric), so each cell and paired difference is a
    sum over them. `items_only`: one-seed estimates get an interval from the items alone."""

    def __init__(
        self,
        store: ResultStore,
        runs: pd.DataFrame | None = None,
        n_resamples: int = stats.N_RESAMPLES,
        items_only: bool = False,
    ):
        """`runs`: the runs whose items may be needed (default: every finished run)."""
        self.store = store
        if runs is None:
            runs, _ = load_table(store)
        self.run_ids = list(dict.fromkeys(done_runs(runs)["run_id"]))
        self.n_resamples = n_resamples
        self.items_only = items_only
        self._draws: dict[str, dict[str, Draws]] = {}
        self._cache: dict[tuple[Any, ...], Estimate] = {}

    def draws(self, run_id: str, metric: str) -> Draws | None:
        """The run's metric on the shared resamples (None: no per-item results for it)."""
        if metric not in self._draws:
            self._draws[metric] = self._compute(metric)
        return self._draws[metric].get(run_id)

    def _compute(self, metric: str) -> dict[str, Draws]:
        by_size: dict[int, list[tuple[str, Any]]] = {}
        for run_id in self.run_ids:
            items = self.store.read_items(run_id)
            scores = None if items is None else metric_scores(items, metric)
            if scores is not None:
                by_size.setdefault(scores.n_items, []).append((run_id, scores))
        out: dict[str, Draws] = {}
        for group in by_size.values():  # runs scored on other item sets are never paired
            drawn = stats.item_draws([s for _, s in group], self.n_resamples)
            out.update(zip((r for r, _ in group), drawn, strict=True))
        return out

    def cell(self, runs: pd.DataFrame, metric: str) -> Estimate:
        """Mean over the seeds of these runs (one cell), interval over seeds and items."""
        runs = runs.sort_values("seed")
        key = ("cell", metric, tuple(runs["run_id"]))
        if key not in self._cache:
            drawn = [self.draws(r, metric) for r in runs["run_id"]]
            units = [[(1.0, d)] for d in drawn if d is not None]
            self._cache[key] = self._estimate(units, len(drawn), runs[metric])
        return self._cache[key]

    def paired(
        self, a: pd.DataFrame, b: pd.DataFrame, metric: str, metric_b: str | None = None
    ) -> Estimate | None:
        """A − B over the seeds both cells finished (None: no seed in common). `metric_b`:
        B's metric when it differs from A's (w+c against w of the same runs: the same items,
        so the same resamples)."""
        return self.contrast([(a, b)], metric, metric_b)

    def contrast(
        self,
        pairs: Sequence[tuple[pd.DataFrame, pd.DataFrame]],
        metric: str,
        metric_b: str | None = None,
    ) -> Estimate | None:
        """The mean of A − B over matched cell pairs (A, B), paired by seed: each seed's value
        is the average of its pairs' differences, over the seeds every cell of every pair
        finished (None: no such seed). It is `stats.combine` with weights ±1/len(pairs), so
        the interval runs over seeds and items exactly as for one pair (`paired`)."""
        metric_b = metric if metric_b is None else metric_b
        common = [set(matched_seeds(a, b)) for a, b in pairs]
        seeds = sorted(set.intersection(*common)) if common else []
        if not seeds:
            return None
        ids = [([_run_of(a, s) for s in seeds], [_run_of(b, s) for s in seeds]) for a, b in pairs]
        key = ("contrast", metric, metric_b, tuple((tuple(x), tuple(y)) for x, y in ids))
        if key not in self._cache:
            weight = 1.0 / len(pairs)
            units: list[list[tuple[float, Draws]]] = []
            for i in range(len(seeds)):
                unit: list[tuple[float, Draws]] = []
                for a_ids, b_ids in ids:
                    da, db = self.draws(a_ids[i], metric), self.draws(b_ids[i], metric_b)
                    if da is None or db is None or da.n_items != db.n_items:
                        break
                    unit += [(weight, da), (-weight, db)]
                else:
                    units.append(unit)
            values = [weight * sum(_value(a, s, metric) - _value(b, s, metric_b) for a, b in pairs)
                      for s in seeds]  # fmt: skip
            self._cache[key] = self._estimate(units, len(seeds), pd.Series(values))
        return self._cache[key]

    def _estimate(self, units: list[Any], n_seeds: int, values: pd.Series) -> Estimate:
        if units and len(units) == n_seeds:
            return stats.combine(units, items_only=self.items_only)
        return stats.seeds_only(values.to_numpy(dtype=float))  # some run without items


def matched_seeds(a: pd.DataFrame, b: pd.DataFrame) -> list[int]:
    return sorted(set(a["seed"]) & set(b["seed"]))


def _run_of(runs: pd.DataFrame, seed: int) -> str:
    return str(runs.loc[runs["seed"] == seed, "run_id"].iloc[0])


def _value(runs: pd.DataFrame, seed: int, metric: str) -> float:
    return float(runs.loc[runs["seed"] == seed, metric].iloc[0])


def cells(runs: pd.DataFrame) -> list[dict[str, Any]]:
    """The cells of a study (trainer, step, swept fields) with a done run, in table order."""
    keys = cell_fields(runs) or ["trainer"]
    table = cell_table(runs, [])
    return [dict(zip(keys, row, strict=True)) for row in table[keys].itertuples(index=False)]


def cell_runs(runs: pd.DataFrame, cell: Mapping[str, Any]) -> pd.DataFrame:
    return select(done_runs(runs), cell)


def describe(cell: Mapping[str, Any], skip: Sequence[str] = ("trainer",)) -> str:
    return ", ".join(f"{k}={fmt_value(v)}" for k, v in cell.items() if k not in skip) or "(all)"


# -- selecting cells by KEY=VALUE ---------------------------------------------------------------
def parse_selection(items: Sequence[str], option: str) -> dict[str, Any]:
    """KEY=VALUE strings of config fields (typed as configs are), and `step=LABEL`."""
    steps = [i for i in items if i.partition("=")[0].strip() == STEP]
    if len(steps) > 1:
        raise StudyError(f"{STEP} is given twice in {option}")
    chosen = parse_assignments([i for i in items if i not in steps], option)
    if steps:
        chosen[STEP] = steps[0].partition("=")[2].strip()
    return chosen


def resolve_cell(
    runs: pd.DataFrame, where: Sequence[str], assignments: Sequence[str], flag: str
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The one cell that `where` + `assignments` (KEY=VALUE strings) select, and its done runs;
    a one-line error when they contradict each other or select none or several cells."""
    held, mine = parse_selection(where, "--where"), parse_selection(assignments, flag)
    for key in held.keys() & mine.keys():
        if held[key] != mine[key]:
            raise StudyError(
                f"{flag} {key}={fmt_value(mine[key])} contradicts --where "
                f"{key}={fmt_value(held[key])}: name {key} in one of them"
            )
    chosen = {**held, **mine}
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
    """One cell compared with the best cell of its trainer: Δ = cell − best (paired, 95%, not
    adjusted), and `p_worse`, the adjusted p-value of "worse than the best" (NaN: untested)."""

    cell: dict[str, Any]
    metric: str
    value: float
    difference: Estimate | None  # cell − best
    p_worse: float = math.nan


def best_and_ties(
    items: StudyItems, runs: pd.DataFrame, metric: str, trainer: str
) -> tuple[dict[str, Any], Estimate, list[Versus]] | None:
    """The best cell of a trainer by mean `metric`, and every other cell with its adjusted
    p-value of being worse than the best (`stats.worse_than_best`: every pair of cells
    compared, the selection of the best accounted for); a cell is tied when p_worse ≥ 0.05."""
    table = cell_table(runs, [metric])
    keys = cell_fields(runs) or ["trainer"]
    if "trainer" in table:
        table = table[table["trainer"] == trainer]
    table = table.dropna(subset=[metric]).reset_index(drop=True)
    if table.empty:
        return None
    found = [{k: row[k] for k in keys} for _, row in table.iterrows()]
    members = [cell_runs(runs, cell) for cell in found]
    k = len(found)
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    differences = {(i, j): items.paired(members[i], members[j], metric) for i, j in pairs}
    tested = dict(zip(pairs, stats.pool_seed_spread(list(differences.values())), strict=True))
    p_better = np.full((k, k), math.nan)
    for (i, j), d in tested.items():  # d = i − j
        p_better[i, j] = stats.p_better(d)  # j better than i
        p_better[j, i] = stats.p_better(None if d is None else _negated(d))
    p_worse = stats.worse_than_best(p_better)
    best = int(table[metric].to_numpy().argmax())

    def versus_best(i: int) -> Estimate | None:  # cell i − best
        d = differences[(i, best) if i < best else (best, i)]
        return d if i < best or d is None else _negated(d)

    others = [
        Versus(found[i], metric, float(table[metric].iloc[i]), versus_best(i), p_worse[i])
        for i in range(k)
        if i != best
    ]
    return found[best], items.cell(members[best], metric), others


def _negated(e: Estimate) -> Estimate:
    return Estimate(-e.value, -e.high, -e.low, e.se, e.df, e.n_seeds, e.n_items, e.method,
                    e.p_value, e.seed_var, e.item_var)  # fmt: skip


def is_tied(versus: Versus) -> bool:
    """Not significantly worse than the best (or not testable: one seed, no matched seeds)."""
    return not (versus.p_worse < stats.SIGNIFICANCE)


@dataclass
class TrainerPair:
    """One cell of `trainer` against the `baseline` cell it is compared with."""

    cell: dict[str, Any]  # swept fields, no trainer
    metric: str
    trainer: str
    baseline: str
    mine: Estimate  # the trainer's, over the matched seeds, like the difference
    theirs: Estimate  # the baseline's
    difference: Estimate | None  # trainer − baseline, matched seeds and items
    verdict: Verdict

    @property
    def outcome(self) -> str:
        return self.verdict.outcome


def baseline_partner(
    cell: Mapping[str, Any], baseline: str = BASELINE, trainer: str | None = None
) -> dict[str, Any]:
    """The baseline cell a cell is compared with: the same swept fields, except those the
    baseline (or the cell's trainer) ignores (RunConfig normalises them, so it has one cell
    over their values)."""
    ignored = {*trainer_ignores(baseline), *trainer_ignores(trainer or str(cell.get("trainer")))}
    return {k: v for k, v in cell.items() if k not in ignored and k not in ("trainer", STEP)}


def trainer_comparison(
    items: StudyItems,
    runs: pd.DataFrame,
    metrics: Sequence[str],
    margin: float = DEFAULT_MARGIN,
    baseline: str = BASELINE,
) -> list[TrainerPair]:
    """Every other trainer vs `baseline` in every cell both ran, over their matched seeds; per
    trainer and metric, the difference and equivalence tests of all cells form one family
    (`stats.verdicts`)."""
    if "trainer" not in runs:
        return []
    out: list[TrainerPair] = []
    for trainer in challengers(runs, baseline):
        for metric in metrics:
            family = []
            for cell in cells(runs):
                if cell.get("trainer") != trainer:
                    continue
                rest = {k: v for k, v in cell.items() if k != "trainer"}
                a = cell_runs(runs, cell)
                b = cell_runs(runs, {**baseline_partner(cell, baseline), "trainer": baseline})
                if a.empty or b.empty:
                    continue
                seeds = matched_seeds(a, b)
                a, b = a[a["seed"].isin(seeds)], b[b["seed"].isin(seeds)]
                family.append((rest, a, b, items.paired(a, b, metric)))
            found = stats.verdicts([d for *_, d in family], margin)
            for (rest, a, b, d), verdict in zip(family, found, strict=True):
                mine = items.cell(a, metric) if not a.empty else _nothing()
                theirs = items.cell(b, metric) if not b.empty else _nothing()
                out.append(TrainerPair(rest, metric, trainer, baseline, mine, theirs, d, verdict))
    return out


def _nothing() -> Estimate:
    return Estimate(math.nan, math.nan, math.nan, math.nan, math.nan, 0, 0, stats.SEEDS_ONLY)


def seed_planning(
    estimates: Iterable[Estimate], deltas: Sequence[float] = (0.01, 0.02, 0.05)
) -> dict[str, Any] | None:
    """From a study's paired differences of one metric: the typical spread of one seed's
    difference, the item part more seeds cannot remove, the difference detectable (80% power,
    5% two-sided, one comparison: the test `compare` makes) with 2, 3, 5, 10 seeds, and the
    seeds needed for each of `deltas`."""
    usable = [e for e in estimates if e.n_seeds >= 2 and math.isfinite(e.seed_var)]
    if not usable:
        return None
    seed_sd = math.sqrt(float(np.median([e.seed_var for e in usable])))
    item_vars = [e.item_var for e in usable if math.isfinite(e.item_var)]
    item_se = math.sqrt(max(float(np.median(item_vars)), 0.0)) if item_vars else 0.0
    n_items = int(np.median([e.n_items for e in usable]))
    row: dict[str, Any] = {"comparisons": len(usable), "seed_sd": seed_sd, "item_se": item_se,
                           "n_items": n_items}  # fmt: skip
    for n in (2, 3, 5, 10):
        row[f"detectable_{n}"] = stats.detectable_difference(seed_sd, item_se, n, n_items)
    for delta in deltas:
        row[f"seeds_for_{delta:g}"] = stats.seeds_needed(delta, seed_sd, item_se, n_items)
    return row
