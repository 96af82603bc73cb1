"""`build_report`: read a study folder, make its tables and figures, write both renderings."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from study.analyze import figures
from study.analyze.analysis import (
    available_metrics,
    challengers,
    edge_warnings,
    fmt_value,
    none_as_value,
    sorted_values,
    swept_fields,
    throughput_table,
    trainers,
)
from study.analyze.figures.overlay import SEED_WORDS, plot_pca_overlays
from study.analyze.inference import DEFAULT_MARGIN, StudyItems
from study.analyze.report import literature, publish, tables
from study.analyze.report.findings import MCB, Findings, assess_edges, find
from study.analyze.report.render import (
    FigureEntry,
    Report,
    Table,
    render_html,
    render_markdown,
)
from study.analyze.report.writeup import command_text
from study.core.atomic import atomic_write_text
from study.core.config import field_names, show
from study.core.errors import StudyError
from study.core.trainers import BASELINE, DEFAULT
from study.evaluate import stats
from study.store.results import ResultStore, load_table

EDGE_TITLE = "Best value at the edge of the grid"
SEEDS_TITLE = "How many seeds?"


@dataclass(frozen=True)
class ReportOptions:
    """`by`: the field of the training curves and PCA overlays (None: alpha when swept, else the
    first swept field). `metric` picks the best cell, which fixes the other swept fields in
    those figures. `align=False` draws the overlays without Procrustes."""

    by: str | None = None
    metric: str | None = None  # None: ws353_spearman if the study has it, else its first metric
    align: bool = True
    pca_trainer: str | None = None  # None: the default trainer (torch) if the study has it,
    # else its first trainer
    pca_words: int = 300
    pca_seeds: tuple[str, ...] = tuple(SEED_WORDS)  # the words the overlays start from
    margin: float = DEFAULT_MARGIN  # trainer vs baseline equivalence margin, in metric units
    baseline: str = BASELINE  # the trainer every other is compared with (tables, figures)
    items_only: bool = False  # one-seed cells: an interval from the items alone, labelled


def resolve_options(
    runs: pd.DataFrame, metrics: list[str], options: ReportOptions
) -> ReportOptions:
    """Defaults filled in from the study; a value the study does not have is an error, so that
    a bogus --by/--metric/--pca-trainer is never silently replaced by a default."""
    swept = swept_fields(runs)
    listed = ", ".join(swept) or "nothing"
    by = options.by
    if by is None:
        by = "alpha" if "alpha" in swept or not swept else swept[0]
    elif by not in swept:
        what = "is not a config field" if by not in field_names() else "has one value here"
        raise StudyError(f"report --by {show(by)}: {by} {what}; swept in this study: {listed}")
    metric = options.metric
    if metric is None:
        metric = "ws353_spearman" if "ws353_spearman" in metrics or not metrics else metrics[0]
    elif metric not in metrics:
        have = ", ".join(metrics) or "none (no done run has a metric)"
        raise StudyError(
            f"report --metric {show(metric)}: not a metric of this study; it has {have}"
        )
    names = trainers(runs)
    trainer = options.pca_trainer
    if trainer is None:
        trainer = DEFAULT if DEFAULT in names or not names else names[0]
    elif trainer not in names:
        raise StudyError(
            f"report --pca-trainer {show(trainer)}: no runs of it here; "
            f"trainers: {', '.join(names)}"
        )
    return dataclasses.replace(options, by=by, metric=metric, pca_trainer=trainer)


def build_report(
    study_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    options: ReportOptions = ReportOptions(),
) -> Report:
    """Write report.html, report.md and figures/*.png for the study at `study_dir`: built apart,
    then swapped in whole (`study.analyze.report.publish`); a report that fails leaves the last
    one."""
    store = ResultStore(study_dir)
    out = Path(out_dir) if out_dir is not None else store.root
    publish.check_folder(out)  # before any work
    runs, epochs = (none_as_value(t) for t in load_table(store))
    if runs.empty:
        raise StudyError(f"no finished runs in {store.root}; run a grid first")
    options = resolve_options(runs, available_metrics(runs), options)  # before writing anything
    with publish.staging(out) as built:
        report = _build(store, runs, epochs, options, built)
        publish.publish(built, out, [f.path.name for f in report.figures])
    return _moved(report, out)


def _moved(report: Report, out: Path) -> Report:
    """The report with the paths it has once published in `out`."""
    figures = [dataclasses.replace(f, path=out / publish.FIGURES / f.path.name)
               for f in report.figures]  # fmt: skip
    return dataclasses.replace(report, html_path=out / "report.html",
                               markdown_path=out / "report.md", figures=figures)  # fmt: skip


def _build(
    store: ResultStore, runs: pd.DataFrame, epochs: pd.DataFrame, options: ReportOptions,
    built: Path,
) -> Report:  # fmt: skip
    report = Report(store.name, built / "report.html", built / "report.md", summary(runs))
    report.command = command_text(store)
    metrics = available_metrics(runs)
    items = StudyItems(store, runs, items_only=options.items_only)
    findings = find(items, runs, metrics, options.margin, options.baseline)
    report.edge_warnings = assess_edges(findings, edge_warnings(runs, metrics))
    if report.edge_warnings:
        better = sum(1 for w in report.edge_warnings if w.significant)
        report.warnings.append(
            f"{len(report.edge_warnings)} best values sit at the edge of the grid, {better} of "
            f"them significantly better than every other value tried (see '{EDGE_TITLE}'): "
            "there the optimum may lie outside the range tried"
        )
    report.conclusions = findings.conclusions
    add_tables(report, runs, metrics, findings, items)
    add_figures(report, store, runs, epochs, metrics, options, findings)
    report.provenance = tables.provenance_table(store.finished_runs())
    atomic_write_text(report.markdown_path, render_markdown(report))
    atomic_write_text(report.html_path, render_html(report))
    return report


def _method_note(found: Findings, metrics: list[str]) -> str:
    methods = {found.intervals[f"{m}_method"].iloc[i] for m in metrics
               for i in range(len(found.intervals))}  # fmt: skip
    return " ".join(stats.method_notes(methods, stats.REPORT_METHOD_NOTES))


def summary(runs: pd.DataFrame) -> list[str]:
    """The report's opening lines: runs by status, trainers, swept values, corpus."""
    counts = runs["status"].value_counts().to_dict() if "status" in runs else {}
    status = ", ".join(f"{v} {k}" for k, v in counts.items())
    swept = "; ".join(
        f"{f} = {', '.join(fmt_value(v) for v in sorted_values(runs[f]))}"
        for f in swept_fields(runs)
    )
    lines = [
        f"{len(runs)} runs ({status})",
        f"trainers: {', '.join(trainers(runs))}",
        "swept: " + (swept or "nothing"),
    ]
    if "corpus" in runs:
        lines.append(f"corpus: {', '.join(map(str, runs['corpus'].unique()))}")
    return lines


def add_tables(
    report: Report, runs: pd.DataFrame, metrics: list[str], found: Findings, items: StudyItems
) -> None:  # fmt: skip
    if metrics:
        report.tables.append(
            Table(
                "Best configurations",
                tables.best_configs(found, runs),
                "Per trainer and metric: the cell with the highest mean over seeds, its 95% "
                "interval (seeds and benchmark items), and the cells not significantly worse "
                f"than it ({MCB}: every pair of cells compared over matched seeds and the same "
                "items, the best picked from the same data; a cell whose true value is the "
                "highest is called worse in at most 5% of studies). Cells with fewer than two "
                "matched seeds are never called worse (untested).",
            )
        )
        report.tables.append(
            Table(
                "Per-cell results (mean [95% CI] over seeds)",
                tables.per_cell(found.intervals, runs, metrics),
                "One row per grid cell; n = finished seeds. " + _method_note(found, metrics),
            )
        )
        base = found.baseline
        for trainer in dict.fromkeys(p.trainer for p in found.pairs):
            report.tables.append(
                Table(
                    f"{trainer} vs {base} per cell",
                    tables.trainer_deltas([p for p in found.pairs if p.trainer == trainer]),
                    f"{trainer}, {base} and Δ = {trainer} − {base} over their matched seeds and "
                    f"the same items (positive: {trainer} better). Per metric, the difference "
                    "test (two-sided t) and the equivalence test (two one-sided tests, margin "
                    f"±{found.margin:g}) of every cell form one family, 5% family-wise "
                    "(Shaffer's modified Holm; p-values adjusted). Outcomes (Lakens 2018): "
                    "equivalent; equivalent but different (significant, but inside the margin); "
                    "different; inconclusive; inconclusive — one seed (never a verdict from one "
                    "matched seed).",
                )
            )
    literature.add_section(report, items, runs, found.margin)
    if report.edge_warnings:
        report.tables.append(
            Table(
                EDGE_TITLE,
                tables.edge_table(report.edge_warnings),
                "Per trainer and metric: swept hyperparameters whose best value (best cell per "
                "value, mean over seeds) is the lowest or highest tried, and whether it is "
                "significantly better than every other value (no cell at another value is tied "
                f"with the best: {MCB}). Widen the ranges where it is.",
            )
        )
    speed = throughput_table(runs, found.baseline)
    if not speed.empty:
        report.tables.append(
            Table(
                "Throughput (training words/s per trainer)",
                tables.speed_table(speed, found.baseline),
                "Done runs.",
            )
        )
    if found.seeds:
        report.tables.append(
            Table(
                SEEDS_TITLE,
                tables.seed_table(found.seeds),
                "From this study's own paired differences (median over them): the spread of "
                "one seed's difference, the part from the benchmark's items that more seeds "
                "cannot remove, the smallest true difference that one paired comparison "
                "(`study compare`: 5%, two-sided, its own degrees of freedom, simulated) finds "
                "with 80% power for a number of seeds, and the seeds needed for a given "
                "difference. Families of many comparisons need larger differences.",
            )
        )
    failed = tables.failed_runs(runs)
    note = "Runs recorded with status failed or pruned, and their errors."
    report.tables.append(Table("Failed runs", failed, note if not failed.empty else
                               "None: every run finished."))  # fmt: skip


def add_figures(
    report: Report,
    store: ResultStore,
    runs: pd.DataFrame,
    epochs: pd.DataFrame,
    metrics: list[str],
    options: ReportOptions,
    found: Findings,
) -> None:
    """Draw every figure the study has data for into figures/ beside the report being built. A
    figure that cannot be drawn (a `StudyError`: e.g. no PCA seed word in the vocabulary) is
    left out with a warning saying why; the rest of the report is written."""
    figures_dir = report.markdown_path.parent / publish.FIGURES
    by, metric = str(options.by), str(options.metric)

    def add(name: str, title: str, draw: Callable[[], Figure | None], caption: str = "") -> None:
        try:
            fig = draw()
        except StudyError as exc:  # not a failure to write one: that fails the report
            report.warnings.append(f"figure '{title}' left out: {exc}")
            return
        if fig is not None:
            path = figures.save_figure(fig, figures_dir / f"{name}.png")
            report.figures.append(FigureEntry(title, path, caption))

    add(
        "loss_curves",
        f"Loss vs epoch by {by}",
        lambda: figures.plot_losses(runs, epochs, by, select_metric=metric),
        "Training loss (each trainer's own tally) and the probe's float64 loss on fixed pairs, "
        "under the run's noise distribution and under the fixed α=0.75 one (comparable across "
        "α). Other swept fields are held at the best cell's values.",
    )
    add(
        "grad_norms",
        f"Gradient norms vs epoch by {by}",
        lambda: figures.plot_grad_norms(runs, epochs, by, select_metric=metric),
        "Closed-form per-pair gradient norms on the probe pairs.",
    )
    add(
        "metric_vs_params",
        "Metrics vs each swept hyperparameter",
        lambda: figures.plot_metric_vs_params(runs, metrics, intervals=found.intervals),
        "Error bars: 95% interval of the cell behind each point (seeds and items). A red panel "
        "title flags a best value at the edge of the grid.",
    )
    for name in metrics:
        tied = {t: found.tied_cells(t, name) for t in trainers(runs)}
        draw = partial(figures.plot_heatmaps, runs, name, tied=tied)
        note = "○ marks squares whose cell is not significantly worse than the trainer's best."
        add(f"heatmap_{name}", f"Heatmaps: {name}", draw, note)
    base = found.baseline
    for trainer in challengers(runs, base):
        versus = f"{trainer} vs {base}"
        add(f"{trainer}_vs_{base}", f"{versus} per grid cell",
            partial(figures.plot_trainer_scatter, runs, metrics, found.intervals, trainer, base),
            f"Bars: each cell's 95% interval per trainer; the {versus} table has the paired "
            "differences, which are much tighter (the items are shared).")  # fmt: skip
    add("throughput", "Throughput per trainer", lambda: figures.plot_throughput(runs))
    try:
        overlay = plot_pca_overlays(
            store.root, runs, by, str(options.pca_trainer), options.align,
            seed_words=options.pca_seeds, target=options.pca_words,
        )  # fmt: skip
    except StudyError as exc:
        report.warnings.append(f"PCA overlays left out: {exc}")
        return
    if overlay is None:
        return
    report.warnings += overlay.notes
    what = "aligned by orthogonal Procrustes to" if options.align else "not aligned; reference"
    caption = (
        f"{len(overlay.words)} words (seed words + nearest neighbours) across one sweep over {by}, "
        f"{what} {overlay.reference}."
    )
    add("pca_2d", f"Joint PCA overlay (2D) across {by}", lambda: overlay.fig2d, caption)
    add("pca_3d", f"Joint PCA overlay (3D) across {by}", lambda: overlay.fig3d, caption)
    table = overlay.displacement.copy()
    for column in ["displacement_aligned", "displacement_unaligned"]:
        table[column] = table[column].map(lambda v: f"{v:.4f}")
    report.tables.append(
        Table(
            "PCA overlay: mean displacement per model",
            table,
            f"Mean distance of the plotted words from their position in the reference model "
            f"({overlay.reference}), rows unit-normalised and centred; with and without "
            "Procrustes alignment.",
        )
    )
