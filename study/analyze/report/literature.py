"""The report's literature check: the SGNS claims of Levy, Goldberg & Dagan (2015) measured in a
study, claim by claim and benchmark by benchmark, and the study's cells in the paper's layout.

A claim is a contrast Δ = (the setting claimed better) − (the one claimed worse). Each cell at
one value is matched with the cell at the other value whose other fields (trainer, step, every
other swept hyperparameter) are the same; per seed, the pairs' differences are averaged over
the matched cells (`StudyItems.contrast`: `stats.combine` with weights ±1/pairs, so the
interval runs over seeds and items as in `study compare`). w+c − w pairs each run with itself.
Per benchmark, every contrast's difference and equivalence tests form one 5% family
(`stats.verdicts`, as torch vs gensim in the report). docs/DESIGN.md ("Literature check") says
why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from study.analyze.analysis import (
    available_metrics,
    cell_fields,
    done_runs,
    fmt_value,
    sorted_values,
)
from study.analyze.inference import DEFAULT_MARGIN, StudyItems, cell_runs, cells
from study.analyze.report.render import Report, Table
from study.analyze.report.tables import fmt_p, signed
from study.evaluate import stats
from study.evaluate.benchmarks import registry, with_vectors
from study.evaluate.stats import Estimate, Verdict

PAPER = (
    "Levy, Goldberg & Dagan (2015), Improving Distributional Similarity with Lessons Learned "
    "from Word Embeddings, TACL 3"
)
SHORT = "Levy et al. (2015)"
TITLE = f"Literature check: {SHORT}"
LAYOUT_TITLE = f"{SHORT} layout: configurations × benchmarks (mean [95% CI] over seeds)"
# The paper's benchmarks, in its order (WordSim353 only as its similarity/relatedness split).
BENCHMARKS = ("ws353_sim", "ws353_rel", "men", "mturk", "rw", "simlex", "analogy", "msr")
LAYOUT_FIELDS = ("window", "negative", "alpha")

AGREES, DISAGREES, INCONCLUSIVE = "agrees", "disagrees", "inconclusive"
SIGNIFICANT = (stats.DIFFERENT, stats.EQUIVALENT_DIFFERENT)


@dataclass(frozen=True)
class Claim:
    key: str  # "a", "b", "c"
    text: str
    source: str  # where the paper says it (section by name) and its words
    field: str  # the contrasted field: a config field, or "vectors"


CLAIMS = (
    Claim("a", "context distribution smoothing 0.75 beats none (alpha 1)",
          'Practical Recommendations: "Always use context distribution smoothing (cds = 0.75)"; '
          "cds is our alpha", "alpha"),
    Claim("b", "more negative samples help SGNS",
          'Practical Recommendations: "With SGNS, prefer many negative samples"', "negative"),
    Claim("c", "adding the context vectors (w+c) can help",
          'Practical Recommendations: "it is worthwhile to experiment with the w+c variant"',
          "vectors"),
)  # fmt: skip
NEEDS = {
    "a": "SGNS cells at alpha=0.75 and alpha=1 that match on the other swept fields",
    "b": "SGNS cells at two or more negative values that match on the other swept fields",
    "c": "runs scored with w+c on the paper's benchmarks",
}


@dataclass(frozen=True, eq=False)  # one object per contrast: compared by identity
class Contrast:
    """One contrast of a claim: `better` − `worse` over the matched cell pairs."""

    claim: Claim
    label: str  # "alpha=0.75 − alpha=1", "w+c − w"
    pairs: tuple[tuple[dict[str, Any], dict[str, Any]], ...]  # (cell claimed better, worse)
    vectors: tuple[str, str] = ("w", "w")  # the vectors scored on each side


@dataclass(frozen=True)
class Measured:
    contrast: Contrast
    metric: str  # the w metric of the benchmark
    estimate: Estimate | None  # better − worse; None: no seed common to every cell
    outcome: Verdict  # of the difference and equivalence tests, in the metric's family

    @property
    def verdict(self) -> str:
        return claim_verdict(self.outcome, self.estimate)


@dataclass
class LiteratureCheck:
    measured: list[Measured] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # claims not checked, one line each
    layout: pd.DataFrame = field(default_factory=pd.DataFrame)
    left_out: str = ""  # why nothing was checked (empty when something was)
    margin: float = DEFAULT_MARGIN


def claim_verdict(outcome: Verdict, estimate: Estimate | None) -> str:
    """agrees: significant in the claimed direction (Δ > 0); disagrees: significant against
    it; inconclusive otherwise (no significant difference, one seed, no value)."""
    if outcome.outcome in SIGNIFICANT and estimate is not None and estimate.value != 0:
        return AGREES if estimate.value > 0 else DISAGREES
    return INCONCLUSIVE


def sgns_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The done skip-gram negative-sampling runs: the paper's claims are about SGNS."""
    done = done_runs(runs)
    for name, value in (("model", "sg"), ("objective", "ns")):
        if name in done:
            done = done[done[name] == value]
    return done


def benchmark_metrics(sg: pd.DataFrame) -> list[str]:
    """The headline w metric of each of the paper's benchmarks the runs have, in its order."""
    every = registry()
    return available_metrics(sg, [every[b].metric for b in BENCHMARKS if b in every])


def _key(cell: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((k, fmt_value(v)) for k, v in cell.items())


def field_contrasts(
    sg: pd.DataFrame, claim: Claim, values: Sequence[tuple[Any, Any]]
) -> list[Contrast]:
    """Contrasts `better − worse` of a config field, each over the cells matched on the rest."""
    if claim.field not in cell_fields(sg):
        return []
    every = cells(sg)
    known = {_key(c): c for c in every}
    out = []
    for better, worse in values:
        pairs = []
        for cell in every:
            if cell[claim.field] != better:
                continue
            partner = known.get(_key({**cell, claim.field: worse}))
            if partner is not None:
                pairs.append((cell, partner))
        if pairs:
            label = f"{claim.field}={fmt_value(better)} − {claim.field}={fmt_value(worse)}"
            out.append(Contrast(claim, label, tuple(pairs)))
    return out


def contrasts(sg: pd.DataFrame, metrics: Sequence[str]) -> tuple[list[Contrast], list[str]]:
    """Every contrast the study's SGNS cells allow, and a line for each claim they do not."""
    by_key = {c.key: c for c in CLAIMS}
    found: list[Contrast] = []
    negatives = sorted_values(sg["negative"]) if "negative" in sg else []
    steps = list(zip(negatives[1:], negatives[:-1], strict=True))
    if len(negatives) > 2:
        steps.append((negatives[-1], negatives[0]))
    found += field_contrasts(sg, by_key["a"], [(0.75, 1.0)])
    found += field_contrasts(sg, by_key["b"], steps)
    if available_metrics(sg, [with_vectors(m, "w+c") for m in metrics]):
        pairs = tuple((c, c) for c in cells(sg))
        found.append(Contrast(by_key["c"], "w+c − w", pairs, ("w+c", "w")))
    checked = {c.claim.key for c in found}
    missing = [f"({c.key}) {c.text}: not checked, it needs {NEEDS[c.key]}" for c in CLAIMS
               if c.key not in checked]  # fmt: skip
    return found, missing


def check(items: StudyItems, runs: pd.DataFrame, margin: float) -> LiteratureCheck:
    """The claims measured in a study's SGNS cells; `left_out` says why when none could be."""
    sg = sgns_runs(runs)
    result = LiteratureCheck(margin=margin)
    if sg.empty:
        result.left_out = ("left out: no finished skip-gram negative-sampling run (model=sg, "
                           "objective=ns); the paper's claims are about SGNS")  # fmt: skip
        return result
    metrics = benchmark_metrics(sg)
    if not metrics:
        names = ", ".join(registry()[b].label for b in BENCHMARKS if b in registry())
        result.left_out = f"left out: no run was scored on the paper's benchmarks ({names})"
        return result
    found, result.missing = contrasts(sg, metrics)
    if not found:
        result.left_out = "left out: " + "; ".join(result.missing)
        return result
    for metric in metrics:
        family = []
        for contrast in found:
            a, b = (with_vectors(metric, v) for v in contrast.vectors)
            if available_metrics(sg, [a, b]) != [a, b]:
                continue  # w+c not scored on this benchmark
            pairs = [(cell_runs(sg, x), cell_runs(sg, y)) for x, y in contrast.pairs]
            family.append((contrast, items.contrast(pairs, a, b)))
        outcomes = stats.verdicts([e for _, e in family], margin)
        result.measured += [Measured(c, metric, e, v)
                            for (c, e), v in zip(family, outcomes, strict=True)]  # fmt: skip
    result.layout = layout_table(items, sg, metrics)
    return result


# -- tables ------------------------------------------------------------------------------------
def benchmark_label(metric: str) -> str:
    for bench in registry().values():
        if bench.metric == metric:
            return bench.label
    return metric


def claims_table(found: LiteratureCheck) -> pd.DataFrame:
    """One row per contrast and benchmark: Δ with its interval, the tests, the verdict."""
    rows = []
    order = {c: i for i, c in enumerate(dict.fromkeys(m.contrast for m in found.measured))}
    measured = sorted(found.measured, key=lambda m: order[m.contrast])  # stable: metric order
    for m in measured:
        e = m.estimate
        rows.append(
            {
                "claim": f"({m.contrast.claim.key}) {m.contrast.claim.text}",
                "contrast": m.contrast.label,
                "benchmark": benchmark_label(m.metric),
                "cells": len(m.contrast.pairs),
                "seeds": "–" if e is None else e.n_seeds,
                "Δ [95% CI]": "–" if e is None else signed(e),
                "p difference": fmt_p(m.outcome.p_different),
                "outcome": m.outcome.outcome,
                "verdict": m.verdict,
            }
        )
    return pd.DataFrame(rows)


def layout_table(items: StudyItems, sg: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """One row per SGNS cell and vectors (w, then w+c when scored): window, negative, alpha,
    any other field that tells cells apart, and each benchmark's mean [95% CI] over seeds."""
    keys = cell_fields(sg) or ["trainer"]
    shown = [k for k in keys if k not in LAYOUT_FIELDS and not (k == "trainer" and
             sg["trainer"].nunique() < 2)]  # fmt: skip
    vectors = ["w"] + (["w+c"] if available_metrics(sg, [with_vectors(m, "w+c") for m in
                                                         metrics]) else [])  # fmt: skip
    rows = []
    for cell in cells(sg):
        members = cell_runs(sg, cell)
        first = members.iloc[0]
        for vector in vectors:
            row: dict[str, Any] = {k: fmt_value(cell[k]) for k in shown}
            row.update({k: fmt_value(first[k]) for k in LAYOUT_FIELDS if k in sg})
            row["vectors"] = vector
            for metric in metrics:
                scored = with_vectors(metric, vector)
                row[benchmark_label(metric)] = (str(items.cell(members, scored)) if
                                                scored in sg else "–")  # fmt: skip
            row["seeds"] = len(members)
            rows.append(row)
    return pd.DataFrame(rows)


# -- words ---------------------------------------------------------------------------------------
def summary_lines(found: LiteratureCheck) -> list[str]:
    """Per contrast: the benchmarks where the study agrees, disagrees, or cannot tell."""
    lines = []
    for contrast in dict.fromkeys(m.contrast for m in found.measured):
        mine = [m for m in found.measured if m.contrast == contrast]
        named = {v: [benchmark_label(m.metric) for m in mine if m.verdict == v]
                 for v in (AGREES, DISAGREES)}  # fmt: skip
        unclear = sum(1 for m in mine if m.verdict == INCONCLUSIVE)
        told = "; ".join(f"{v} on {', '.join(n) if n else 'none'}" for v, n in named.items())
        lines.append(f"{SHORT} ({contrast.claim.key}) {contrast.claim.text}, {contrast.label}: "
                     f"{told}; inconclusive on {unclear} of {len(mine)} benchmarks.")  # fmt: skip
    return lines


def method_note(found: LiteratureCheck) -> str:
    sources = "; ".join(f"({c.key}) {c.source}" for c in CLAIMS)
    note = (
        f"The SGNS claims of {PAPER}, each measured here as a paired difference Δ = (setting "
        f"claimed better) − (setting claimed worse) per benchmark. Sources: {sources}. A "
        "contrast matches each cell at one value with the cell at the other value whose other "
        "fields (trainer, step, every other swept hyperparameter) are the same, averages the "
        "pairs' differences per seed over those cells (cells = matched pairs), and takes the "
        "interval over seeds (those every matched cell finished) and benchmark items, as "
        "study compare does; w+c − w is paired within each run. Per benchmark, every "
        "contrast's difference and equivalence tests form one 5% family (Shaffer's modified "
        f"Holm, margin ±{found.margin:g}; p adjusted), as torch vs gensim. Verdict: agrees = "
        "significantly different (outcome different, or equivalent but different) with Δ > 0; "
        "disagrees = significant with Δ < 0; inconclusive otherwise (no significant "
        "difference, one seed, no value). Analogies: 3CosAdd accuracy."
    )
    if found.missing:
        note += " " + " ".join(line + "." for line in found.missing)
    return note


LAYOUT_NOTE = (
    "The study's SGNS cells as rows (window, negatives, alpha = the paper's cds; w, then w+c "
    "from the same runs), the paper's benchmarks as columns (Spearman ρ; analogies: 3CosAdd "
    "accuracy); each a mean over seeds with its 95% interval over seeds and items."
)


def add_section(report: Report, items: StudyItems, runs: pd.DataFrame, margin: float) -> None:
    """The literature check and the paper-layout table, or one line saying why they are not."""
    found = check(items, runs, margin)
    if not found.measured:
        report.tables.append(Table(TITLE, pd.DataFrame(), f"{SHORT}: {found.left_out}."))
        return
    report.tables.append(Table(TITLE, claims_table(found), method_note(found)))
    report.tables.append(Table(LAYOUT_TITLE, found.layout, LAYOUT_NOTE))
    report.conclusions += summary_lines(found)
