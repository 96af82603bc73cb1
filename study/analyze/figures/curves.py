"""Training curves: per-epoch columns (losses, gradient norms) by one hyperparameter.

One panel row per column, one panel column per trainer, one line per value of `by` (mean over
seeds) with a band over seeds. The other swept fields are held at one value each (default: the
best cell's, `analysis.held_fixed`), stated in the title, so lines differ only in `by`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib.ticker
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from study.analyze.analysis import (
    failed_by_value,
    fmt_value,
    held_fixed,
    select,
    sorted_values,
    trainers,
    where_text,
)
from study.analyze.figures.common import (
    COLUMN_LABELS,
    new_figure,
    plain_text,
    suptitle,
    value_colors,
)

LOSS_COLUMNS = ["loss", "probe_loss", "probe_loss_ref"]
GRAD_COLUMNS = ["grad_v_norm", "grad_c_norm", "grad_n_norm"]
BANDS = {"minmax": "min–max", "std": "±1 std"}


@dataclass
class Curve:
    """One line: a column's mean over seeds per epoch, for one trainer and one value of `by`."""

    trainer: str
    column: str
    value: Any
    mean: pd.Series  # indexed by epoch
    low: pd.Series
    high: pd.Series
    n_seeds: int


@dataclass
class CurveData:
    columns: list[str]
    trainers: list[str]
    by: str
    values: list[Any]
    where: dict[str, Any]
    band: str
    n_seeds: int  # the most seeds behind one line (the title says "mean over n seeds")
    curves: list[Curve] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # trainer -> "alpha=1 (2)"

    def curve(self, trainer: str, column: str, value: Any) -> Curve | None:
        for curve in self.curves:
            if (curve.trainer, curve.column, curve.value) == (trainer, column, value):
                return curve
        return None


def curve_data(
    runs: pd.DataFrame,
    epochs: pd.DataFrame,
    columns: Sequence[str] = LOSS_COLUMNS,
    by: str = "alpha",
    where: Mapping[str, Any] | None = None,
    band: str = "minmax",
    select_metric: str = "ws353_spearman",
) -> CurveData | None:
    """The lines of `plot_curves` (None: no epochs, no such column, or nothing at `where`)."""
    if band not in BANDS:
        raise ValueError(f"band must be one of {', '.join(BANDS)}, got {band!r}")
    columns = [c for c in columns if c in epochs and epochs[c].notna().any()]
    if not columns or epochs.empty or by not in epochs:
        return None
    where = dict(held_fixed(runs, by, select_metric) if where is None else where)
    rows = select(epochs, where)
    present = [t for t in trainers(rows) if (rows["trainer"] == t).any()]
    if rows.empty or not present:
        return None
    values = sorted_values(rows[by])
    n_seeds = int(rows.groupby(["trainer", by])["run_id"].nunique().max())
    failed = failed_by_value(runs, where, by)
    data = CurveData(columns, present, by, values, where, band, n_seeds, [], failed)
    for trainer in present:
        mine = rows[rows["trainer"] == trainer]
        for column in columns:
            for value in values:
                per_epoch = mine[mine[by] == value].groupby("epoch")[column]
                mean = per_epoch.mean()
                if mean.dropna().empty:
                    continue
                if band == "std":
                    low, high = mean - per_epoch.std(ddof=0), mean + per_epoch.std(ddof=0)
                else:
                    low, high = per_epoch.min(), per_epoch.max()
                n_seeds = int(per_epoch.size().max())
                data.curves.append(Curve(trainer, column, value, mean, low, high, n_seeds))
    return data


@plain_text
def draw_curves(data: CurveData, title: str | None = None) -> Figure:
    colors = value_colors(data.values)
    fig, axes = new_figure(
        len(data.columns),
        len(data.trainers),
        (5.2 * len(data.trainers), 3.0 * len(data.columns) + 0.6),
        sharex=True,
    )
    for col, trainer in enumerate(data.trainers):
        for row, column in enumerate(data.columns):
            ax = axes[row][col]
            drawn: list[float] = []
            for value in data.values:
                curve = data.curve(trainer, column, value)
                if curve is None:
                    continue
                label = f"{data.by}={fmt_value(value)}"
                ax.plot(curve.mean.index, curve.mean.values, marker="o", ms=3, color=colors[value],
                        label=label)  # fmt: skip
                if curve.n_seeds > 1:
                    ax.fill_between(curve.mean.index, curve.low.values, curve.high.values,
                                    color=colors[value], alpha=0.2, lw=0)  # fmt: skip
                drawn += [*curve.low.dropna(), *curve.high.dropna(), *curve.mean.dropna()]
            if drawn and min(drawn) > 0 and max(drawn) / min(drawn) > 20:
                _log_scale(ax)  # one unstable run must not flatten every other curve
            if row == 0:
                ax.set_title(f"{trainer}", fontsize=11, fontweight="bold")
                if data.failed.get(trainer):
                    ax.text(0.01, 0.97, "failed runs (not shown): " + data.failed[trainer],
                            transform=ax.transAxes, ha="left", va="top", fontsize=8,
                            color="firebrick")  # fmt: skip
            if col == 0:
                ax.set_ylabel(COLUMN_LABELS.get(column, column), fontsize=9)
            if row == len(data.columns) - 1:
                ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            ax.xaxis.get_major_locator().set_params(integer=True)
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax in axes.flat:  # a trainer may lack some values; take the longest legend
        h, lab = ax.get_legend_handles_labels()
        if len(lab) > len(labels):
            handles, labels = h, lab
    fig.legend(handles, labels, loc="outside lower center", fontsize=9,
               ncol=min(len(data.values), 6), frameon=False)  # fmt: skip
    heading = title or " / ".join(COLUMN_LABELS.get(c, c).split(" (")[0] for c in data.columns)
    sub = f"mean over {data.n_seeds} seeds, band = {BANDS[data.band]} over seeds"
    if data.where:
        sub += f"; {where_text(data.where)}"
    suptitle(fig, f"{heading} vs epoch by {data.by}\n{sub}")
    return fig


def _log_scale(ax: Axes) -> None:
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.text(0.99, 0.97, "log scale", transform=ax.transAxes, ha="right", va="top", fontsize=8,
            color="grey")  # fmt: skip


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
    """Epoch curves of `columns` by `by` (band: "minmax" or "std" over seeds); see the module."""
    data = curve_data(runs, epochs, columns, by, where, band, select_metric)
    return None if data is None else draw_curves(data, title)


def plot_losses(
    runs: pd.DataFrame, epochs: pd.DataFrame, by: str = "alpha", **kw: Any
) -> Figure | None:
    return plot_curves(runs, epochs, LOSS_COLUMNS, by, title="Loss per pair", **kw)


def plot_grad_norms(
    runs: pd.DataFrame, epochs: pd.DataFrame, by: str = "alpha", **kw: Any
) -> Figure | None:
    return plot_curves(runs, epochs, GRAD_COLUMNS, by, title="Mean gradient norm per pair", **kw)
