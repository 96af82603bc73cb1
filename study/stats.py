"""Uncertainty of study results: intervals over items and seeds, paired differences, Holm
correction and TOST equivalence, with scipy.stats doing the resampling and the t quantiles.

A metric of one run is a statistic of benchmark items (word pairs, analogy questions), so it
varies with the item sample; a cell's value is a mean over training seeds, which vary too.
`estimate` combines both: a bootstrap over items shared by every run (scipy's paired
`bootstrap`), the spread over seeds, and a t interval with Welch–Satterthwaite degrees of
freedom; docs/DESIGN.md ("Uncertainty") derives it. Differences of two cells use the same
resampled items and matched seeds, so what both share (item difficulty) cancels.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import stats

from study.items import ItemScores

CONFIDENCE = 0.95
N_RESAMPLES = 1000
BATCH = 50  # resamples per vectorised batch: 50 × 19,544 analogy questions × arrays stays small
EQUIVALENT, DIFFERENT, INCONCLUSIVE = "equivalent", "different", "inconclusive — more seeds"


@dataclass(frozen=True)
class Estimate:
    """A value with its interval. `method`: "seeds+items" (both sources), "items" (one seed:
    item sampling only), "seeds" (no per-item results: t over seeds only)."""

    value: float
    low: float
    high: float
    se: float
    df: float
    n_seeds: int
    n_items: int
    method: str
    p_value: float = math.nan  # two-sided, H0: the true value is 0 (differences)
    seed_var: float = math.nan  # variance of one seed's value (seed effect + seed × item)
    item_var: float = math.nan  # item-sampling variance that more seeds do not remove

    def __str__(self) -> str:
        return format_interval(self.value, self.low, self.high)

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high

    def excludes_zero(self) -> bool:
        return not self.contains(0.0)


def format_interval(value: float, low: float, high: float, digits: int = 3) -> str:
    if value != value:
        return "–"
    if low != low or high != high:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


# -- item statistics, vectorised over resamples ----------------------------------------------
def spearman_rows(gold: np.ndarray, predicted: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman ρ along `axis`, over the items whose prediction is not NaN (ties: mid-ranks)."""
    gold = np.where(np.isnan(predicted), np.nan, gold)
    with warnings.catch_warnings():  # a resample with < 2 counted pairs: NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        return _spearman(gold, predicted, axis)


def _spearman(gold: np.ndarray, predicted: np.ndarray, axis: int) -> np.ndarray:
    rg = stats.rankdata(gold, axis=axis, nan_policy="omit")
    rp = stats.rankdata(predicted, axis=axis, nan_policy="omit")
    rg = rg - np.nanmean(rg, axis=axis, keepdims=True)
    rp = rp - np.nanmean(rp, axis=axis, keepdims=True)
    num = np.nansum(rg * rp, axis=axis)
    den = np.sqrt(np.nansum(rg * rg, axis=axis) * np.nansum(rp * rp, axis=axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def item_statistic(scores: ItemScores, *arrays: np.ndarray) -> np.ndarray:
    """The metric of `scores` computed on `arrays` (its own arrays, or a resample of them)."""
    if scores.kind == "spearman":
        return spearman_rows(arrays[0], arrays[1])
    with warnings.catch_warnings():  # an all-NaN resample (nothing counted) is NaN, not noise
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(arrays[0], axis=-1)


# -- intervals --------------------------------------------------------------------------------
def estimate(
    units: Sequence[Sequence[tuple[float, ItemScores]]],
    values: Sequence[float] | None = None,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> Estimate:
    """Mean over seeds of Σ_k w_k · metric(run_k), with an interval over seeds and items.

    `units`: one entry per seed, each a list of (weight, item scores) of that seed's runs: one
    run with weight 1 for a cell, (1, A) and (-1, B) for a paired difference A − B. Every run
    must be scored on the same items (resampled together). `values`: the per-seed values when
    the runs have no per-item results (then: t interval over seeds alone).
    """
    if not units and not values:
        raise ValueError("nothing to estimate")
    if not units or any(not unit for unit in units):
        return _seeds_only(np.asarray(values, dtype=float), confidence)
    n_seeds = len(units)
    flat = [(w, s) for unit in units for w, s in unit]
    arrays = [a for _, s in flat for a in s.arrays]
    n_items = len(arrays[0])
    if any(len(a) != n_items for a in arrays):
        raise ValueError("runs scored on different item sets cannot be paired")

    def statistic(*data: np.ndarray, axis: int = -1) -> np.ndarray:
        per_unit, pos = [], 0
        for unit in units:
            total: np.ndarray | float = 0.0
            for weight, scores in unit:
                k = len(scores.arrays)
                total = total + weight * item_statistic(scores, *data[pos : pos + k])
                pos += k
            per_unit.append(total)
        stacked = np.stack(per_unit)
        return np.concatenate([stacked.mean(axis=0, keepdims=True), stacked])

    full = statistic(*arrays)
    value, per_seed = float(full[0]), full[1:]
    if not np.isfinite(full).all():
        return Estimate(math.nan, math.nan, math.nan, math.nan, math.nan, n_seeds, n_items, "items")
    distribution = _resample(arrays, statistic, n_resamples, seed)
    se_boot = np.nan_to_num(np.nanstd(distribution, axis=-1, ddof=1))
    q_items = se_boot[0] ** 2  # item sampling of the mean over seeds
    if n_seeds == 1:
        one = _t_interval(value, q_items, n_items - 1, 1, n_items, "items", confidence)
        return replace(one, item_var=q_items)
    q_seeds = float(np.var(per_seed, ddof=1)) / n_seeds
    # Both q_seeds and q_items contain the seed × item interaction once; remove one copy
    # (method of moments: mean single-seed item variance vs that of the mean over seeds).
    per_seed_items = float(np.mean(se_boot[1:] ** 2))
    overlap = (per_seed_items - q_items) / (n_seeds - 1)
    overlap = min(max(overlap, 0.0), q_items, q_seeds)
    variance = q_seeds + q_items - overlap
    parts = [(q_seeds, n_seeds - 1), (q_items - overlap, n_items - 1)]
    df = _satterthwaite(variance, parts)
    result = _t_interval(value, variance, df, n_seeds, n_items, "seeds+items", confidence)
    return replace(result, seed_var=q_seeds * n_seeds, item_var=q_items - overlap)


def _satterthwaite(total: float, parts: Sequence[tuple[float, int]]) -> float:
    denominator = sum(v * v / d for v, d in parts if d > 0 and v > 0)
    return total * total / denominator if denominator > 0 else math.inf


def _t_interval(
    value: float, variance: float, df: float, n_seeds: int, n_items: int, method: str,
    confidence: float,
) -> Estimate:  # fmt: skip
    se = math.sqrt(max(variance, 0.0))
    if se == 0.0:  # identical runs, or a constant: no uncertainty left
        p = 1.0 if value == 0.0 else 0.0
        return Estimate(value, value, value, 0.0, df, n_seeds, n_items, method, p)
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    p = float(2 * stats.t.sf(abs(value) / se, df))
    return Estimate(value, value - half, value + half, se, df, n_seeds, n_items, method, p)


def _seeds_only(values: np.ndarray, confidence: float) -> Estimate:
    """Mean of per-seed values (or of paired differences) with a t interval over seeds."""
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan, math.nan, 0, 0, "seeds")
    value = float(values.mean())
    if len(values) < 2:
        return Estimate(value, math.nan, math.nan, math.nan, math.nan, 1, 0, "seeds")
    n = len(values)
    spread = float(values.var(ddof=1))
    if np.ptp(values) <= 1e-12 * max(1.0, float(np.abs(values).max())):  # all seeds agree
        p = 1.0 if value == 0.0 else 0.0
        return Estimate(value, value, value, 0.0, n - 1, n, 0, "seeds", p, 0.0, 0.0)
    test = stats.ttest_1samp(values, 0.0)  # the same test as ttest_rel on the paired values
    interval = test.confidence_interval(confidence)
    se = math.sqrt(spread / n)
    low, high = float(interval.low), float(interval.high)
    return Estimate(value, low, high, se, n - 1, n, 0, "seeds", float(test.pvalue), spread, 0.0)


def run_interval(
    scores: ItemScores,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> Estimate:
    """One run's metric with a bootstrap percentile interval over its items."""
    value = float(item_statistic(scores, *scores.arrays))
    if not math.isfinite(value):
        return Estimate(value, math.nan, math.nan, math.nan, math.nan, 1, scores.n_items, "items")

    def statistic(*data: np.ndarray, axis: int = -1) -> np.ndarray:
        return item_statistic(scores, *data)

    distribution = _resample(scores.arrays, statistic, n_resamples, seed)
    tail = (1 - confidence) / 2
    low, high = (float(q) for q in np.nanquantile(distribution, [tail, 1 - tail]))
    se = float(np.nanstd(distribution, ddof=1))
    return Estimate(value, low, high, se, math.inf, 1, scores.n_items, "items")


def _resample(arrays: Sequence[np.ndarray], statistic: Any, n_resamples: int, seed: int) -> Any:
    """scipy's paired bootstrap distribution of `statistic` (resamples on the last axis).

    Resamples where the statistic is undefined (e.g. fewer than two counted pairs for a
    Spearman ρ) are NaN and left out of the quantiles and the standard error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN resamples
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)  # scipy's own CI, unused
        boot = stats.bootstrap(tuple(arrays), statistic, paired=True, vectorized=True,
                               n_resamples=n_resamples, batch=BATCH, method="percentile",
                               rng=np.random.default_rng(seed))  # fmt: skip
    return np.asarray(boot.bootstrap_distribution, dtype=float)


# -- many comparisons, equivalence, seed counts ----------------------------------------------
def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (NaN stays NaN and does not count as a test)."""
    p = np.asarray(p_values, dtype=float)
    tested = np.flatnonzero(np.isfinite(p))
    adjusted = np.full(len(p), math.nan)
    order = tested[np.argsort(p[tested], kind="stable")]
    m, running = len(order), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def tost_p(difference: Estimate, margin: float) -> float:
    """Two one-sided tests of |true difference| < margin: the larger one-sided p-value."""
    if not math.isfinite(difference.value):
        return math.nan
    if difference.se == 0.0 or not math.isfinite(difference.se):
        if difference.se == 0.0:
            return 0.0 if abs(difference.value) < margin else 1.0
        return math.nan
    lower = stats.t.sf((difference.value + margin) / difference.se, difference.df)
    upper = stats.t.cdf((difference.value - margin) / difference.se, difference.df)
    return float(max(lower, upper))


def verdict(difference: Estimate, margin: float, p_adjusted: float | None = None,
            alpha: float = 1 - CONFIDENCE) -> str:  # fmt: skip
    """ "equivalent" (TOST at `alpha`: the 90% interval lies within ±margin), else "different"
    (the two-sided test, Holm-adjusted when `p_adjusted` is given, rejects 0), else
    "inconclusive — more seeds"."""
    if tost_p(difference, margin) < alpha:
        return EQUIVALENT
    p = difference.p_value if p_adjusted is None else p_adjusted
    return DIFFERENT if p < alpha else INCONCLUSIVE


def detectable_difference(
    seed_sd: float, item_se: float, n_seeds: int, power: float = 0.8, alpha: float = 0.05
) -> float:
    """The smallest true difference a paired comparison with `n_seeds` seeds finds with
    probability `power` (two-sided t at `alpha`): (t_{1-α/2} + t_{power}) · SE, where
    SE² = seed_sd² / n + item_se² (the items' part does not shrink with more seeds)."""
    if n_seeds < 2:
        return math.inf
    se = math.sqrt(seed_sd**2 / n_seeds + item_se**2)
    df = n_seeds - 1
    return float((stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * se)


def seeds_needed(
    delta: float, seed_sd: float, item_se: float, power: float = 0.8, alpha: float = 0.05,
    most: int = 1000,
) -> int | None:  # fmt: skip
    """The fewest seeds that detect a true difference `delta` (None: not even `most`: the item
    sample alone is too small for it)."""
    for n in range(2, most + 1):
        if detectable_difference(seed_sd, item_se, n, power, alpha) <= delta:
            return n
    return None
