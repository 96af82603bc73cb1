"""Figures of a study: one module per kind, each a data function (tested for its values) and a
draw function, plus `plot_*` that does both and returns a matplotlib `Figure` (None when the
study has no data for it, e.g. a heatmap needs two swept fields). `save_figure` writes a PNG.

Figures are plain `matplotlib.figure.Figure` objects, never pyplot's, so importing this package
neither picks a backend nor keeps figures open; PNGs render with Agg on any headless server.
"""

from study.analyze.figures.common import save_figure
from study.analyze.figures.curves import plot_curves, plot_grad_norms, plot_losses
from study.analyze.figures.heatmaps import plot_heatmaps
from study.analyze.figures.params import plot_metric_vs_params
from study.analyze.figures.trainers import plot_throughput, plot_trainer_scatter

__all__ = [
    "plot_curves",
    "plot_grad_norms",
    "plot_heatmaps",
    "plot_losses",
    "plot_metric_vs_params",
    "plot_throughput",
    "plot_trainer_scatter",
    "save_figure",
]
