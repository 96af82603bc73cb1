"""The analysis tables, value by value, on small synthetic studies with planted metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synthetic_study import SEED_OFFSET, planted_analogy, planted_ws353, runs_table, with_cores

from study.analyze import analysis

WS = "ws353_spearman"
AN = "analogy_acc"


@pytest.fixture
def runs() -> pd.DataFrame:
    return runs_table()


def test_value_helpers():
    assert analysis.fmt_value(0.75) == "0.75" and analysis.fmt_value(1e-5) == "1e-05"
    assert analysis.fmt_value(np.float32(0.5)) == "0.5" and analysis.fmt_value(5) == "5"
    assert analysis.where_text({"alpha": 1.0, "window": 5}) == "alpha=1, window=5"
    assert analysis.sorted_values(pd.Series([1.0, 0.5, None, 0.5])) == [0.5, 1.0]
    assert analysis.sorted_values(pd.Series(["b", 1, "a"])) == [1, "a", "b"]  # by text
    table = pd.DataFrame({"trainer": ["x", "gensim", "torch", "a", "gensim"]})
    assert analysis.trainers(table) == ["torch", "gensim", "a", "x"]
    assert analysis.trainers(pd.DataFrame({"alpha": [1]})) == ["torch"]
    frame = pd.DataFrame({"a": [1, 1, 2], "b": [3, 4, 3]})
    assert analysis.select(frame, {"a": 1, "b": 4}).index.tolist() == [1]


def test_runs_fields_and_metrics(runs):
    assert len(analysis.done_runs(runs)) == 24
    assert set(analysis.done_runs(runs)["status"]) == {"done"}
    # RunConfig's field order (window before alpha); not seed, trainer, negative, device
    assert analysis.swept_fields(runs) == ["window", "alpha"]
    assert analysis.cell_fields(runs) == ["trainer", "window", "alpha"]
    assert analysis.available_metrics(runs) == [WS, AN]  # simlex: NaN in every done run


def test_cell_table_means_spreads_and_counts(runs):
    cells = analysis.cell_table(runs, [WS, AN])
    assert len(cells) == 12
    assert list(cells["trainer"]) == ["torch"] * 6 + ["gensim"] * 6
    assert list(cells.columns) == ["trainer", "window", "alpha", WS, AN, f"{WS}_std", f"{AN}_std",
                                   "n"]  # fmt: skip
    for cell in cells.itertuples():
        key = (cell.trainer, cell.alpha, cell.window)
        assert getattr(cell, WS) == pytest.approx(planted_ws353(*key))
        assert getattr(cell, f"{WS}_std") == pytest.approx(SEED_OFFSET[1])  # ddof=0
        assert getattr(cell, AN) == pytest.approx(planted_analogy(*key))
        assert getattr(cell, f"{AN}_std") == pytest.approx(0.0)
        assert cell.n == 2  # the failed and pruned runs are not counted


def test_best_cell_overall_and_per_trainer(runs):
    best = analysis.best_cell(runs, WS)
    assert (best["trainer"], best["alpha"], best["window"]) == ("gensim", 0.75, 5)
    assert best[WS] == pytest.approx(0.62)
    torch = analysis.best_cell(runs, WS, trainer="torch")
    assert (torch["alpha"], torch["window"], torch[WS]) == (0.75, 5, pytest.approx(0.6))
    assert analysis.best_cell(runs, "simlex_spearman") is None


def test_held_fixed_is_the_best_cell_or_the_lowest_values(runs):
    assert analysis.held_fixed(runs, "alpha", WS) == {"window": 5}
    assert analysis.held_fixed(runs, "window", AN) == {"alpha": 1.0}
    assert analysis.held_fixed(runs, "window", "simlex_spearman") == {"alpha": 0.5}
    assert analysis.held_fixed(runs[runs["window"] == 2], "alpha", WS) == {}


def test_failed_by_value_counts_failed_runs_at_the_fixed_values(runs):
    assert analysis.failed_by_value(runs, {"window": 5}, "alpha") == {"torch": "alpha=1 (1)"}
    assert analysis.failed_by_value(runs, {"window": 2}, "alpha") == {}  # pruned is not failed


def test_best_per_value_and_edges():
    cells = pd.DataFrame({"alpha": [0.5, 0.5, 1.0, 1.0], "m": [0.1, 0.3, 0.2, np.nan]})
    assert analysis.best_per_value(cells, "alpha", "m").to_dict() == {0.5: 0.3, 1.0: 0.2}
    values = [0.5, 0.75, 1.0]
    assert analysis.best_at_edge(pd.Series({0.5: 0.1, 0.75: 0.2, 1.0: 0.3}), values) == 1.0
    assert analysis.best_at_edge(pd.Series({0.5: 0.3, 0.75: 0.2, 1.0: 0.1}), values) == 0.5
    assert analysis.best_at_edge(pd.Series({0.5: 0.1, 0.75: 0.3, 1.0: 0.2}), values) is None
    assert analysis.best_at_edge(pd.Series({0.5: 0.3, 0.75: 0.3, 1.0: 0.1}), values) is None
    assert analysis.best_at_edge(pd.Series({0.5: 0.3}), [0.5]) is None


def test_edge_warnings_per_trainer_metric_and_field(runs):
    found = [(w.trainer, w.metric, w.field, w.value) for w in analysis.edge_warnings(runs)]
    per_trainer = [(WS, "window", 5), (AN, "window", 5), (AN, "alpha", 1.0)]
    assert found == [("torch", *w) for w in per_trainer] + [("gensim", *w) for w in per_trainer]
    text = str(analysis.edge_warnings(runs)[2])
    assert text.startswith("torch: best analogy_acc at the highest alpha tried (alpha=1 of 0.5,")


def test_trainer_pairs_join_cells_of_both_trainers(runs):
    pairs = analysis.trainer_pairs(runs, [WS])
    assert list(pairs.columns) == ["window", "alpha", f"{WS}_torch", f"{WS}_gensim", f"{WS}_delta"]
    assert list(zip(pairs["window"], pairs["alpha"], strict=True)) == [
        (w, a) for w in [2, 5] for a in [0.5, 0.75, 1.0]
    ]
    np.testing.assert_allclose(pairs[f"{WS}_delta"], -0.02)
    expected = [planted_ws353("torch", a, w) for a, w in pairs[["alpha", "window"]].to_numpy()]
    np.testing.assert_allclose(pairs[f"{WS}_torch"], expected)
    assert analysis.trainer_pairs(runs[runs["trainer"] == "torch"], [WS]).empty
    one_cell = runs[(runs["alpha"] == 0.75) & (runs["window"] == 5)]  # nothing swept
    single = analysis.trainer_pairs(one_cell, [WS])
    assert len(single) == 1 and single[f"{WS}_delta"].iloc[0] == pytest.approx(-0.02)


def test_every_other_trainer_is_paired_with_the_baseline(runs):
    third = runs[runs["trainer"] == "torch"].assign(trainer="w2v-c")  # a trainer the tables
    both = pd.concat([runs, third], ignore_index=True)  # have never heard of
    assert analysis.challengers(both) == ["torch", "w2v-c"]
    pairs = analysis.trainer_pairs(both, [WS], "w2v-c")
    assert list(pairs.columns) == ["window", "alpha", f"{WS}_w2v-c", f"{WS}_gensim", f"{WS}_delta"]
    np.testing.assert_allclose(pairs[f"{WS}_delta"], -0.02)
    flipped = analysis.trainer_pairs(runs, [WS], trainer="gensim", baseline="torch")
    np.testing.assert_allclose(flipped[f"{WS}_delta"], 0.02)
    assert analysis.challengers(runs, baseline="torch") == ["gensim"]
    assert analysis.challengers(runs[runs["trainer"] == "torch"]) == []  # no baseline runs
    ratios = analysis.throughput_table(with_cores(runs), baseline="torch")
    assert {"vs_torch", "vs_torch_per_core"} <= set(ratios.columns)


def test_throughput_table_per_trainer_and_device(runs):
    table = analysis.throughput_table(runs).set_index("trainer")
    assert list(table.index) == ["gensim", "torch"]  # groupby order
    assert table.loc["torch", "mean"] == pytest.approx(1050.0)
    assert table.loc["gensim", "min"] == 3000.0 and table.loc["gensim", "max"] == 3100.0
    assert table.loc["torch", "runs"] == 12
    assert table.loc["torch", "std"] == pytest.approx(np.std([1000, 1100] * 6, ddof=1))
    cuda = runs.copy()
    cuda.loc[cuda["seed"] == 1, "device"] = "cuda"
    by_device = analysis.throughput_table(cuda)
    assert list(by_device.columns[:2]) == ["trainer", "device"] and len(by_device) == 4
    assert analysis.throughput_table(runs.drop(columns="words_per_sec")).empty


def test_throughput_table_per_cores_with_ratios_to_gensim(runs):
    table = analysis.throughput_table(with_cores(runs)).set_index(["trainer", "cores"])
    assert list(table.index) == [("gensim", 2.0), ("torch", 1.0), ("torch", 2.0)]
    assert table.loc[("torch", 2.0), "mean"] == 1000.0 and table.loc[("torch", 1.0), "runs"] == 6
    assert table.loc[("torch", 1.0), "per_core"] == 1100.0
    assert table.loc[("torch", 2.0), "per_core"] == 500.0
    assert table.loc[("torch", 2.0), "vs_gensim"] == pytest.approx(1000 / 3050)
    assert np.isnan(table.loc[("torch", 1.0), "vs_gensim"])  # no gensim run on 1 core
    assert table.loc[("torch", 1.0), "vs_gensim_per_core"] == pytest.approx(1100 / 1525)
    assert table.loc[("torch", 2.0), "vs_gensim_per_core"] == pytest.approx(500 / 1525)
    assert table.loc[("gensim", 2.0), ["vs_gensim", "vs_gensim_per_core"]].isna().all()
    # GPU runs and runs stored before cores were recorded: their own row, cores NaN
    unknown = with_cores(runs)
    unknown.loc[unknown["trainer"] == "torch", "cores"] = np.nan
    rows = analysis.throughput_table(unknown)
    assert len(rows) == 2 and rows["vs_gensim"].isna().all()
    assert rows.loc[rows["trainer"] == "torch", "mean"].item() == pytest.approx(1050.0)


def test_sweep_models_reference_first_where_the_sweep_is_complete(runs):
    sweep, where = analysis.sweep_models(runs, "alpha", "torch")
    assert where == {"trainer": "torch", "seed": 0, "window": 5}  # best torch cell's window
    assert list(sweep["alpha"]) == [0.75, 0.5, 1.0]  # reference α=0.75 first
    holed = runs[runs["run_id"] != "torch-0.5-5-0"]  # window=5 misses a value at seed 0
    sweep, where = analysis.sweep_models(holed, "alpha", "torch")
    assert where["window"] == 2 and list(sweep["alpha"]) == [0.75, 0.5, 1.0]
    sweep, where = analysis.sweep_models(runs, "window", "nonexistent", seed=1)
    assert where == {"trainer": "torch", "seed": 1, "alpha": 0.75} and list(sweep["window"]) == [
        2,
        5,
    ]
    sweep, where = analysis.sweep_models(runs, "alpha", "gensim", where={"window": 2})
    assert where == {"window": 2, "trainer": "gensim", "seed": 0}
    assert list(sweep["run_id"]) == ["gensim-0.75-2-0", "gensim-0.5-2-0", "gensim-1.0-2-0"]


def test_most_complete_sweep_prefers_complete_then_best():
    runs = runs_table(failed=False)
    pool = runs[(runs["trainer"] == "gensim") & (runs["seed"] == 0)]
    assert analysis.most_complete_sweep(runs, pool, "alpha", ["window"], "gensim", WS) == {
        "window": 5
    }
    assert (
        analysis.most_complete_sweep(runs, pool.iloc[0:0], "alpha", ["window"], "gensim", WS) == {}
    )
