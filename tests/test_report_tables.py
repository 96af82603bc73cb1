"""The report's formatted tables, value by value, on the synthetic study of synthetic_study.py."""

from __future__ import annotations

import pandas as pd
import pytest
from synthetic_study import runs_table, with_cores

from study.analyze.analysis import edge_warnings, throughput_table
from study.analyze.inference import StudyItems
from study.analyze.report import tables
from study.analyze.report.findings import Findings, assess_edges, find
from study.core.config import RunConfig
from study.store.results import ResultStore, RunRecord

WS, AN = "ws353_spearman", "analogy_acc"


@pytest.fixture
def runs() -> pd.DataFrame:
    return runs_table()


@pytest.fixture
def found(runs, tmp_path) -> Findings:
    """No per-item results here (no run folders): intervals are t over the two seeds."""
    return find(StudyItems(ResultStore(tmp_path), runs), runs, [WS, AN], margin=0.01)


def test_number_formats():
    assert tables.fmt_number(0.12345) == "0.123" and tables.fmt_number(float("nan")) == "–"
    assert tables.fmt_number(None) == "–" and tables.fmt_number(3) == "3"


HALF = 12.706 * 0.01  # t(0.975, 1 df) × SE of two seeds at ±0.01


def test_best_configs(found, runs):
    best = tables.best_configs(found, runs)
    first = best.iloc[0].to_dict()
    assert first["trainer"] == "torch" and first["metric"] == WS and first["seeds"] == 2
    assert first["best [95% CI]"] == f"0.600 [{0.6 - HALF:.3f}, {0.6 + HALF:.3f}]"
    assert first["config"] == "window=5, alpha=0.75"
    # the seed offsets are shared by every cell, so paired differences have no spread: every
    # other cell is significantly worse and none is tied
    assert first["tied with best"] == "0 of 5"
    assert list(best["trainer"]) == ["torch", "torch", "gensim", "gensim"]


def test_per_cell(found, runs):
    cells = tables.per_cell(found.intervals, runs, [WS])
    assert list(cells.columns) == ["trainer", "window", "alpha", WS, "n"]
    row = cells.iloc[0].to_dict()
    assert (row["trainer"], row["window"], row["alpha"], row["n"]) == ("torch", "2", "0.5", 2)
    assert row[WS] == f"0.250 [{0.25 - HALF:.3f}, {0.25 + HALF:.3f}]"
    assert len(cells) == 12 and list(cells["trainer"][:6]) == ["torch"] * 6


def test_trainer_deltas(found):
    deltas = tables.trainer_deltas(found.pairs)
    assert list(deltas.columns) == ["window", "alpha", "metric", "seeds", "torch [95% CI]",
                                    "gensim [95% CI]", "Δ [95% CI]", "p difference",
                                    "p equivalence", "outcome"]  # fmt: skip
    row = deltas.iloc[1].to_dict()
    assert (row["window"], row["alpha"], row["metric"], row["seeds"]) == ("2", "0.75", WS, 2)
    assert row["Δ [95% CI]"] == "-0.020 [-0.020, -0.020]"  # the same Δ in both seeds
    assert row["outcome"] == "different" and row["p difference"] == "<0.001"
    assert row["p equivalence"] == "1.000"  # |Δ| = 0.02 is outside ±0.01
    assert len(deltas) == 12  # 6 cells × 2 metrics


def test_edges_say_whether_the_edge_is_significantly_better(found, runs):
    """Every other cell is significantly worse here (the seed offsets cancel), so each edge
    value beats the others; with a cell at another value tied, it does not."""
    assessed = assess_edges(found, edge_warnings(runs))
    window = next(w for w in assessed if (w.trainer, w.metric, w.field) == ("torch", WS, "window"))
    assert window.significant and "significantly better than every other value" in str(window)
    assert tables.edge_table([window]).iloc[0]["significantly better than the others"] == "yes"
    best = next(b for b in found.best if (b.trainer, b.metric) == ("torch", WS))
    other = next(v for v in best.others if v.cell["window"] == 2)
    other.p_worse = 0.5  # now tied with the best
    again = next(w for w in assess_edges(found, [window]))
    assert again.significant is False and again.tied_values == (2,)
    assert "not significantly better than window=2" in str(again)
    cell = tables.edge_table([again]).iloc[0]["significantly better than the others"]
    assert cell == "no: window=2 tied with the best"


def test_seed_table(found):
    seeds = tables.seed_table(found.seeds)
    assert list(seeds["metric"]) == [WS, AN]
    assert seeds.iloc[0]["SD of one seed's Δ"] == "0.0000"  # shared offsets cancel


def test_edge_speed_and_failed_tables(runs):
    edges = tables.edge_table(edge_warnings(runs))
    assert edges.iloc[0].to_dict() == {"trainer": "torch", "metric": WS, "hyperparameter": "window",
                                       "best value": "5", "values tried": "2, 5",
                                       "significantly better than the others": "–"}  # fmt: skip
    speed = tables.speed_table(throughput_table(runs)).set_index("trainer")
    assert speed.loc["torch", "words/s mean"] == "1,050" and speed.loc["gensim", "runs"] == 12
    by_cores = tables.speed_table(throughput_table(with_cores(runs)))
    torch_2 = by_cores[(by_cores["trainer"] == "torch") & (by_cores["cores"] == "2")].iloc[0]
    assert torch_2["words/s per core"] == "500" and torch_2["× gensim, same cores"] == "0.33×"
    assert torch_2["× gensim per core"] == "0.33×"
    assert by_cores[by_cores["trainer"] == "gensim"].iloc[0]["× gensim, same cores"] == "–"
    failed = tables.failed_runs(runs)
    assert list(failed["run_id"]) == ["torch-failed", "gensim-pruned"]
    assert list(failed["status"]) == ["failed", "pruned"]
    assert failed.iloc[0][["window", "alpha", "seed"]].tolist() == ["5", "1", "2"]
    assert failed.iloc[0]["error"] == "DivergenceError: nan"


def test_provenance_table_lists_distinct_values():
    def record(seed: int, date: str, host: str) -> RunRecord:
        trainer = {"cpu_path": "processes", "worker_cpu_seconds": seed + 1.5}  # timings differ
        prov = {"date": date, "host": host, "versions": {"torch": "2.13.0"}, "seeds": {},
                "trainer": trainer}  # fmt: skip
        return RunRecord(RunConfig(seed=seed), {"status": "done", "provenance": prov})

    table = tables.provenance_table(
        [record(1, "2025-01-02", "a"), record(0, "2025-01-01", "b"), record(0, "2025-01-03", "a")]
    )
    assert table.to_dict("records") == [
        {"key": "dates", "value": "2025-01-01 … 2025-01-03"},
        {"key": "host", "value": "a; b"},
        {"key": "trainer", "value": "{'cpu_path': 'processes'}"},  # one path, not one per run
        {"key": "torch version", "value": "2.13.0"},
        {"key": "seeds", "value": "0, 1"},
    ]
