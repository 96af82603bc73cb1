"""study.evaluate.stats against known truth: simulated scores with a known difference, identical
runs, one seed, the four outcomes and their family, multiple comparisons with the best, the seed
planner and the scipy / statsmodels fallbacks. The full calibration (every procedure, both item
models, 1-5 seeds) is benchmarks/bench_stats.py; these are the fast checks a bug breaks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower

from study.evaluate import stats
from study.evaluate.items import ItemScores

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


def coverage(reps: int, seeds: int, seed: int, n_resamples: int = 300) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for rep in range(reps):
        found = stats.estimate(simulated_pair(rng, seeds), n_resamples=n_resamples, seed=rep)
        hits += found.contains(TRUE_DELTA)
    return hits / reps


def test_intervals_cover_a_known_difference_fast():
    """250 repetitions: Monte-Carlo s.e. 0.014, so 0.95 ± 3 s.e.; an interval that is too
    narrow (seed part dropped) or too wide (items counted twice) leaves the band."""
    assert 0.91 <= coverage(reps=250, seeds=3, seed=1, n_resamples=200) <= 0.99


@pytest.mark.slow
@pytest.mark.parametrize("seeds", [2, 3, 5])
def test_intervals_cover_a_known_difference_in_95_percent_of_repetitions(seeds):
    assert 0.93 <= coverage(reps=2000, seeds=seeds, seed=seeds) <= 0.97


def test_degrees_of_freedom_keep_coverage_at_every_variance_ratio():
    """The two-part variance (seeds with S − 1 df, items with ~∞) at every ratio of the two:
    `degrees_of_freedom` keeps the t interval's coverage in [0.935, 0.975] with 2 and 3 seeds,
    where plain Welch–Satterthwaite falls below 0.90 (df rise when the seed part is
    underestimated); and a test at a small level (what a family of many comparisons uses)
    rejects at most about as often as its level, where the interval's df reject 20× too often."""
    rng = np.random.default_rng(0)
    draws = 200_000
    for n_seeds in (2, 3):
        worst_plain = 1.0
        for share in (0.05, 0.2, 0.5, 0.8, 0.95):
            chi = rng.chisquare(n_seeds - 1, draws) / (n_seeds - 1)
            z = rng.standard_normal(draws)
            q_seeds, q_items = share * chi, np.full(draws, 1 - share)
            t = z / np.sqrt(q_seeds + q_items)
            df = stats.degrees_of_freedom(q_seeds, q_items, n_seeds, 10**6)
            covered = np.mean(np.abs(t) <= sps.t.ppf(0.975, df))
            assert 0.935 <= covered <= 0.975, (n_seeds, share, covered)
            plain = (q_seeds + q_items) ** 2 / (q_seeds**2 / (n_seeds - 1))
            worst_plain = min(worst_plain, np.mean(np.abs(t) <= sps.t.ppf(0.975, plain)))
            tail = 0.0005  # a two-sided 0.001 test
            strict = stats.degrees_of_freedom(q_seeds, q_items, n_seeds, 10**6, tail)
            rate = np.mean(np.abs(t) > sps.t.ppf(1 - tail, strict)) / (2 * tail)
            loose = np.mean(np.abs(t) > sps.t.ppf(1 - tail, df)) / (2 * tail)
            assert rate <= 1.3, (n_seeds, share, rate)
        assert worst_plain < 0.93  # the reason for the bound
    assert loose > 3  # 3 seeds, 95% of the variance from seeds: the interval's df in the tail


def test_p_values_agree_with_the_interval_and_stay_valid_in_the_tail():
    found = stats.Estimate(0.03, 0.0, 0.0, 0.01, 0.0, 2, 353, stats.SEEDS_AND_ITEMS,
                           seed_var=2 * 0.00009, item_var=0.00001)  # fmt: skip
    df = float(stats.degrees_of_freedom(0.00009, 0.00001, 2, 353))
    # above the interval's tail, the interval's own df ...
    assert stats.upper_tail(0.5, found) == pytest.approx(sps.t.sf(0.5, df))
    # ... and far in the tail, the df of that tail: nearly the seeds' own (1 df here)
    far = stats.upper_tail(40.0, found)
    assert sps.t.sf(40.0, df) < far <= sps.t.sf(40.0, 1) * 1.01
    assert stats.upper_tail(-1.0, found) > 0.5


def test_the_direct_distribution_calls_give_scipy_stats_numbers():
    """`upper_tail` bisects over these thousands of times per family; they must be exactly
    scipy.stats' chi2.ppf and t.sf, whose argument checks they skip."""
    for df in (1.0, 2.0, 4.5, 30.0, 1e6, math.inf):
        for t in (-3.0, 0.0, 0.7, 5.0, 40.0, math.inf, -math.inf):
            assert stats._t_survival(t, df) == sps.t.sf(t, df), (t, df)
    for df in (1, 2, 4, 9, 999):
        for q in (1e-12, 1e-6, 0.001, 0.25):
            assert stats._chi2_quantile(q, df) == sps.chi2.ppf(q, df), (q, df)


def test_identical_runs_give_a_zero_width_interval_at_zero():
    rng = np.random.default_rng(0)
    gold, predicted = rng.normal(size=300), rng.normal(size=300)
    predicted[::10] = np.nan
    for kind, arrays in [("spearman", (gold, predicted)), ("mean", (predicted,))]:
        run = ItemScores(kind, arrays)
        found = stats.estimate([[(1.0, run), (-1.0, run)]] * 3)
        assert (found.value, found.low, found.high, found.se) == (0.0, 0.0, 0.0, 0.0)
        assert found.contains(0.0) and found.p_value == 1.0
        assert stats.verdict(found, 0.01) == stats.EQUIVALENT
        one = stats.estimate([[(1.0, run), (-1.0, run)]])
        assert one.value == 0.0 and math.isnan(one.low) and one.method == stats.ONE_SEED_METHOD
        assert stats.verdict(one, 0.01) == stats.ONE_SEED


def test_intervals_stay_where_the_metric_can_lie():
    """Seeds far apart give a t interval past ±1 (0.900 [-0.371, 2.171] in a report); cutting it
    at the metric's bounds never loses coverage. Breaking the cut turns this red."""
    rng = np.random.default_rng(3)
    gold = np.arange(25.0)
    runs = [ItemScores("spearman", (gold, gold + rng.normal(0, sd, 25))) for sd in (0.1, 20, 90)]
    cell = stats.estimate([[(1.0, r)] for r in runs])
    assert -1.0 <= cell.low < cell.value < cell.high == 1.0
    flipped = [ItemScores("spearman", (gold, -r.arrays[1])) for r in runs]
    difference = stats.estimate([[(1.0, a), (-1.0, b)] for a, b in zip(runs, flipped, strict=True)])
    assert -2.0 <= difference.low and difference.high == 2.0  # ρ − (−ρ) is at most 2
    right = [np.r_[np.ones(24), x, np.nan] for x in (0.0, 1.0, 1.0)]
    answers = [ItemScores("mean", (a,)) for a in right]
    accuracy = stats.estimate([[(1.0, r)] for r in answers])
    assert accuracy.high == 1.0 and 0.9 < accuracy.low < accuracy.value
    one = stats.estimate([[(1.0, answers[1])]], items_only=True)
    assert one.low == one.high == 1.0
    scores = [ItemScores("mean", (rng.normal(0.9, 3, 25),)) for _ in range(3)]  # not 0/1: free
    assert stats.estimate([[(1.0, r)] for r in scores]).high > 1.0


def test_too_few_counted_items_give_no_interval_and_no_verdict():
    """3-5 counted questions and 2-3 seeds: "equivalent" was claimed for a true difference 5× the
    margin in 12-38% of simulated studies (intervals covered 0.59-0.87). Under
    MIN_COUNTED_ITEMS counted items there is neither; at it, both."""
    rng = np.random.default_rng(4)
    n = stats.MIN_COUNTED_ITEMS

    def units(counted: int, seeds: int = 3) -> list:
        out = []
        for _ in range(seeds):
            a, b = np.full(n + 5, np.nan), np.full(n + 5, np.nan)
            a[:counted], b[:counted] = rng.random(counted) < 0.3, rng.random(counted) < 0.3
            out.append([(1.0, ItemScores("mean", (a,))), (-1.0, ItemScores("mean", (b,)))])
        return out

    few = stats.estimate(units(n - 1))
    assert few.method == stats.FEW_ITEMS_METHOD and math.isnan(few.low) and "[" not in str(few)
    assert math.isfinite(few.value) and stats.verdict(few, 0.5) == stats.FEW_ITEMS
    cell = stats.estimate([[unit[0]] for unit in units(n - 1)])
    assert cell.method == stats.FEW_ITEMS_METHOD
    enough = stats.estimate(units(n))
    assert enough.method == stats.SEEDS_AND_ITEMS and enough.low < enough.high
    assert stats.verdict(enough, 0.5) != stats.FEW_ITEMS
    (one_run,) = units(n - 1, seeds=1)
    assert math.isnan(stats.run_interval(one_run[0][1]).low)
    none_right = ItemScores("mean", (np.r_[np.zeros(3), np.full(30, np.nan)],))
    same = stats.estimate([[(1.0, none_right), (-1.0, none_right)]] * 3)
    assert stats.verdict(same, 0.01) == stats.FEW_ITEMS  # 3 questions: was "equivalent"


def test_one_seed_gets_no_interval_unless_asked_and_never_a_verdict():
    rng = np.random.default_rng(5)
    units = simulated_pair(rng, seeds=1, items=2000, seed_sd=0.0)
    default = stats.estimate(units)
    assert default.method == stats.ONE_SEED_METHOD
    assert math.isnan(default.low) and math.isnan(default.high) and "[" not in str(default)
    asked = stats.estimate(units, items_only=True)
    a, b = units[0][0][1].arrays[0], units[0][1][1].arrays[0]
    se = np.std(a - b, ddof=1) / math.sqrt(len(a))
    assert asked.method == stats.ITEMS_ONLY and asked.se == pytest.approx(se, rel=0.1)
    assert str(asked).endswith("items only")
    assert not asked.contains(0.0)  # the items alone would call it different ...
    assert stats.verdict(asked, 0.5) == stats.ONE_SEED  # ... but one seed gives no verdict
    assert stats.verdicts([asked, None], 0.5)[1].outcome == stats.NO_SEEDS


def test_draws_do_not_depend_on_the_other_runs_computed_with_them():
    rng = np.random.default_rng(8)
    gold = rng.normal(size=353)
    runs = [ItemScores("spearman", (gold, gold + rng.normal(size=353))) for _ in range(10)]
    alone = stats.item_draws(runs[3:4], n_resamples=200)[0]
    together = stats.item_draws(runs, n_resamples=200)[3]  # several scipy calls (chunks)
    np.testing.assert_array_equal(alone.resampled, together.resampled)
    assert alone.value == together.value == pytest.approx(sps.spearmanr(*runs[3].arrays)[0])


def test_equivalence_moves_from_inconclusive_to_equivalent_as_seeds_are_added():
    """Two runs of the same trainer (no true difference), analogy-like 0/1 answers."""
    rng = np.random.default_rng(3)
    n_items = 4000
    skill = rng.normal(0, 1.5, n_items)  # item difficulty on the logit scale

    def run() -> ItemScores:
        logit = skill + rng.normal(0, 0.05) + rng.normal(0, 0.5, n_items)
        return ItemScores("mean", ((rng.random(n_items) < 1 / (1 + np.exp(-logit))) * 1.0,))

    units = [[(1.0, run()), (-1.0, run())] for _ in range(20)]
    found = [stats.verdict(stats.estimate(units[:n]), margin=0.01) for n in (2, 3, 5, 10, 20)]
    assert found[0] == stats.INCONCLUSIVE and found[-1] == stats.EQUIVALENT
    assert stats.DIFFERENT not in found
    first = found.index(stats.EQUIVALENT)
    assert first > 0 and all(v == stats.EQUIVALENT for v in found[first:])


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
    assert found.method == stats.SEEDS_ONLY and found.n_seeds == 4
    assert (found.low, found.high) == (pytest.approx(interval.low), pytest.approx(interval.high))
    assert found.p_value == pytest.approx(reference.pvalue)
    one = stats.estimate([], [0.02])
    assert one.value == 0.02 and math.isnan(one.low) and not one.testable


def test_holm_adjusts_like_the_textbook_and_statsmodels():
    rng = np.random.default_rng(0)
    for size in (1, 2, 7, 30):
        p = rng.uniform(0, 0.2, size)
        assert stats.holm(p) == pytest.approx(multipletests(p, method="holm")[1].tolist())
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.005, math.nan])
    assert adjusted[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert math.isnan(adjusted[4])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert stats.holm([]) == []


def estimate_of(value: float, se: float, df: float = 50.0, seeds: int = 5) -> stats.Estimate:
    half = sps.t.ppf(0.975, df) * se
    p = 2 * sps.t.sf(abs(value) / se, df)
    return stats.Estimate(value, value - half, value + half, se, df, seeds, 300,
                          stats.SEEDS_AND_ITEMS, p)  # fmt: skip


def test_the_four_outcomes():
    margin = 0.01
    assert stats.verdict(estimate_of(0.001, 0.002), margin) == stats.EQUIVALENT
    # significant, yet inside the margin: both claims are made (it used to say "equivalent")
    assert stats.verdict(estimate_of(0.004, 0.001), margin) == stats.EQUIVALENT_DIFFERENT
    assert stats.verdict(estimate_of(0.05, 0.005), margin) == stats.DIFFERENT
    assert stats.verdict(estimate_of(0.004, 0.02), margin) == stats.INCONCLUSIVE
    assert stats.verdict(estimate_of(0.001, 0.0001, seeds=1), margin) == stats.ONE_SEED
    nan = stats.Estimate(*(math.nan,) * 5, 3, 300, stats.SEEDS_AND_ITEMS)
    assert stats.verdict(nan, margin) == stats.NO_VALUE
    assert stats.verdict(None, margin) == stats.NO_SEEDS
    # TOST p: the larger one-sided p, e.g. exactly at the margin it is 0.5
    assert stats.tost_p(estimate_of(0.01, 0.004), margin) == pytest.approx(0.5)
    for margin in (0.0, -0.01, math.inf, math.nan):  # inf made everything "equivalent"
        with pytest.raises(ValueError, match="positive"):
            stats.verdicts([estimate_of(0.0, 0.001)], margin)


def test_difference_and_equivalence_tests_are_one_family():
    """One comparison: both tests at 5% unadjusted (at most one of the two nulls is true).
    Two comparisons: Shaffer's multipliers 2, 2, 2, 1 over the four p-values, so a p of 0.03
    no longer passes; plain Holm over the four (4, 3, 2, 1) is needlessly stricter."""
    d = estimate_of(0.0065, 0.003)  # raw p ≈ 0.035, TOST p ≈ 0.13
    assert stats.verdicts([d], 0.01)[0].p_different == pytest.approx(d.p_value)
    assert stats.verdict(d, 0.01) == stats.DIFFERENT
    clear = estimate_of(0.0, 0.0005)  # both raw p: difference 1.0, equivalence tiny
    pair = stats.verdicts([d, clear], 0.01)
    assert pair[0].p_different == pytest.approx(2 * d.p_value)
    assert pair[0].outcome == stats.INCONCLUSIVE and pair[1].outcome == stats.EQUIVALENT
    assert stats.shaffer([0.01, 0.04, 0.03, 0.002], pairs=2) == pytest.approx(
        [0.02, 0.06, 0.06, 0.004]
    )
    assert stats.shaffer([0.03, 0.2], pairs=1) == [0.03, 0.2]


def test_a_family_of_null_comparisons_keeps_its_error_rate():
    """Cells with no true difference and cells exactly at the margin, tested together: the
    family makes some false claim in ≤ 5% (+ 2 Monte-Carlo s.e.) of 600 simulated studies."""
    rng = np.random.default_rng(11)
    margin, studies, false_claims = 0.01, 400, 0
    for _ in range(studies):
        truths = [0.0, 0.0, margin, -margin]
        found = []
        for truth in truths:
            values = truth + rng.normal(0, 0.01, 4)  # 4 seeds, seeds-only t test
            found.append(stats.seeds_only(values))
        outcomes = [v.outcome for v in stats.verdicts(found, margin)]
        wrong = [o in (stats.DIFFERENT, stats.EQUIVALENT_DIFFERENT) for o in outcomes[:2]]
        wrong += [o in (stats.EQUIVALENT, stats.EQUIVALENT_DIFFERENT) for o in outcomes[2:]]
        false_claims += any(wrong)
    rate = false_claims / studies
    assert rate <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / studies)


def test_worse_than_best_adjusts_each_cell_then_holm():
    nan = math.nan
    p_better = np.array(
        [
            [nan, 0.001, 0.5],  # cell 0: cell 1 beats it with p 0.001, cell 2 does not
            [0.9, nan, 0.8],
            [0.2, 0.004, nan],
        ]
    )
    # per cell: 2 · min → 0.002, 1.0, 0.008; Holm over 3 cells → 0.006, 1.0, 0.016
    assert stats.worse_than_best(p_better) == pytest.approx([0.006, 1.0, 0.016])
    assert math.isnan(stats.worse_than_best(np.full((2, 2), nan))[0])
    # p_better: from a paired difference A − B, small when B is clearly better
    assert stats.p_better(estimate_of(-0.05, 0.01)) < 0.001
    assert stats.p_better(estimate_of(0.05, 0.01)) > 0.999
    assert math.isnan(stats.p_better(estimate_of(-0.05, 0.01, seeds=1)))


def mcb_family_error(studies: int, cells: int, seeds: int, rng: np.random.Generator) -> tuple:
    """Equal true cells, paired t tests over seeds: how often some cell is called worse than
    the best, by `worse_than_best` and by the old way (Holm against the observed best)."""
    ours = old = 0
    for _ in range(studies):
        values = rng.normal(0, 0.01, (cells, seeds))
        gaps = values[:, None, :] - values[None, :, :]  # [i, j]: cell i − cell j per seed
        t = gaps.mean(axis=2) / (gaps.std(axis=2, ddof=1) / math.sqrt(seeds) + np.eye(cells))
        p_better = sps.t.cdf(t, seeds - 1)  # [i, j]: j better than i
        np.fill_diagonal(p_better, math.nan)
        ours += any(q < 0.05 for q in stats.worse_than_best(p_better))
        best = int(values.mean(axis=1).argmax())
        against = [2 * sps.t.sf(abs(t[i, best]), seeds - 1) for i in range(cells) if i != best]
        old += any(q < 0.05 for q in stats.holm(against))
    return ours / studies, old / studies


def test_multiple_comparisons_with_the_best_account_for_picking_the_best():
    ours, old = mcb_family_error(studies=400, cells=10, seeds=3, rng=np.random.default_rng(2))
    assert ours <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / 400)
    assert old > 0.07  # the selection effect the procedure removes


def test_seed_planning_numbers():
    shrinking = [stats.detectable_difference(0.02, 0.0, n) for n in (2, 3, 5, 10, 50)]
    assert shrinking == sorted(shrinking, reverse=True)
    # without items: statsmodels' exact paired-t power, effect size × seed spread
    exact = TTestPower().solve_power(nobs=5, alpha=0.05, power=0.8)
    assert shrinking[2] == pytest.approx(exact * 0.02)
    # with an item part: simulated power of the test `combine` makes is 0.8 at the answer
    for n in (2, 3, 5, 10):
        delta = stats.detectable_difference(0.02, 0.005, n, n_items=353)
        assert stats.power(delta, 0.02, 0.005, n, 353) == pytest.approx(0.8, abs=0.002)
        assert stats.power(delta * 0.8, 0.02, 0.005, n, 353) < 0.75
    assert stats.detectable_difference(0.02, 0.01, 1000, 353) > 2.8 * 0.01  # items: a floor
    n = stats.seeds_needed(0.02, seed_sd=0.02, item_se=0.0)
    assert n is not None and stats.detectable_difference(0.02, 0.0, n) <= 0.02
    assert stats.detectable_difference(0.02, 0.0, n - 1) > 0.02
    assert stats.seeds_needed(0.01, seed_sd=0.02, item_se=0.01, n_items=353) is None


def test_the_planner_uses_the_tests_own_degrees_of_freedom():
    """When the benchmark items carry nearly all the variance, the paired test has many
    degrees of freedom even with two seeds (`combine`'s df), so it is nearly a z test and
    detects (z_0.975 + z_0.8) · SE with 80% power. A planner with n − 1 df on the whole SE
    (t_0.975 = 12.7 at 2 seeds) said 5× more; the bound on the seed part must not push it far
    from z either."""
    z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)
    for n in (2, 3, 5):
        se = math.sqrt(0.001**2 / n + 0.01**2)
        found = stats.detectable_difference(0.001, 0.01, n, n_items=2000)
        assert found == pytest.approx(z * se, rel=0.03), n


def test_format_interval():
    assert stats.format_interval(0.5123, 0.49, 0.5301) == "0.512 [0.490, 0.530]"
    assert stats.format_interval(math.nan, 0, 1) == "–"
    assert stats.format_interval(0.5, math.nan, math.nan) == "0.500"


def test_a_family_floors_each_seed_spread_at_its_median():
    """Two seeds whose accuracies tie give a zero seed spread, and with few items' variance a
    huge t: alone that comparison would be 'different'; in a family its spread is floored at
    the family's median, so the chance tie is not a claim."""

    def difference(value: float, seed_var: float) -> stats.Estimate:
        se = math.sqrt(seed_var / 2 + 1e-7)
        return stats.Estimate(value, value - 3 * se, value + 3 * se, se, 2.0, 2, 2000,
                              stats.SEEDS_AND_ITEMS, 0.0, seed_var, 1e-7)  # fmt: skip

    tie = difference(0.004, 0.0)
    family = [tie] + [difference(0.0, 4e-4) for _ in range(5)]
    floored = stats.pool_seed_spread(family)
    assert floored[0].seed_var == pytest.approx(4e-4) and floored[0].se > 0.01
    assert floored[1] is family[1]  # a spread at the median is kept as it is
    assert stats.verdicts(family, 0.01)[0].outcome == stats.INCONCLUSIVE
    assert stats.pool_seed_spread([tie]) == [tie]  # one comparison: nothing to pool
