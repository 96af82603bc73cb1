"""Calibration of every statistical procedure the report and `study compare` use, by simulation
of studies whose truth is known.

Two item models: a Spearman ρ over 353 word pairs (WS353-like: gold scores, model cosines that
share each pair's difficulty across cells) and an accuracy over 2,000 questions (Google-like:
each question's difficulty on the logit scale, one 0/1 answer per run). Each has a small and a
large seed effect (the seed moves a run's quality as a whole, beside the seed × item noise every
run has). Seeds are matched across cells, as in a grid. For 1, 2, 3 and 5 seeds it measures:

- intervals: coverage of a cell's 95% interval and of a paired difference's (`stats.combine`);
  with one seed, that no interval is shown, and what an items-only one would cover;
- compare: one comparison (`stats.verdicts`, a family of one): false "different" at Δ = 0 and
  false "equivalent" at Δ = the margin (the worst case), and that one seed gives no verdict;
- ties with the best: 10 cells, all equal or half of them worse; family-wise false "worse than
  the best" of `stats.worse_than_best` (and, for contrast, of Holm against the observed best);
- torch vs gensim: four cell pairs tested as one family (Δ = 0, 0, +margin, −margin), any
  false claim;
- planner: the power of the paired test at the difference `stats.detectable_difference` says
  is found with 80% power, from the model's true variance parts;
- few items: a hard accuracy benchmark of 3 to 50 counted questions, A − B = 5 margins: false
  "equivalent" and the difference's coverage (`stats.MIN_COUNTED_ITEMS`: under 20 counted
  items, no interval and no verdict).

Each rate comes with its Monte-Carlo standard error (√(p(1−p)/n)). Writes
results/bench/stats-calibration.json (`--quick`: stats-calibration-quick.json).

    python benchmarks/bench_stats.py --quick      # about 3 minutes on 2 idle cores
    nice -n 10 python benchmarks/bench_stats.py   # the committed figures (~2 hours)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import _common
import numpy as np
from scipy import optimize
from scipy import stats as sps

from study.evaluate import stats
from study.evaluate.items import ItemScores

MARGIN = 0.01  # the default equivalence margin
SEEDS = (1, 2, 3, 5)
PLANNER_SEEDS = (2, 3, 5, 10)
SHARED_SEED = 0.5  # correlation of one seed number's effect across cells (matched seeds)
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(48)  # E over a standard normal
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
ITEM_NOISE = (0.6, 0.1)  # spearman: variance of the pair difficulty shared by cells, cell × pair
REFERENCE_NOISE = math.sqrt(0.4)  # spearman: the reference cell's seed × pair noise (ρ ≈ 0.67)
DIFFICULTY, INTERACTION = 1.5, 0.5  # accuracy: SD of question difficulty and cell × question
REFERENCE_LOGIT = -0.6  # accuracy: the reference cell (accuracy ≈ 0.40)


@dataclass(frozen=True)
class Model:
    """A study's item model. `quality`: the spearman model's seed × pair noise SD (lower is
    better) or the accuracy model's logit (higher is better)."""

    kind: str  # "spearman" | "accuracy"
    seed_effect: str  # "small" | "large"
    seed_scale: float  # spearman: SD of the seed's relative signal; accuracy: logit SD

    @property
    def n_items(self) -> int:
        return 353 if self.kind == "spearman" else 2000

    @property
    def name(self) -> str:
        what = "spearman-353-pairs" if self.kind == "spearman" else "accuracy-2000-questions"
        return f"{what}/{self.seed_effect}-seed-effect"

    @property
    def reference(self) -> float:
        return REFERENCE_NOISE if self.kind == "spearman" else REFERENCE_LOGIT

    def truth(self, quality: float) -> float:
        """The cell's expected metric over seeds and fresh item samples of this size."""
        z = _NODES
        if self.kind == "spearman":
            signal = 1 + self.seed_scale * z
            r = signal / np.sqrt(signal**2 + sum(ITEM_NOISE) + quality**2)
            n = self.n_items  # Moran (1948): E[Spearman ρ] for bivariate normal samples of n
            expected = 6 / (math.pi * (n + 1)) * ((n - 2) * np.arcsin(r / 2) + np.arcsin(r))
            return float(np.sum(_WEIGHTS * expected))
        spread = math.sqrt(self.seed_scale**2 + DIFFICULTY**2 + INTERACTION**2)
        return float(np.sum(_WEIGHTS / (1 + np.exp(-(quality + spread * z)))))

    @property
    def lowest(self) -> float:
        """The lowest truth `quality_at` can reach."""
        return self.truth(20.0) if self.kind == "spearman" else self.truth(-8.0)

    def quality_at(self, target: float) -> float:
        """The quality whose truth is `target` (a cell `target − truth(reference)` away)."""
        lo, hi = (0.01, 20.0) if self.kind == "spearman" else (-8.0, 8.0)
        return float(optimize.brentq(lambda q: self.truth(q) - target, lo, hi, xtol=1e-12))

    def study(
        self, rng: np.random.Generator, qualities: Sequence[float], seeds: int
    ) -> list[list[ItemScores]]:  # fmt: skip
        """One simulated study on one item sample: per cell, its runs of seeds 0..seeds−1."""
        n = self.n_items
        shared = rng.standard_normal(seeds)  # seed number s moves every cell a little alike
        cells = []
        if self.kind == "spearman":
            gold = rng.standard_normal(n)
            difficulty = rng.normal(0, math.sqrt(ITEM_NOISE[0]), n)
            for noise in qualities:
                mine = difficulty + rng.normal(0, math.sqrt(ITEM_NOISE[1]), n)
                runs = []
                for s in range(seeds):
                    z = SHARED_SEED * shared[s] + math.sqrt(1 - SHARED_SEED**2) * rng.normal()
                    cosine = gold * (1 + self.seed_scale * z) + mine + rng.normal(0, noise, n)
                    runs.append(ItemScores("spearman", (gold, cosine)))
                cells.append(runs)
            return cells
        difficulty = rng.normal(0, DIFFICULTY, n)
        for logit in qualities:
            mine = difficulty + rng.normal(0, INTERACTION, n)
            runs = []
            for s in range(seeds):
                z = SHARED_SEED * shared[s] + math.sqrt(1 - SHARED_SEED**2) * rng.normal()
                p = 1 / (1 + np.exp(-(logit + self.seed_scale * z + mine)))
                runs.append(ItemScores("mean", ((rng.random(n) < p).astype(float),)))
            cells.append(runs)
        return cells


MODELS = [
    Model("spearman", "small", 0.01),
    Model("spearman", "large", 0.08),
    Model("accuracy", "small", 0.02),
    Model("accuracy", "large", 0.12),
]


# -- rates ------------------------------------------------------------------------------------
class Rate:
    """A proportion over simulated studies, with its Monte-Carlo standard error."""

    def __init__(self) -> None:
        self.hits = 0
        self.n = 0

    def add(self, hit: bool) -> None:
        self.hits += bool(hit)
        self.n += 1

    def row(self, target: str, passed: bool | None = None) -> dict[str, Any]:
        rate = self.hits / self.n if self.n else math.nan
        se = math.sqrt(max(rate * (1 - rate), 1 / self.n) / self.n) if self.n else math.nan
        out: dict[str, Any] = {"rate": round(rate, 4), "mc_se": round(se, 4), "n": self.n,
                               "target": target}  # fmt: skip
        out["pass"] = check(target, rate, se) if passed is None else passed
        return out


def check(target: str, rate: float, se: float) -> bool:
    """Within the target allowing 2 Monte-Carlo s.e. (what a finite simulation can show)."""
    if target == "coverage in [0.93, 0.97]":
        return rate + 2 * se >= 0.93 and rate - 2 * se <= 0.97
    if target.startswith("≤ "):
        return rate <= float(target.split()[1]) + 2 * se
    if target == "power 0.80 ± 0.05":
        return abs(rate - 0.8) <= 0.05 + 2 * se
    if target == "0":
        return rate == 0
    return True  # informational


# -- draws ----------------------------------------------------------------------------------------
def simulate(model: Model, rng: np.random.Generator, qualities: Sequence[float], seeds: int,
             n_resamples: int, rep: int) -> list[list[stats.Draws]]:  # fmt: skip
    """Every run of a simulated study on the same item resamples, as the report computes."""
    cells = model.study(rng, qualities, seeds)
    flat = stats.item_draws([run for cell in cells for run in cell], n_resamples, seed=rep)
    return [flat[i * seeds : (i + 1) * seeds] for i in range(len(cells))]


def cell(draws: Sequence[stats.Draws], n: int, items_only: bool = False) -> stats.Estimate:
    return stats.combine([[(1.0, d)] for d in draws[:n]], items_only=items_only)


def paired(a: Sequence[stats.Draws], b: Sequence[stats.Draws], n: int) -> stats.Estimate:
    return stats.combine([[(1.0, x), (-1.0, y)] for x, y in zip(a[:n], b[:n], strict=True)])


def plain_satterthwaite(e: stats.Estimate) -> stats.Estimate:
    """The same interval with plain Welch–Satterthwaite df (what `combine` used before)."""
    q_seeds, item = e.seed_var / e.n_seeds, e.item_var
    total = q_seeds + item
    denominator = q_seeds**2 / (e.n_seeds - 1) + item**2 / (e.n_items - 1)
    df = total**2 / denominator if denominator > 0 else math.inf
    half = float(sps.t.ppf(0.975, df)) * e.se
    return replace(e, low=e.value - half, high=e.value + half, df=df)


def negated(e: stats.Estimate | None) -> stats.Estimate | None:
    return None if e is None else replace(e, value=-e.value, low=-e.high, high=-e.low)


CLAIMS_DIFFERENT = (stats.DIFFERENT, stats.EQUIVALENT_DIFFERENT)
CLAIMS_EQUIVALENT = (stats.EQUIVALENT, stats.EQUIVALENT_DIFFERENT)


# -- the procedures -------------------------------------------------------------------------------
def intervals_and_compare(model: Model, reps: int, n_resamples: int, seed: int) -> list[dict]:
    """Cells A, B (B's truth = A's) and C (A − C = +margin): coverage of A's interval and of
    A − C's, and one comparison's verdicts at Δ = 0 (A − B) and at the margin (A − C)."""
    rng = np.random.default_rng(seed)
    truth_a = model.truth(model.reference)
    quality_c = model.quality_at(truth_a - MARGIN)
    rates = {key: Rate() for key in ("cell", "difference", "different", "equivalent",
                                     "shown", "items_only", "verdict", "plain_cell",
                                     "plain_difference")}  # fmt: skip
    by_seeds = {n: {k: Rate() for k in rates} for n in SEEDS}
    spread = []
    for rep in range(reps):
        a, b, c = simulate(model, rng, [model.reference, model.reference, quality_c], max(SEEDS),
                           n_resamples, rep)  # fmt: skip
        spread.append(np.std([d.value for d in a], ddof=1))
        for n in SEEDS:
            r = by_seeds[n]
            d_ab, d_ac = paired(a, b, n), paired(a, c, n)
            outcome_ab, outcome_ac = stats.verdict(d_ab, MARGIN), stats.verdict(d_ac, MARGIN)
            if n == 1:
                r["shown"].add(math.isfinite(cell(a, 1).low) or math.isfinite(d_ac.low))
                r["items_only"].add(cell(a, 1, items_only=True).contains(truth_a))
                r["verdict"].add(outcome_ab != stats.ONE_SEED or outcome_ac != stats.ONE_SEED)
                continue
            r["cell"].add(cell(a, n).contains(truth_a))
            r["difference"].add(d_ac.contains(MARGIN))
            r["plain_cell"].add(plain_satterthwaite(cell(a, n)).contains(truth_a))
            r["plain_difference"].add(plain_satterthwaite(d_ac).contains(MARGIN))
            r["different"].add(outcome_ab in CLAIMS_DIFFERENT)
            r["equivalent"].add(outcome_ac in CLAIMS_EQUIVALENT)
    rows = []
    for n, r in by_seeds.items():
        base = {"model": model.name, "seeds": n}
        if n == 1:
            rows += [
                {**base, "procedure": "cell interval (one seed: shown?)", **r["shown"].row("0")},
                {**base, "procedure": "items-only interval if asked (coverage)",
                 **r["items_only"].row("informational")},
                {**base, "procedure": "compare verdict from one seed",
                 **r["verdict"].row("0")},
            ]  # fmt: skip
            continue
        rows += [
            {**base, "procedure": "cell interval coverage",
             **r["cell"].row("coverage in [0.93, 0.97]")},
            {**base, "procedure": "paired difference coverage",
             **r["difference"].row("coverage in [0.93, 0.97]")},
            {**base, "procedure": "cell coverage, plain Satterthwaite df (contrast)",
             **r["plain_cell"].row("informational")},
            {**base, "procedure": "difference coverage, plain Satterthwaite df (contrast)",
             **r["plain_difference"].row("informational")},
            {**base, "procedure": "compare: false 'different' (Δ = 0)",
             **r["different"].row("≤ 0.05")},
            {**base, "procedure": "compare: false 'equivalent' (Δ = margin)",
             **r["equivalent"].row("≤ 0.05")},
        ]  # fmt: skip
    for row in rows:
        row["one_seed_sd"] = round(float(np.mean(spread)), 4)
    return rows


def ties_with_the_best(model: Model, reps: int, n_resamples: int, seed: int,
                       half_worse: bool) -> list[dict]:  # fmt: skip
    """Ten cells; all equal, or five equal best and five worse by 10 margins: how often a
    best cell is called worse than the best (and how often the old way did that)."""
    rng = np.random.default_rng(seed)
    best = model.reference
    worse = model.quality_at(model.truth(best) - 10 * MARGIN)
    qualities = [best] * 10 if not half_worse else [best] * 5 + [worse] * 5
    is_best = np.array([q == best for q in qualities])
    rates = {n: (Rate(), Rate(), Rate()) for n in SEEDS[1:]}
    for rep in range(reps):
        cells = simulate(model, rng, qualities, max(SEEDS), n_resamples, rep)
        for n, (ours, old, power) in rates.items():
            k = len(cells)
            pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
            found = [paired(cells[i], cells[j], n) for i, j in pairs]
            d = dict(zip(pairs, stats.pool_seed_spread(found), strict=True))
            p_better = np.full((k, k), math.nan)
            for (i, j), e in d.items():
                p_better[i, j] = stats.p_better(e)  # j better than i
                p_better[j, i] = stats.p_better(negated(e))
            called = np.array(stats.worse_than_best(p_better)) < stats.SIGNIFICANCE
            ours.add(bool((called & is_best).any()))
            for i in np.flatnonzero(~is_best):
                power.add(bool(called[i]))
            means = [np.mean([x.value for x in c[:n]]) for c in cells]
            top = int(np.argmax(means))
            unpooled = dict(zip(pairs, found, strict=True))
            against = [unpooled[min(i, top), max(i, top)].p_value for i in range(k) if i != top]
            flagged = np.array(stats.holm(against)) < stats.SIGNIFICANCE
            others = [i for i in range(k) if i != top]
            old.add(any(flagged[m] and is_best[i] for m, i in enumerate(others)))
    name = "5 best + 5 worse by 10 margins" if half_worse else "10 equal cells"
    rows = []
    for n, (ours, old, power) in rates.items():
        base = {"model": model.name, "seeds": n, "cells": name}
        rows.append({**base, "procedure": "ties with the best: false 'worse' (family-wise)",
                     **ours.row("≤ 0.05")})  # fmt: skip
        rows.append({**base, "procedure": "old way (Holm vs the observed best): false 'worse'",
                     **old.row("informational")})  # fmt: skip
        if half_worse:
            rows.append({**base, "procedure": "ties with the best: worse cells called worse",
                         **power.row("informational")})  # fmt: skip
    return rows


def trainer_family(model: Model, reps: int, n_resamples: int, seed: int) -> list[dict]:
    """Four torch/gensim cell pairs with true Δ = 0, 0, +margin, −margin tested as one
    family: any false claim ("different" at 0, "equivalent" at ±margin)."""
    rng = np.random.default_rng(seed)
    truth = model.truth(model.reference)
    deltas = [0.0, 0.0, MARGIN, -MARGIN]
    gensim = [model.quality_at(truth - delta) for delta in deltas]
    qualities = [model.reference] * 4 + gensim
    rates = {n: (Rate(), Rate(), Rate()) for n in SEEDS[1:]}
    for rep in range(reps):
        cells = simulate(model, rng, qualities, max(SEEDS), n_resamples, rep)
        for n, (any_false, false_diff, false_eq) in rates.items():
            found = stats.verdicts([paired(cells[i], cells[4 + i], n) for i in range(4)], MARGIN)
            outcomes = [v.outcome for v in found]
            wrong_diff = any(o in CLAIMS_DIFFERENT for o in outcomes[:2])
            wrong_eq = any(o in CLAIMS_EQUIVALENT for o in outcomes[2:])
            any_false.add(wrong_diff or wrong_eq)
            false_diff.add(wrong_diff)
            false_eq.add(wrong_eq)
    rows = []
    for n, (any_false, false_diff, false_eq) in rates.items():
        base = {"model": model.name, "seeds": n, "cells": "4 pairs: Δ = 0, 0, +m, −m"}
        rows += [
            {**base, "procedure": "torch vs gensim: any false claim (family-wise)",
             **any_false.row("≤ 0.05")},
            {**base, "procedure": "torch vs gensim: false 'different'",
             **false_diff.row("≤ 0.05")},
            {**base, "procedure": "torch vs gensim: false 'equivalent'",
             **false_eq.row("≤ 0.05")},
        ]  # fmt: skip
    return rows


def variance_parts(
    model: Model, rng: np.random.Generator, samples: int, other: float, seeds: int = 10
) -> tuple[float, float]:  # fmt: skip
    """The true parts of the paired difference reference − other: the variance of one seed's
    difference given the items, and the items' part (two-way ANOVA over item samples)."""
    means, within = [], []
    for _ in range(samples):
        a, b = model.study(rng, [model.reference, other], seeds)
        f = [float(stats.item_statistic(x, *x.arrays) - stats.item_statistic(y, *y.arrays))
             for x, y in zip(a, b, strict=True)]  # fmt: skip
        means.append(np.mean(f))
        within.append(np.var(f, ddof=1))
    seed_var = float(np.mean(within))
    item_var = max(float(np.var(means, ddof=1)) - seed_var / seeds, 0.0)
    return seed_var, item_var


def planner(model: Model, reps: int, n_resamples: int, seed: int, samples: int) -> list[dict]:
    """Power of one paired comparison at the planner's detectable difference, from the true
    variance parts of that comparison (found by iterating: the parts of a difference of two
    equal cells give a first Δ, the parts of the cells Δ apart the final one; the report's
    planner reads them from the study's own comparisons)."""
    rng = np.random.default_rng(seed)
    truth = model.truth(model.reference)
    rows = []
    for n in PLANNER_SEEDS:
        other = model.reference
        for _ in range(2):
            seed_var, item_var = variance_parts(model, rng, samples, other)
            delta = stats.detectable_difference(math.sqrt(seed_var), math.sqrt(item_var), n,
                                                model.n_items)  # fmt: skip
            if truth - delta < model.lowest + MARGIN:
                break
            other = model.quality_at(truth - delta)
        base = {"model": model.name, "seeds": n, "detectable_difference": round(delta, 4),
                "seed_sd": round(math.sqrt(seed_var), 4),
                "item_se": round(math.sqrt(item_var), 4)}  # fmt: skip
        if truth - delta < model.lowest + MARGIN:
            rows.append({**base, "procedure": "planner: detectable difference beyond the "
                         "model's range (not simulated)", "rate": math.nan, "mc_se": math.nan,
                         "n": 0, "target": "informational", "pass": True})  # fmt: skip
            continue
        found = Rate()
        for rep in range(reps):
            a, c = simulate(model, rng, [model.reference, other], n, n_resamples, rep)
            found.add(stats.verdict(paired(a, c, n), MARGIN) in CLAIMS_DIFFERENT)
        rows.append({**base, "procedure": "planner: power at its detectable difference",
                     **found.row("power 0.80 ± 0.05")})  # fmt: skip
    return rows


FEW_ITEMS = (3, 5, 10, 20, 50)
FEW_ITEMS_DELTA = -5 * MARGIN  # A − B, far outside the margin: "equivalent" is always false


def few_items(reps: int, n_resamples: int, seed: int) -> list[dict]:
    """A hard accuracy benchmark (question logits N(−3, 1): a tiny corpus answers few) with
    `n` counted questions: how often A − B = 5 margins is called "equivalent", and how often
    its interval covers it, for 2, 3 and 5 seeds."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in FEW_ITEMS:
        for seeds in (2, 3, 5):
            equivalent, covered, shown, unruled = Rate(), Rate(), Rate(), Rate()
            for rep in range(reps):
                p_a = 1 / (1 + np.exp(-rng.normal(-3.0, 1.0, n)))
                p_b = np.clip(p_a - FEW_ITEMS_DELTA, 0, 1)
                runs = [ItemScores("mean", ((rng.random(n) < p) * 1.0,))
                        for _ in range(seeds) for p in (p_a, p_b)]  # fmt: skip
                draws = stats.item_draws(runs, n_resamples, seed=rep)
                d = paired(draws[0::2], draws[1::2], seeds)
                equivalent.add(stats.verdict(d, MARGIN) in CLAIMS_EQUIVALENT)
                if n < stats.MIN_COUNTED_ITEMS:  # contrast: the same draws without the rule
                    blind = [replace(x, counted=stats.MIN_COUNTED_ITEMS) for x in draws]
                    d_blind = paired(blind[0::2], blind[1::2], seeds)
                    unruled.add(stats.verdict(d_blind, MARGIN) in CLAIMS_EQUIVALENT)
                shown.add(math.isfinite(d.low))
                if math.isfinite(d.low):
                    covered.add(d.contains(FEW_ITEMS_DELTA))
            base = {"model": f"accuracy, {n} hard questions", "seeds": seeds}
            few = n < stats.MIN_COUNTED_ITEMS
            rows += [
                {**base, "procedure": "few items: false 'equivalent' (Δ = 5 margins)",
                 **equivalent.row("0" if few else "≤ 0.05")},
                {**base, "procedure": "few items: interval shown",
                 **shown.row("0" if few else "informational")},
            ]  # fmt: skip
            if few:
                rows.append(
                    {
                        **base,
                        "procedure": "few items: false 'equivalent' without the "
                        "20-item rule (contrast)",
                        **unruled.row("informational"),
                    }
                )
            else:
                rows.append({**base, "procedure": "few items: difference coverage",
                             **covered.row("informational")})  # fmt: skip
    return rows


# -- the run ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    intervals: int
    ties: int
    family: int
    planner: int
    pilot: int
    n_resamples: int
    models_for_ties: tuple[str, ...]
    few_items: int


QUICK = Plan(intervals=150, ties=60, family=100, planner=100, pilot=100, n_resamples=200,
             models_for_ties=("accuracy",), few_items=150)  # fmt: skip
FULL = Plan(intervals=800, ties=200, family=300, planner=300, pilot=200, n_resamples=1000,
            models_for_ties=("accuracy", "spearman"), few_items=400)  # fmt: skip


def jobs(plan: Plan) -> list[tuple[str, Any]]:
    """Every simulation of the plan, each seeded on its own (the results do not depend on
    the order or the process that runs them)."""
    out: list[tuple[str, Any]] = []
    n = plan.n_resamples
    for i, model in enumerate(MODELS):  # intervals and verdicts first, the planner last
        out.append((f"intervals {model.name}", partial(intervals_and_compare, model,
                                                       plan.intervals, n, 100 + i)))  # fmt: skip
    for i, model in enumerate(MODELS):
        if model.seed_effect != "large":
            continue
        out.append((f"family {model.name}", partial(trainer_family, model, plan.family, n,
                                                    300 + i)))  # fmt: skip
        if model.kind in plan.models_for_ties:
            for half in (False, True):
                ties = partial(ties_with_the_best, model, plan.ties, n, 400 + 2 * i + half, half)
                out.append((f"ties {model.name}", ties))
    out.append(("few items", partial(few_items, plan.few_items, n, 500)))
    for i, model in enumerate(MODELS):
        out.append((f"planner {model.name}", partial(planner, model, plan.planner, n, 200 + i,
                                                     plan.pilot)))  # fmt: skip
    return out


def _timed(job: Any) -> tuple[list[dict], float]:
    started = time.process_time()
    return job(), time.process_time() - started


def run(
    plan: Plan, workers: int, done_so_far: Callable[[list[dict], float], None] | None = None
) -> tuple[list[dict], float]:
    """All jobs on `workers` processes; returns the rows in job order and their CPU seconds.
    `done_so_far` gets the rows finished so far after each job (a long run keeps its results
    if it is stopped)."""
    todo = jobs(plan)
    results: dict[int, list[dict]] = {}
    cpu = 0.0
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_timed, job): k for k, (_, job) in enumerate(todo)}
        for future in as_completed(futures):
            k = futures[future]
            results[k], seconds = future.result()
            cpu += seconds
            print(f"[{len(results)}/{len(todo)}] {todo[k][0]}: {seconds:.0f} s CPU",
                  file=sys.stderr, flush=True)  # fmt: skip
            if done_so_far is not None:
                done_so_far([row for j in sorted(results) for row in results[j]], cpu)
    return [row for k in range(len(todo)) for row in results[k]], cpu


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (~2 minutes)")
    parser.add_argument("--out", default=None, help="JSON path (default: results/bench/...)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default: 2)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    config = {"mode": "quick" if args.quick else "full", **plan.__dict__, "margin": MARGIN,
              "seeds": list(SEEDS), "confidence": stats.CONFIDENCE,
              "models": [{"name": m.name, "seed_scale": m.seed_scale} for m in MODELS]}  # fmt: skip
    report = _common.report_header("stats-calibration", "cpu", config)
    started = time.perf_counter()
    name = "stats-calibration-quick.json" if args.quick else "stats-calibration.json"
    path = args.out or _common.BENCH_DIR / name

    def record(rows: list[dict], cpu: float, complete: bool = False) -> None:
        report["complete"] = complete  # False: a run stopped part-way (the jobs done so far)
        report["seconds"] = round(time.perf_counter() - started, 1)
        report["cpu_seconds"] = round(cpu, 1)
        report["workers"] = args.workers
        report["rows"] = rows
        report["all_pass"] = all(r["pass"] for r in rows)
        if not complete:
            _common.atomic_write_text(Path(path), json.dumps(_common._clean(report), indent=2))

    rows, cpu = run(plan, args.workers, record)
    record(rows, cpu, complete=True)
    failed = [r for r in rows if not r["pass"]]
    for row in rows:
        mark = "ok  " if row["pass"] else "FAIL"
        print(f"{mark} {row['procedure']:<52} {row['model']:<40} seeds={row['seeds']}"
              f"{' ' + row['cells'] if 'cells' in row else ''}: {row['rate']:.3f} ± "
              f"{row['mc_se']:.3f} (target {row['target']})")  # fmt: skip
    _common.write_report(report, path)
    print(f"{len(rows) - len(failed)} of {len(rows)} within target; {report['seconds']} s "
          f"({cpu:.0f} s CPU on {args.workers} processes)")  # fmt: skip
    return report


if __name__ == "__main__":
    main()
