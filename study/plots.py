"""Figures of a study, drawn from its result tables (and saved vectors for the PCA overlays).

Every function takes the `runs` / `epochs` tables of `study.results.load_table` and returns a
matplotlib `Figure`, or `None` when the study has no data for it (e.g. a heatmap needs two
swept hyperparameters, a torch-vs-gensim scatter needs both trainers). `save_figure` writes a
PNG. Matplotlib runs headless (Agg), so this works on servers without a display.

Conventions (the tuning playbook's): a "cell" is one point of the grid (every config field but
`seed`); its value is the mean over seeds, and bands/error bars show the spread over seeds. When
a figure shows one hyperparameter, the other swept ones are held at the best cell's values
(stated in the title), not averaged, so lines differ only in the hyperparameter shown.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy.linalg import orthogonal_procrustes  # noqa: E402

from study.atomic import atomic_write_bytes  # noqa: E402
from study.config import field_names  # noqa: E402
from study.errors import StudyError  # noqa: E402
from study.results import STATUS_DONE, STATUS_FAILED  # noqa: E402

log = logging.getLogger(__name__)

METRICS = ["ws353_spearman", "simlex_spearman", "analogy_acc"]
METRIC_LABELS = {
    "ws353_spearman": "WS353 Spearman ρ",
    "simlex_spearman": "SimLex-999 Spearman ρ",
    "analogy_acc": "Google analogy accuracy",
}
LOSS_COLUMNS = ["loss", "probe_loss", "probe_loss_ref"]
GRAD_COLUMNS = ["grad_v_norm", "grad_c_norm", "grad_n_norm"]
COLUMN_LABELS = {
    "loss": "training loss per pair (trainer's tally)",
    "probe_loss": "probe loss per pair (run's α noise)",
    "probe_loss_ref": "probe loss per pair (α=0.75 noise)",
    "grad_v_norm": "‖∂L/∂v_w‖ (center)",
    "grad_c_norm": "‖∂L/∂u_c‖ (context)",
    "grad_n_norm": "‖∂L/∂u_n‖ (negatives)",
}
SEED_WORDS = [
    "king",
    "queen",
    "man",
    "woman",
    "london",
    "paris",
    "france",
    "england",
    "computer",
    "software",
    "data",
    "science",
    "music",
    "art",
    "city",
    "country",
    "river",
    "mountain",
]
NOT_HYPERPARAMETERS = {"trainer", "seed", "device", "workers", "probe_pairs", "probe_seed"}
TRAINER_COLORS = {"torch": "tab:red", "gensim": "tab:blue"}
DPI = 110


# -- table helpers ------------------------------------------------------------------------
def done_runs(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == STATUS_DONE] if "status" in runs else runs


def swept_fields(runs: pd.DataFrame) -> list[str]:
    """Config fields (hyperparameters) with more than one value in the study, in field order."""
    return [
        name
        for name in field_names()
        if name in runs and name not in NOT_HYPERPARAMETERS and runs[name].nunique(dropna=False) > 1
    ]


def cell_fields(runs: pd.DataFrame) -> list[str]:
    """The columns that identify a grid cell: trainer plus every swept hyperparameter."""
    return (["trainer"] if "trainer" in runs else []) + swept_fields(runs)


def available_metrics(runs: pd.DataFrame, metrics: Sequence[str] = METRICS) -> list[str]:
    return [m for m in metrics if m in runs and done_runs(runs)[m].notna().any()]


def cell_table(runs: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """One row per cell: mean, std and count over seeds of each metric (columns m, m_std, n)."""
    keys = cell_fields(runs)
    done = done_runs(runs)
    if not keys:
        keys = ["trainer"]
    grouped = done.groupby(keys, dropna=False)
    table = grouped[list(metrics)].mean()
    spread = grouped[list(metrics)].std(ddof=0).add_suffix("_std")
    table = table.join(spread)
    table["n"] = grouped.size()
    table = table.reset_index()
    if "trainer" in table:  # torch first, then gensim, then anything else
        rank = {t: i for i, t in enumerate(_trainers(table))}
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


@dataclass(frozen=True)
class EdgeWarning:
    trainer: str
    metric: str
    field: str
    value: Any
    values: list[Any]

    def __str__(self) -> str:
        side = "lowest" if self.value == self.values[0] else "highest"
        return (
            f"{self.trainer}: best {self.metric} at the {side} {self.field} tried "
            f"({self.field}={_fmt(self.value)} of {', '.join(_fmt(v) for v in self.values)}); "
            "the optimum may lie outside the grid: widen the range"
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
    for trainer in _trainers(done_runs(runs)):
        mine = cells[cells["trainer"] == trainer] if "trainer" in cells else cells
        for metric in metrics:
            for name in swept_fields(runs):
                values = _sorted_values(runs[name])
                edge = best_at_edge(best_per_value(mine, name, metric), values)
                if edge is not None:
                    warnings.append(EdgeWarning(trainer, metric, name, edge, values))
    return warnings


def _trainers(runs: pd.DataFrame) -> list[str]:
    if "trainer" not in runs:
        return ["torch"]
    order = {"torch": 0, "gensim": 1}
    return sorted(runs["trainer"].dropna().unique(), key=lambda t: (order.get(t, 9), t))


def _sorted_values(column: pd.Series) -> list[Any]:
    values = list(column.dropna().unique())
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:g}"
    return str(value)


def _is_numeric(column: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(column)) and not pd.api.types.is_bool_dtype(column)


def _held_fixed(runs: pd.DataFrame, by: str, metric: str | None) -> dict[str, Any]:
    """Values of the other swept fields: those of the best cell by `metric` (pooled trainers)."""
    others = [f for f in swept_fields(runs) if f != by]
    if not others:
        return {}
    metric = metric if metric in available_metrics(runs) else None
    if metric is not None:
        best = best_cell(runs, metric)
        if best is not None:
            return {f: best[f] for f in others}
    return {f: _sorted_values(runs[f])[0] for f in others}


def _select(table: pd.DataFrame, where: Mapping[str, Any]) -> pd.DataFrame:
    mask = pd.Series(True, index=table.index)
    for key, value in where.items():
        mask &= table[key] == value
    return table[mask]


def _where_text(where: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in where.items())


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write a PNG and close the figure (so long reports do not pile up open figures)."""
    path = Path(path)
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, png.getvalue())
    return path


# -- training curves ----------------------------------------------------------------------
def plot_curves(
    runs: pd.DataFrame,
    epochs: pd.DataFrame,
    columns: Sequence[str] = LOSS_COLUMNS,
    by: str = "alpha",
    where: Mapping[str, Any] | None = None,
    band: str = "minmax",
    select_metric: str = "ws353_spearman",
    title: str | None = None,
) -> Figure | None:
    """Epoch curves of `columns`: one panel row per column, one panel column per trainer.

    One line per value of `by` (mean over seeds), with a band over seeds (`band`: "minmax" or
    "std"). Other swept fields are held at `where` (default: the best cell's values by
    `select_metric`), so lines differ only in `by`.
    """
    columns = [c for c in columns if c in epochs and epochs[c].notna().any()]
    if not columns or epochs.empty or by not in epochs:
        return None
    where = dict(_held_fixed(runs, by, select_metric) if where is None else where)
    data = _select(epochs, where)
    trainers = [t for t in _trainers(data) if (data["trainer"] == t).any()]
    if data.empty or not trainers:
        return None
    values = _sorted_values(data[by])
    cmap = plt.get_cmap("viridis")
    colors = {v: cmap(i / max(len(values) - 1, 1) * 0.9) for i, v in enumerate(values)}
    fig, axes = plt.subplots(
        len(columns),
        len(trainers),
        figsize=(5.2 * len(trainers), 3.0 * len(columns) + 0.6),
        squeeze=False,
        layout="constrained",
        sharex=True,
    )
    failed = _failed_by_value(runs, where, by)
    for col, trainer in enumerate(trainers):
        subset = data[data["trainer"] == trainer]
        for row, column in enumerate(columns):
            ax = axes[row][col]
            drawn: list[float] = []
            for value in values:
                curve = subset[subset[by] == value].groupby("epoch")[column]
                mean = curve.mean()
                if mean.dropna().empty:
                    continue
                if band == "std":
                    low, high = mean - curve.std(ddof=0), mean + curve.std(ddof=0)
                else:
                    low, high = curve.min(), curve.max()
                n_seeds = int(curve.size().max())
                ax.plot(
                    mean.index,
                    mean.values,
                    marker="o",
                    ms=3,
                    color=colors[value],
                    label=f"{by}={_fmt(value)}",
                )
                if n_seeds > 1:
                    ax.fill_between(
                        mean.index, low.values, high.values, color=colors[value], alpha=0.2, lw=0
                    )
                drawn += [*low.dropna(), *high.dropna(), *mean.dropna()]
            if drawn and min(drawn) > 0 and max(drawn) / min(drawn) > 20:
                ax.set_yscale("log")  # one unstable run must not flatten every other curve
                ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
                ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
                ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
                ax.text(
                    0.99,
                    0.97,
                    "log scale",
                    transform=ax.transAxes,
                    ha="right",
                    va="top",
                    fontsize=8,
                    color="grey",
                )
            if row == 0:
                ax.set_title(f"{trainer}", fontsize=11, fontweight="bold")
                if failed.get(trainer):
                    ax.text(
                        0.01,
                        0.97,
                        "failed runs (not shown): " + failed[trainer],
                        transform=ax.transAxes,
                        ha="left",
                        va="top",
                        fontsize=8,
                        color="firebrick",
                    )
            if col == 0:
                ax.set_ylabel(COLUMN_LABELS.get(column, column), fontsize=9)
            if row == len(columns) - 1:
                ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            ax.xaxis.get_major_locator().set_params(integer=True)
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax in axes.flat:  # a trainer may lack some values; take the longest legend
        h, lab = ax.get_legend_handles_labels()
        if len(h) > len(handles):
            handles, labels = h, lab
    n_seeds = data.groupby(["trainer", by])["run_id"].nunique().max()
    spread = "min–max" if band == "minmax" else "±1 std"
    fig.legend(
        handles,
        labels,
        loc="outside lower center",
        fontsize=9,
        ncol=min(len(values), 6),
        frameon=False,
    )
    heading = title or f"{' / '.join(COLUMN_LABELS.get(c, c).split(' (')[0] for c in columns)}"
    sub = f"mean over {n_seeds} seeds, band = {spread} over seeds"
    if where:
        sub += f"; {_where_text(where)}"
    fig.suptitle(f"{heading} vs epoch by {by}\n{sub}", x=0.01, ha="left", fontsize=11)
    return fig


def _failed_by_value(runs: pd.DataFrame, where: Mapping[str, Any], by: str) -> dict[str, str]:
    """Per trainer: "alpha=1 (2), ..." for runs that failed at the held-fixed values."""
    if "status" not in runs or by not in runs:
        return {}
    bad = _select(runs[runs["status"] == STATUS_FAILED], where)
    out: dict[str, str] = {}
    for trainer, group in bad.groupby("trainer"):
        counts = group.groupby(by).size()
        out[str(trainer)] = ", ".join(f"{by}={_fmt(v)} ({n})" for v, n in counts.items())
    return out


def plot_losses(
    runs: pd.DataFrame, epochs: pd.DataFrame, by: str = "alpha", **kw: Any
) -> Figure | None:
    return plot_curves(runs, epochs, LOSS_COLUMNS, by, title="Loss per pair", **kw)


def plot_grad_norms(
    runs: pd.DataFrame, epochs: pd.DataFrame, by: str = "alpha", **kw: Any
) -> Figure | None:
    return plot_curves(runs, epochs, GRAD_COLUMNS, by, title="Mean gradient norm per pair", **kw)


# -- metric vs hyperparameter -------------------------------------------------------------
def plot_metric_vs_params(
    runs: pd.DataFrame, metrics: Sequence[str] | None = None, params: Sequence[str] | None = None
) -> Figure | None:
    """Each metric (rows) against each swept hyperparameter (columns), per trainer.

    Dots: every run. Line: the best cell at each value (mean over seeds; max over the other
    swept fields). Star: the best value. A red title flags a best value at the grid's edge.
    """
    metrics = available_metrics(runs) if metrics is None else list(metrics)
    params = swept_fields(runs) if params is None else list(params)
    done = done_runs(runs)
    if not metrics or not params or done.empty:
        return None
    trainers = _trainers(done)
    fig, axes = plt.subplots(
        len(metrics),
        len(params),
        figsize=(4.6 * len(params), 3.3 * len(metrics) + 0.5),
        squeeze=False,
        layout="constrained",
    )
    cells = cell_table(runs, metrics)
    for row, metric in enumerate(metrics):
        for col, param in enumerate(params):
            ax = axes[row][col]
            values = _sorted_values(runs[param])
            numeric = _is_numeric(runs[param])
            position = {v: (float(v) if numeric else i) for i, v in enumerate(values)}
            edge_notes = []
            offset = _jitter(values, numeric, len(trainers))
            for k, trainer in enumerate(trainers):
                color = TRAINER_COLORS.get(trainer, f"C{k + 2}")
                mine = done[done["trainer"] == trainer]
                shift = (k - (len(trainers) - 1) / 2) * offset
                xs = [position[v] + shift for v in mine[param]]
                ax.scatter(xs, mine[metric], s=14, alpha=0.45, color=color, lw=0)
                per_value = best_per_value(cells[cells["trainer"] == trainer], param, metric)
                if per_value.empty:
                    continue
                xline = [position[v] + shift for v in per_value.index]
                ax.plot(xline, per_value.values, color=color, lw=1.6, label=trainer)
                best_value = per_value.idxmax()
                ax.scatter(
                    [position[best_value] + shift],
                    [per_value.max()],
                    marker="*",
                    s=190,
                    color=color,
                    edgecolor="black",
                    zorder=5,
                )
                edge = best_at_edge(per_value, values)
                if edge is not None:
                    edge_notes.append(f"{trainer}: best at edge ({param}={_fmt(edge)})")
            if not numeric:
                ax.set_xticks(range(len(values)), [_fmt(v) for v in values])
            else:
                ax.set_xticks([float(v) for v in values], [_fmt(v) for v in values])
            if edge_notes:
                ax.set_title("⚠ " + "\n⚠ ".join(edge_notes), color="firebrick", fontsize=9)
            ax.set_xlabel(param)
            if col == 0:
                ax.set_ylabel(METRIC_LABELS.get(metric, metric), fontsize=9)
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="best")
    fig.suptitle(
        "Metric vs each swept hyperparameter\ndots = runs, line = best cell per value "
        "(mean over seeds, max over other fields), ★ = best value; red = best at grid edge",
        x=0.01,
        ha="left",
        fontsize=11,
    )
    return fig


def _jitter(values: list[Any], numeric: bool, n_trainers: int) -> float:
    """Small x offset between trainers so their dots do not hide each other."""
    if n_trainers < 2 or len(values) < 2:
        return 0.0
    span = (float(values[-1]) - float(values[0])) if numeric else len(values) - 1
    return 0.012 * span


# -- heatmaps -----------------------------------------------------------------------------
def plot_heatmaps(
    runs: pd.DataFrame,
    metric: str = "ws353_spearman",
    pairs: Sequence[tuple[str, str]] | None = None,
) -> Figure | None:
    """`metric` over every pair of swept hyperparameters (rows) per trainer (columns).

    Each square is the best cell at that pair of values (mean over seeds, max over the other
    swept fields); the best square is outlined. Needs two swept hyperparameters.
    """
    params = swept_fields(runs)
    if pairs is None:
        pairs = [(a, b) for i, a in enumerate(params) for b in params[i + 1 :]]
    if not pairs or metric not in available_metrics(runs):
        return None
    cells = cell_table(runs, [metric])
    trainers = _trainers(done_runs(runs))
    fig, axes = plt.subplots(
        len(pairs),
        len(trainers),
        figsize=(4.8 * len(trainers), 3.9 * len(pairs) + 0.5),
        squeeze=False,
        layout="constrained",
    )
    finite = cells[metric].dropna()
    vmin, vmax = float(finite.min()), float(finite.max())
    image = None
    for row, (xname, yname) in enumerate(pairs):
        for col, trainer in enumerate(trainers):
            ax = axes[row][col]
            mine = cells[cells["trainer"] == trainer]
            bad = runs[(runs["status"] != STATUS_DONE) & (runs["trainer"] == trainer)]
            failed_cells = set(zip(bad["trainer"], bad[yname], bad[xname], strict=True))
            grid = mine.groupby([yname, xname])[metric].max().unstack(xname)
            grid = grid.reindex(
                index=_sorted_values(runs[yname]), columns=_sorted_values(runs[xname])
            )
            image = ax.imshow(
                grid.values, cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto", origin="lower"
            )
            ax.set_xticks(range(grid.shape[1]), [_fmt(v) for v in grid.columns])
            ax.set_yticks(range(grid.shape[0]), [_fmt(v) for v in grid.index])
            ax.set_xlabel(xname)
            ax.set_ylabel(yname)
            ax.set_title(trainer, fontsize=11, fontweight="bold")
            if grid.size <= 64:
                for (i, j), value in np.ndenumerate(grid.values):
                    if np.isfinite(value):
                        light = (value - vmin) / max(vmax - vmin, 1e-12) > 0.6
                        ax.text(
                            j,
                            i,
                            f"{value:.3f}",
                            ha="center",
                            va="center",
                            fontsize=9,
                            color="black" if light else "white",
                        )
                    else:
                        key = (trainer, grid.index[i], grid.columns[j])
                        failed = key in failed_cells
                        ax.text(
                            j,
                            i,
                            "failed" if failed else "no runs",
                            ha="center",
                            va="center",
                            fontsize=9,
                            color="firebrick" if failed else "grey",
                        )
            if np.isfinite(grid.values).any():
                i, j = np.unravel_index(np.nanargmax(grid.values), grid.shape)
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="red", lw=2.5))
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.85, label=METRIC_LABELS.get(metric, metric))
    fig.suptitle(
        f"{METRIC_LABELS.get(metric, metric)} over pairs of hyperparameters\n"
        "mean over seeds, max over other swept fields; red box = best",
        x=0.01,
        ha="left",
        fontsize=11,
    )
    return fig


# -- torch vs gensim ----------------------------------------------------------------------
def trainer_pairs(runs: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Cells present for both trainers: columns `<metric>_torch`, `<metric>_gensim`, delta."""
    cells = cell_table(runs, metrics)
    if "trainer" not in cells or not {"torch", "gensim"} <= set(cells["trainer"]):
        return pd.DataFrame()
    keys = [k for k in cell_fields(runs) if k != "trainer"]
    torch_cells = cells[cells["trainer"] == "torch"]
    gensim_cells = cells[cells["trainer"] == "gensim"]
    if keys:
        joined = torch_cells.merge(gensim_cells, on=keys, suffixes=("_torch", "_gensim"))
    else:
        joined = torch_cells.add_suffix("_torch").join(
            gensim_cells.reset_index(drop=True).add_suffix("_gensim"), how="inner"
        )
    out = joined[keys].copy() if keys else pd.DataFrame(index=joined.index)
    for metric in metrics:
        out[f"{metric}_torch"] = joined[f"{metric}_torch"]
        out[f"{metric}_gensim"] = joined[f"{metric}_gensim"]
        out[f"{metric}_delta"] = joined[f"{metric}_torch"] - joined[f"{metric}_gensim"]
    return out.reset_index(drop=True)


def plot_trainer_scatter(runs: pd.DataFrame, metrics: Sequence[str] | None = None) -> Figure | None:
    """Per grid cell: torch's metric (x) vs gensim's (y), mean over seeds, one panel per metric."""
    metrics = available_metrics(runs) if metrics is None else list(metrics)
    pairs = trainer_pairs(runs, metrics)
    if pairs.empty or not metrics:
        return None
    params = sorted(swept_fields(runs), key=lambda f: f != "alpha")  # colour by α if swept
    color_by = params[0] if params else None
    marker_by = params[1] if len(params) > 1 and pairs[params[1]].nunique() <= 5 else None
    markers = (
        dict(zip(_sorted_values(pairs[marker_by]), "osD^v", strict=False)) if marker_by else {}
    )
    colors = {}
    if color_by is not None:
        values = _sorted_values(pairs[color_by])
        cmap = plt.get_cmap("viridis")
        colors = {v: cmap(i / max(len(values) - 1, 1) * 0.9) for i, v in enumerate(values)}
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(4.3 * len(metrics), 4.8), squeeze=False, layout="constrained"
    )
    for ax, metric in zip(axes[0], metrics, strict=True):
        x, y = pairs[f"{metric}_torch"], pairs[f"{metric}_gensim"]
        for _, cell in pairs.iterrows():
            ax.scatter(
                cell[f"{metric}_torch"],
                cell[f"{metric}_gensim"],
                s=50,
                color=colors.get(cell[color_by], "tab:purple") if color_by else "tab:purple",
                marker=markers.get(cell[marker_by], "o") if marker_by else "o",
                edgecolor="black",
                lw=0.4,
            )
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5))
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5))
        finite = pd.concat([x, y]).dropna()
        if not finite.empty:
            low, high = float(finite.min()), float(finite.max())
            pad = 0.08 * max(high - low, 1e-3)
            lim = (low - pad, high + pad)
            ax.plot(lim, lim, color="grey", ls="--", lw=1)
            ax.set_xlim(lim)
            ax.set_ylim(lim)
        ax.set_aspect("equal")
        ax.set_xlabel(f"torch  ({METRIC_LABELS.get(metric, metric)})", fontsize=9)
        ax.set_ylabel(f"gensim  ({METRIC_LABELS.get(metric, metric)})", fontsize=9)
        delta = pairs[f"{metric}_delta"].mean()
        ax.set_title(f"{metric}\nmean torch − gensim = {delta:+.3f}", fontsize=10)
        ax.grid(alpha=0.3)
    handles = [
        matplotlib.lines.Line2D(
            [], [], ls="", marker="o", color=c, mec="black", mew=0.4, label=f"{color_by}={_fmt(v)}"
        )
        for v, c in colors.items()
    ] + [
        matplotlib.lines.Line2D(
            [],
            [],
            ls="",
            marker=m,
            color="lightgrey",
            mec="black",
            mew=0.4,
            label=f"{marker_by}={_fmt(v)}",
        )
        for v, m in markers.items()
    ]
    handles.append(matplotlib.lines.Line2D([], [], color="grey", ls="--", lw=1, label="y = x"))
    axes[0][0].legend(handles=handles, fontsize=8, loc="best")
    fig.suptitle(
        f"torch vs gensim per grid cell ({len(pairs)} cells, mean over seeds); "
        "points above the dashed line: gensim better",
        x=0.01,
        ha="left",
        fontsize=11,
    )
    return fig


def throughput_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Words/s per trainer (and device): mean, std, min, max over done runs."""
    done = done_runs(runs)
    if "words_per_sec" not in done or done["words_per_sec"].dropna().empty:
        return pd.DataFrame()
    keys = ["trainer"] + (["device"] if "device" in done and done["device"].nunique() > 1 else [])
    table = done.groupby(keys)["words_per_sec"].agg(["mean", "std", "min", "max", "count"])
    return table.rename(columns={"count": "runs"}).reset_index()


def plot_throughput(runs: pd.DataFrame) -> Figure | None:
    """Training words/s per trainer: every run as a dot, bar = mean."""
    done = done_runs(runs)
    if "words_per_sec" not in done or done["words_per_sec"].dropna().empty:
        return None
    trainers = _trainers(done)
    fig, ax = plt.subplots(figsize=(2.4 * len(trainers) + 2.5, 3.8), layout="constrained")
    rng = np.random.default_rng(0)
    for i, trainer in enumerate(trainers):
        speeds = done.loc[done["trainer"] == trainer, "words_per_sec"].dropna()
        color = TRAINER_COLORS.get(trainer, f"C{i + 2}")
        ax.bar(i, speeds.mean(), width=0.6, color=color, alpha=0.35, edgecolor=color)
        ax.scatter(i + rng.uniform(-0.15, 0.15, len(speeds)), speeds, s=14, color=color)
        ax.text(
            i + 0.32,
            speeds.mean(),
            f"mean {speeds.mean():,.0f}",
            ha="left",
            va="center",
            fontsize=9,
        )
    ax.set_xticks(range(len(trainers)), trainers)
    ax.set_xlim(-0.5, len(trainers) - 0.15)  # room for the last "mean" label
    ax.set_ylabel("training words / s")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_title("Throughput per trainer (dots = runs, bar = mean)", fontsize=11)
    ax.grid(axis="y", alpha=0.3)
    return fig


# -- aligned joint PCA --------------------------------------------------------------------
def procrustes_rotation(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The orthogonal R minimising ‖source·R − target‖_F (rows = the same words)."""
    rotation, _ = orthogonal_procrustes(source, target)
    return np.asarray(rotation)


def normalise(matrix: np.ndarray) -> np.ndarray:
    """Unit rows, then centred: cosine geometry, comparable across runs of any scale."""
    unit = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    return unit - unit.mean(axis=0, keepdims=True)


def mean_displacement(a: np.ndarray, b: np.ndarray) -> float:
    """Mean Euclidean distance between corresponding rows."""
    return float(np.linalg.norm(a - b, axis=1).mean())


@dataclass
class Overlay:
    """Result of `pca_overlays`: figures, the words used and displacement per model."""

    fig2d: Figure
    fig3d: Figure
    words: list[str]
    missing: list[str]
    displacement: pd.DataFrame  # label, run_id, displacement_aligned, displacement_unaligned
    reference: str
    aligned: bool
    notes: list[str] = field(default_factory=list)


def select_words(
    vectors: Sequence[Any],
    seeds: Sequence[str] = SEED_WORDS,
    target: int = 300,
) -> tuple[list[str], list[str]]:
    """Seed words present in every model, plus the reference model's neighbours, ~`target`.

    `vectors[0]` is the reference. Returns (words, missing seed words); missing ones are warned.
    """
    shared = set(vectors[0].key_to_index)
    for kv in vectors[1:]:
        shared &= set(kv.key_to_index)
    present = [w for w in seeds if w in shared]
    missing = [w for w in seeds if w not in shared]
    if missing:
        log.warning(
            "PCA overlay: seed words not in every vocabulary, skipped: %s", ", ".join(missing)
        )
    if not present:
        raise StudyError("none of the PCA seed words is in the models' shared vocabulary")
    words = list(present)
    chosen = set(words)
    reference = vectors[0]
    per_seed = max(target // len(present), 1) * 3
    neighbours = {w: [n for n, _ in reference.most_similar(w, topn=per_seed)] for w in present}
    depth = 0
    while len(words) < target and depth < per_seed:  # round-robin: every seed gets neighbours
        for seed in present:
            candidates = neighbours[seed]
            if depth < len(candidates):
                word = candidates[depth]
                if word in shared and word not in chosen:
                    words.append(word)
                    chosen.add(word)
                    if len(words) >= target:
                        break
        depth += 1
    return words, missing


def pca_overlays(
    vectors: Sequence[Any],
    labels: Sequence[str],
    run_ids: Sequence[str] | None = None,
    align: bool = True,
    seeds: Sequence[str] = SEED_WORDS,
    target: int = 300,
    anchor_words: int = 10_000,
    title: str = "",
) -> Overlay:
    """2D and 3D joint-PCA overlays of the same words across models (vectors[0] = reference).

    Each model is normalised (unit rows, centred) and, with `align`, rotated onto the reference
    by orthogonal Procrustes fitted on up to `anchor_words` most frequent shared words: runs
    trained separately have arbitrary rotations, so without alignment a joint PCA shows
    rotation, not learning differences. Displacement = mean distance of the selected words from
    their reference positions (normalised space), with and without alignment.
    """
    if len(vectors) < 1 or len(vectors) != len(labels):
        raise ValueError("need one label per model")
    run_ids = list(run_ids) if run_ids is not None else [""] * len(vectors)
    words, missing = select_words(vectors, seeds, target)
    shared = set(vectors[0].key_to_index).intersection(*(kv.key_to_index for kv in vectors[1:]))
    anchors = [w for w in vectors[0].index_to_key if w in shared][:anchor_words]
    anchors += sorted(set(words) - set(anchors))  # the plotted words always take part
    position = {w: i for i, w in enumerate(anchors)}
    word_rows = [position[w] for w in words]
    reference_anchor = normalise(vectors[0][anchors])
    subsets: list[np.ndarray] = []
    rows: list[dict[str, Any]] = []
    reference_subset = reference_anchor[word_rows]
    for kv, label, run_id in zip(vectors, labels, run_ids, strict=True):
        anchor = normalise(kv[anchors])
        raw = anchor[word_rows]
        aligned = (anchor @ procrustes_rotation(anchor, reference_anchor))[word_rows]
        subsets.append(aligned if align else raw)
        rows.append(
            {
                "model": label,
                "run_id": run_id,
                "displacement_aligned": mean_displacement(aligned, reference_subset),
                "displacement_unaligned": mean_displacement(raw, reference_subset),
            }
        )
    displacement = pd.DataFrame(rows)
    stacked = np.concatenate(subsets)
    centred = stacked - stacked.mean(axis=0)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    explained = singular**2 / max(float((singular**2).sum()), 1e-12)
    projected = [s @ components[:3].T - stacked.mean(axis=0) @ components[:3].T for s in subsets]
    column = "displacement_aligned" if align else "displacement_unaligned"
    legend = [
        f"{lab}  (disp. {d:.3f})" for lab, d in zip(labels, displacement[column], strict=True)
    ]
    mode = "Procrustes-aligned to " + labels[0] if align else "NOT aligned (raw axes)"
    heading = f"Joint PCA of {len(words)} words across {len(vectors)} models, {mode}"
    if title:
        heading += f"\n{title}"
    n_seed = len([w for w in seeds if w in words])
    fig2d = _overlay_2d(projected, legend, words, n_seed, explained, heading)
    fig3d = _overlay_3d(projected, legend, words, n_seed, explained, heading)
    notes = (
        [f"seed words missing from a vocabulary, skipped: {', '.join(missing)}"] if missing else []
    )
    return Overlay(fig2d, fig3d, words, missing, displacement, labels[0], align, notes)


def _overlay_colors(n: int) -> list[Any]:
    cmap = plt.get_cmap("viridis" if n > 2 else "tab10")
    return [cmap(i / max(n - 1, 1) * 0.9) if n > 2 else cmap(i) for i in range(n)]


def _overlay_2d(
    projected: list[np.ndarray],
    legend: list[str],
    words: list[str],
    n_seed: int,
    explained: np.ndarray,
    heading: str,
) -> Figure:
    fig, ax = plt.subplots(figsize=(10, 8.2), layout="constrained")
    colors = _overlay_colors(len(projected))
    for points, label, color in zip(projected, legend, colors, strict=True):
        ax.scatter(points[n_seed:, 0], points[n_seed:, 1], s=9, alpha=0.35, color=color, lw=0)
        ax.scatter(
            points[:n_seed, 0],
            points[:n_seed, 1],
            s=46,
            color=color,
            edgecolor="black",
            lw=0.5,
            label=label,
            zorder=3,
        )
    for i in range(n_seed):  # one word's path across models shows its displacement
        track = np.array([p[i, :2] for p in projected])
        ax.plot(track[:, 0], track[:, 1], color="grey", lw=0.8, alpha=0.7, zorder=2)
        ax.annotate(
            words[i],
            (projected[0][i, 0], projected[0][i, 1]),
            fontsize=10,
            fontweight="bold",
            xytext=(4, 4),
            textcoords="offset points",
            zorder=4,
        )
    ax.set_xlabel(f"PC1 ({explained[0]:.1%} of variance)")
    ax.set_ylabel(f"PC2 ({explained[1]:.1%} of variance)")
    ax.set_title(
        heading + "\nlarge dots = seed words (label at the reference), small = neighbours,"
        " grey lines join a word across models",
        fontsize=10,
    )
    ax.legend(fontsize=9, loc="best", title="model (mean displacement)", title_fontsize=9)
    ax.grid(alpha=0.3)
    return fig


def _overlay_3d(
    projected: list[np.ndarray],
    legend: list[str],
    words: list[str],
    n_seed: int,
    explained: np.ndarray,
    heading: str,
) -> Figure:
    fig = plt.figure(figsize=(10, 8.6), layout="constrained")
    ax = fig.add_subplot(projection="3d")
    colors = _overlay_colors(len(projected))
    for points, label, color in zip(projected, legend, colors, strict=True):
        ax.scatter(
            points[n_seed:, 0],
            points[n_seed:, 1],
            points[n_seed:, 2],
            s=12,
            alpha=0.5,
            color=color,
            lw=0,
        )
        ax.scatter(
            points[:n_seed, 0],
            points[:n_seed, 1],
            points[:n_seed, 2],
            s=40,
            color=color,
            edgecolor="black",
            lw=0.5,
            label=label,
            depthshade=False,
        )
    for i in range(n_seed):
        track = np.array([p[i, :3] for p in projected])
        ax.plot(track[:, 0], track[:, 1], track[:, 2], color="grey", lw=0.8, alpha=0.7)
        ax.text(*projected[0][i, :3], words[i], fontsize=9, fontweight="bold")
    ax.set_xlabel(f"PC1 ({explained[0]:.1%})")
    ax.set_ylabel(f"PC2 ({explained[1]:.1%})")
    ax.set_zlabel(f"PC3 ({explained[2]:.1%})" if len(explained) > 2 else "PC3")
    ax.set_title(heading, fontsize=10)
    ax.legend(fontsize=9, loc="upper left", title="model (mean displacement)", title_fontsize=9)
    return fig


def sweep_models(
    runs: pd.DataFrame,
    by: str = "alpha",
    trainer: str = "torch",
    seed: int | None = None,
    where: Mapping[str, Any] | None = None,
    select_metric: str = "ws353_spearman",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The done runs of one sweep over `by`: one trainer, one seed, other fields held fixed.

    Returns (runs sorted by `by`, the fixed values). The reference (first row) is the run at
    α=0.75 when `by` is alpha and it was tried, else the middle value.
    """
    done = done_runs(runs)
    if by not in done or done.empty:
        return done.iloc[0:0], {}
    automatic = where is None
    where = {} if where is None else dict(where)
    if "trainer" in done:
        if trainer not in set(done["trainer"]):
            trainer = _trainers(done)[0]
        where["trainer"] = trainer
    if seed is None and "seed" in done:
        seed = int(min(done["seed"]))
    if seed is not None:
        where["seed"] = seed
    others = [f for f in swept_fields(runs) if f != by]
    if automatic and others:
        where.update(
            _most_complete_sweep(runs, _select(done, where), by, others, trainer, select_metric)
        )
    sweep = _select(done, where).sort_values(by).drop_duplicates(subset=[by])
    if sweep.empty:
        return sweep, where
    values = list(sweep[by])
    ref = 0.75 if by == "alpha" and 0.75 in values else values[(len(values) - 1) // 2]
    order = [values.index(ref)] + [i for i in range(len(values)) if values[i] != ref]
    return sweep.iloc[order], where


def _most_complete_sweep(
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


def plot_pca_overlays(
    study_dir: str | Path,
    runs: pd.DataFrame,
    by: str = "alpha",
    trainer: str = "torch",
    align: bool = True,
    where: Mapping[str, Any] | None = None,
    seeds: Sequence[str] = SEED_WORDS,
    target: int = 300,
) -> Overlay | None:
    """`pca_overlays` for the saved vectors of one sweep of a study (None: fewer than 2 models)."""
    from gensim.models import KeyedVectors

    sweep, fixed = sweep_models(runs, by, trainer, where=where)
    paths = [Path(study_dir) / "runs" / rid / "vectors.bin" for rid in sweep.get("run_id", [])]
    keep = [i for i, p in enumerate(paths) if p.exists()]
    if len(keep) < 2:
        return None
    sweep = sweep.iloc[keep]
    vectors = [KeyedVectors.load_word2vec_format(str(paths[i]), binary=True) for i in keep]
    labels = [f"{by}={_fmt(v)}" for v in sweep[by]]
    return pca_overlays(
        vectors, labels, list(sweep["run_id"]), align, seeds, target, title=_where_text(fixed)
    )
