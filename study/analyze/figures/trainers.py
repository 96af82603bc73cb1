"""A trainer vs the baseline (torch vs gensim): per-cell scatter of each metric, and training
throughput per trainer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from study.analyze.analysis import (
    available_metrics,
    cell_fields,
    comparison_keys,
    done_runs,
    fmt_value,
    sorted_values,
    swept_fields,
    trainer_pairs,
    trainers,
)
from study.analyze.figures.common import (
    bar_lengths,
    new_figure,
    plain_text,
    suptitle,
    trainer_color,
    value_colors,
)
from study.core.trainers import BASELINE, DEFAULT
from study.evaluate.benchmarks import metric_label


@dataclass
class ScatterData:
    metrics: list[str]
    pairs: pd.DataFrame  # `analysis.trainer_pairs`
    color_by: str | None  # alpha when swept, else the first swept field
    marker_by: str | None  # the second swept field when it has at most 5 values
    colors: dict[Any, Any]
    markers: dict[Any, str]
    bars: bool = False  # pairs has `<metric>_<trainer>_low/_high`: 95% intervals
    trainer: str = DEFAULT  # x
    baseline: str = BASELINE  # y


def scatter_data(
    runs: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    intervals: pd.DataFrame | None = None,
    trainer: str = DEFAULT,
    baseline: str = BASELINE,
) -> ScatterData | None:
    """The points of `plot_trainer_scatter` (None: not both trainers in any cell); with
    `intervals` (`inference.cell_intervals`), each cell's 95% interval per trainer."""
    metrics = available_metrics(runs) if metrics is None else list(metrics)
    pairs = trainer_pairs(runs, metrics, trainer, baseline)
    if pairs.empty or not metrics:
        return None
    if intervals is not None:
        for name in (trainer, baseline):
            if name == trainer:
                mine = cell_fields(runs)
            else:
                mine = comparison_keys(runs, trainer, baseline)
            keys = [k for k in mine if k != "trainer" and k in pairs]
            bounds = intervals[intervals["trainer"] == name]
            cols = {f"{m}_{b}": f"{m}_{name}_{b}" for m in metrics for b in ("low", "high")}
            bounds = bounds[keys + list(cols)].rename(columns=cols)
            pairs = pairs.merge(bounds, on=keys, how="left") if keys else pairs.assign(
                **{c: bounds[c].iloc[0] for c in cols.values()})  # fmt: skip
    params = sorted(swept_fields(runs), key=lambda f: f != "alpha")  # colour by α if swept
    color_by = params[0] if params else None
    marker_by = params[1] if len(params) > 1 and pairs[params[1]].nunique() <= 5 else None
    markers = dict(zip(sorted_values(pairs[marker_by]), "osD^v", strict=False)) if marker_by else {}
    colors = value_colors(sorted_values(pairs[color_by])) if color_by is not None else {}
    return ScatterData(list(metrics), pairs, color_by, marker_by, colors, markers,
                       intervals is not None, trainer, baseline)  # fmt: skip


@plain_text
def draw_trainer_scatter(data: ScatterData) -> Figure:
    pairs, metrics = data.pairs, data.metrics
    xs, ys = data.trainer, data.baseline
    fig, axes = new_figure(1, len(metrics), (4.3 * len(metrics), 4.8))
    for ax, metric in zip(axes[0], metrics, strict=True):
        x, y = pairs[f"{metric}_{xs}"], pairs[f"{metric}_{ys}"]
        for _, cell in pairs.iterrows():
            color = data.colors.get(cell[data.color_by], "tab:purple") if data.color_by else None
            marker = data.markers.get(cell[data.marker_by], "o") if data.marker_by else "o"
            x0, y0 = cell[f"{metric}_{xs}"], cell[f"{metric}_{ys}"]
            if data.bars:
                xerr = bar_lengths(
                    [x0], [cell[f"{metric}_{xs}_low"]], [cell[f"{metric}_{xs}_high"]]
                )
                yerr = bar_lengths(
                    [y0], [cell[f"{metric}_{ys}_low"]], [cell[f"{metric}_{ys}_high"]]
                )
                ax.errorbar([x0], [y0], xerr=xerr, yerr=yerr, fmt="none", ecolor="grey",
                            elinewidth=0.8, alpha=0.7, zorder=1)  # fmt: skip
            ax.scatter(x0, y0, s=50, color=color or "tab:purple", marker=marker,
                       edgecolor="black", lw=0.4, zorder=2)  # fmt: skip
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5))
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5))
        shown = [x, y]
        if data.bars:  # the axes take in the whole bars, not just the points
            shown += [pairs[f"{metric}_{t}_{b}"] for t in (xs, ys) for b in ("low", "high")]
        finite = pd.concat(shown).dropna()
        if not finite.empty:
            low, high = float(finite.min()), float(finite.max())
            pad = 0.08 * max(high - low, 1e-3)
            lim = (low - pad, high + pad)
            ax.plot(lim, lim, color="grey", ls="--", lw=1)
            ax.set_xlim(lim)
            ax.set_ylim(lim)
        ax.set_aspect("equal")
        ax.set_xlabel(f"{xs}  ({metric_label(metric)})", fontsize=9)
        ax.set_ylabel(f"{ys}  ({metric_label(metric)})", fontsize=9)
        delta = pairs[f"{metric}_delta"].mean()
        ax.set_title(f"{metric}\nmean {xs} − {ys} = {delta:+.3f}", fontsize=10)
        ax.grid(alpha=0.3)
    handles = [_key("o", c, f"{data.color_by}={fmt_value(v)}") for v, c in data.colors.items()] + [
        _key(m, "lightgrey", f"{data.marker_by}={fmt_value(v)}") for v, m in data.markers.items()
    ]
    handles.append(Line2D([], [], color="grey", ls="--", lw=1, label="y = x"))
    axes[0][0].legend(handles=handles, fontsize=8, loc="best")
    suptitle(
        fig,
        f"{xs} vs {ys} per grid cell ({len(pairs)} cells, mean over seeds"
        + ("; bars: 95% intervals" if data.bars else "")
        + f"); points above the dashed line: {ys} better",
    )
    return fig


def _key(marker: str, color: Any, label: str) -> Line2D:
    return Line2D([], [], ls="", marker=marker, color=color, mec="black", mew=0.4, label=label)


def plot_trainer_scatter(
    runs: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    intervals: pd.DataFrame | None = None,
    trainer: str = DEFAULT,
    baseline: str = BASELINE,
) -> Figure | None:
    """Per grid cell: the trainer's metric (x) vs the baseline's (y), mean over seeds, one panel
    per metric (default: torch vs gensim)."""
    data = scatter_data(runs, metrics, intervals, trainer, baseline)
    return None if data is None else draw_trainer_scatter(data)


def throughput_data(runs: pd.DataFrame) -> dict[str, pd.Series]:
    """Training words/s of every done run, per trainer and CPU cores when recorded: keys
    "torch" or "torch\n2 cores" (empty: no speeds recorded)."""
    done = done_runs(runs)
    if "words_per_sec" not in done or done["words_per_sec"].dropna().empty:
        return {}
    speeds = {}
    for trainer in trainers(done):
        mine = done[done["trainer"] == trainer]
        cores = mine["cores"] if "cores" in mine else pd.Series(np.nan, index=mine.index)
        for n in sorted(cores.dropna().unique()) + ([np.nan] if cores.isna().any() else []):
            group = mine[cores.isna() if n != n else cores == n]
            label = trainer if n != n else f"{trainer}\n{n:.0f} core{'s' if n != 1 else ''}"
            speeds[label] = group["words_per_sec"].dropna()
    return {label: runs for label, runs in speeds.items() if not runs.empty}


@plain_text
def draw_throughput(speeds: dict[str, pd.Series]) -> Figure:
    names = list(speeds)
    fig, axes = new_figure(1, 1, (2.4 * len(names) + 2.5, 3.8))
    ax = axes[0][0]
    rng = np.random.default_rng(0)  # fixed jitter: the same study draws the same figure
    for i, label in enumerate(names):
        runs = speeds[label]
        trainer, _, cores = label.partition("\n")
        color = trainer_color(trainer, i)
        ax.bar(i, runs.mean(), width=0.6, color=color, alpha=0.35, edgecolor=color)
        ax.scatter(i + rng.uniform(-0.15, 0.15, len(runs)), runs, s=14, color=color)
        text = f"mean {runs.mean():,.0f}"
        if cores:
            text += f"\n{runs.mean() / float(cores.split()[0]):,.0f} / core"
        ax.text(i + 0.32, runs.mean(), text, ha="left", va="center", fontsize=9)
    ax.set_xticks(range(len(names)), names)
    ax.set_xlim(-0.5, len(names) - 0.15)  # room for the last "mean" label
    ax.set_ylabel("training words / s")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_title("Throughput per trainer and CPU cores (dots = runs, bar = mean)", fontsize=11)
    ax.grid(axis="y", alpha=0.3)
    return fig


def plot_throughput(runs: pd.DataFrame) -> Figure | None:
    """Training words/s per trainer (and the CPU cores it used): every run a dot, bar = mean."""
    speeds = throughput_data(runs)
    return draw_throughput(speeds) if speeds else None
