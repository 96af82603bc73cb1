"""Smoke tests of the benchmark scripts: tiny settings, real trainers, checked JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import _common  # noqa: E402
import bench_grid  # noqa: E402
import bench_overhead  # noqa: E402
import bench_scaling  # noqa: E402
import bench_staleness  # noqa: E402
import bench_throughput  # noqa: E402

from study.data.vocab import load_corpus  # noqa: E402

HEADER = {"benchmark", "device", "date", "machine", "versions", "load_average_before_after"}


def read_report(path: Path, benchmark: str) -> dict[str, Any]:
    report = json.loads(path.read_text())
    assert HEADER | {"config"} <= set(report)
    assert report["benchmark"] == benchmark
    assert report["device"] in {"cpu", "cuda"}
    assert report["machine"]["cpu_cores"] >= 1 and report["machine"]["cpu"]
    assert {"torch", "gensim", "numpy", "python", "cuda", "triton"} <= set(report["versions"])
    loads = report["load_average_before_after"]
    assert len(loads["before"]) == 3 and len(loads["after"]) == 3
    return report


def test_truncated_and_repeated_keep_sentences_consistent(planted_corpus_file: Path) -> None:
    corpus = load_corpus(str(planted_corpus_file))
    cut = _common.truncated(corpus, 1234)
    assert cut.n_words == 1234 and cut.sentence_starts[-1] == 1234
    assert np.all(np.diff(cut.sentence_starts) > 0)
    np.testing.assert_array_equal(cut.ids, corpus.ids[:1234])
    assert cut.vocab is corpus.vocab
    twice = _common.repeated(cut, 3)
    assert twice.n_words == 3 * 1234 and twice.sentence_starts[-1] == 3 * 1234
    assert len(twice.sentence_starts) == 3 * (len(cut.sentence_starts) - 1) + 1
    np.testing.assert_array_equal(twice.ids[1234:2468], cut.ids)
    assert _common.truncated(corpus, None) is corpus


def test_throughput(planted_corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "throughput.json"
    argv = ["--corpus", str(planted_corpus_file), "--max-words", "4000", "--dims", "8",
            "--negatives", "2", "--warmup-words", "500", "--busy", "1", "--threads-too",
            "--out", str(out)]  # fmt: skip
    bench_throughput.main(argv)
    report = read_report(out, "throughput")
    busy = report["busy_processes"]
    assert busy["count"] == 1 and len(busy["pids"]) == 1
    assert not Path(f"/proc/{busy['pids'][0]}").exists()  # stopped with the measurement
    assert report["corpus"]["words"] == 4000
    (case,) = report["cases"]
    assert case["dim"] == 8 and case["negative"] == 2
    cores = report["machine"]["cpu_cores"]
    assert report["commit"] is None or len(report["commit"].removesuffix("+dirty")) == 40
    if report["device"] == "cpu":  # torch with workers=n (and n threads) beside gensim's n
        expected = {"torch-cpu-1t", "gensim-1w", f"gensim-{cores}w"}
        if cores > 1:
            expected |= {f"torch-cpu-{cores}p", f"torch-cpu-{cores}t"}
    else:
        expected = {"torch-cuda", f"gensim-{cores}w", "gensim-1w"}
    assert set(case["runs"]) == expected
    for run in case["runs"].values():
        assert run["words"] == 4000 and run["repeats"] == 1
        assert run["words_per_sec"] > 0 and run["pairs_per_sec"] > 0
        assert run["words_per_sec_median"] == run["words_per_sec"]
        assert "ws353_spearman" in run["quality"] and "analogy_acc" in run["quality"]
    assert case["ratios"] and all(r > 0 for r in case["ratios"].values())
    if report["device"] == "cpu":
        same = {(row["cores"], row["cpu_path"]): row for row in case["same_cores"]}
        paths = {(1, "threads")} | (
            {(cores, "processes"), (cores, "threads")} if cores > 1 else set()
        )
        assert set(same) == paths
        one = same[1, "threads"]
        runs = case["runs"]
        assert (
            one["ratio"]
            == runs["torch-cpu-1t"]["words_per_sec"] / runs["gensim-1w"]["words_per_sec"]
        )
        assert runs["torch-cpu-1t"]["trainer_info"]["cpu_threads"] == 1
        assert runs["gensim-1w"]["trainer_info"]["workers"] == 1
        if cores > 1:  # same seed, 1 vs all threads: the same vectors
            assert case["torch_identical_across_threads"] is True
            assert runs[f"torch-cpu-{cores}p"]["trainer_info"]["cpu_workers"] == cores
            assert same[cores, "processes"]["ratio_per_cpu_second"] > 0  # workers' CPU counted


def test_staleness(planted_corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "staleness.json"
    argv = ["--corpus", str(planted_corpus_file), "--epochs", "2", "--cases",
            "1:64:1,2:32:W", "--out", str(out)]  # fmt: skip
    bench_staleness.main(argv)
    one, two = read_report(out, "staleness")["cases"]
    assert (one["workers"], one["batch"], one["cap"]) == (1, 64, 1.0)
    assert (two["workers"], two["batch"], two["cap"]) == (2, 32, 0.5)
    assert len(one["losses"]) == 2 and one["losses"][-1] < one["losses"][0]
    assert "ws353_spearman" in two


def test_scaling(planted_corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "scaling.json"
    argv = ["--corpus", str(planted_corpus_file), "--max-words", "3000", "--repeats", "1,2",
            "--vocab-caps", "10,0", "--dim", "8", "--trials", "1", "--warmup-words", "500",
            "--out", str(out)]  # fmt: skip
    bench_scaling.main(argv)
    report = read_report(out, "scaling")
    size = report["axes"]["corpus_size"]["torch"]
    assert [row["words"] for row in size] == [3000, 6000]
    vocab = report["axes"]["vocabulary"]["torch"]
    assert vocab[0]["vocab"] == 10 < vocab[1]["vocab"]
    assert vocab[0]["words"] == vocab[1]["words"]  # same work for every cap
    for row in size + vocab:
        assert row["words_per_sec"] > 0 and row["seconds_per_word_ratio"] > 0
    assert size[0]["seconds_per_word_ratio"] == pytest.approx(1.0)


def test_grid_quick(planted_corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "grid.json"
    argv = ["--quick", "--set", f"corpus={planted_corpus_file}", "dim=8", "probe_pairs=256",
            "--out", str(out)]  # fmt: skip
    bench_grid.main(argv)
    report = read_report(out, "grid_quick")
    figures = report["figures"]
    assert figures["runs"] == 2 and figures["counts"]["done"] == 2
    assert figures["wall_seconds"] > 0 and figures["train_seconds_mean"] > 0
    projection = figures["projection"]
    assert projection["full_grid_runs"] == 135 and projection["full_grid_epochs"] == 5
    assert projection["full_grid_seconds"] > figures["wall_seconds"]
    assert "PROJECTION" in projection["label"]


def test_overhead(planted_corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "overhead.json"
    bench_overhead.main(["--corpus", str(planted_corpus_file), "--dim", "8", "--repeats", "1",
                         "--device", "cpu", "--out", str(out)])  # fmt: skip
    figures = read_report(out, "overhead")["figures"]
    for piece in ("evaluation", "vectors_bin", "probe_setup_again", "alias_table", "items_npz"):
        assert figures[f"{piece}_seconds"] > 0, piece
    assert figures["probe_setup_first_seconds"] > 0


def test_commit_comes_from_git_or_is_passed_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy of the tree without .git (a GPU machine) records the commit passed in."""
    monkeypatch.setattr(_common, "ROOT", tmp_path)
    monkeypatch.delenv("W2V_COMMIT", raising=False)
    assert _common.git_commit() is None
    monkeypatch.setenv("W2V_COMMIT", "0123abc")
    assert _common.git_commit() == "0123abc"
    assert _common.report_header("x", "cpu", {})["commit"] == "0123abc"


def test_stats_calibration_runs_every_procedure_on_tiny_settings(tmp_path: Path) -> None:
    """bench_stats's procedures on a handful of simulated studies: every row has its rate,
    Monte-Carlo s.e. and target, and the truths the models compute are what they simulate."""
    import bench_stats

    model = bench_stats.MODELS[2]  # accuracy, small seed effect
    truth = model.truth(model.reference)
    assert model.truth(model.quality_at(truth - 0.01)) == pytest.approx(truth - 0.01)
    rows = bench_stats.intervals_and_compare(model, reps=3, n_resamples=40, seed=0)
    rows += bench_stats.ties_with_the_best(model, reps=2, n_resamples=40, seed=0, half_worse=True)
    rows += bench_stats.trainer_family(model, reps=2, n_resamples=40, seed=0)
    few = bench_stats.few_items(reps=2, n_resamples=40, seed=0)
    assert all(r["rate"] == 0 and r["pass"] for r in few if r["target"] == "0")  # under 20
    rows += few
    procedures = {r["procedure"] for r in rows}
    assert {"cell interval coverage", "compare verdict from one seed",
            "ties with the best: false 'worse' (family-wise)",
            "torch vs gensim: any false claim (family-wise)"} <= procedures  # fmt: skip
    for row in rows:
        assert 0 <= row["rate"] <= 1 and row["mc_se"] > 0 and row["target"]
    one_seed = [r for r in rows if r["procedure"] == "compare verdict from one seed"]
    assert one_seed[0]["rate"] == 0 and one_seed[0]["pass"]
    assert bench_stats.check("coverage in [0.93, 0.97]", 0.915, 0.01)  # within 2 s.e.
    assert not bench_stats.check("coverage in [0.93, 0.97]", 0.99, 0.005)
    assert not bench_stats.check("≤ 0.05", 0.09, 0.01)
