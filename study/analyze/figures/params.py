"""Metric vs each swept hyperparameter: one panel per (metric, field), one colour per trainer.

Dots are runs; the line is the best cell at each value (mean over seeds, max over the other
swept fields); a star marks the best value and a red panel title a best value at the grid's edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from study.analyze.analysis import (
    available_metrics,
    best_at_edge,
    best_per_value,
    cell_table,
    done_runs,
    fmt_value,
    sorted_values,
    swept_fields,
    trainers,
)
from study.analyze.figures.common import (
    bar_lengths,
    is_numeric,
    new_figure,
    plain_text,
    suptitle,
    trainer_color,
)
from study.evaluate.benchmarks import metric_label


@dataclass
class ParamLine:
    """One trainer in one panel: its runs (x, y) and its best cell per value."""

    trainer: str
    run_x: list[float]
    run_y: pd.Series
    best: pd.Series  # metric of the best cell per value (index: the field's values)
    best_x: list[float]
    edge: Any | None  # the best value when it is the first or last tried
    best_low: np.ndarray | None = None  # 95% interval of the cell behind each best point
    best_high: np.ndarray | None = None


@dataclass
class ParamPanel:
    metric: str
    param: str
    values: list[Any]
    numeric: bool  # numeric fields are placed at their value, others at their rank
    lines: list[ParamLine]


def metric_params_data(
    runs: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    params: Sequence[str] | None = None,
    intervals: pd.DataFrame | None = None,
) -> list[list[ParamPanel]]:
    """Panels by row (metric) and column (field); [] when there is nothing to show.

    `intervals` (`inference.cell_intervals`) adds each best point's 95% interval."""
    metrics = available_metrics(runs) if metrics is None else list(metrics)
    params = swept_fields(runs) if params is None else list(params)
    done = done_runs(runs)
    if not metrics or not params or done.empty:
        return []
    order = trainers(done)
    cells = cell_table(runs, metrics) if intervals is None else intervals
    rows: list[list[ParamPanel]] = []
    for metric in metrics:
        row: list[ParamPanel] = []
        for param in params:
            values = sorted_values(runs[param])
            numeric = is_numeric(runs[param])
            position = {v: (float(v) if numeric else i) for i, v in enumerate(values)}
            offset = _jitter(values, numeric, len(order))
            lines = []
            for k, trainer in enumerate(order):
                shift = (k - (len(order) - 1) / 2) * offset
                mine = done[done["trainer"] == trainer]
                own = cells[cells["trainer"] == trainer]
                best = best_per_value(own, param, metric)
                line = ParamLine(
                    trainer,
                    [position[v] + shift for v in mine[param]],
                    mine[metric],
                    best,
                    [position[v] + shift for v in best.index],
                    best_at_edge(best, values),
                )
                if intervals is not None and not best.empty:
                    rows_at = own.dropna(subset=[metric]).groupby(param)[metric].idxmax()
                    chosen = own.loc[rows_at.loc[best.index]]
                    line.best_low = chosen[f"{metric}_low"].to_numpy(dtype=float)
                    line.best_high = chosen[f"{metric}_high"].to_numpy(dtype=float)
                lines.append(line)
            row.append(ParamPanel(metric, param, values, numeric, lines))
        rows.append(row)
    return rows


def _jitter(values: list[Any], numeric: bool, n_trainers: int) -> float:
    """Small x offset between trainers so their dots do not hide each other."""
    if n_trainers < 2 or len(values) < 2:
        return 0.0
    span = (float(values[-1]) - float(values[0])) if numeric else len(values) - 1
    return 0.012 * span


@plain_text
def draw_metric_vs_params(panels: list[list[ParamPanel]]) -> Figure:
    n_rows, n_cols = len(panels), len(panels[0])
    fig, axes = new_figure(n_rows, n_cols, (4.6 * n_cols, 3.3 * n_rows + 0.5))
    for r, row in enumerate(panels):
        for c, panel in enumerate(row):
            ax = axes[r][c]
            edge_notes = []
            for k, line in enumerate(panel.lines):
                color = trainer_color(line.trainer, k)
                ax.scatter(line.run_x, line.run_y, s=14, alpha=0.45, color=color, lw=0)
                if line.best.empty:
                    continue
                ax.plot(line.best_x, line.best.values, color=color, lw=1.6, label=line.trainer)
                if line.best_low is not None and line.best_high is not None:
                    y = line.best.to_numpy(dtype=float)
                    x = np.asarray(line.best_x, dtype=float)
                    low, high = np.asarray(line.best_low), np.asarray(line.best_high)
                    ok = np.isfinite(low) & np.isfinite(high)  # a benchmark barely covered
                    below, above = (b[ok] for b in bar_lengths(y, low, high))
                    ax.errorbar(x[ok], y[ok], yerr=[below, above], fmt="none", ecolor=color,
                                elinewidth=1.2, capsize=3, alpha=0.8)  # fmt: skip
                top = int(line.best.to_numpy().argmax())
                ax.scatter([line.best_x[top]], [line.best.iloc[top]], marker="*", s=190,
                           color=color, edgecolor="black", zorder=5)  # fmt: skip
                if line.edge is not None:
                    edge_notes.append(
                        f"{line.trainer}: best at edge ({panel.param}={fmt_value(line.edge)})"
                    )
            labels = [fmt_value(v) for v in panel.values]
            if not panel.numeric:
                ax.set_xticks(range(len(panel.values)), labels)
            else:
                ax.set_xticks([float(v) for v in panel.values], labels)
            if edge_notes:
                ax.set_title("⚠ " + "\n⚠ ".join(edge_notes), color="firebrick", fontsize=9)
            ax.set_xlabel(panel.param)
            if c == 0:
                ax.set_ylabel(metric_label(panel.metric), fontsize=9)
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="best")
    bars = any(line.best_low is not None for row in panels for p in row for line in p.lines)
    suptitle(
        fig,
        "Metric vs each swept hyperparameter\ndots = runs, line = best cell per value "
        f"(mean over seeds, max over other fields{'; bars: its 95% interval' if bars else ''}), "
        "★ = best value; red = best at grid edge",
    )
    return fig


def plot_metric_vs_params(
    runs: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    params: Sequence[str] | None = None,
    intervals: pd.DataFrame | None = None,
) -> Figure | None:
    """Each metric (rows) against each swept hyperparameter (columns), per trainer."""
    panels = metric_params_data(runs, metrics, params, intervals)
    return draw_metric_vs_params(panels) if panels else None
