"""The tables of a study, in pandas only: grid cells, best cells, grid-edge warnings, trainer pairs.

Every function takes the `runs` table of `study.store.results.load_table` (one row per finished run)
and returns a DataFrame or plain values; figures and the report are drawn from these. A "cell"
is one point of the grid: the trainer, the training step when a trainer ran more than one
(`study.core.steps`: a cell is one algorithm), and every swept hyperparameter; its value is the mean
over the seeds that finished.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from study.core import trainers as registry
from study.core.config import field_names, optional_fields
from study.core.trainers import BASELINE, trainer_ignores
from study.evaluate.benchmarks import shown_metrics
from study.store.results import STATUS_DONE, STATUS_FAILED, STEP

# the headline metric of every shown benchmark of the registry (study.evaluate.benchmarks), for w
METRICS = shown_metrics()
NONE = "none"  # a None config value (max_vocab=none) as a value of its own, as a grid writes it
NOT_HYPERPARAMETERS = {"trainer", "seed", "device", "workers", "probe_pairs", "probe_seed"}


# -- values and selections ------------------------------------------------------------------
def fmt_value(value: Any) -> str:
    """A config value as written in a grid (0.75, 1e-05), not padded."""
    if isinstance(value, float | np.floating):
        return f"{value:g}"
    return str(value)


def where_text(where: Mapping[str, Any]) -> str:
    """ "alpha=0.75, window=5": the values a figure holds fixed, for its title."""
    return ", ".join(f"{k}={fmt_value(v)}" for k, v in where.items())


def sorted_values(column: pd.Series) -> list[Any]:
    """The distinct values of a column, sorted: numbers first (max_vocab 300, 1000, then
    'none'), other values by text when they do not compare."""
    values = list(column.dropna().unique())
    numbers = [v for v in values if _is_number(v)]
    others = [v for v in values if not _is_number(v)]
    if numbers and others:
        return sorted(numbers) + sorted(others, key=str)
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def sorted_by(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """The rows in the order of `sorted_values` (numbers, then 'none'), missing values last."""
    rank = {v: i for i, v in enumerate(sorted_values(table[column]))}
    return table.sort_values(column, key=lambda values: values.map(rank), kind="stable")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_)


def none_as_value(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs with an optional field's None written 'none' where the study swept it (e.g.
    max_vocab=300,none): a value of its own for cells, selections and figures, where pandas
    would drop or never match a missing value. Unswept columns keep their type."""
    out = runs
    for name in optional_fields():
        if name in runs and runs[name].isna().any() and runs[name].notna().any():
            column = runs[name].astype(object)
            out = out.assign(**{name: column.where(column.notna(), NONE)})
    return out


def trainers(runs: pd.DataFrame) -> list[str]:
    """The trainers of a table in report order (`study.core.trainers`: registry order, then
    others by name; a table without the column: the default trainer)."""
    if "trainer" not in runs:
        return [registry.DEFAULT]
    return sorted(runs["trainer"].dropna().unique(), key=registry.report_order)


def challengers(runs: pd.DataFrame, baseline: str = BASELINE) -> list[str]:
    """The trainers with done runs compared with `baseline` (none when it has no done runs)."""
    return registry.challengers(trainers(done_runs(runs)), baseline)


def select(table: pd.DataFrame, where: Mapping[str, Any]) -> pd.DataFrame:
    """The rows whose columns equal every value of `where`."""
    mask = pd.Series(True, index=table.index)
    for key, value in where.items():
        if value is None or (isinstance(value, str) and value == NONE):
            # max_vocab=none: 'none' after `none_as_value`, missing before
            mask &= table[key].isna() | (table[key] == NONE)
            continue
        mask &= table[key] == value
    return table[mask]


# -- runs and cells ---------------------------------------------------------------------------
def done_runs(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == STATUS_DONE] if "status" in runs else runs


def swept_fields(runs: pd.DataFrame) -> list[str]:
    """Config fields (hyperparameters) with more than one value in the study, in field order.
    A field a trainer ignores counts over the other trainers' runs only (RunConfig gives it
    one value there: gensim's neg_draw says how gensim draws, not a sweep)."""
    out = []
    for name in field_names():
        if name not in runs or name in NOT_HYPERPARAMETERS:
            continue
        values = runs[name]
        if "trainer" in runs:
            ignoring = [t for t in runs["trainer"].dropna().unique() if name in trainer_ignores(t)]
            values = values[~runs["trainer"].isin(ignoring)]
        if values.nunique(dropna=False) > 1:
            out.append(name)
    return out


def cell_fields(runs: pd.DataFrame) -> list[str]:
    """The columns that identify a grid cell: trainer, `step` when some trainer's done runs
    used more than one (e.g. kernel=auto on a CPU and a GPU machine), every swept
    hyperparameter. Runs of two steps are never pooled in one cell."""
    keys = ["trainer"] if "trainer" in runs else []
    return keys + ([STEP] if mixed_steps(runs) else []) + swept_fields(runs)


def mixed_steps(runs: pd.DataFrame) -> bool:
    """True when some trainer's done runs used more than one training step."""
    done = done_runs(runs)
    if STEP not in done or done.empty:
        return False
    if "trainer" not in done:
        return bool(done[STEP].nunique() > 1)
    return bool((done.groupby("trainer")[STEP].nunique() > 1).any())


def comparison_keys(
    runs: pd.DataFrame, trainer: str = registry.DEFAULT, baseline: str = BASELINE
) -> list[str]:
    """The cell fields a cell of `trainer` and its `baseline` cell share: no trainer, no step,
    and none of the fields either ignores (it has one cell over their values)."""
    skip = {"trainer", STEP, *trainer_ignores(baseline), *trainer_ignores(trainer)}
    return [k for k in cell_fields(runs) if k not in skip]


def available_metrics(runs: pd.DataFrame, metrics: Sequence[str] = METRICS) -> list[str]:
    """The metrics (of `metrics`) that at least one done run has."""
    return [m for m in metrics if m in runs and done_runs(runs)[m].notna().any()]


def cell_table(runs: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """One row per cell: mean, std (ddof=0) and count over seeds (columns m, m_std, n)."""
    keys = cell_fields(runs) or ["trainer"]
    grouped = done_runs(runs).groupby(keys, dropna=False)
    table = grouped[list(metrics)].mean()
    table = table.join(grouped[list(metrics)].std(ddof=0).add_suffix("_std"))
    table["n"] = grouped.size()
    table = table.reset_index()
    if "trainer" in table:
        rank = {t: i for i, t in enumerate(trainers(table))}
        table = table.iloc[table["trainer"].map(rank).argsort(kind="stable")]
    return table.reset_index(drop=True)


def best_cell(runs: pd.DataFrame, metric: str, trainer: str | None = None) -> pd.Series | None:
    """The cell (mean over seeds) with the highest `metric`, optionally for one trainer."""
    cells = cell_table(runs, [metric])
    if trainer is not None and "trainer" in cells:
        cells = cells[cells["trainer"] == trainer]
    cells = cells.dropna(subset=[metric])
    if cells.empty:
        return None
    return cells.iloc[int(np.argmax(cells[metric].to_numpy()))]


def held_fixed(runs: pd.DataFrame, by: str, metric: str | None) -> dict[str, Any]:
    """Values for the swept fields other than `by`: the best cell's by `metric` (both trainers
    pooled), else each field's lowest value. Figures of one field hold the others here."""
    others = [f for f in swept_fields(runs) if f != by]
    if not others:
        return {}
    if metric is not None and metric in available_metrics(runs):
        best = best_cell(runs, metric)
        if best is not None:
            return {f: best[f] for f in others}
    return {f: sorted_values(runs[f])[0] for f in others}


def failed_by_value(runs: pd.DataFrame, where: Mapping[str, Any], by: str) -> dict[str, str]:
    """Per trainer: "alpha=1 (2), ..." for the runs that failed at the held-fixed values."""
    if "status" not in runs or by not in runs:
        return {}
    bad = select(runs[runs["status"] == STATUS_FAILED], where)
    out: dict[str, str] = {}
    for trainer, group in bad.groupby("trainer"):
        counts = group.groupby(by).size()
        out[str(trainer)] = ", ".join(f"{by}={fmt_value(v)} ({n})" for v, n in counts.items())
    return out


# -- best values at the edge of the grid ------------------------------------------------------
@dataclass(frozen=True)
class EdgeWarning:
    """A best value at the edge of the grid. `tied_values`: the other values of the field
    among the cells not significantly worse than the best (`study.analyze.report.findings` fills it
    in; None: not assessed). Empty: the edge is significantly better than every other value."""

    trainer: str
    metric: str
    field: str
    value: Any
    values: list[Any]
    tied_values: tuple[Any, ...] | None = None

    @property
    def significant(self) -> bool | None:
        return None if self.tied_values is None else not self.tied_values

    def __str__(self) -> str:
        side = "lowest" if self.value == self.values[0] else "highest"
        tried = ", ".join(fmt_value(v) for v in self.values)
        head = (
            f"{self.trainer}: best {self.metric} at the {side} {self.field} tried "
            f"({self.field}={fmt_value(self.value)} of {tried})"
        )
        if self.tied_values is None:
            return head + "; the optimum may lie outside the grid: widen the range"
        if not self.tied_values:
            return (
                head + ", significantly better than every other value tried (no cell with "
                f"another {self.field} is tied with the best): the optimum may lie outside the "
                "grid: widen the range"
            )
        others = ", ".join(f"{self.field}={fmt_value(v)}" for v in self.tied_values)
        return (
            head + f", but not significantly better than {others} (cells there are tied with "
            "the best): the data do not show that the optimum lies outside the grid"
        )


def best_per_value(cells: pd.DataFrame, param: str, metric: str) -> pd.Series:
    """The best cell's metric at each value of `param` (max over the other swept fields)."""
    return cells.groupby(param)[metric].max().dropna()


def best_at_edge(per_value: pd.Series, values: Sequence[Any]) -> Any | None:
    """The best value when every value reaching the maximum is the first or last tried.

    Ties that include an interior value are not flagged (a flat curve has no edge optimum).
    """
    if len(values) < 2 or per_value.empty:
        return None
    top = per_value.max()
    winners = [v for v, m in per_value.items() if m >= top - 1e-12]
    edges = (values[0], values[-1])
    return winners[0] if all(w in edges for w in winners) else None


def edge_warnings(runs: pd.DataFrame, metrics: Sequence[str] | None = None) -> list[EdgeWarning]:
    """Per trainer and metric: swept hyperparameters whose best value is the first or last tried."""
    warnings: list[EdgeWarning] = []
    metrics = available_metrics(runs) if metrics is None else metrics
    cells = cell_table(runs, metrics)
    for trainer in trainers(done_runs(runs)):
        mine = cells[cells["trainer"] == trainer] if "trainer" in cells else cells
        for metric in metrics:
            for name in swept_fields(runs):
                values = sorted_values(runs[name])
                edge = best_at_edge(best_per_value(mine, name, metric), values)
                if edge is not None:
                    warnings.append(EdgeWarning(trainer, metric, name, edge, values))
    return warnings


# -- a trainer vs the baseline, throughput ---------------------------------------------------
def trainer_pairs(
    runs: pd.DataFrame,
    metrics: Sequence[str],
    trainer: str = registry.DEFAULT,
    baseline: str = BASELINE,
) -> pd.DataFrame:
    """Cells present for `trainer` and `baseline`: columns `<metric>_<trainer>`,
    `<metric>_<baseline>` and `<metric>_delta` (trainer − baseline)."""
    cells = cell_table(runs, metrics)
    if (
        trainer == baseline
        or "trainer" not in cells
        or not {trainer, baseline} <= set(cells["trainer"])
    ):
        return pd.DataFrame()
    keys = comparison_keys(runs, trainer, baseline)
    mine, theirs = f"_{trainer}", f"_{baseline}"
    own_cells = cells[cells["trainer"] == trainer]
    base_cells = cells[cells["trainer"] == baseline]
    if keys:
        joined = own_cells.merge(base_cells, on=keys, suffixes=(mine, theirs))
    else:
        joined = own_cells.add_suffix(mine).join(
            base_cells.reset_index(drop=True).add_suffix(theirs), how="inner"
        )
    out = joined[keys].copy() if keys else pd.DataFrame(index=joined.index)
    for key in cell_fields(runs):  # the trainer's own: its step, fields the baseline ignores
        if key != "trainer" and key not in keys:
            out[key] = joined[f"{key}{mine}"]
    for metric in metrics:
        out[f"{metric}{mine}"] = joined[f"{metric}{mine}"]
        out[f"{metric}{theirs}"] = joined[f"{metric}{theirs}"]
        out[f"{metric}_delta"] = joined[f"{metric}{mine}"] - joined[f"{metric}{theirs}"]
    return out.reset_index(drop=True)


def throughput_table(runs: pd.DataFrame, baseline: str = BASELINE) -> pd.DataFrame:
    """Words/s per trainer (device) and CPU cores: mean, std, min, max over done runs.

    With cores recorded (`results.run_cores`), also words/s per core, and each other trainer's
    row's ratio to the baseline (gensim): `vs_gensim` against gensim with the same cores,
    `vs_gensim_per_core` per core against all of gensim's runs (so runs on different cores
    still compare)."""
    done = done_runs(runs)
    if "words_per_sec" not in done or done["words_per_sec"].dropna().empty:
        return pd.DataFrame()
    keys = ["trainer"] + (["device"] if "device" in done and done["device"].nunique() > 1 else [])
    with_cores = "cores" in done and done["cores"].notna().any()
    if with_cores:
        keys.append("cores")
        done = done.assign(per_core=done["words_per_sec"] / done["cores"])
    grouped = done.groupby(keys, dropna=False)
    table = grouped["words_per_sec"].agg(["mean", "std", "min", "max", "count"])
    table = table.rename(columns={"count": "runs"}).reset_index()
    if not with_cores:
        return table
    table["per_core"] = grouped["per_core"].mean().to_numpy()
    base = done[done["trainer"] == baseline]
    same_cores = base.groupby("cores")["words_per_sec"].mean()
    mine = table["trainer"] != baseline
    table[f"vs_{baseline}"] = (table["mean"] / table["cores"].map(same_cores)).where(mine)
    per_core = base["per_core"].mean() if not base.empty else math.nan
    table[f"vs_{baseline}_per_core"] = (table["per_core"] / per_core).where(mine)
    return table


# -- one sweep (the runs a PCA overlay compares) ----------------------------------------------
def sweep_models(
    runs: pd.DataFrame,
    by: str = "alpha",
    trainer: str = registry.DEFAULT,
    seed: int | None = None,
    where: Mapping[str, Any] | None = None,
    select_metric: str = "ws353_spearman",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The done runs of one sweep over `by`: one trainer, one seed, other fields held fixed.

    Returns (runs sorted by `by`, the fixed values). Without `where`, the other swept fields
    are held where the sweep is most complete (see `most_complete_sweep`). The reference (first
    row) is the run at α=0.75 when `by` is alpha and it was tried, else the middle value.
    """
    done = done_runs(runs)
    if by not in done or done.empty:
        return done.iloc[0:0], {}
    automatic = where is None
    where = {} if where is None else dict(where)
    if "trainer" in done:
        if trainer not in set(done["trainer"]):
            trainer = trainers(done)[0]
        where["trainer"] = trainer
    if seed is None and "seed" in done:
        seed = int(min(done["seed"]))
    if seed is not None:
        where["seed"] = seed
    others = [f for f in swept_fields(runs) if f != by]
    if automatic and others:
        pool = select(done, where)
        where.update(most_complete_sweep(runs, pool, by, others, trainer, select_metric))
    sweep = sorted_by(select(done, where), by).drop_duplicates(subset=[by])
    if sweep.empty:
        return sweep, where
    values = list(sweep[by])
    ref = 0.75 if by == "alpha" and 0.75 in values else values[(len(values) - 1) // 2]
    order = [values.index(ref)] + [i for i in range(len(values)) if values[i] != ref]
    return sweep.iloc[order], where


def most_complete_sweep(
    runs: pd.DataFrame, pool: pd.DataFrame, by: str, others: list[str], trainer: str, metric: str
) -> dict[str, Any]:
    """Values of the other swept fields with the most `by` values done (failed runs leave
    holes); among those, the one holding this trainer's best cell by `metric`."""
    if pool.empty:
        return {}
    sizes = pool.groupby(others, dropna=False)[by].nunique()
    complete = [_as_tuple(key) for key in sizes[sizes == sizes.max()].index]
    if metric in available_metrics(runs):
        cells = cell_table(runs, [metric])
        if "trainer" in cells:
            cells = cells[cells["trainer"] == trainer]
        score = {
            key: cells[(cells[others] == pd.Series(key, index=others)).all(axis=1)][metric].max()
            for key in complete
        }
        complete.sort(key=lambda key: -score[key] if score[key] == score[key] else math.inf)
    return dict(zip(others, complete[0], strict=True))


def _as_tuple(key: Any) -> tuple[Any, ...]:
    return key if isinstance(key, tuple) else (key,)
