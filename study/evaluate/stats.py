"""Uncertainty of study results: intervals over items and seeds, paired differences, verdicts
that keep their error rates (difference and equivalence in one family; multiple comparisons with
the best) and the seed planner: scipy.stats resamples, statsmodels gives exact t-test power.

A metric of one run is a statistic of benchmark items (word pairs, analogy questions), so it
varies with the item sample; a cell's value is a mean over training seeds, which vary too.
Every run is scored on the same bootstrap resamples of the items (`item_draws`: scipy's paired
bootstrap, one call for all runs), so any mean or difference of runs has its exact resampled
distribution; `combine` adds the spread over seeds and takes a t interval with Welch–
Satterthwaite degrees of freedom. docs/DESIGN.md ("Uncertainty") derives each procedure and
`benchmarks/bench_stats.py` measures its error rates.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import special, stats
from statsmodels.stats.power import TTestPower

from study.evaluate.items import ItemScores

CONFIDENCE = 0.95
SIGNIFICANCE = 1 - CONFIDENCE  # the tests' level (not the config's α, the noise exponent)
N_RESAMPLES = 1000
BATCH_VALUES = 1 << 20  # item values per resampled array in one bootstrap batch
RESAMPLE_BYTES = 64 << 20  # memory of one batch's resampled arrays (runs are chunked to fit)

# The four outcomes of a comparison (Lakens 2018), and the two where no test was made.
EQUIVALENT = "equivalent"
EQUIVALENT_DIFFERENT = "equivalent but different"  # significant, but inside the margin
DIFFERENT = "different"
INCONCLUSIVE = "inconclusive"
ONE_SEED = "inconclusive — one seed"  # one matched seed says nothing about seed spread
FEW_ITEMS = "inconclusive — too few items"  # under MIN_COUNTED_ITEMS counted items
NO_SEEDS = "no matched seeds"
NO_VALUE = "no value"  # the metric is missing (NaN) in a run
OUTCOMES = (EQUIVALENT, EQUIVALENT_DIFFERENT, DIFFERENT, INCONCLUSIVE, ONE_SEED, FEW_ITEMS,
            NO_SEEDS, NO_VALUE)  # fmt: skip

# Estimate.method: where an interval's uncertainty comes from.
SEEDS_AND_ITEMS = "seeds+items"
SEEDS_ONLY = "seeds"  # runs without per-item results: t over seeds
ITEMS_ONLY = "items"  # one seed, interval from the items alone (only when asked for)
ONE_SEED_METHOD = "one seed"  # one seed: no interval
FEW_ITEMS_METHOD = "too few items"  # under MIN_COUNTED_ITEMS counted items: no interval
# Below this many counted items (pairs in the vocabulary, questions answered) a run's items
# say too little about the benchmark's population: without this rule, 3-5 counted questions
# and 2-3 seeds gave "equivalent" for a true difference 5× the margin in 0.14-0.39 of
# simulated studies; from 20 items on, every rate was in line (benchmarks/bench_stats.py,
# "few items"; docs/DESIGN.md, "Uncertainty").
MIN_COUNTED_ITEMS = 20

# What each method's intervals cover, in the two places that say it: the report's table caption
# (about grid cells) and `study compare` (about matched seeds). Each lists the methods in the
# order it prints them; `method_notes` picks the lines for the methods present.
REPORT_METHOD_NOTES = {
    SEEDS_AND_ITEMS: "Intervals combine seed spread and item sampling (docs/DESIGN.md).",
    ITEMS_ONLY: "Cells with one seed: item sampling only (asked for with "
    "--items-only-intervals; the seed spread is missing, so these cover less than 95%).",
    ONE_SEED_METHOD: "Cells with one seed: no interval (one seed says nothing about "
    "the seed spread).",
    FEW_ITEMS_METHOD: f"Cells whose runs count fewer than {MIN_COUNTED_ITEMS} of a benchmark's "
    "items (pairs in the vocabulary, questions answered): no interval.",
    SEEDS_ONLY: "Runs without per-item results (items.npz): t over seeds only.",
}
COMPARE_METHOD_NOTES = {
    SEEDS_AND_ITEMS: "intervals: seeds and benchmark items (paired bootstrap over items + t "
    "over seeds, docs/DESIGN.md)",
    SEEDS_ONLY: "no per-item results stored for some runs: their rows cover seed spread only",
    ONE_SEED_METHOD: "one matched seed: no interval and no verdict (one seed says nothing about "
    "the seed spread; --items-only-intervals shows the items' part alone)",
    ITEMS_ONLY: "one matched seed: 'items only' intervals leave out the seed spread (they "
    "cover less than 95%), and there is no verdict",
    FEW_ITEMS_METHOD: f"fewer than {MIN_COUNTED_ITEMS} of the benchmark's items counted (pairs "
    "in the vocabulary, questions answered): no interval and no verdict",
}


def method_notes(methods: Collection[str], notes: dict[str, str]) -> list[str]:
    """The notes (REPORT_METHOD_NOTES or COMPARE_METHOD_NOTES) for the interval methods used."""
    return [note for method, note in notes.items() if method in methods]


@dataclass(frozen=True)
class Estimate:
    """A value with its interval (`method`: SEEDS_AND_ITEMS, SEEDS_ONLY, ITEMS_ONLY or
    ONE_SEED_METHOD, which has no interval)."""

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
        text = format_interval(self.value, self.low, self.high)
        return text + (" items only" if self.method == ITEMS_ONLY and self.low == self.low else "")

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high

    @property
    def testable(self) -> bool:
        """Enough for a test: two or more seeds and a finite standard error."""
        return self.n_seeds >= 2 and math.isfinite(self.se) and math.isfinite(self.value)


def format_interval(value: float, low: float, high: float, digits: int = 3) -> str:
    if value != value:
        return "–"
    if low != low or high != high:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


# -- item statistics, vectorised over resamples ----------------------------------------------
def spearman_rows(gold: np.ndarray, predicted: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman ρ along `axis`, over the items whose prediction is not NaN (ties: mid-ranks)."""
    masked = np.where(np.isnan(predicted), np.nan, gold)
    return _spearman(_centred_ranks(masked, axis), predicted, axis)


def _centred_ranks(x: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():  # a row with nothing counted: NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        ranks = stats.rankdata(x, axis=axis, nan_policy="omit")
        return ranks - np.nanmean(ranks, axis=axis, keepdims=True)


def _spearman(gold_ranks: np.ndarray, predicted: np.ndarray, axis: int) -> np.ndarray:
    """ρ from the centred ranks of the (masked) gold scores and the predictions."""
    rp = _centred_ranks(predicted, axis)
    rg = gold_ranks
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


# -- every run on the same item resamples ----------------------------------------------------
@dataclass(frozen=True)
class Draws:
    """A run's metric and its values on the shared bootstrap resamples of the items."""

    value: float
    resampled: np.ndarray  # (n_resamples,); NaN where the statistic is undefined
    n_items: int
    bounds: tuple[float, float] = (-math.inf, math.inf)  # where the metric can lie at all
    counted: int = -1  # items the run counted (-1: unknown, as if all)


Unit = Sequence[tuple[float, Draws]]  # one seed: (weight, run) pairs, e.g. (1, A), (-1, B)


def metric_bounds(scores: ItemScores) -> tuple[float, float]:
    """Where the metric can lie: a Spearman ρ in [−1, 1], a share of right answers (0/1 item
    scores) in [0, 1], any other mean unbounded."""
    if scores.kind == "spearman":
        return (-1.0, 1.0)
    values = scores.arrays[0][~np.isnan(scores.arrays[0])]
    return (0.0, 1.0) if np.isin(values, (0.0, 1.0)).all() else (-math.inf, math.inf)


def _clipped(e: Estimate, bounds: tuple[float, float]) -> Estimate:
    """The interval cut to where the true value can lie: a t interval from a few counted items
    can reach past ±1; cutting it never loses coverage (the true value is inside the bounds)."""
    low, high = max(e.low, bounds[0]), min(e.high, bounds[1])
    return e if (low, high) == (e.low, e.high) else replace(e, low=low, high=high)


def unit_bounds(unit: Unit) -> tuple[float, float]:
    """Where Σ w_k · metric_k can lie (e.g. a difference of two ρ: [−2, 2])."""
    low = sum(w * (d.bounds[0] if w > 0 else d.bounds[1]) for w, d in unit if w)
    high = sum(w * (d.bounds[1] if w > 0 else d.bounds[0]) for w, d in unit if w)
    return float(low), float(high)


def item_draws(
    runs: Sequence[ItemScores], n_resamples: int = N_RESAMPLES, seed: int = 0
) -> list[Draws]:
    """Each run's metric on the same resamples of the items (scipy's paired bootstrap), so a
    resample takes the same items from every run and differences of runs keep what they share
    (item difficulty). All runs must be scored on the same items. The resamples depend only on
    the item count and `seed`, not on which runs are computed together (runs go through scipy
    in chunks that fit `RESAMPLE_BYTES`, each with the same generator seed). A resample where
    a statistic is undefined (fewer than two counted pairs for a Spearman ρ) is NaN there."""
    if not runs:
        return []
    n_items = runs[0].n_items
    if any(r.n_items != n_items for r in runs):
        raise ValueError("runs scored on different item sets cannot share resamples")
    batch = int(min(n_resamples, max(1, BATCH_VALUES // max(n_items, 1))))
    per_call = max(1, RESAMPLE_BYTES // (8 * batch * max(n_items, 1)))  # arrays per call
    out: list[Draws] = []
    chunk: list[ItemScores] = []
    for run in runs:
        if chunk and sum(len(r.arrays) for r in chunk) + len(run.arrays) > per_call:
            out += _bootstrap(chunk, n_resamples, batch, seed)
            chunk = []
        chunk.append(run)
    return out + _bootstrap(chunk, n_resamples, batch, seed)


def _bootstrap(runs: list[ItemScores], n_resamples: int, batch: int, seed: int) -> list[Draws]:
    arrays = [a for r in runs for a in r.arrays]
    sizes = [len(r.arrays) for r in runs]
    # Runs with the same gold scores and the same uncounted pairs (one benchmark, one
    # vocabulary) share their gold ranks in every resample: computed once per group.
    shared = [_gold_key(r) for r in runs]

    def statistic(*data: np.ndarray, axis: int = -1) -> np.ndarray:
        out, pos, gold_ranks = [], 0, {}
        for run, k, key in zip(runs, sizes, shared, strict=True):
            part = data[pos : pos + k]
            pos += k
            if key is None:
                out.append(item_statistic(run, *part))
                continue
            if key not in gold_ranks:
                masked = np.where(np.isnan(part[1]), np.nan, part[0])
                gold_ranks[key] = _centred_ranks(masked, -1)
            out.append(_spearman(gold_ranks[key], part[1], -1))
        return np.stack(out)

    values = statistic(*arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN resamples
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)  # scipy's own CI, unused
        boot = stats.bootstrap(tuple(arrays), statistic, paired=True, vectorized=True,
                               n_resamples=n_resamples, batch=batch, method="percentile",
                               rng=np.random.default_rng(seed))  # fmt: skip
    distribution = np.asarray(boot.bootstrap_distribution, dtype=float).reshape(len(runs), -1)
    n_items = runs[0].n_items
    return [Draws(float(v), d, n_items, metric_bounds(r), counted_items(r))
            for v, d, r in zip(values, distribution, runs, strict=True)]  # fmt: skip


def counted_items(scores: ItemScores) -> int:
    """The items a run counted: pairs with both words in its vocabulary, questions answered."""
    return int(np.count_nonzero(~np.isnan(scores.arrays[-1])))


def _gold_key(run: ItemScores) -> bytes | None:
    if run.kind != "spearman":
        return None
    gold, predicted = run.arrays
    return hashlib.sha1(gold.tobytes() + np.isnan(predicted).tobytes()).digest()


# -- intervals --------------------------------------------------------------------------------


def combine(
    units: Sequence[Unit], confidence: float = CONFIDENCE, items_only: bool = False
) -> Estimate:
    """Mean over seeds of Σ_k w_k · metric(run_k), with an interval over seeds and items.

    `units`: one entry per seed, each the (weight, draws) of that seed's runs: one run with
    weight 1 for a cell, (1, A) and (-1, B) for a paired difference A − B. One seed gives no
    interval (the seed spread is unknown) unless `items_only`: then the items' part alone,
    labelled ITEMS_ONLY.
    """
    if not units:
        raise ValueError("nothing to estimate")
    n_seeds = len(units)
    n_items = units[0][0][1].n_items
    per_seed = np.array([sum(w * d.value for w, d in unit) for unit in units], dtype=float)
    drawn = np.stack([sum(w * d.resampled for w, d in unit) for unit in units])
    value = float(per_seed.mean())
    if not np.isfinite(per_seed).all():
        return Estimate(math.nan, math.nan, math.nan, math.nan, math.nan, n_seeds, n_items,
                        SEEDS_AND_ITEMS if n_seeds > 1 else ONE_SEED_METHOD)  # fmt: skip
    counted = min(d.counted if d.counted >= 0 else n_items for unit in units for _, d in unit)
    if counted < MIN_COUNTED_ITEMS:
        return Estimate(value, math.nan, math.nan, math.nan, math.nan, n_seeds, n_items,
                        FEW_ITEMS_METHOD)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        se_mean = float(np.nan_to_num(np.nanstd(drawn.mean(axis=0), ddof=1)))
        se_seed = np.nan_to_num(np.nanstd(drawn, axis=1, ddof=1))
    q_items = se_mean**2  # item sampling of the mean over seeds
    if n_seeds == 1:
        if not items_only:
            return Estimate(value, math.nan, math.nan, math.nan, math.nan, 1, n_items,
                            ONE_SEED_METHOD, item_var=q_items)  # fmt: skip
        one = _t_interval(value, q_items, n_items - 1, 1, n_items, ITEMS_ONLY, confidence)
        return _clipped(replace(one, item_var=q_items), unit_bounds(units[0]))
    q_seeds = float(np.var(per_seed, ddof=1)) / n_seeds
    # Both q_seeds and q_items contain the seed × item interaction once; remove one copy
    # (method of moments: mean single-seed item variance vs that of the mean over seeds).
    # Clipping it by q_seeds too would bias the variance upwards when seeds vary little.
    overlap = (float(np.mean(se_seed**2)) - q_items) / (n_seeds - 1)
    overlap = min(max(overlap, 0.0), q_items)
    variance = q_seeds + q_items - overlap
    tail = (1 - confidence) / 2
    df = float(degrees_of_freedom(q_seeds, q_items - overlap, n_seeds, n_items, tail))
    result = _t_interval(value, variance, df, n_seeds, n_items, SEEDS_AND_ITEMS, confidence)
    result = replace(result, seed_var=q_seeds * n_seeds, item_var=q_items - overlap)
    return _clipped(_with_p_value(result), unit_bounds(units[0]))


def estimate(
    units: Sequence[Sequence[tuple[float, ItemScores]]],
    values: Sequence[float] | None = None,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    items_only: bool = False,
) -> Estimate:
    """`combine` for runs given by their item scores (resampled together here); `values`: the
    per-seed values when the runs have no per-item results (then a t interval over seeds)."""
    if not units and not values:
        raise ValueError("nothing to estimate")
    if not units or any(not unit for unit in units):
        return seeds_only(np.asarray(values, dtype=float), confidence)
    distinct = list({id(s): s for unit in units for _, s in unit}.values())
    try:
        drawn = dict(zip(map(id, distinct), item_draws(distinct, n_resamples, seed), strict=True))
    except ValueError:
        raise ValueError("runs scored on different item sets cannot be paired") from None
    return combine([[(w, drawn[id(s)]) for w, s in unit] for unit in units], confidence,
                   items_only)  # fmt: skip


INTERVAL_TAIL = (1 - CONFIDENCE) / 2  # each tail of the 95% interval


def bound_quantile(tail: float) -> float:
    """The χ² quantile the seed part is bounded at, for a test with this tail probability:
    0.25 (a 75% upper bound) at the 95% interval's tails and above, shrinking with the tail
    (10 × tail) so that tests at the small levels of multiple comparisons stay valid too."""
    return min(0.25, 10.0 * tail)


def degrees_of_freedom(
    q_seeds: Any, item_part: Any, n_seeds: int, n_items: int, tail: float = INTERVAL_TAIL
) -> Any:  # fmt: skip
    """Welch–Satterthwaite degrees of freedom of q_seeds (n_seeds − 1 df) + item_part
    (n_items − 1 df), with q_seeds taken at an upper confidence bound (× (S − 1) /
    χ²_{S−1}(q), q = `bound_quantile(tail)`) for the df alone. Plain Satterthwaite is
    anti-conservative with few seeds: the df rise exactly when the seed spread is
    underestimated (2-seed coverage fell to 0.87 at some variance ratios, and a 0.001-level
    test rejected 20× too often). The bound keeps 95% intervals at 0.94–0.97 for 2 seeds and
    0.95 ± 0.01 from 3, and every level down to 10⁻⁵ at or below nominal (docs/DESIGN.md,
    "Uncertainty"). Works on arrays (the planner's simulation)."""
    seeds_df, items_df = max(n_seeds - 1, 1), max(n_items - 1, 1)
    lower = _chi2_quantile(bound_quantile(tail), seeds_df)
    seeds = np.asarray(q_seeds, dtype=float)
    items = np.asarray(item_part, dtype=float)
    if lower < 1e-150:  # so far out that any seed part dominates: the seeds' own df
        return np.where(seeds > 0, float(seeds_df), np.where(items > 0, float(items_df), np.inf))
    bound = seeds * (seeds_df / lower)
    denominator = bound**2 / seeds_df + items**2 / items_df
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(denominator > 0, (bound + items) ** 2 / denominator, np.inf)


# scipy.stats' own formulas for these two (chi2._ppf, t._sf), called directly: the p-values
# of a family bisect over them thousands of times, and the distribution objects' argument
# checks cost 50-100 µs a call (72% of the calibration benchmark's time in its ties job).
def _chi2_quantile(q: float, df: float) -> float:
    return float(2 * special.gammaincinv(df / 2, q))


def _t_survival(t: float, df: float) -> float:
    return float(special.stdtr(df, -t))


def upper_tail(t: float, e: Estimate) -> float:
    """One-sided p-value P(T ≥ t) of the estimate's t statistic, valid at every level: the
    smallest tail τ with t ≥ t_{1−τ}(df(τ)) (`degrees_of_freedom` at that tail; the df only
    fall as τ does, so the p-value is well defined)."""
    if e.method == SEEDS_ONLY or not math.isfinite(e.seed_var):
        return float(stats.t.sf(t, e.df))
    q_seeds, items = e.seed_var / e.n_seeds, max(e.item_var, 0.0)

    def survival(tail: float) -> float:
        df = float(degrees_of_freedom(q_seeds, items, e.n_seeds, e.n_items, tail))
        return _t_survival(t, df)

    p = survival(INTERVAL_TAIL)
    if p >= INTERVAL_TAIL:  # the interval's own df
        return p
    # The answer lies between p (the interval's df) and the seeds' own df's tail, the least
    # the df can fall to: bisect log10 τ there (survival(τ) ≤ τ at `high`).
    slowest = float(stats.t.sf(t, max(e.n_seeds - 1, 1)))
    low = math.log10(max(p, 1e-300))
    high = math.log10(min(max(slowest, 1e-300), INTERVAL_TAIL))
    if survival(10**low) <= 10**low:
        return 10**low
    for _ in range(30):
        middle = (low + high) / 2
        low, high = (low, middle) if survival(10**middle) <= 10**middle else (middle, high)
    return 10**high


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


def _with_p_value(e: Estimate) -> Estimate:
    """The two-sided p-value from `upper_tail` (equal to the interval's own above 0.05)."""
    if e.se == 0.0 or not math.isfinite(e.se):
        return e
    return replace(e, p_value=min(1.0, 2 * upper_tail(abs(e.value) / e.se, e)))


def seeds_only(values: np.ndarray, confidence: float = CONFIDENCE) -> Estimate:
    """Mean of per-seed values (or of paired differences) with a t interval over seeds."""
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan, math.nan, 0, 0, SEEDS_ONLY)
    value = float(values.mean())
    if len(values) < 2:
        return Estimate(value, math.nan, math.nan, math.nan, math.nan, 1, 0, ONE_SEED_METHOD)
    n = len(values)
    spread = float(values.var(ddof=1))
    if np.ptp(values) <= 1e-12 * max(1.0, float(np.abs(values).max())):  # all seeds agree
        p = 1.0 if value == 0.0 else 0.0
        return Estimate(value, value, value, 0.0, n - 1, n, 0, SEEDS_ONLY, p, 0.0, 0.0)
    test = stats.ttest_1samp(values, 0.0)  # the same test as ttest_rel on the paired values
    interval = test.confidence_interval(confidence)
    se = math.sqrt(spread / n)
    low, high = float(interval.low), float(interval.high)
    return Estimate(value, low, high, se, n - 1, n, 0, SEEDS_ONLY, float(test.pvalue), spread, 0.0)


def run_interval(
    scores: ItemScores,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> Estimate:
    """One run's metric with a bootstrap percentile interval over its items (the items of the
    benchmark are the only uncertainty of one fixed set of vectors)."""
    (draws,) = item_draws([scores], n_resamples, seed)
    if math.isfinite(draws.value) and draws.counted < MIN_COUNTED_ITEMS:
        return Estimate(draws.value, math.nan, math.nan, math.nan, math.nan, 1, scores.n_items,
                        FEW_ITEMS_METHOD)  # fmt: skip
    if not math.isfinite(draws.value):
        return Estimate(draws.value, math.nan, math.nan, math.nan, math.nan, 1, scores.n_items,
                        ITEMS_ONLY)  # fmt: skip
    tail = (1 - confidence) / 2
    low, high = (float(q) for q in np.nanquantile(draws.resampled, [tail, 1 - tail]))
    se = float(np.nanstd(draws.resampled, ddof=1))
    return Estimate(draws.value, low, high, se, math.inf, 1, scores.n_items, ITEMS_ONLY)


# -- many comparisons ---------------------------------------------------------------------------
def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values; NaN stays NaN and is not a test. (statsmodels'
    `multipletests(method="holm")` gives the same numbers — the tests check it — but runs a
    full `gc.collect()` on every call, 66 ms in a process with torch loaded, which the
    calibration benchmark would pay 10⁵ times.)"""
    p = np.asarray(p_values, dtype=float)
    tested = np.flatnonzero(np.isfinite(p))
    adjusted = np.full(len(p), math.nan)
    order = tested[np.argsort(p[tested], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def tost_p(difference: Estimate, margin: float) -> float:
    """Two one-sided tests of |true difference| < margin: the larger one-sided p-value."""
    if not math.isfinite(difference.value):
        return math.nan
    if difference.se == 0.0:
        return 0.0 if abs(difference.value) < margin else 1.0
    if not math.isfinite(difference.se):
        return math.nan
    lower = upper_tail((difference.value + margin) / difference.se, difference)
    upper = upper_tail((margin - difference.value) / difference.se, difference)
    return float(max(lower, upper))


def pool_seed_spread(differences: Sequence[Estimate | None]) -> list[Estimate | None]:
    """The differences of one family for its tests: each one's seed variance at least the
    family's median (with items; their p-values recomputed). With 2-3 seeds one comparison's
    seed variance rests on 1-2 degrees of freedom and is sometimes near 0 by chance (exactly
    0 when two seeds' accuracies tie), which the small levels of a family then turn into false
    claims; the median over the family is a floor that does not rest on one comparison. A
    comparison with a larger spread of its own keeps it. Intervals are not changed."""

    def poolable(d: Estimate | None) -> bool:
        return (d is not None and d.testable and d.method == SEEDS_AND_ITEMS
                and math.isfinite(d.seed_var))  # fmt: skip

    spreads = [d.seed_var for d in differences if poolable(d)]  # type: ignore[union-attr]
    if len(spreads) < 2:
        return list(differences)
    floor = float(np.median(spreads))
    out: list[Estimate | None] = []
    for d in differences:
        if d is None or not poolable(d) or d.seed_var >= floor:
            out.append(d)
            continue
        variance = floor / d.n_seeds + max(d.item_var, 0.0)
        pooled = replace(d, seed_var=floor, se=math.sqrt(variance))
        out.append(_with_p_value(pooled) if pooled.se > 0 else pooled)
    return out


@dataclass(frozen=True)
class Verdict:
    """One comparison's outcome, with its difference and equivalence p-values adjusted over the
    family (NaN: not tested)."""

    outcome: str
    p_different: float = math.nan
    p_equivalent: float = math.nan


def verdicts(
    differences: Sequence[Estimate | None], margin: float, level: float = SIGNIFICANCE
) -> list[Verdict]:
    """The four outcomes (Lakens 2018) for a family of paired differences: "equivalent" (TOST
    rejects |Δ| ≥ margin), "different" (the two-sided test rejects Δ = 0), "equivalent but
    different" (both), "inconclusive" (neither). Both tests of every comparison form ONE family,
    adjusted by Shaffer's modified Holm procedure (`shaffer`): every claim of the family holds at
    `level` family-wise. Comparisons with one matched seed or none are not tested."""
    if not (margin > 0 and math.isfinite(margin)):  # an infinite margin: all "equivalent"
        raise ValueError("the equivalence margin must be positive and finite")
    differences = pool_seed_spread(differences)
    tested = [i for i, d in enumerate(differences) if d is not None and d.testable]
    raw = [differences[i].p_value for i in tested]  # type: ignore[union-attr]
    raw += [tost_p(differences[i], margin) for i in tested]  # type: ignore[arg-type]
    adjusted = shaffer(raw, pairs=len(tested))
    out: list[Verdict] = []
    for i, d in enumerate(differences):
        if d is None:
            out.append(Verdict(NO_SEEDS))
        elif not math.isfinite(d.value):
            out.append(Verdict(NO_VALUE))
        elif d.method == FEW_ITEMS_METHOD:
            out.append(Verdict(FEW_ITEMS))
        elif i not in tested:
            out.append(Verdict(ONE_SEED))
        else:
            k = tested.index(i)
            p_diff, p_eq = adjusted[k], adjusted[k + len(tested)]
            out.append(Verdict(_outcome(p_diff < level, p_eq < level), p_diff, p_eq))
    return out


def verdict(difference: Estimate | None, margin: float, level: float = SIGNIFICANCE) -> str:
    """The outcome of one comparison on its own (a family of one)."""
    return verdicts([difference], margin, level)[0].outcome


def _outcome(different: bool, equivalent: bool) -> str:
    if equivalent:
        return EQUIVALENT_DIFFERENT if different else EQUIVALENT
    return DIFFERENT if different else INCONCLUSIVE


def shaffer(p_values: Sequence[float], pairs: int) -> list[float]:
    """Adjusted p-values of 2·`pairs` hypotheses where at most one of hypotheses i and
    i + pairs can be true (Δ = 0 and |Δ| ≥ margin exclude each other): Holm's step-down with
    Shaffer's (1986) multipliers, the most hypotheses that can still be true, min(pairs, 2·pairs
    − j + 1) at step j. One comparison is thus tested at `level` twice without adjustment."""
    p = np.asarray(p_values, dtype=float)
    if len(p) != 2 * pairs:
        raise ValueError("expected two p-values per comparison")
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(len(p))
    running = 0.0
    for j, i in enumerate(order, start=1):
        running = max(running, min(1.0, min(pairs, 2 * pairs - j + 1) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def worse_than_best(p_better: np.ndarray) -> list[float]:
    """Multiple comparisons with the best, the best picked from the same data.

    `p_better[i, j]`: one-sided p-value of "cell j is better than cell i" (NaN: not tested).
    Returns, per cell, the adjusted p-value of "cell i is worse than the best cell" (NaN: not
    tested): each cell's smallest p over the others, Bonferroni over them, then Holm over the
    cells. A cell whose true value is the highest (ties included) is declared worse with
    probability ≤ level over all cells together, because the Holm thresholds stay below
    level / (|best cells| · comparisons) while no best cell has been removed (docs/DESIGN.md).
    """
    p_better = np.asarray(p_better, dtype=float)
    per_cell = np.full(len(p_better), math.nan)
    for i, row in enumerate(p_better):
        tested = row[np.isfinite(row)]
        if len(tested):
            per_cell[i] = min(1.0, len(tested) * float(tested.min()))
    return holm(per_cell.tolist())


def p_better(difference: Estimate | None) -> float:
    """One-sided p-value of "the true difference A − B is below 0" (B better), from a paired
    difference A − B with two or more seeds; NaN when it cannot be tested."""
    if difference is None or not difference.testable:
        return math.nan
    if difference.se == 0.0:
        return 0.0 if difference.value < 0 else 1.0
    return upper_tail(-difference.value / difference.se, difference)


# -- how many seeds -------------------------------------------------------------------------------
POWER = 0.8
_SIMULATED = 4000  # variance draws of the power simulation (seeded: the planner is deterministic)


@dataclass(frozen=True)
class _TestDraws:
    """Simulated (critical value × estimated SE) of the paired test, for one design."""

    threshold: np.ndarray  # t_{1−α/2, df} · √V per draw
    se: float  # the true standard error of the estimate


def _simulate_test(
    seed_sd: float, item_se: float, n_seeds: int, n_items: int, level: float
) -> _TestDraws:  # fmt: skip
    """The test `combine` makes, its variance parts drawn as scaled χ² with n_seeds − 1 and
    n_items − 1 degrees of freedom, and its df computed from them as `combine` does."""
    rng = np.random.default_rng(20)
    seed_part, item_part = seed_sd**2 / n_seeds, item_se**2
    items_df = max(n_items - 1, 1)
    q_seeds = seed_part * rng.chisquare(n_seeds - 1, _SIMULATED) / (n_seeds - 1)
    q_items = item_part * rng.chisquare(items_df, _SIMULATED) / items_df
    df = degrees_of_freedom(q_seeds, q_items, n_seeds, n_items, level / 2)
    critical = stats.t.ppf(1 - level / 2, df)
    return _TestDraws(critical * np.sqrt(q_seeds + q_items), math.sqrt(seed_part + item_part))


def _power(delta: float, test: _TestDraws) -> float:
    # The estimate is normal around delta; integrated exactly given each variance draw.
    upper = stats.norm.sf((test.threshold - delta) / test.se)
    lower = stats.norm.cdf((-test.threshold - delta) / test.se)
    return float(np.mean(upper + lower))


def power(
    delta: float, seed_sd: float, item_se: float, n_seeds: int, n_items: int,
    level: float = SIGNIFICANCE,
) -> float:  # fmt: skip
    """Probability that the paired difference test (`combine`: two-sided at `level`) rejects
    Δ = 0 when the true difference is `delta`, with `n_seeds` seeds: simulated, since the
    test's degrees of freedom are themselves estimated (no closed form fits). seed_sd² / n and
    item_se² are the variance parts: one seed's difference, and the items' (which more seeds
    do not remove)."""
    if n_seeds < 2:
        return math.nan
    return _power(delta, _simulate_test(seed_sd, item_se, n_seeds, n_items, level))


def detectable_difference(
    seed_sd: float, item_se: float, n_seeds: int, n_items: int = 0, power_: float = POWER,
    level: float = SIGNIFICANCE,
) -> float:  # fmt: skip
    """The smallest true difference a paired comparison with `n_seeds` seeds finds with
    probability `power_` (two-sided, `level`). Without an item part (runs without per-item
    results: a paired t test over seeds, n − 1 degrees of freedom) statsmodels' exact
    noncentral-t power; with one, the simulated power of the test `combine` makes."""
    if n_seeds < 2:
        return math.inf
    if item_se <= 0 or n_items <= 1:
        if seed_sd <= 0:
            return 0.0
        effect = TTestPower().solve_power(nobs=n_seeds, alpha=level, power=power_)
        return float(effect) * seed_sd
    test = _simulate_test(seed_sd, item_se, n_seeds, n_items, level)
    low, high = 0.0, test.se
    while _power(high, test) < power_:
        low, high = high, 2 * high
        if high > 1e6 * test.se:  # pragma: no cover - power reaches 1 far earlier
            return math.inf
    for _ in range(50):
        middle = (low + high) / 2
        low, high = (low, middle) if _power(middle, test) >= power_ else (middle, high)
    return high


def seeds_needed(
    delta: float, seed_sd: float, item_se: float, n_items: int = 0, power_: float = POWER,
    level: float = SIGNIFICANCE, most: int = 1000,
) -> int | None:  # fmt: skip
    """The fewest seeds that detect a true difference `delta` (None: not even `most`: the item
    sample alone is too small for it). The detectable difference falls with the seeds."""

    def enough(n: int) -> bool:
        return detectable_difference(seed_sd, item_se, n, n_items, power_, level) <= delta

    if not enough(most):
        return None
    low, high = 1, most  # enough(low) is False (one seed tests nothing)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return high
