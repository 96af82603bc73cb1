"""`study compare`: one paired comparison of two cells of a study (matched seeds, same items).

`vectors=w` or `vectors=w+c` in --a, --b or --where picks which vectors of the runs are scored
(default w): `--a vectors=w+c --b vectors=w --where window=5 ...` compares w+c with w inside
the same runs, paired by run and item (metric names: `study.benchmarks`).
"""

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
        "verdict. Fields not named in --a, --b or --where must leave one cell on each side. "
        "The pseudo-field vectors=w|w+c (default w) scores the input vectors or their sum with "
        "the output vectors: --a vectors=w+c --b vectors=w compares them within the same runs.",
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
        help="metrics, named for w (default: the headline metric of every benchmark the study "
        "has, e.g. men_spearman analogy_acc)",
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
    from study.benchmarks import with_vectors
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
    where, where_vectors = _vectors_choice(args.where, "--where", "w")
    assign_a, vectors_a = _vectors_choice(args.a, "--a", where_vectors)
    assign_b, vectors_b = _vectors_choice(args.b, "--b", where_vectors)
    metrics = args.metric or available_metrics(runs, METRICS)
    pairs = {m: (with_vectors(m, vectors_a), with_vectors(m, vectors_b)) for m in metrics}
    unknown = [c for ab in pairs.values() for c in ab if c not in runs]
    if unknown:
        raise StudyError(f"unknown metric {unknown[0]!r}; the study has {_metric_names(runs)}")
    cell_a, runs_a = resolve_cell(runs, where, assign_a, "--a")
    cell_b, runs_b = resolve_cell(runs, where, assign_b, "--b")
    if cell_a == cell_b and vectors_a == vectors_b:
        raise StudyError("--a and --b select the same cell")
    items = StudyItems(store)
    seeds = sorted(set(runs_a["seed"]) & set(runs_b["seed"]))
    print(f"study {store.root}")
    print(f"A: {_cell_text(cell_a, vectors_a)}  (seeds {_seed_list(runs_a)})")
    print(f"B: {_cell_text(cell_b, vectors_b)}  (seeds {_seed_list(runs_b)})")
    paired = ", ".join(map(str, seeds)) or "(none)"
    print(f"paired over seeds {paired}; equivalence margin ±{margin:g}")
    width = max(len("metric"), *(len(m) for m in metrics))
    header = f"{'metric':<{width}} {'A [95% CI]':<24} {'B [95% CI]':<24} {'A − B [95% CI]':<27} "
    print(header + f"{'p':>7}  verdict")
    for metric in metrics:
        metric_a, metric_b = pairs[metric]
        a, b = items.cell(runs_a, metric_a), items.cell(runs_b, metric_b)
        d = items.paired(runs_a, runs_b, metric_a, metric_b)
        if d is None:
            raise StudyError("A and B have no seed in common: nothing to pair")
        diff = f"{d.value:+.3f} [{d.low:+.3f}, {d.high:+.3f}]" if d.low == d.low else str(d)
        p = f"{d.p_value:.3g}" if d.p_value == d.p_value else "–"
        print(f"{metric:<{width}} {a!s:<24} {b!s:<24} {diff:<27} {p:>7}  {verdict(d, margin)}")
    print(_method_note(items.paired(runs_a, runs_b, *pairs[metrics[0]])))
    return 0


def _vectors_choice(assignments: list[str], flag: str, default: str) -> tuple[list[str], str]:
    """The KEY=VALUE list without its `vectors=` item, and the vectors it names."""
    from study.benchmarks import VECTORS

    rest, chosen = [], default
    for item in assignments:
        key, sep, value = item.partition("=")
        if sep and key.strip() == "vectors":
            if value.strip() not in VECTORS:
                raise StudyError(f"{flag} vectors={value}: choose {' or '.join(VECTORS)}")
            chosen = value.strip()
        else:
            rest.append(item)
    return rest, chosen


def _metric_names(runs: Any) -> str:
    names = [c for c in runs.columns if c.endswith(("_spearman", "_acc"))]
    return ", ".join(names) or "no metrics"


def _cell_text(cell: dict[str, Any], vectors: str) -> str:
    from study.analysis import where_text

    return f"{where_text(cell) or '(all runs)'}, vectors={vectors}"


def _seed_list(runs: Any) -> str:
    return ", ".join(str(s) for s in sorted(runs["seed"]))


def _method_note(d: Any) -> str:
    if d.method == "seeds":
        return "no per-item results stored for these runs: intervals cover seed spread only"
    if d.method == "items":
        return "one matched seed: intervals cover item sampling only (add seeds for seed spread)"
    return "intervals: seeds and benchmark items (paired bootstrap over items + t over seeds)"
