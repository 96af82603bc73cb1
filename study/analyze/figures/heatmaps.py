"""Heatmaps of one metric over every pair of swept fields (rows) per trainer (columns).

Each square is the best cell at that pair of values (mean over seeds, max over the other swept
fields); the best square is outlined, and empty squares say whether their runs failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from study.analyze.analysis import (
    available_metrics,
    cell_table,
    done_runs,
    fmt_value,
    sorted_values,
    swept_fields,
    trainers,
)
from study.analyze.figures.common import new_figure, plain_text, suptitle
from study.evaluate.benchmarks import metric_label
from study.store.results import STATUS_DONE


@dataclass
class HeatmapPanel:
    x: str
    y: str
    trainer: str
    grid: pd.DataFrame  # index: y values, columns: x values; NaN where no cell finished
    failed: set[tuple[Any, Any]]  # (y value, x value) squares where a run did not finish
    tied: set[tuple[Any, Any]] = field(default_factory=set)  # squares whose cell ties the best


@dataclass
class HeatmapData:
    metric: str
    panels: list[list[HeatmapPanel]]  # rows: field pairs, columns: trainers
    vmin: float
    vmax: float


def heatmap_data(
    runs: pd.DataFrame,
    metric: str = "ws353_spearman",
    pairs: Sequence[tuple[str, str]] | None = None,
    tied: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> HeatmapData | None:
    """The squares of `plot_heatmaps` (None: fewer than two swept fields, or no such metric).

    `tied`: per trainer, the cells not significantly worse than its best; a square is marked
    when the cell it shows (the best at that pair of values) is one of them."""
    params = swept_fields(runs)
    if pairs is None:
        pairs = [(a, b) for i, a in enumerate(params) for b in params[i + 1 :]]
    if not pairs or metric not in available_metrics(runs):
        return None
    cells = cell_table(runs, [metric])
    panels = []
    for xname, yname in pairs:
        row = []
        for trainer in trainers(done_runs(runs)):
            mine = cells[cells["trainer"] == trainer]
            bad = runs[(runs["status"] != STATUS_DONE) & (runs["trainer"] == trainer)]
            grid = mine.groupby([yname, xname])[metric].max().unstack(xname)
            grid = grid.reindex(
                index=sorted_values(runs[yname]), columns=sorted_values(runs[xname])
            )
            failed = set(zip(bad[yname], bad[xname], strict=True))
            panel = HeatmapPanel(xname, yname, trainer, grid, failed)
            if tied and tied.get(trainer):
                shown = mine.dropna(subset=[metric])
                shown = shown.loc[shown.groupby([yname, xname])[metric].idxmax()]
                fields = [k for k in tied[trainer][0] if k != "trainer"]
                keys = {tuple(c[k] for k in fields) for c in tied[trainer]}
                panel.tied = {(r[yname], r[xname]) for _, r in shown.iterrows()
                              if tuple(r[k] for k in fields) in keys}  # fmt: skip
            row.append(panel)
        panels.append(row)
    finite = cells[metric].dropna()
    return HeatmapData(metric, panels, float(finite.min()), float(finite.max()))


@plain_text
def draw_heatmaps(data: HeatmapData) -> Figure:
    n_rows, n_cols = len(data.panels), len(data.panels[0])
    fig, axes = new_figure(n_rows, n_cols, (4.8 * n_cols, 3.9 * n_rows + 0.5))
    image = None
    for r, row in enumerate(data.panels):
        for c, panel in enumerate(row):
            ax, grid = axes[r][c], panel.grid
            image = ax.imshow(grid.values, cmap="viridis", vmin=data.vmin, vmax=data.vmax,
                              aspect="auto", origin="lower")  # fmt: skip
            ax.set_xticks(range(grid.shape[1]), [fmt_value(v) for v in grid.columns])
            ax.set_yticks(range(grid.shape[0]), [fmt_value(v) for v in grid.index])
            ax.set_xlabel(panel.x)
            ax.set_ylabel(panel.y)
            ax.set_title(panel.trainer, fontsize=11, fontweight="bold")
            if grid.size <= 64:
                _label_squares(ax, panel, data.vmin, data.vmax)
            if np.isfinite(grid.values).any():
                i, j = np.unravel_index(np.nanargmax(grid.values), grid.shape)
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="red", lw=2.5))
            for y, x in panel.tied:
                row_i, col_j = list(grid.index).index(y), list(grid.columns).index(x)
                ax.scatter([col_j - 0.36], [row_i + 0.32], s=36, marker="o", facecolor="white",
                           edgecolor="black", lw=0.8, zorder=4)  # fmt: skip
    marked = any(panel.tied for row in data.panels for panel in row)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.85, label=metric_label(data.metric))
    suptitle(
        fig,
        f"{metric_label(data.metric)} over pairs of hyperparameters\n"
        "mean over seeds, max over other swept fields; red box = best"
        + ("; ○ = not significantly worse than the best (paired, Holm 5%)" if marked else ""),
    )
    return fig


def _label_squares(ax: Axes, panel: HeatmapPanel, vmin: float, vmax: float) -> None:
    grid = panel.grid
    for (i, j), value in np.ndenumerate(grid.values):
        if np.isfinite(value):
            light = (value - vmin) / max(vmax - vmin, 1e-12) > 0.6
            ax.text(j, i, f"{value:.3f}", ha="center", va="center", fontsize=9,
                    color="black" if light else "white")  # fmt: skip
        else:
            failed = (grid.index[i], grid.columns[j]) in panel.failed
            ax.text(j, i, "failed" if failed else "no runs", ha="center", va="center",
                    fontsize=9, color="firebrick" if failed else "grey")  # fmt: skip


def plot_heatmaps(
    runs: pd.DataFrame,
    metric: str = "ws353_spearman",
    pairs: Sequence[tuple[str, str]] | None = None,
    tied: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> Figure | None:
    """`metric` over every pair of swept hyperparameters (rows) per trainer (columns)."""
    data = heatmap_data(runs, metric, pairs, tied)
    return None if data is None else draw_heatmaps(data)
