"""Study-level statistics on a synthetic study with planted truth: cell intervals, ties with the
best, torch vs gensim equivalence, `study compare` and the report's intervals and conclusions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from synthetic_store import build_store, run_items

from study import inference
from study.cli import main
from study.errors import StudyError
from study.items import RunItems, metric_scores
from study.report import build_report
from study.results import load_table
from study.stats import EQUIVALENT, item_statistic


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory):
    store = build_store(tmp_path_factory.mktemp("inference"))
    runs, _ = load_table(store, save=False)
    return store, runs, inference.StudyItems(store, n_resamples=400)


def test_items_round_trip_and_recompute_the_stored_metrics(study):
    store, runs, _ = study
    run = runs.iloc[0]
    items = store.read_items(run["run_id"])
    assert isinstance(items, RunItems)
    again = RunItems.from_bytes(items.to_bytes())
    np.testing.assert_array_equal(again.pairs["ws353"].predicted, items.pairs["ws353"].predicted)
    np.testing.assert_array_equal(again.analogy.correct_add, items.analogy.correct_add)
    for metric in ["ws353_spearman", "analogy_acc"]:
        scores = metric_scores(items, metric)
        assert float(item_statistic(scores, *scores.arrays)) == pytest.approx(run[metric])
    sem = metric_scores(items, "analogy_sem_acc").arrays[0]
    assert np.isnan(sem[1000:]).all() and not np.isnan(sem[:100]).any()  # gram1 is syntactic
    assert (store.run_dir(run["run_id"]) / "items.npz").stat().st_size < 20_000  # compact


def test_cell_intervals_contain_the_cell_means(study):
    _, runs, items = study
    table = inference.cell_intervals(items, runs, ["ws353_spearman", "analogy_acc"])
    assert len(table) == 4
    for metric in ["ws353_spearman", "analogy_acc"]:
        assert (table[f"{metric}_low"] < table[metric]).all()
        assert (table[metric] < table[f"{metric}_high"]).all()
        assert set(table[f"{metric}_method"]) == {"seeds+items"}
    # the planted accuracy is inside every cell's interval
    for row in table.itertuples():
        planted = {0.5: 0.45, 1.0: 0.30}[row.alpha]
        assert row.analogy_acc_low - 0.03 < planted < row.analogy_acc_high + 0.03


def test_the_worse_alpha_is_significantly_worse_and_not_tied(study):
    _, runs, items = study
    best, estimate, others = inference.best_and_ties(items, runs, "analogy_acc", "torch")
    assert best["alpha"] == 0.5 and estimate.n_seeds == 3
    [other] = others
    assert other.cell["alpha"] == 1.0 and not inference.is_tied(other)
    assert other.difference.high < 0 and other.p_holm < 0.05


def test_torch_and_gensim_with_the_same_answers_are_equivalent(study):
    _, runs, items = study
    pairs = inference.trainer_comparison(items, runs, ["analogy_acc", "ws353_spearman"], 0.01)
    assert len(pairs) == 4
    for pair in pairs:
        d = pair.difference
        assert (d.value, d.low, d.high) == (0.0, 0.0, 0.0)
        assert pair.verdict == EQUIVALENT


def test_seed_planning_from_the_study(study):
    _, runs, items = study
    _, _, others = inference.best_and_ties(items, runs, "analogy_acc", "torch")
    row = inference.seed_planning([o.difference for o in others])
    assert row is not None and row["seed_sd"] > 0 and row["item_se"] >= 0
    assert row["detectable_2"] > row["detectable_10"]
    assert math.isinf(inference.seed_planning([]) or math.inf)


def test_resolve_cell_errors_name_the_problem(study):
    _, runs, _ = study
    cell, chosen = inference.resolve_cell(runs, ["trainer=torch"], ["alpha=0.5"], "--a")
    assert cell == {"trainer": "torch", "alpha": 0.5} and len(chosen) == 3
    with pytest.raises(StudyError, match=r"--a alpha=0.5 matches 2 cells \(trainer=torch; "):
        inference.resolve_cell(runs, [], ["alpha=0.5"], "--a")
    with pytest.raises(StudyError, match="matches no finished run"):
        inference.resolve_cell(runs, [], ["alpha=0.7"], "--b")
    with pytest.raises(StudyError, match="unknown"):
        inference.resolve_cell(runs, [], ["colour=red"], "--b")


def test_compare_command_prints_one_paired_comparison(study, capsys):
    store, _, _ = study
    argv = ["compare", str(store.root), "--where", "trainer=torch", "--a", "alpha=0.5",
            "--b", "alpha=1"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("analogy_acc"))
    assert "different" in line and "+0.1" in line  # planted: 0.45 vs 0.30
    assert "paired over seeds 0, 1, 2" in out
    assert main(["compare", str(store.root), "--a", "trainer=torch", "--b", "trainer=gensim",
                 "--where", "alpha=1"]) == 0  # fmt: skip
    assert "equivalent" in capsys.readouterr().out
    assert main(["compare", str(store.root), "--a", "alpha=0.5", "--b", "alpha=1"]) == 2
    assert "pin the others with --where" in capsys.readouterr().err


def test_report_shows_intervals_conclusions_and_seed_counts(study, tmp_path):
    store, _, _ = study
    report = build_report(store.root, tmp_path / "out")
    text = report.markdown_path.read_text()
    titles = [t.title for t in report.tables]
    assert "How many seeds?" in titles and "torch vs gensim per cell" in titles
    assert "## Conclusions" in text
    assert any("significantly worse wherever tried: alpha=1" in c for c in report.conclusions)
    assert any("equivalent in 2 of 2 cells" in c for c in report.conclusions)
    per_cell = next(t for t in report.tables if t.title.startswith("Per-cell"))
    assert all("[" in v for v in per_cell.frame["analogy_acc"])  # every metric with its interval


def test_runs_without_items_fall_back_to_seeds(tmp_path):
    store = build_store(tmp_path, seeds=3, trainers=("torch",), with_items=False)
    runs, _ = load_table(store, save=False)
    items = inference.StudyItems(store)
    table = inference.cell_intervals(items, runs, ["analogy_acc"])
    assert set(table["analogy_acc_method"]) == {"seeds"}
    assert run_items(0.5, 0).analogy is not None  # (the builder itself still makes items)


def test_a_damaged_items_file_is_a_warning_and_its_run_is_left_out(tmp_path, capsys, caplog):
    """It was a one-line error that stopped compare and report; now it is damage like any other
    run file's (tests/test_bad_input.py has every kind of it)."""
    store = build_store(tmp_path, seeds=2, trainers=("torch",))
    runs, _ = load_table(store, save=False)
    damaged = runs["run_id"].iloc[0]
    store.items_path(damaged).write_bytes(b"not a zip")
    argv = ["compare", str(store.root), "--a", "alpha=0.5", "--b", "alpha=1"]
    assert main(argv) == 0
    assert "Traceback" not in capsys.readouterr().err
    warned = [r.getMessage() for r in caplog.records if "damaged study file" in r.getMessage()]
    assert len(warned) == 1 and f"{damaged}/items.npz: not an .npz archive" in warned[0]
    assert damaged not in set(load_table(store)[0]["run_id"])
