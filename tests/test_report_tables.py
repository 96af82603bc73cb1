"""The report's formatted tables, value by value, on the synthetic study of synthetic_study.py."""

from __future__ import annotations

import pandas as pd
import pytest
from synthetic_study import runs_table, with_cores

from study.analysis import edge_warnings, throughput_table
from study.config import RunConfig
from study.report import tables
from study.results import RunRecord

WS, AN = "ws353_spearman", "analogy_acc"


@pytest.fixture
def runs() -> pd.DataFrame:
    return runs_table()


def test_number_formats():
    assert tables.fmt_number(0.12345) == "0.123" and tables.fmt_number(float("nan")) == "–"
    assert tables.fmt_number(None) == "–" and tables.fmt_number(3) == "3"
    assert tables.mean_std(0.5, 0.01) == "0.500 ± 0.010"
    assert tables.mean_std(0.5, float("nan")) == "0.500" and tables.mean_std(float("nan"), 0) == "–"


def test_best_configs(runs):
    best = tables.best_configs(runs, [WS, AN])
    assert best.to_dict("records") == [
        {"trainer": "torch", "metric": WS, "best (mean ± std)": "0.600 ± 0.010", "seeds": 2,
         "config": "window=5, alpha=0.75"},
        {"trainer": "torch", "metric": AN, "best (mean ± std)": "0.250 ± 0.000", "seeds": 2,
         "config": "window=5, alpha=1"},
        {"trainer": "gensim", "metric": WS, "best (mean ± std)": "0.620 ± 0.010", "seeds": 2,
         "config": "window=5, alpha=0.75"},
        {"trainer": "gensim", "metric": AN, "best (mean ± std)": "0.240 ± 0.000", "seeds": 2,
         "config": "window=5, alpha=1"},
    ]  # fmt: skip


def test_per_cell(runs):
    cells = tables.per_cell(runs, [WS])
    assert list(cells.columns) == ["trainer", "window", "alpha", WS, "n"]
    assert cells.iloc[0].to_dict() == {"trainer": "torch", "window": "2", "alpha": "0.5",
                                       WS: "0.250 ± 0.010", "n": 2}  # fmt: skip
    assert len(cells) == 12 and list(cells["trainer"][:6]) == ["torch"] * 6


def test_trainer_deltas(runs):
    deltas = tables.trainer_deltas(runs, [WS])
    assert list(deltas.columns) == ["window", "alpha", f"{WS} torch", f"{WS} gensim", f"{WS} Δ"]
    assert deltas.iloc[1].to_dict() == {"window": "2", "alpha": "0.75", f"{WS} torch": "0.500",
                                        f"{WS} gensim": "0.520", f"{WS} Δ": "-0.020"}  # fmt: skip
    assert tables.trainer_deltas(runs[runs["trainer"] == "torch"], [WS]).empty


def test_edge_speed_and_failed_tables(runs):
    edges = tables.edge_table(edge_warnings(runs))
    assert edges.iloc[0].to_dict() == {"trainer": "torch", "metric": WS, "hyperparameter": "window",
                                       "best value": "5", "values tried": "2, 5"}  # fmt: skip
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
        prov = {"date": date, "host": host, "versions": {"torch": "2.13.0"}, "seeds": {}}
        return RunRecord(RunConfig(seed=seed), {"status": "done", "provenance": prov})

    table = tables.provenance_table(
        [record(1, "2025-01-02", "a"), record(0, "2025-01-01", "b"), record(0, "2025-01-03", "a")]
    )
    assert table.to_dict("records") == [
        {"key": "dates", "value": "2025-01-01 … 2025-01-03"},
        {"key": "host", "value": "a; b"},
        {"key": "torch version", "value": "2.13.0"},
        {"key": "seeds", "value": "0, 1"},
    ]
