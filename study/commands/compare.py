"""`study compare`: one paired comparison of two cells of a study (matched seeds, same items)."""

from __future__ import annotations

import argparse
from typing import Any

from study.errors import StudyError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare two cells of a study: paired difference with a 95%% interval",
        description="Compare cell A with cell B of a study on every metric: each cell's mean "
        "over seeds with its 95%% interval, and the paired difference A − B over the seeds both "
        "finished and the same benchmark items, with its interval, p-value and equivalence "
        "verdict. Fields not named in --a, --b or --where must leave one cell on each side.",
    )
    parser.add_argument("study", help="study folder (results/<study>) or study name")
    parser.add_argument("--a", nargs="+", required=True, metavar="KEY=VALUE", help="cell A")
    parser.add_argument("--b", nargs="+", required=True, metavar="KEY=VALUE", help="cell B")
    parser.add_argument(
        "--where", nargs="+", default=[], metavar="KEY=VALUE", help="held by both (e.g. window=5)"
    )
    parser.add_argument(
        "--metric",
        nargs="+",
        default=None,
        help="metrics (default: ws353_spearman simlex_spearman analogy_acc)",
    )
    parser.add_argument(
        "--margin",
        type=float,
        default=None,
        help="equivalence margin in metric units (default: 0.01)",
    )
    parser.add_argument("--results", default=None, help="results root for a study name")
    parser.set_defaults(func=compare_command)


def compare_command(args: argparse.Namespace) -> int:
    from study.analysis import METRICS, available_metrics, done_runs
    from study.commands.report import study_folder
    from study.inference import DEFAULT_MARGIN, StudyItems, resolve_cell
    from study.results import ResultStore, load_table
    from study.stats import verdict

    margin = DEFAULT_MARGIN if args.margin is None else args.margin
    if not margin > 0:
        raise StudyError(f"--margin must be positive, got {args.margin}")
    store = ResultStore(study_folder(args.study, args.results))
    runs, _ = load_table(store, save=False)
    if done_runs(runs).empty:
        raise StudyError(f"no finished runs in {store.root}")
    metrics = args.metric or available_metrics(runs, METRICS)
    unknown = [m for m in metrics if m not in runs]
    if unknown:
        raise StudyError(f"unknown metric {unknown[0]!r}; the study has {_metric_names(runs)}")
    cell_a, runs_a = resolve_cell(runs, args.where, args.a, "--a")
    cell_b, runs_b = resolve_cell(runs, args.where, args.b, "--b")
    if cell_a == cell_b:
        raise StudyError("--a and --b select the same cell")
    items = StudyItems(store)
    seeds = sorted(set(runs_a["seed"]) & set(runs_b["seed"]))
    print(f"study {store.root}")
    print(f"A: {_cell_text(cell_a)}  (seeds {_seed_list(runs_a)})")
    print(f"B: {_cell_text(cell_b)}  (seeds {_seed_list(runs_b)})")
    paired = ", ".join(map(str, seeds)) or "(none)"
    print(f"paired over seeds {paired}; equivalence margin ±{margin:g}")
    width = max(len("metric"), *(len(m) for m in metrics))
    header = f"{'metric':<{width}} {'A [95% CI]':<24} {'B [95% CI]':<24} {'A − B [95% CI]':<27} "
    print(header + f"{'p':>7}  verdict")
    for metric in metrics:
        a, b = items.cell(runs_a, metric), items.cell(runs_b, metric)
        d = items.paired(runs_a, runs_b, metric)
        if d is None:
            raise StudyError("A and B have no seed in common: nothing to pair")
        diff = f"{d.value:+.3f} [{d.low:+.3f}, {d.high:+.3f}]" if d.low == d.low else str(d)
        p = f"{d.p_value:.3g}" if d.p_value == d.p_value else "–"
        print(f"{metric:<{width}} {a!s:<24} {b!s:<24} {diff:<27} {p:>7}  {verdict(d, margin)}")
    print(_method_note(items.paired(runs_a, runs_b, metrics[0])))
    return 0


def _metric_names(runs: Any) -> str:
    names = [c for c in runs.columns if c.endswith(("_spearman", "_acc"))]
    return ", ".join(names) or "no metrics"


def _cell_text(cell: dict[str, Any]) -> str:
    from study.analysis import where_text

    return where_text(cell) or "(all runs)"


def _seed_list(runs: Any) -> str:
    return ", ".join(str(s) for s in sorted(runs["seed"]))


def _method_note(d: Any) -> str:
    if d.method == "seeds":
        return "no per-item results stored for these runs: intervals cover seed spread only"
    if d.method == "items":
        return "one matched seed: intervals cover item sampling only (add seeds for seed spread)"
    return "intervals: seeds and benchmark items (paired bootstrap over items + t over seeds)"
