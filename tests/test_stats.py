"""study.stats against known truth: simulated scores with a known difference, identical runs,
equivalence as seeds are added, Holm, TOST, seed planning, and the scipy fallbacks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from study import stats
from study.items import ItemScores

TRUE_DELTA = 0.1


def simulated_pair(
    rng: np.random.Generator, seeds: int, items: int = 200, seed_sd: float = 0.1
) -> list[list[tuple[float, ItemScores]]]:
    """Scores y[cell, seed, item] = effect + seed shift + item difficulty + cell × item +
    noise; the true A − B (over the populations of seeds and items) is TRUE_DELTA."""
    difficulty = rng.normal(0, 1.0, items)
    inter_a, inter_b = rng.normal(0, 0.3, items), rng.normal(0, 0.3, items)
    units = []
    for _ in range(seeds):
        a = TRUE_DELTA + rng.normal(0, seed_sd) + difficulty + inter_a + rng.normal(0, 1, items)
        b = rng.normal(0, seed_sd) + difficulty + inter_b + rng.normal(0, 1, items)
        units.append([(1.0, ItemScores("mean", (a,))), (-1.0, ItemScores("mean", (b,)))])
    return units


def coverage(reps: int, seeds: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for rep in range(reps):
        found = stats.estimate(simulated_pair(rng, seeds), n_resamples=300, seed=rep)
        hits += found.contains(TRUE_DELTA)
    return hits / reps


def test_intervals_cover_a_known_difference_fast():
    assert 0.88 <= coverage(reps=120, seeds=5, seed=1) <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize("seeds", [3, 5])
def test_intervals_cover_a_known_difference_in_95_percent_of_repetitions(seeds):
    assert 0.93 <= coverage(reps=2000, seeds=seeds, seed=seeds) <= 0.97


def test_identical_runs_give_a_zero_width_interval_at_zero():
    rng = np.random.default_rng(0)
    gold, predicted = rng.normal(size=300), rng.normal(size=300)
    predicted[::10] = np.nan
    for kind, arrays in [("spearman", (gold, predicted)), ("mean", (predicted,))]:
        run = ItemScores(kind, arrays)
        for n_seeds in (1, 3):
            found = stats.estimate([[(1.0, run), (-1.0, run)]] * n_seeds)
            assert (found.value, found.low, found.high, found.se) == (0.0, 0.0, 0.0, 0.0)
            assert found.contains(0.0) and found.p_value == 1.0
            assert stats.verdict(found, 0.01) == stats.EQUIVALENT


def test_equivalence_moves_from_inconclusive_to_equivalent_as_seeds_are_added():
    """Two runs of the same trainer (no true difference), analogy-like 0/1 answers."""
    rng = np.random.default_rng(3)
    n_items = 4000
    skill = rng.normal(0, 1.5, n_items)  # item difficulty on the logit scale

    def run() -> ItemScores:
        logit = skill + rng.normal(0, 0.05) + rng.normal(0, 0.5, n_items)
        return ItemScores("mean", ((rng.random(n_items) < 1 / (1 + np.exp(-logit))) * 1.0,))

    units = [[(1.0, run()), (-1.0, run())] for _ in range(20)]
    verdicts = [stats.verdict(stats.estimate(units[:n]), margin=0.01) for n in (2, 3, 5, 10, 20)]
    assert verdicts[0] == stats.INCONCLUSIVE and verdicts[-1] == stats.EQUIVALENT
    assert stats.DIFFERENT not in verdicts
    assert verdicts.index(stats.EQUIVALENT) > 0 and all(
        v == stats.EQUIVALENT for v in verdicts[verdicts.index(stats.EQUIVALENT) :]
    )


def test_spearman_rows_match_scipy_on_the_counted_pairs():
    rng = np.random.default_rng(2)
    gold = np.round(rng.normal(size=(4, 120)), 1)  # ties on purpose
    predicted = gold + rng.normal(size=(4, 120))
    predicted[:, ::7] = np.nan
    rows = stats.spearman_rows(gold, predicted)
    for g, p, rho in zip(gold, predicted, rows, strict=True):
        keep = ~np.isnan(p)
        assert rho == pytest.approx(sps.spearmanr(g[keep], p[keep]).statistic, abs=1e-12)


def test_run_interval_of_an_accuracy_matches_the_binomial_normal_interval():
    rng = np.random.default_rng(4)
    correct = (rng.random(5000) < 0.37) * 1.0
    correct[rng.random(5000) < 0.2] = np.nan  # not counted
    found = stats.run_interval(ItemScores("mean", (correct,)), n_resamples=2000)
    counted = correct[~np.isnan(correct)]
    p, n = counted.mean(), len(counted)
    half = 1.96 * math.sqrt(p * (1 - p) / n)
    assert found.value == pytest.approx(p)
    assert found.low == pytest.approx(p - half, abs=0.003)
    assert found.high == pytest.approx(p + half, abs=0.003)


def test_without_items_the_interval_is_scipys_paired_t_over_seeds():
    a = np.array([0.61, 0.63, 0.60, 0.64])
    b = np.array([0.58, 0.61, 0.59, 0.60])
    found = stats.estimate([], list(a - b))
    reference = sps.ttest_rel(a, b)
    interval = reference.confidence_interval(0.95)
    assert found.method == "seeds" and found.n_seeds == 4
    assert (found.low, found.high) == (pytest.approx(interval.low), pytest.approx(interval.high))
    assert found.p_value == pytest.approx(reference.pvalue)
    one = stats.estimate([], [0.02])
    assert one.value == 0.02 and math.isnan(one.low)


def test_one_seed_interval_covers_items_only():
    rng = np.random.default_rng(5)
    units = simulated_pair(rng, seeds=1, items=2000)
    found = stats.estimate(units)
    a, b = units[0][0][1].arrays[0], units[0][1][1].arrays[0]
    se = np.std(a - b, ddof=1) / math.sqrt(len(a))
    assert found.method == "items" and found.se == pytest.approx(se, rel=0.1)


def test_holm_adjusts_like_the_textbook():
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.005, math.nan])
    assert adjusted[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert math.isnan(adjusted[4])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert stats.holm([]) == []


def estimate_of(value: float, se: float, df: float = 50.0) -> stats.Estimate:
    half = sps.t.ppf(0.975, df) * se
    p = 2 * sps.t.sf(abs(value) / se, df)
    return stats.Estimate(value, value - half, value + half, se, df, 5, 300, "seeds+items", p)


def test_tost_and_verdicts():
    assert stats.verdict(estimate_of(0.001, 0.002), 0.01) == stats.EQUIVALENT
    assert stats.verdict(estimate_of(0.05, 0.005), 0.01) == stats.DIFFERENT
    assert stats.verdict(estimate_of(0.004, 0.02), 0.01) == stats.INCONCLUSIVE
    # a difference within the margin's 90% interval but Holm makes it not significant
    assert stats.verdict(estimate_of(0.03, 0.01), 0.01, p_adjusted=0.2) == stats.INCONCLUSIVE
    # TOST p: the larger one-sided p, e.g. exactly at the margin it is 0.5
    assert stats.tost_p(estimate_of(0.01, 0.004), 0.01) == pytest.approx(0.5)


def test_seed_planning_numbers():
    shrinking = [stats.detectable_difference(0.02, 0.0, n) for n in (2, 3, 5, 10, 50)]
    assert shrinking == sorted(shrinking, reverse=True)
    # large n: (z_.975 + z_.8) · sd / sqrt(n) ≈ 2.80 · 0.02 / sqrt(50)
    assert shrinking[-1] == pytest.approx(2.80 * 0.02 / math.sqrt(50), rel=0.05)
    assert stats.detectable_difference(0.02, 0.01, 1000) > 2.8 * 0.01  # items: a floor
    n = stats.seeds_needed(0.02, seed_sd=0.02, item_se=0.0)
    assert n is not None and stats.detectable_difference(0.02, 0.0, n) <= 0.02
    assert stats.detectable_difference(0.02, 0.0, n - 1) > 0.02
    assert stats.seeds_needed(0.01, seed_sd=0.02, item_se=0.01) is None  # items too few


def test_format_interval():
    assert stats.format_interval(0.5123, 0.49, 0.5301) == "0.512 [0.490, 0.530]"
    assert stats.format_interval(math.nan, 0, 1) == "–"
    assert stats.format_interval(0.5, math.nan, math.nan) == "0.500"
