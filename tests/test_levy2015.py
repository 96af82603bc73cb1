"""The Levy et al. (2015) literature check's parts: the `levy2015` preset, and w vs w+c as a
paired comparison inside each run (`compare ... vectors=w+c`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from study.cli.app import main
from study.core.config import RunConfig
from study.evaluate.items import PairItems, RunItems
from study.evaluate.stats import spearman_rows
from study.store.results import STATUS_DONE, ResultStore


def test_preset_is_the_papers_sgns_grid(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["grid", "--preset", "levy2015", "--dry-run", "--set", "dim=100", "epochs=3"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "54 runs"  # 2 alpha x 3 negative x 3 window x 3 seeds
    configs = [RunConfig.from_dict(json.loads(line.split(" ", 1)[1])) for line in lines[:-1]]
    assert {(c.model, c.objective, c.dim, c.epochs, c.trainer) for c in configs} == {
        ("sg", "ns", 100, 3, "torch")
    }
    assert {c.alpha for c in configs} == {0.75, 1.0}
    assert {c.negative for c in configs} == {1, 5, 15}
    assert {c.window for c in configs} == {2, 5, 10}
    assert {c.seed for c in configs} == {0, 1, 2}


def test_preset_refuses_fewer_than_three_seeds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grid", "--preset", "levy2015", "--dry-run", "--seeds", "0,1"]) == 2
    assert "needs at least 3 seeds" in capsys.readouterr().err


def _store(root: Path) -> ResultStore:
    """Two cells (window 2, 5) x 3 seeds; w+c's cosines are closer to the gold than w's."""
    store = ResultStore(root / "wc")
    gold = np.random.default_rng(1).uniform(0, 10, 300)
    for window in (2, 5):
        for seed in range(3):
            config = RunConfig().with_overrides({"window": window, "seed": seed, "epochs": 1})
            rng = np.random.default_rng([seed, window])
            w = gold + rng.normal(0, 6, gold.size)
            wc = gold + rng.normal(0, 3, gold.size)
            items = RunItems({"men": PairItems(gold, w), "men_wc": PairItems(gold, wc)})
            metrics = {
                "men_spearman": float(spearman_rows(gold, w)),
                "men_wc_spearman": float(spearman_rows(gold, wc)),
                "men_coverage": 1.0,
            }
            store.start_run(config)
            store.write_items(config.run_id, items)
            store.finish_run(config, {"status": STATUS_DONE, "metrics": metrics, "seconds": 1.0})
    return store


def test_compare_w_plus_c_with_w_inside_the_same_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _store(tmp_path)
    argv = ["compare", str(store.root), "--a", "vectors=w+c", "--b", "vectors=w"]
    assert main([*argv, "--where", "window=5"]) == 0
    out = capsys.readouterr().out
    assert "A: trainer=torch, window=5, vectors=w+c  (seeds 0, 1, 2)" in out
    assert "B: trainer=torch, window=5, vectors=w  (seeds 0, 1, 2)" in out
    (row,) = [line for line in out.splitlines() if line.startswith("men_spearman")]
    diff = float(row.split()[7])  # metric, A [low, high], B [low, high], then A − B
    runs = [r for r in store.finished_runs() if r.config.window == 5]
    expected = np.mean(
        [r.result["metrics"]["men_wc_spearman"] - r.result["metrics"]["men_spearman"] for r in runs]
    )
    assert diff == pytest.approx(expected, abs=5e-4) and diff > 0.1
    assert "different" in row  # a large planted gain, resolved by 3 seeds x 300 pairs
    # the same cell and the same vectors is no comparison; a bad vectors value is one line
    assert main([*argv[:3], "vectors=w", "--b", "vectors=w", "--where", "window=5"]) == 2
    assert "select the same cell" in capsys.readouterr().err
    assert main([*argv[:3], "vectors=c", "--b", "window=2", "--where", "seed=0"]) == 2
    assert "choose w or w+c" in capsys.readouterr().err
