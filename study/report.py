"""The generated report of a study: `report.html` (self-contained) and `report.md` + `figures/`.

Everything comes from the study folder: the run tables (`study.results.load_table`), the saved
vectors (PCA overlays), `study.json` (the reproduce command) and each run's `metrics.json`
(provenance). The report lists its tables and figures at the top; only those whose data exist
are made (no heatmap with one swept field, no torch-vs-gensim table with one trainer).
"""

from __future__ import annotations

import base64
import html
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from study import plots
from study.atomic import atomic_write_text
from study.errors import StudyError
from study.results import STATUS_DONE, ResultStore, load_table

log = logging.getLogger(__name__)


@dataclass
class Table:
    title: str
    frame: pd.DataFrame
    note: str = ""


@dataclass
class FigureEntry:
    title: str
    path: Path  # the PNG, under <out>/figures/
    caption: str = ""


@dataclass
class Report:
    name: str
    html_path: Path
    markdown_path: Path
    tables: list[Table] = field(default_factory=list)
    figures: list[FigureEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    edge_warnings: list[plots.EdgeWarning] = field(default_factory=list)


def build_report(
    study_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    by: str | None = None,
    metric: str = "ws353_spearman",
    align: bool = True,
    pca_trainer: str = "torch",
    pca_words: int = 300,
) -> Report:
    """Write report.html, report.md and figures/*.png for the study at `study_dir`.

    `by`: the hyperparameter of the training curves and PCA overlays (default: alpha when it was
    swept, else the first swept field). `metric` picks the best cell, which fixes the other
    swept fields in those figures. `align=False` draws the overlays without Procrustes.
    """
    store = ResultStore(study_dir)
    runs, epochs = load_table(store)
    if runs.empty:
        raise StudyError(f"no finished runs in {store.root}; run a grid first")
    out = Path(out_dir) if out_dir is not None else store.root
    figures_dir = out / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    for old in figures_dir.glob("*.png"):  # a rerun must not leave stale figures behind
        old.unlink()
    swept = plots.swept_fields(runs)
    by = by or ("alpha" if "alpha" in swept or not swept else swept[0])
    metrics = plots.available_metrics(runs)
    metric = metric if metric in metrics else (metrics[0] if metrics else metric)
    report = Report(store.name, out / "report.html", out / "report.md")
    report.edge_warnings = plots.edge_warnings(runs, metrics)
    if report.edge_warnings:
        report.warnings.append(
            f"{len(report.edge_warnings)} best values sit at the edge of the grid (see "
            f"'{EDGE_TITLE}'): the optimum may lie outside the range tried"
        )
    _add_tables(report, runs, metrics)
    _add_figures(
        report, store, runs, epochs, figures_dir, by, metric, metrics, align, pca_trainer, pca_words
    )
    info = store.read_study_info()
    provenance = provenance_table(store)
    atomic_write_text(report.markdown_path, render_markdown(report, runs, info, provenance))
    atomic_write_text(report.html_path, render_html(report, runs, info, provenance))
    return report


# -- tables -------------------------------------------------------------------------------
def _add_tables(report: Report, runs: pd.DataFrame, metrics: list[str]) -> None:
    if metrics:
        report.tables.append(
            Table(
                "Best configurations",
                best_configs(runs, metrics),
                "Per trainer and metric, the grid cell with the highest mean over seeds.",
            )
        )
        report.tables.append(
            Table(
                "Per-cell results (mean ± std over seeds)",
                per_cell(runs, metrics),
                "One row per grid cell; n = finished seeds.",
            )
        )
        deltas = trainer_deltas(runs, metrics)
        if not deltas.empty:
            report.tables.append(
                Table(
                    "torch vs gensim per cell",
                    deltas,
                    "Means over seeds; Δ = torch − gensim (positive: torch better).",
                )
            )
    if report.edge_warnings:
        report.tables.append(
            Table(
                EDGE_TITLE,
                edge_table(report.edge_warnings),
                "Per trainer and metric: swept hyperparameters whose best value (best cell per "
                "value, mean over seeds) is the lowest or highest tried. Widen these ranges.",
            )
        )
    speed = plots.throughput_table(runs)
    if not speed.empty:
        report.tables.append(
            Table("Throughput (training words/s per trainer)", _format_speed(speed), "Done runs.")
        )
    failed = failed_runs(runs)
    report.tables.append(
        Table(
            "Failed runs",
            failed,
            "Runs recorded with status failed or pruned, and their errors."
            if not failed.empty
            else "None: every run finished.",
        )
    )


EDGE_TITLE = "Best value at the edge of the grid"


def edge_table(warnings: Sequence[plots.EdgeWarning]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "trainer": w.trainer,
                "metric": w.metric,
                "hyperparameter": w.field,
                "best value": plots._fmt(w.value),
                "values tried": ", ".join(plots._fmt(v) for v in w.values),
            }
            for w in warnings
        ]
    )


def _fmt_num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _mean_std(mean: Any, std: Any) -> str:
    if mean != mean:  # NaN
        return "–"
    return f"{mean:.3f} ± {std:.3f}" if std == std else f"{mean:.3f}"


def best_configs(runs: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    fields = plots.swept_fields(runs)
    rows = []
    for trainer in plots._trainers(plots.done_runs(runs)):
        for metric in metrics:
            cells = plots.cell_table(runs, [metric])
            cells = cells[cells["trainer"] == trainer].dropna(subset=[metric])
            if cells.empty:
                continue
            best = cells.iloc[int(cells[metric].to_numpy().argmax())]
            rows.append(
                {
                    "trainer": trainer,
                    "metric": metric,
                    "best (mean ± std)": _mean_std(best[metric], best[f"{metric}_std"]),
                    "seeds": int(best["n"]),
                    "config": ", ".join(f"{f}={plots._fmt(best[f])}" for f in fields)
                    or "(no sweep)",
                }
            )
    return pd.DataFrame(rows)


def per_cell(runs: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    cells = plots.cell_table(runs, metrics)
    keys = [k for k in plots.cell_fields(runs) if k in cells]
    out = _format_keys(cells[keys])
    for metric in metrics:
        out[metric] = [
            _mean_std(m, s) for m, s in zip(cells[metric], cells[f"{metric}_std"], strict=True)
        ]
    out["n"] = cells["n"]
    return out


def _format_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """Config values as written in a grid (0.75, 1e-05), not padded to 3 decimals."""
    return frame.apply(lambda column: column.map(plots._fmt)) if not frame.empty else frame.copy()


def trainer_deltas(runs: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    pairs = plots.trainer_pairs(runs, metrics)
    if pairs.empty:
        return pairs
    keys = [k for k in plots.swept_fields(runs) if k in pairs]
    out = _format_keys(pairs[keys])
    for metric in metrics:
        out[f"{metric} torch"] = pairs[f"{metric}_torch"].map(_fmt_num)
        out[f"{metric} gensim"] = pairs[f"{metric}_gensim"].map(_fmt_num)
        out[f"{metric} Δ"] = pairs[f"{metric}_delta"].map(lambda v: f"{v:+.3f}")
    return out


def _format_speed(speed: pd.DataFrame) -> pd.DataFrame:
    out = speed.copy()
    for column in ["mean", "std", "min", "max"]:
        out[column] = out[column].map(lambda v: "–" if v != v else f"{v:,.0f}")
    return out.rename(columns={c: f"words/s {c}" for c in ["mean", "std", "min", "max"]})


def failed_runs(runs: pd.DataFrame) -> pd.DataFrame:
    bad = runs[runs["status"] != STATUS_DONE] if "status" in runs else runs.iloc[0:0]
    keys = ["run_id", "status", *plots.cell_fields(runs), "seed", "error"]
    out = _format_keys(bad[[k for k in dict.fromkeys(keys) if k in bad]])
    if "error" in out:
        out["error"] = out["error"].fillna("").astype(str).str.slice(0, 300)
    return out.reset_index(drop=True)


def provenance_table(store: ResultStore) -> pd.DataFrame:
    """Distinct provenance values over the study's runs (one row per key)."""
    seen: dict[str, list[str]] = {}
    dates: list[str] = []
    for record in store.finished_runs():
        prov = record.result.get("provenance") or {}
        flat = {k: v for k, v in prov.items() if k not in {"versions", "seeds", "date"}}
        flat.update({f"{k} version": v for k, v in (prov.get("versions") or {}).items()})
        if prov.get("date"):
            dates.append(str(prov["date"]))
        for key, value in flat.items():
            values = seen.setdefault(key, [])
            if str(value) not in values:
                values.append(str(value))
    rows = [{"key": k, "value": "; ".join(v)} for k, v in seen.items()]
    if dates:
        rows.insert(0, {"key": "dates", "value": f"{min(dates)} … {max(dates)}"})
    seeds = sorted({r.config.seed for r in store.finished_runs()})
    rows.append({"key": "seeds", "value": ", ".join(map(str, seeds))})
    return pd.DataFrame(rows, columns=["key", "value"])


# -- figures ------------------------------------------------------------------------------
def _add_figures(
    report: Report,
    store: ResultStore,
    runs: pd.DataFrame,
    epochs: pd.DataFrame,
    figures_dir: Path,
    by: str,
    metric: str,
    metrics: list[str],
    align: bool,
    pca_trainer: str,
    pca_words: int,
) -> None:
    def add(name: str, title: str, fig: Any, caption: str = "") -> None:
        if fig is not None:
            path = plots.save_figure(fig, figures_dir / f"{name}.png")
            report.figures.append(FigureEntry(title, path, caption))

    add(
        "loss_curves",
        f"Loss vs epoch by {by}",
        plots.plot_losses(runs, epochs, by, select_metric=metric),
        "Training loss (each trainer's own tally) and the probe's float64 loss on fixed pairs, "
        "under the run's noise distribution and under the fixed α=0.75 one (comparable across "
        "α). Other swept fields are held at the best cell's values.",
    )
    add(
        "grad_norms",
        f"Gradient norms vs epoch by {by}",
        plots.plot_grad_norms(runs, epochs, by, select_metric=metric),
        "Closed-form per-pair gradient norms on the probe pairs.",
    )
    add(
        "metric_vs_params",
        "Metrics vs each swept hyperparameter",
        plots.plot_metric_vs_params(runs, metrics),
        "A red panel title flags a best value at the edge of the grid.",
    )
    for name in metrics:
        add(f"heatmap_{name}", f"Heatmaps: {name}", plots.plot_heatmaps(runs, name))
    add(
        "torch_vs_gensim",
        "torch vs gensim per grid cell",
        plots.plot_trainer_scatter(runs, metrics),
    )
    add("throughput", "Throughput per trainer", plots.plot_throughput(runs))
    overlay = plots.plot_pca_overlays(store.root, runs, by, pca_trainer, align, target=pca_words)
    if overlay is None:
        return
    report.warnings += overlay.notes
    what = "aligned by orthogonal Procrustes to" if align else "not aligned; reference"
    caption = (
        f"{len(overlay.words)} words (seed words + nearest neighbours) across one sweep over {by}, "
        f"{what} {overlay.reference}."
    )
    add("pca_2d", f"Joint PCA overlay (2D) across {by}", overlay.fig2d, caption)
    add("pca_3d", f"Joint PCA overlay (3D) across {by}", overlay.fig3d, caption)
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


# -- rendering ----------------------------------------------------------------------------
def _summary(runs: pd.DataFrame, name: str) -> list[str]:
    counts = runs["status"].value_counts().to_dict() if "status" in runs else {}
    status = ", ".join(f"{v} {k}" for k, v in counts.items())
    swept = plots.swept_fields(runs)
    lines = [
        f"{len(runs)} runs ({status})",
        f"trainers: {', '.join(plots._trainers(runs))}",
        "swept: "
        + (
            "; ".join(
                f"{f} = {', '.join(plots._fmt(v) for v in plots._sorted_values(runs[f]))}"
                for f in swept
            )
            or "nothing"
        ),
    ]
    if "corpus" in runs:
        lines.append(f"corpus: {', '.join(map(str, runs['corpus'].unique()))}")
    return lines


def _markdown_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_(empty)_"

    def cell(value: Any) -> str:
        text = _fmt_num(value) if isinstance(value, float) else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _contents(report: Report) -> list[str]:
    return [t.title for t in report.tables] + [f.title for f in report.figures]


def render_markdown(
    report: Report, runs: pd.DataFrame, info: dict[str, Any], provenance: pd.DataFrame
) -> str:
    lines = [f"# Study report: {report.name}", ""]
    lines += [f"- {line}" for line in _summary(runs, report.name)]
    lines += [
        "",
        "## Reproduce",
        "",
        "```",
        info.get("command", "(not recorded in study.json)"),
        "```",
        "",
    ]
    lines += ["## Contents", "", "Tables: " + "; ".join(t.title for t in report.tables)]
    lines += ["", "Figures: " + "; ".join(f.title for f in report.figures), ""]
    if report.warnings:
        lines += ["## Warnings", ""] + [f"- ⚠ {w}" for w in report.warnings] + [""]
    for table in report.tables:
        lines += [f"## {table.title}", ""]
        if table.note:
            lines += [table.note, ""]
        if not table.frame.empty:
            lines += [_markdown_table(table.frame), ""]
    for figure in report.figures:
        relative = figure.path.relative_to(report.markdown_path.parent).as_posix()
        lines += [f"## {figure.title}", ""]
        if figure.caption:
            lines += [figure.caption, ""]
        lines += [f"![{figure.title}]({relative})", ""]
    lines += ["## Provenance", "", _markdown_table(provenance), ""]
    return "\n".join(lines)


CSS = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
       color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f2f2f2; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
img { max-width: 100%; border: 1px solid #eee; }
.warn { color: #a00; }
figcaption { color: #555; font-size: 0.9em; margin-bottom: 2em; }
"""


def render_html(
    report: Report, runs: pd.DataFrame, info: dict[str, Any], provenance: pd.DataFrame
) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Study report: {esc(report.name)}</title><style>{CSS}</style></head><body>",
        f"<h1>Study report: {esc(report.name)}</h1><ul>",
        *[f"<li>{esc(line)}</li>" for line in _summary(runs, report.name)],
        "</ul><h2>Reproduce</h2>",
        f"<pre>{esc(info.get('command', '(not recorded in study.json)'))}</pre>",
        "<h2>Contents</h2><ul>",
        *[f'<li><a href="#{_anchor(t)}">{esc(t)}</a></li>' for t in _contents(report)],
        "</ul>",
    ]
    if report.warnings:
        parts.append("<h2>Warnings</h2><ul>")
        parts += [f'<li class="warn">⚠ {esc(w)}</li>' for w in report.warnings]
        parts.append("</ul>")
    for table in report.tables:
        parts.append(f'<h2 id="{_anchor(table.title)}">{esc(table.title)}</h2>')
        if table.note:
            parts.append(f"<p>{esc(table.note)}</p>")
        if not table.frame.empty:
            parts.append(table.frame.to_html(index=False, escape=True, na_rep="–", border=0))
    for figure in report.figures:
        data = base64.b64encode(figure.path.read_bytes()).decode()
        parts += [
            f'<h2 id="{_anchor(figure.title)}">{esc(figure.title)}</h2><figure>',
            f'<img alt="{esc(figure.title)}" src="data:image/png;base64,{data}">',
            f"<figcaption>{esc(figure.caption)}</figcaption></figure>",
        ]
    parts += ["<h2>Provenance</h2>", provenance.to_html(index=False, escape=True, border=0)]
    parts.append("</body></html>")
    return "\n".join(parts)


def _anchor(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")
