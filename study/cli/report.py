"""`study report`: figures and an HTML + Markdown report of a finished (or partial) study."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from study.cli.args import int_at_least, positive_number
from study.core.errors import StudyError
from study.store.results import results_root


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write report.html and report.md (with figures) for a study",
        description="Build the tables and figures of a study from its result folder and write "
        "report.html (self-contained) and report.md (figures in figures/). Works on a partial "
        "study too: only finished runs are shown.",
    )
    parser.add_argument("study", help="study folder (results/<study>) or study name")
    parser.add_argument("--out", default=None, help="output folder (default: the study folder)")
    parser.add_argument(
        "--by",
        default=None,
        help="hyperparameter of the training curves and PCA overlays "
        "(default: alpha if swept, else the first swept field)",
    )
    parser.add_argument(
        "--metric",
        default=None,
        help="metric that picks the best cell (default: ws353_spearman, if the study has it)",
    )
    parser.add_argument(
        "--no-align",
        action="store_true",
        help="draw the PCA overlays without Procrustes alignment",
    )
    parser.add_argument(
        "--pca-trainer",
        default=None,
        help="trainer whose sweep is overlaid (default: torch, if the study has it)",
    )
    parser.add_argument(
        "--pca-words",
        type=int_at_least(2),
        default=300,
        help="words in the PCA overlays (default: 300)",
    )
    parser.add_argument(
        "--pca-seeds",
        default=None,
        metavar="W1,W2,...",
        help="the words the PCA overlays start from (each with its nearest neighbours; "
        "default: king, queen, man, woman, london, paris, … — English words)",
    )
    parser.add_argument(
        "--margin",
        type=positive_number,
        default=0.01,
        help="torch vs gensim equivalence margin, in metric units (default: 0.01)",
    )
    parser.add_argument(
        "--items-only-intervals",
        action="store_true",
        help="give cells with one seed an interval from the benchmark items alone, labelled "
        "'items only' (it leaves out the seed spread; by default they get none)",
    )
    parser.add_argument("--results", default=None, help="results root for a study name")
    parser.set_defaults(func=report_command)


def study_folder(study: str, results: str | None) -> Path:
    """A path to a study folder, or a bare name under the results root."""
    path = Path(study)
    if path.is_dir():
        return path
    if path.exists():
        raise StudyError(f"{study} is a file, not a study folder (results/<study>)")
    candidate = results_root(results) / study
    if "/" not in study and candidate.is_dir():
        return candidate
    raise StudyError(f"no study folder at {study}")


def report_command(args: argparse.Namespace) -> int:
    from study.analyze.report import ReportOptions, build_report

    options = ReportOptions(
        by=args.by,
        metric=args.metric,
        align=not args.no_align,
        pca_trainer=args.pca_trainer,
        pca_words=args.pca_words,
        margin=args.margin,
        items_only=args.items_only_intervals,
    )
    if args.pca_seeds is not None:
        words = tuple(dict.fromkeys(w.strip() for w in args.pca_seeds.split(",") if w.strip()))
        if not words:
            raise StudyError("--pca-seeds names no word; give them as W1,W2,...")
        options = dataclasses.replace(options, pca_seeds=words)
    report = build_report(study_folder(args.study, args.results), args.out, options)
    for edge in report.edge_warnings:
        print(f"warning: {edge}")
    for warning in report.warnings:
        print(f"warning: {warning}")
    print(f"{len(report.tables)} tables, {len(report.figures)} figures")
    print(f"wrote {report.html_path}")
    print(f"wrote {report.markdown_path} (figures in {report.markdown_path.parent / 'figures'})")
    return 0
