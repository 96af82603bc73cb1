"""The report's statistics: every cell with its interval, the cells not worse than each best cell
(multiple comparisons with the best), each trainer vs the baseline with the four outcomes, which
swept values are significantly worse, whether a best value at the grid's edge is significantly
better, the seed count a difference needs, and the conclusions in words
(`study.analyze.inference` does the tests).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from study.analyze import inference
from study.analyze.analysis import EdgeWarning, fmt_value, sorted_values, swept_fields, trainers
from study.analyze.inference import StudyItems, TrainerPair, Versus
from study.core.trainers import BASELINE
from study.evaluate.stats import Estimate

TIE_LIST = 6  # cells listed by name in the best-configurations table before "+N more"
MCB = "multiple comparisons with the best, 5% family-wise"


@dataclass
class Best:
    trainer: str
    metric: str
    cell: dict[str, Any]
    estimate: Estimate
    others: list[Versus]

    @property
    def ties(self) -> list[Versus]:
        return [v for v in self.others if inference.is_tied(v)]

    @property
    def untested(self) -> list[Versus]:
        """Cells with fewer than two seeds matched with any other: never declared worse."""
        return [v for v in self.others if v.p_worse != v.p_worse]


@dataclass
class Findings:
    intervals: pd.DataFrame  # `inference.cell_intervals`
    best: list[Best] = field(default_factory=list)
    pairs: list[TrainerPair] = field(default_factory=list)
    seeds: dict[str, dict[str, Any]] = field(default_factory=dict)  # metric -> planning row
    conclusions: list[str] = field(default_factory=list)
    margin: float = inference.DEFAULT_MARGIN
    baseline: str = BASELINE  # the trainer the others are compared with

    def tied_cells(self, trainer: str, metric: str) -> list[dict[str, Any]]:
        """The best cell and every cell not significantly worse than it."""
        for best in self.best:
            if (best.trainer, best.metric) == (trainer, metric):
                return [best.cell, *(v.cell for v in best.ties)]
        return []


def find(
    items: StudyItems, runs: pd.DataFrame, metrics: list[str], margin: float,
    baseline: str = BASELINE,
) -> Findings:  # fmt: skip
    intervals = inference.cell_intervals(items, runs, metrics)
    findings = Findings(intervals, margin=margin, baseline=baseline)
    for trainer in trainers(runs):
        for metric in metrics:
            found = inference.best_and_ties(items, runs, metric, trainer)
            if found is not None:
                findings.best.append(Best(trainer, metric, *found))
    findings.pairs = inference.trainer_comparison(items, runs, metrics, margin, baseline)
    for metric in metrics:
        differences = [v.difference for b in findings.best if b.metric == metric
                       for v in b.others if v.difference is not None]  # fmt: skip
        differences += [p.difference for p in findings.pairs
                        if p.metric == metric and p.difference is not None]  # fmt: skip
        row = inference.seed_planning(differences)
        if row is not None:
            findings.seeds[metric] = row
    findings.conclusions = conclusions(findings, runs)
    return findings


def assess_edges(findings: Findings, warnings: list[EdgeWarning]) -> list[EdgeWarning]:
    """Each edge warning with the other values of its field among the cells tied with the
    best: none means the edge value is significantly better than every other value tried (the
    multiple comparisons with the best put every possibly-best cell at that value)."""
    out = []
    for warning in warnings:
        tied = findings.tied_cells(warning.trainer, warning.metric)
        if not tied or warning.field not in tied[0]:
            out.append(warning)
            continue
        others = {c[warning.field] for c in tied if c[warning.field] != warning.value}
        values = tuple(v for v in warning.values if v in others)
        out.append(dataclasses.replace(warning, tied_values=values))
    return out


def conclusions(findings: Findings, runs: pd.DataFrame) -> list[str]:
    """The significant effects in words: best cells and their ties, swept values that are
    worse wherever they were tried, each trainer vs the baseline's outcomes, what one or two
    seeds allow."""
    lines = []
    fields = swept_fields(runs)
    for best in findings.best:
        ties = best.ties
        where = inference.describe(best.cell)
        line = f"{best.trainer}, {best.metric}: best at {where}, {best.estimate}"
        if not best.others:
            lines.append(line + ".")
            continue
        untested = len(best.untested)
        if ties:
            line += (f"; {len(ties)} of {len(best.others)} other cells are not "
                     f"significantly worse ({MCB}): the data do not single it out")  # fmt: skip
            if untested:
                line += f" ({untested} of them untested: fewer than two matched seeds)"
        else:
            line += f"; every other cell is significantly worse ({MCB})"
        worse = _worse_values(best, fields, runs)
        if worse:
            line += "; significantly worse wherever tried: " + ", ".join(worse)
        lines.append(line + ".")
    for key in dict.fromkeys((p.trainer, p.baseline, p.metric) for p in findings.pairs):
        counts = Counter(p.outcome for p in findings.pairs
                         if (p.trainer, p.baseline, p.metric) == key)  # fmt: skip
        told = ", ".join(f"{v} in {n}" for v, n in counts.most_common())
        trainer, baseline, metric = key
        lines.append(f"{trainer} vs {baseline}, {metric} (margin ±{findings.margin:g}; "
                     f"difference and equivalence tests of all cells in one 5% family): {told} of "
                     f"{sum(counts.values())} cells.")  # fmt: skip
    lines += seed_notes(findings.intervals)
    return lines


def seed_notes(intervals: pd.DataFrame) -> list[str]:
    """What one or two seeds allow, when some cell has so few."""
    if intervals.empty:
        return []
    n = intervals["n"]
    notes = []
    if (n == 1).any():
        notes.append(
            f"{int((n == 1).sum())} cells have one seed: they get no interval and no verdict "
            "(one seed says nothing about the seed-to-seed spread; intervals from the benchmark "
            "items alone miss it, and covered far less than 95% in calibration: "
            "benchmarks/bench_stats.py). Run more seeds, or ask for items-only intervals with "
            "--items-only-intervals."
        )
    if (n == 2).any():
        notes.append(
            f"{int((n == 2).sum())} cells have two seeds: their intervals keep 95% coverage "
            "but are wide, since one degree of freedom says little about the seed spread (see "
            "'How many seeds?')."
        )
    return notes


def _worse_values(best: Best, fields: list[str], runs: pd.DataFrame) -> list[str]:
    """`field=value` for each swept value whose every cell is significantly worse than best."""
    out = []
    for name in fields:
        for value in sorted_values(runs[name]):
            if value == best.cell.get(name):
                continue
            mine = [v for v in best.others if v.cell.get(name) == value]
            if mine and not any(inference.is_tied(v) for v in mine):
                out.append(f"{name}={fmt_value(value)}")
    return out
