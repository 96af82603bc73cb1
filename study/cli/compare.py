"""`study compare`: one paired comparison of two cells of a study (matched seeds, same items),
with the difference and equivalence tests of each metric in one family (four outcomes).

`vectors=w` or `vectors=w+c` in --a, --b or --where picks which vectors of the runs are scored
(default w): `--a vectors=w+c --b vectors=w --where window=5 ...` compares w+c with w inside
the same runs, paired by run and item (metric names: `study.evaluate.benchmarks`).
"""

from __future__ import annotations

import argparse
from typing import Any

from study.cli.args import positive_number
from study.core.errors import StudyError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare two cells of a study: paired difference with a 95%% interval",
        description="Compare cell A with cell B of a study on every metric, over the seeds "
        "both finished and the same benchmark items: each cell's mean with its 95% interval, "
        "the paired difference A − B with its interval, and one of four outcomes (Lakens "
        "2018): equivalent (|A − B| < margin, two one-sided tests), equivalent but different "
        "(significant, yet inside the margin), different, inconclusive; 'inconclusive — one "
        "seed' with one matched seed. Per metric, the difference and equivalence tests are one "
        "family at 5%. Fields not named in --a, --b or --where must leave one cell per side. "
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
        type=positive_number,
        default=None,
        help="equivalence margin in metric units (default: 0.01)",
    )
    parser.add_argument(
        "--items-only-intervals",
        action="store_true",
        help="with one matched seed, show intervals from the benchmark items alone, labelled "
        "'items only' (they leave out the seed spread; there is still no verdict)",
    )
    parser.add_argument("--results", default=None, help="results root for a study name")
    parser.set_defaults(func=compare_command)


def compare_command(args: argparse.Namespace) -> int:
    import pandas as pd

    from study.analyze.analysis import done_runs, none_as_value
    from study.analyze.inference import DEFAULT_MARGIN, StudyItems, matched_seeds, resolve_cell
    from study.cli.report import study_folder
    from study.store.results import ResultStore, load_table

    margin = DEFAULT_MARGIN if args.margin is None else args.margin
    store = ResultStore(study_folder(args.study, args.results))
    runs = none_as_value(load_table(store, save=False)[0])
    if done_runs(runs).empty:
        raise StudyError(f"no finished runs in {store.root}")
    where, where_vectors = _vectors_choice(args.where, "--where", "w")
    assign_a, vectors_a = _vectors_choice(args.a, "--a", where_vectors)
    assign_b, vectors_b = _vectors_choice(args.b, "--b", where_vectors)
    metrics = chosen_metrics(runs, args.metric)
    pairs = {m: (scored(runs, m, vectors_a, "--a"), scored(runs, m, vectors_b, "--b"))
             for m in metrics}  # fmt: skip
    cell_a, runs_a = resolve_cell(runs, where, assign_a, "--a")
    cell_b, runs_b = resolve_cell(runs, where, assign_b, "--b")
    if cell_a == cell_b and vectors_a == vectors_b:
        raise StudyError("--a and --b select the same cell")
    seeds = matched_seeds(runs_a, runs_b)
    if not seeds:
        raise StudyError(
            f"A and B have no seed in common (A: {_seed_list(runs_a)}; B: {_seed_list(runs_b)}):"
            " nothing to pair"
        )
    a, b = runs_a[runs_a["seed"].isin(seeds)], runs_b[runs_b["seed"].isin(seeds)]
    items = StudyItems(store, pd.concat([a, b]), items_only=args.items_only_intervals)
    rows = comparison_rows(items, a, b, pairs, margin)
    print(f"study {store.root}")  # everything that can fail has run: now the output
    print(f"A: {_cell_text(cell_a, vectors_a)}  (seeds {_seed_list(runs_a)})")
    print(f"B: {_cell_text(cell_b, vectors_b)}  (seeds {_seed_list(runs_b)})")
    print(_seeds_line(seeds, runs_a, runs_b) + f"; equivalence margin ±{margin:g}")
    for line in format_rows(rows):
        print(line)
    for note in notes(rows):
        print(note)
    return 0


def chosen_metrics(runs: Any, asked: list[str] | None) -> list[str]:
    """The metrics to compare, named for w: those asked for (each a metric of the study,
    once), else the default ones the study has; a study without a metric is an error."""
    from study.analyze.analysis import METRICS, available_metrics
    from study.core.config import show

    have = available_metrics(runs, metric_columns(runs))
    if not have:
        raise StudyError("no finished run of the study has a metric: nothing to compare"
                         + _no_coverage_hint(runs))  # fmt: skip
    if asked is None:
        return available_metrics(runs, METRICS) or have
    for metric in asked:
        if asked.count(metric) > 1:
            raise StudyError(f"compare --metric {show(metric)} is given twice")
        if metric not in have:
            raise StudyError(
                f"compare --metric {show(metric)}: not a metric of this study; it has "
                + ", ".join(have)
            )
    return list(asked)


def _no_coverage_hint(runs: Any) -> str:
    """Why every metric is missing, when the runs were scored and found no benchmark item in
    their vocabulary (a tiny corpus, a high min_count)."""
    from study.analyze.analysis import done_runs
    from study.evaluate.benchmarks import COVERAGE, stat_of

    coverage = [c for c in runs.columns if stat_of(str(c), [COVERAGE])]
    done = done_runs(runs)[coverage]
    if not coverage or (done.fillna(0.0) > 0).any().any():
        return ""
    return (" (no benchmark word pair or question is in the runs' vocabulary: a larger corpus "
            "or a lower min_count)")  # fmt: skip


def metric_columns(runs: Any) -> list[str]:
    """The runs table's metric columns named for w (`vectors=w+c` picks their w+c twins):
    evaluation results with per-item forms, a registry benchmark's Spearman ρ or accuracy,
    or a user pair file's `<name>_spearman`."""
    from study.core.config import field_names
    from study.evaluate.benchmarks import parse_metric
    from study.evaluate.items import has_item_form
    from study.store.results import RUN_KEYS, STEP

    other = {"run_id", "status", "error", STEP, *field_names(), *RUN_KEYS}
    out = []
    for column in runs.columns:
        if column in other or not has_item_form(str(column)):
            continue
        parsed = parse_metric(column)
        if parsed is None or parsed.vectors == "w":
            out.append(column)
    return out


def scored(runs: Any, metric: str, vectors: str, flag: str) -> str:
    """The column of `metric` for `vectors` (w+c: `men_wc_spearman`), which the study has."""
    from study.analyze.analysis import available_metrics
    from study.evaluate.benchmarks import with_vectors

    column = with_vectors(metric, vectors)
    if not available_metrics(runs, [column]):
        raise StudyError(
            f"{flag} vectors={vectors}: the study has no {column} (runs scored without w+c?)"
        )
    return column


def comparison_rows(
    items: Any, a: Any, b: Any, pairs: dict[str, tuple[str, str]], margin: float
) -> list[dict[str, Any]]:  # fmt: skip
    """Per metric: A and B over the matched seeds, A − B, and its verdict (a family of one
    comparison: the difference and equivalence tests, `stats.verdicts`)."""
    from study.evaluate import stats

    rows = []
    for metric, (metric_a, metric_b) in pairs.items():
        d = items.paired(a, b, metric_a, metric_b)
        (verdict,) = stats.verdicts([d], margin)
        rows.append({"metric": metric, "a": items.cell(a, metric_a),
                     "b": items.cell(b, metric_b), "d": d, "verdict": verdict})  # fmt: skip
    return rows


def format_rows(rows: list[dict[str, Any]]) -> list[str]:
    from study.analyze.report.tables import fmt_p, signed

    # max over lists: no rows gives the header alone, not a TypeError
    width = max([len("metric"), *(len(r["metric"]) for r in rows)])
    cells = [(str(r["a"]), str(r["b"]), signed(r["d"])) for r in rows]
    wa = max([len("A [95% CI]"), *(len(c[0]) for c in cells)])
    wb = max([len("B [95% CI]"), *(len(c[1]) for c in cells)])
    wd = max([len("A − B [95% CI]"), *(len(c[2]) for c in cells)])
    lines = [f"{'metric':<{width}}  {'A [95% CI]':<{wa}}  {'B [95% CI]':<{wb}}  "
             f"{'A − B [95% CI]':<{wd}}  {'p diff':>7}  {'p equiv':>7}  outcome"]  # fmt: skip
    for row, (ta, tb, td) in zip(rows, cells, strict=True):
        v = row["verdict"]
        p_values = f"{fmt_p(v.p_different):>7}  {fmt_p(v.p_equivalent):>7}"
        lines.append(
            f"{row['metric']:<{width}}  {ta:<{wa}}  {tb:<{wb}}  {td:<{wd}}  {p_values}  {v.outcome}"
        )
    return lines


def notes(rows: list[dict[str, Any]]) -> list[str]:
    """What the intervals cover, once per kind, and how the verdicts were reached."""
    from study.evaluate import stats

    kinds = {r["d"].method for r in rows if r["d"].value == r["d"].value}
    lines = stats.method_notes(kinds, stats.COMPARE_METHOD_NOTES)
    if any(r["verdict"].outcome in stats.OUTCOMES[:4] for r in rows):
        lines.append("outcome: per metric, the difference test (two-sided t) and the "
                     "equivalence test (two one-sided tests, ±margin) are one family at 5% "
                     "(one comparison: each at 5%, since only one of their nulls can hold); "
                     "each metric is its own family")  # fmt: skip
    return lines


def _vectors_choice(assignments: list[str], flag: str, default: str) -> tuple[list[str], str]:
    """The KEY=VALUE list without its `vectors=` item, and the vectors it names."""
    from study.evaluate.benchmarks import VECTORS

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


def _cell_text(cell: dict[str, Any], vectors: str) -> str:
    from study.analyze.analysis import where_text

    return f"{where_text(cell) or '(all runs)'}, vectors={vectors}"


def _seed_list(runs: Any) -> str:
    return ", ".join(str(s) for s in sorted(runs["seed"]))


def _seeds_line(seeds: list[int], runs_a: Any, runs_b: Any) -> str:
    """The seeds every column uses, and those left out because the other cell lacks them."""
    line = "A, B and A − B over the seeds both finished: " + ", ".join(map(str, seeds))
    left = [f"{name} {', '.join(map(str, sorted(set(r['seed']) - set(seeds))))}"
            for name, r in (("A's", runs_a), ("B's", runs_b))
            if set(r["seed"]) - set(seeds)]  # fmt: skip
    if left:
        line += " (left out, unmatched: " + "; ".join(left) + ")"
    return line
