"""The benchmark registry: every shipped set has its published item count and checksum, the new
sets score as computed by hand on a fixture vectors file (w and w+c), a run reports every
chosen benchmark's coverage, and old items.npz files stay readable."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from study.cli.app import main
from study.evaluate import benchmarks
from study.evaluate.items import RunItems, metric_scores
from study.evaluate.score import read_analogies, read_word_pairs

# Published sizes: WS353 (Finkelstein et al. 2002) and its similarity / relatedness split
# (Agirre et al. 2009), MEN (Bruni et al. 2014), MTurk (Radinsky et al. 2011), Rare Words
# (Luong et al. 2013), SimLex-999 (Hill et al. 2015), Google (Mikolov et al. 2013a), MSR
# (Mikolov et al. 2013c). Written here independently of the manifest, which must agree.
PUBLISHED = {
    "ws353": 353,
    "ws353_sim": 203,
    "ws353_rel": 252,
    "men": 3000,
    "mturk": 287,
    "rw": 2034,
    "simlex": 999,
    "analogy": 19544,
    "msr": 8000,
}


def _count(bench: benchmarks.Benchmark) -> int:
    if bench.kind == "spearman":
        return len(read_word_pairs(bench.path))
    return len(read_analogies(bench.path, bench.section).questions)


@pytest.mark.parametrize("name", list(benchmarks.registry()))
def test_shipped_set_has_its_published_size_and_checksum(name: str) -> None:
    assert name in PUBLISHED, "a new benchmark: write its published size in PUBLISHED"
    bench = benchmarks.registry()[name]
    assert hashlib.sha256(bench.path.read_bytes()).hexdigest() == bench.sha256
    assert _count(bench) == bench.items == PUBLISHED[name]
    assert bench.source and bench.license and bench.citation


def test_the_registry_is_the_one_list() -> None:
    """Adding an entry adds its metrics to every list that derives from the registry."""
    from study.analyze.analysis import METRICS
    from study.run.search import METRIC_NAMES

    assert list(benchmarks.registry()) == list(PUBLISHED)
    assert METRICS == [b.metric for b in benchmarks.registry().values() if b.shown]
    assert {"men_spearman", "men_wc_spearman", "msr_acc", "msr_wc_3cosmul_acc"} <= set(METRIC_NAMES)
    assert "msr_sem_acc" not in METRIC_NAMES  # MSR is one (syntactic) section
    assert benchmarks.metric_label("rw_wc_spearman") == "Rare Words Spearman ρ (w+c)"
    assert benchmarks.with_vectors("analogy_sem_acc", "w+c") == "analogy_wc_sem_acc"
    assert benchmarks.parse_metric("men_wc_coverage") is None  # coverage is the vocabulary's
    assert benchmarks.stat_of("analogy_wc_3cosmul_sem_acc") == "3cosmul_sem_acc"
    assert benchmarks.stat_of("mine_spearman") == "spearman"  # a user pair file's
    assert benchmarks.stat_of("men_coverage") is None  # no per-item form
    assert benchmarks.metric_direction("msr_wc_acc") == "maximize"
    assert benchmarks.metric_direction("train_seconds") is None
    with pytest.raises(benchmarks.ConfigError, match="unknown benchmark 'mne'; choose from all"):
        benchmarks.select("men,mne")
    assert [b.name for b in benchmarks.select("msr,men")] == ["men", "msr"]  # registry order


# -- hand-computed scores on a fixture vectors file ------------------------------------------
# MSR: six questions use only good/better/best/rough/rougher/roughest (file lines 1-6). With
# orthonormal g, r, c (comparative), s (superlative):
#   w:   good=g, better=g+c, best=g+s, rough=r, rougher=r+c, roughest=r-s
# 3CosAdd, cos(d,b) + cos(d,c) - cos(d,a) on unit vectors, over the non-question words:
#   1 good:better::rough:?      rougher 1.207, roughest 0.707, best -0.207   -> rougher  right
#   2 better:good::rougher:?    rough 0.707, roughest 0.5, best 0.207        -> rough    right
#   3 good:best::rough:?        rougher 0.707, roughest 0.207, better -0.207 -> rougher  wrong
#   4 best:good::roughest:?     rough 0.707, rougher 0.5, better 0.207       -> rough    right
#   5 best:better::roughest:?   rougher 1.0, rough 0.707, good 0             -> rougher  right
#   6 better:best::rougher:?    rough 0.707, roughest 0, good 0              -> rough    wrong
# so 4 of 6 right. The output vectors are 0 except roughest's, 2s: w+c has roughest = r+s,
# consistent offsets, and all 6 right.
MSR_WORDS = {
    "good": [1, 0, 0, 0],
    "better": [1, 0, 1, 0],
    "best": [1, 0, 0, 1],
    "rough": [0, 1, 0, 0],
    "rougher": [0, 1, 1, 0],
    "roughest": [0, 1, 0, -1],
}
# MTurk's first five pairs (gold 2.75, 2.714, 2.267, 3.2, 2.25; ranks 4 3 2 5 1) get cosines
# 0.9, 0.1, 0.5, 0.3, 0.7 (ranks 5 1 3 2 4): d = -1 2 -1 3 -3, Σd² = 24,
# ρ = 1 - 6·24 / (5·24) = -0.2.
COSINES = [0.9, 0.1, 0.5, 0.3, 0.7]
MTURK_RHO = -0.2


def _distinct_pairs(path: Path, n: int) -> list[tuple[str, str, float]]:
    """The first n pairs that share no word with each other or MSR_WORDS, with distinct gold,
    and whose words cover no other pair of the file (so coverage is n pairs exactly)."""
    pairs = [(a.lower(), b.lower(), gold) for a, b, gold in read_word_pairs(path)]
    by_word: dict[str, list[tuple[str, str, float]]] = {}
    for pair in pairs:
        for word in pair[:2]:
            by_word.setdefault(word, []).append(pair)
    chosen: list[tuple[str, str, float]] = []
    used = set(MSR_WORDS)
    for a, b, gold in pairs:
        words = {a, b}
        if len(words) < 2 or words & used or gold in [g for *_, g in chosen]:
            continue
        known = used | words
        touching = [p for w in words for p in by_word[w]]  # pairs a new word could complete
        if all(p[:2] == (a, b) or not (p[0] in known and p[1] in known) for p in touching):
            chosen.append((a, b, gold))
            used = known
        if len(chosen) == n:
            return chosen
    raise AssertionError("not enough distinct pairs")


def _hand_spearman(gold: list[float], cosines: list[float]) -> float:
    """1 - 6 Σd² / (n(n²-1)): Spearman's formula without ties."""
    n = len(gold)
    rank_g = {v: i for i, v in enumerate(sorted(gold))}
    rank_c = {v: i for i, v in enumerate(sorted(cosines))}
    d2 = sum((rank_g[g] - rank_c[c]) ** 2 for g, c in zip(gold, cosines, strict=True))
    return 1 - 6 * d2 / (n * (n * n - 1))


def _write_fixture(folder: Path, pairs: list[tuple[str, str, float]]) -> Path:
    """vectors.bin-style text files: vectors.txt (w) and output_vectors.bin (c) beside it."""
    dim = 4 + 2 * len(pairs)
    words: dict[str, np.ndarray] = {}
    outputs: dict[str, np.ndarray] = {}
    for word, head in MSR_WORDS.items():
        words[word] = np.array(head + [0] * (dim - 4), dtype=float)
        outputs[word] = np.zeros(dim)
    outputs["roughest"][3] = 2.0
    for i, ((a, b, _), cos) in enumerate(zip(pairs, COSINES, strict=True)):
        words[a] = np.eye(dim)[4 + 2 * i]
        words[b] = cos * np.eye(dim)[4 + 2 * i] + np.sqrt(1 - cos * cos) * np.eye(dim)[5 + 2 * i]
        outputs[a] = outputs[b] = np.zeros(dim)

    def write(path: Path, rows: dict[str, np.ndarray]) -> None:
        lines = [f"{len(rows)} {dim}"] + [
            f"{w} " + " ".join(f"{x:.9f}" for x in v) for w, v in rows.items()
        ]
        path.write_text("\n".join(lines) + "\n")

    write(folder / "vectors.txt", words)
    write(folder / "output_vectors.bin", outputs)  # a text file is read by content, not name
    return folder / "vectors.txt"


def _printed(out: str) -> dict[str, float]:
    values = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].replace("_", "").isalnum() and "_" in parts[0]:
            try:
                values[parts[0]] = float(parts[1])
            except ValueError:
                pass
    return values


@pytest.mark.parametrize("name", ["ws353_sim", "ws353_rel", "men", "mturk", "rw"])
def test_new_sets_score_as_computed_by_hand(name: str, tmp_path: Path) -> None:
    from study.evaluate.score import run_evaluation
    from study.train.vectors import load_vectors

    bench = benchmarks.registry()[name]
    pairs = _distinct_pairs(bench.path, len(COSINES))
    path = _write_fixture(tmp_path, pairs)
    output = load_vectors(tmp_path / "output_vectors.bin").vectors
    got = run_evaluation(
        load_vectors(path), benchmarks=[name, "msr"], output_vectors=output, device="cpu"
    ).metrics
    rho = _hand_spearman([g for *_, g in pairs], COSINES)
    assert got[f"{name}_spearman"] == pytest.approx(rho, abs=1e-6)
    assert got[f"{name}_wc_spearman"] == pytest.approx(rho, abs=1e-6)  # c = 0 for these words
    assert got[f"{name}_coverage"] == pytest.approx(5 / PUBLISHED[name])
    assert got["msr_acc"] == pytest.approx(4 / 6)
    assert got["msr_wc_acc"] == 1.0
    assert got["msr_coverage"] == pytest.approx(6 / 8000)
    assert list(got) == benchmarks.metric_names([name, "msr"])  # not ws353_..., analogy_...


def test_eval_cli_prints_the_hand_computed_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pairs = _distinct_pairs(benchmarks.registry()["mturk"].path, len(COSINES))
    assert _hand_spearman([g for *_, g in pairs], COSINES) == pytest.approx(MTURK_RHO)
    vectors = _write_fixture(tmp_path, pairs)
    code = main(["eval", str(vectors), "--benchmarks", "mturk,msr", "--w-plus-c"])
    assert code == 0
    got = _printed(capsys.readouterr().out)
    assert got["mturk_spearman"] == got["mturk_wc_spearman"] == MTURK_RHO
    assert got["msr_acc"] == pytest.approx(4 / 6, abs=1e-4) and got["msr_wc_acc"] == 1.0
    assert got["mturk_coverage"] == pytest.approx(5 / 287, abs=1e-4)


def test_a_run_reports_every_chosen_benchmark_with_coverage(
    tmp_path: Path, planted_corpus_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tiny_run import FAST

    sets = {**FAST, "epochs": 1, "probe_pairs": 0, "corpus": str(planted_corpus_file)}
    argv = ["run", "--results", str(tmp_path), "--benchmarks", "men,msr", "--set"]
    assert main([*argv, *(f"{k}={v}" for k, v in sets.items())]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.split()[:1] == ["benchmark"])
    assert header.split() == ["benchmark", "metric", "w", "w+c", "coverage"]
    (folder,) = (tmp_path / "scratch" / "runs").iterdir()
    metrics = json.loads((folder / "metrics.json").read_text())["metrics"]
    assert {"men_coverage", "msr_coverage", "men_wc_spearman", "msr_wc_acc"} <= set(metrics)
    assert not any(m.startswith(("ws353", "analogy", "simlex")) for m in metrics)
    items = RunItems.from_bytes((folder / "items.npz").read_bytes())
    assert set(items.pairs) == {"men", "men_wc"} and set(items.analogies) == {"msr", "msr_wc"}
    for metric in ("men_wc_spearman", "msr_acc"):  # the per-item form exists for both vectors
        assert metric_scores(items, metric) is not None


def test_items_files_of_version_1_stay_readable() -> None:
    """Runs stored before the registry: one analogy set, arrays `analogy.<field>`."""
    covered = np.array([True, True, False])
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        version=np.array(1),
        **{
            "pairs.ws353.gold": np.array([1.0, 2.0]),
            "pairs.ws353.predicted": np.array([0.1, np.nan]),
            "analogy.sections": np.array(["family"]),
            "analogy.section_ids": np.zeros(3, dtype=np.int16),
            "analogy.covered": np.packbits(covered),
            "analogy.correct_add": np.packbits([True, False, False]),
            "analogy.correct_mul": np.packbits([False, False, False]),
            "analogy.n": np.array(3),
        },
    )
    items = RunItems.from_bytes(buffer.getvalue())
    assert items.analogy is not None and items.analogy.covered.tolist() == covered.tolist()
    scores = metric_scores(items, "analogy_acc")
    assert scores is not None and np.nanmean(scores.arrays[0]) == 0.5
    again = RunItems.from_bytes(items.to_bytes())  # written back as version 2
    assert set(again.analogies) == {"analogy"} and set(again.pairs) == {"ws353"}
