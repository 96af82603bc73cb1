"""A study that sweeps an optional field to None (max_vocab=300,none): 'none' is a value of its
own in cells, selections, figures and the report, where pandas would drop a missing value or
never match it (the report crashed with KeyError <NA>; compare --b max_vocab=none matched nothing).
"""

from __future__ import annotations

import pandas as pd
from synthetic_store import build_store

from study.analyze import analysis
from study.analyze.figures.params import metric_params_data
from study.analyze.report import build_report
from study.cli.app import main
from study.store.results import load_table

# planted: the alpha=0.5 quality (better) at max_vocab=None, the alpha=1.0 quality at 300
SWEPT = ("max_vocab", {0.5: None, 1.0: 300})


def test_none_is_a_value_of_its_own_only_where_the_field_is_swept():
    runs = pd.DataFrame({"max_vocab": pd.array([300, None, 1000], dtype="Int64"), "m": [1, 2, 3]})
    shown = analysis.none_as_value(runs)
    assert shown["max_vocab"].tolist() == [300, "none", 1000]
    assert analysis.sorted_values(shown["max_vocab"]) == [300, 1000, "none"]
    assert analysis.sorted_by(shown, "max_vocab")["m"].tolist() == [1, 3, 2]
    for table in (runs, shown):  # none selects the missing value before and after
        assert analysis.select(table, {"max_vocab": None})["m"].tolist() == [2]
        assert analysis.select(table, {"max_vocab": 300})["m"].tolist() == [1]
    unswept = pd.DataFrame({"max_vocab": pd.array([None, None], dtype="Int64")})
    assert analysis.none_as_value(unswept)["max_vocab"].dtype == "Int64"


def test_a_study_sweeping_max_vocab_to_none_reports_and_compares(tmp_path, capsys):
    store = build_store(tmp_path, seeds=3, trainers=("torch",), swept=SWEPT)
    runs = analysis.none_as_value(load_table(store, save=False)[0])
    assert analysis.cell_fields(runs) == ["trainer", "max_vocab"]
    (panel,) = metric_params_data(runs, ["ws353_spearman"], ["max_vocab"])[0]
    assert panel.values == [300, "none"] and not panel.numeric
    (line,) = panel.lines
    assert line.best.index.tolist() == [300, "none"] and line.best_x == [0, 1]

    report = build_report(store.root, tmp_path / "out")
    per_cell = next(t for t in report.tables if t.title.startswith("Per-cell"))
    assert per_cell.frame["max_vocab"].tolist() == ["300", "none"]
    best = next(t for t in report.tables if t.title.startswith("Best configurations"))
    assert set(best.frame["config"]) == {"max_vocab=none"}  # planted better
    assert any(f.path.name == "metric_vs_params.png" for f in report.figures)

    argv = ["compare", str(store.root), "--a", "max_vocab=none", "--b", "max_vocab=300"]
    assert main([*argv, "--metric", "ws353_spearman"]) == 0
    out = capsys.readouterr().out
    (row,) = [line for line in out.splitlines() if line.startswith("ws353_spearman")]
    assert row.split()[-1] == "different" and "+0." in row  # A (none) is the better cell
