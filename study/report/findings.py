"""The report's statistics: every cell with its interval, the cells tied with each best cell,
torch vs gensim with equivalence verdicts, which swept values are significantly worse, the seed
count a difference needs, and the conclusions in words (`study.inference` does the tests)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from study import inference
from study.analysis import fmt_value, sorted_values, swept_fields, trainers
from study.inference import StudyItems, TrainerPair, Versus
from study.stats import Estimate

TIE_LIST = 6  # cells listed by name in the best-configurations table before "+N more"


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


@dataclass
class Findings:
    intervals: pd.DataFrame  # `inference.cell_intervals`
    best: list[Best] = field(default_factory=list)
    pairs: list[TrainerPair] = field(default_factory=list)
    seeds: dict[str, dict[str, Any]] = field(default_factory=dict)  # metric -> planning row
    conclusions: list[str] = field(default_factory=list)
    margin: float = inference.DEFAULT_MARGIN

    def tied_cells(self, trainer: str, metric: str) -> list[dict[str, Any]]:
        """The best cell and every cell not significantly worse than it."""
        for best in self.best:
            if (best.trainer, best.metric) == (trainer, metric):
                return [best.cell, *(v.cell for v in best.ties)]
        return []


def find(
    items: StudyItems, runs: pd.DataFrame, metrics: list[str], margin: float
) -> Findings:  # fmt: skip
    findings = Findings(inference.cell_intervals(items, runs, metrics), margin=margin)
    for trainer in trainers(runs):
        for metric in metrics:
            found = inference.best_and_ties(items, runs, metric, trainer)
            if found is not None:
                findings.best.append(Best(trainer, metric, *found))
    findings.pairs = inference.trainer_comparison(items, runs, metrics, margin)
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


def conclusions(findings: Findings, runs: pd.DataFrame) -> list[str]:
    """The significant effects in words: best cells and their ties, swept values that are
    worse wherever they were tried, torch vs gensim verdicts."""
    lines = []
    fields = swept_fields(runs)
    for best in findings.best:
        ties = best.ties
        where = inference.describe(best.cell)
        line = f"{best.trainer}, {best.metric}: best at {where}, {best.estimate}"
        if not best.others:
            lines.append(line + ".")
            continue
        if ties:
            line += (f"; {len(ties)} of {len(best.others)} other cells are not "
                     "significantly worse (paired, Holm 5%): the data do not single it "
                     "out")  # fmt: skip
        else:
            line += "; every other cell is significantly worse (paired, Holm 5%)"
        worse = _worse_values(best, fields, runs)
        if worse:
            line += "; significantly worse wherever tried: " + ", ".join(worse)
        lines.append(line + ".")
    for metric in dict.fromkeys(p.metric for p in findings.pairs):
        counts = Counter(p.verdict for p in findings.pairs if p.metric == metric)
        told = ", ".join(f"{v} in {n}" for v, n in counts.most_common())
        lines.append(f"torch vs gensim, {metric} (margin ±{findings.margin:g}): {told} of "
                     f"{sum(counts.values())} cells.")  # fmt: skip
    if not findings.intervals.empty and findings.intervals["n"].min() < 3:
        lines.append("Cells with fewer than 3 seeds have wide intervals: the seed spread is "
                     "barely known (see 'How many seeds?').")  # fmt: skip
    return lines


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
