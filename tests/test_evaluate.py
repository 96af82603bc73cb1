"""study.evaluate.score agrees with gensim's evaluators; 3CosMul by hand; OOV, coverage, errors,
CLI."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors

from study.cli.app import main
from study.evaluate.score import (
    GOOGLE_ANALOGIES_PATH,
    SIMLEX_PATH,
    WS353_PATH,
    BenchmarkFileError,
    evaluate,
    evaluate_analogies,
    evaluate_word_pairs,
    nearest_neighbours,
    read_analogies,
    read_word_pairs,
)
from study.train.vectors import keyed_vectors

DIM = 32
NOISE = 1.2  # partial success: ~80% of the planted questions solved by 3CosAdd


def _kv(words: list[str], vectors: np.ndarray) -> KeyedVectors:
    return keyed_vectors(words, np.asarray(vectors, dtype=np.float32))


@pytest.fixture(scope="module")
def planted() -> KeyedVectors:
    """Random vectors for every Google question word and the WS353/SimLex words, plus fillers.

    Two sections get planted offsets (b = a + offset + noise), so part of their questions are
    solvable and part are not; a few capitalised duplicates exercise the case rules; the word
    order is shuffled, so restricting the vocabulary drops some questions.
    """
    rng = np.random.default_rng(7)
    analogies = read_analogies()
    words: list[str] = []
    for question in analogies.questions:
        words.extend(w.lower() for w in question)
    for path in (WS353_PATH, SIMLEX_PATH):
        for a, b, _ in read_word_pairs(path)[::2]:  # every other pair: partial coverage
            words += [a.lower(), b.lower()]
    words = list(dict.fromkeys(words)) + [f"filler{i}" for i in range(1500)]
    order = rng.permutation(len(words))
    words = [words[i] for i in order]
    vecs = rng.normal(size=(len(words), DIM))
    index = {w: i for i, w in enumerate(words)}
    for section, noise in (("family", NOISE), ("gram3-comparative", NOISE)):
        offset = rng.normal(size=DIM) * 2.0
        s = analogies.sections.index(section)
        for (a, b, _, _), sid in zip(analogies.questions, analogies.section_ids, strict=True):
            if sid == s:
                ia, ib = index[a.lower()], index[b.lower()]
                vecs[ib] = vecs[ia] + offset + noise * rng.normal(size=DIM)
    # Case variants, less frequent than the lowercase word (appended at the end) and very close
    # to a question word, so they would be chosen as answers if not excluded.
    variants = ["Boy", "Girl", "GOOD", "Better"]
    words += variants
    vecs = np.vstack([vecs, [vecs[index[v.lower()]] * 1.01 for v in variants]])
    return _kv(words, vecs)


def test_word_pairs_match_gensim(planted: KeyedVectors) -> None:
    for path in (WS353_PATH, SIMLEX_PATH):
        ours = evaluate_word_pairs(planted, path)
        _, spearman, oov_percent = planted.evaluate_word_pairs(str(path))
        assert ours.spearman == pytest.approx(spearman.statistic, abs=1e-6)
        assert ours.coverage == pytest.approx(1 - oov_percent / 100, abs=1e-12)
        assert 0.4 < ours.coverage < 0.9  # partial coverage, as planted


@pytest.mark.parametrize("restrict", [2000, 5000])
def test_3cosadd_matches_gensim_exactly(planted: KeyedVectors, restrict: int) -> None:
    ours = evaluate_analogies(planted, restrict_vocab=restrict, device="cpu")
    _, sections = planted.evaluate_word_analogies(
        str(GOOGLE_ANALOGIES_PATH), restrict_vocab=restrict
    )
    theirs = {s["section"]: s for s in sections}
    table = ours.table.set_index("section")
    for name, row in table.iterrows():
        assert row["correct_3cosadd"] == len(theirs[name]["correct"]), name
        assert row["counted"] == len(theirs[name]["correct"]) + len(theirs[name]["incorrect"])
    # The same questions are right, not only the same number.
    upper = [tuple(w.upper() for w in q) for q in ours.analogies.questions]
    ours_correct = Counter(q for q, ok in zip(upper, ours.correct_add, strict=True) if ok)
    assert ours_correct == Counter(theirs["Total accuracy"]["correct"])
    # The planted sections are partly solved, the rest is at chance.
    family = table.loc["family"]
    assert 0.1 < family["acc_3cosadd"] < 0.95
    assert table.loc["capital-world", "acc_3cosadd"] < 0.05
    m = ours.metrics()
    assert m["analogy_coverage"] == pytest.approx(table["counted"].sum() / table["questions"].sum())
    assert (0.05 < m["analogy_coverage"] < 0.5) if restrict == 2000 else m["analogy_coverage"] > 0.9
    assert m["analogy_questions"] == table["counted"].sum()
    assert m["analogy_acc"] == pytest.approx(
        table["correct_3cosadd"].sum() / table["counted"].sum()
    )


def test_3cosmul_matches_gensim_most_similar_cosmul(planted: KeyedVectors) -> None:
    # gensim's most_similar_cosmul searches the whole vocabulary with epsilon 1e-6.
    ours = evaluate_analogies(planted, restrict_vocab=len(planted), cosmul_epsilon=1e-6)
    for i in np.flatnonzero(ours.covered)[::150]:
        a, b, c, _ = (w.lower() for w in ours.analogies.questions[i])
        ranked = planted.most_similar_cosmul(positive=[b, c], negative=[a], topn=10)
        answer = next(w for w, _ in ranked if w.upper() not in {a.upper(), b.upper(), c.upper()})
        assert planted.index_to_key[ours.predicted_mul[i]] == answer


def test_case_variants_are_never_answers(planted: KeyedVectors) -> None:
    result = evaluate_analogies(planted, restrict_vocab=len(planted), device="cpu")
    keys = planted.index_to_key
    for question, add, mul in zip(
        result.analogies.questions, result.predicted_add, result.predicted_mul, strict=True
    ):
        for answer in (add, mul):
            if answer >= 0:
                assert keys[answer].upper() not in {w.upper() for w in question[:3]}


def test_3cosmul_hand_computed(tmp_path: Path) -> None:
    # a, b, c orthonormal, so cos(d, a/b/c) are d's first three coordinates.
    #   d1 = (0.10, 0.00, 0.99, .)   3CosAdd 0.00 + 0.99 - 0.10 = 0.89   (best)
    #                                3CosMul 0.500 * 0.995 / (0.550 + 0.001) = 0.9029
    #   d2 = (0.05, 0.45, 0.45, .)   3CosAdd 0.45 + 0.45 - 0.05 = 0.85
    #                                3CosMul 0.725 * 0.725 / (0.525 + 0.001) = 0.9993 (best)
    #   d3 = (0.00, 0.00, 0.00, -1)  3CosAdd 0, 3CosMul 0.25 / 0.501 = 0.499
    # b itself would score 1.0 and 1.0 / 0.501: question words must be excluded.
    d1 = [0.10, 0.00, 0.99, np.sqrt(1 - 0.10**2 - 0.99**2)]
    d2 = [0.05, 0.45, 0.45, np.sqrt(1 - 0.05**2 - 2 * 0.45**2)]
    vecs = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], d1, d2, [0, 0, 0, -1]])
    kv = _kv(["a", "b", "c", "d1", "d2", "d3"], vecs * 3.0)  # norms must not matter
    questions = tmp_path / "q.txt"
    questions.write_text(": toy\na b c d1\na b c d2\n: gram-toy\na b c d3\n")
    result = evaluate_analogies(kv, questions, restrict_vocab=10, device="cpu")
    names = np.array(kv.index_to_key)
    assert list(names[result.predicted_add]) == ["d1", "d1", "d1"]
    assert list(names[result.predicted_mul]) == ["d2", "d2", "d2"]
    m = result.metrics()
    assert m["analogy_acc"] == pytest.approx(1 / 3)
    assert m["analogy_3cosmul_acc"] == pytest.approx(1 / 3)
    assert m["analogy_sem_acc"] == 0.5 and m["analogy_3cosmul_sem_acc"] == 0.5
    assert m["analogy_syn_acc"] == 0.0 and m["analogy_coverage"] == 1.0


def test_oov_and_coverage(tmp_path: Path) -> None:
    kv = _kv(["x", "y", "z", "w"], np.eye(4) + 0.1)
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("# comment\nx y 1.0\nX\tz\t2.5\n\nx unknown 3\nw y 4\nnope nada 1\n")
    result = evaluate_word_pairs(kv, pairs)
    assert (result.found, result.total) == (3, 5)
    assert result.coverage == pytest.approx(0.6)
    questions = tmp_path / "q.txt"
    questions.write_text(": s\nx y z w\nx y z unknown\nw z y x\nw z y x\n")
    # restrict_vocab=3 leaves out "w": only question 2's "unknown" and the w-questions drop.
    r = evaluate_analogies(kv, questions, restrict_vocab=3, device="cpu")
    assert r.covered.tolist() == [False, False, False, False]
    assert np.isnan(r.metrics()["analogy_acc"])
    r = evaluate_analogies(kv, questions, restrict_vocab=4, device="cpu")
    assert r.covered.tolist() == [True, False, True, True]
    assert r.metrics()["analogy_coverage"] == pytest.approx(0.75)
    metrics = evaluate(kv, pairs=[pairs], analogies=questions, device="cpu")
    assert metrics["pairs_coverage"] == pytest.approx(0.6)
    assert metrics["ws353_coverage"] == 0.0 and np.isnan(metrics["ws353_spearman"])


@pytest.mark.parametrize(
    ("content", "line", "what"),
    [
        ("# c\nx y 1\nx y\n", 3, "expected 'word1 word2 score'"),
        ("x y 1\nx y high\n", 2, "not a number"),
    ],
)
def test_malformed_pairs_file(tmp_path: Path, content: str, line: int, what: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(BenchmarkFileError, match=f"bad.txt:{line}: ") as error:
        read_word_pairs(path)
    assert what in str(error.value)


@pytest.mark.parametrize(
    ("content", "line", "what"),
    [
        (": s\na b c d\na b c\n", 3, "expected 4 words"),
        ("a b c d\n", 1, "question before any"),
    ],
)
def test_malformed_analogy_file(tmp_path: Path, content: str, line: int, what: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(content)
    kv = _kv(["a", "b", "c", "d"], np.eye(4))
    with pytest.raises(BenchmarkFileError, match=f"bad.txt:{line}: ") as error:
        evaluate_analogies(kv, path, device="cpu")
    assert what in str(error.value)


def test_nearest_neighbours_skips_oov(caplog: pytest.LogCaptureFixture) -> None:
    kv = _kv(["x", "y", "z"], np.array([[1.0, 0.0], [0.9, 0.1], [-1.0, 0.0]]))
    with caplog.at_level(logging.WARNING):
        out = nearest_neighbours(kv, ["X", "missing"], k=2)
    assert list(out) == ["X"]
    assert [w for w, _ in out["X"]] == ["y", "z"]
    assert "missing" in caplog.text


@pytest.mark.parametrize("fmt", ["text", "binary", "kv"])
def test_cli_eval_on_saved_vectors(
    planted: KeyedVectors, tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"vectors.{fmt}"
    if fmt == "kv":
        planted.save(str(path))
    else:
        planted.save_word2vec_format(str(path), binary=fmt == "binary")
    pairs = tmp_path / "mine.txt"
    pairs.write_text("boy girl 9\nking queen 8\nboy queen 2\n")
    code = main(
        [
            "eval",
            str(path),
            "--restrict",
            "5000",
            "--pairs",
            str(pairs),
            "--neighbours",
            "boy,notaword",
            "-k",
            "3",
            "--device",
            "cpu",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "ws353_spearman" in out and "mine_spearman" in out and "analogy_3cosmul_acc" in out
    assert "gram3-comparative" in out and "boy:" in out
    expected = evaluate_analogies(planted, restrict_vocab=5000, device="cpu").metrics()
    [line] = [x.split() for x in out.splitlines() if x.startswith("analogy_acc ")]
    assert line[:2] == ["analogy_acc", f"{expected['analogy_acc']:.4f}"]
    low, high = float(line[2].strip("[,")), float(line[3].strip("]"))  # its 95% interval
    assert low <= expected["analogy_acc"] <= high


def test_cli_eval_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(tmp_path / "none.vec")]) == 2
    assert "not found" in capsys.readouterr().err
    junk = tmp_path / "junk.vec"
    junk.write_text("hello world\n")
    assert main(["eval", str(junk)]) == 2
    assert "not a word2vec file" in capsys.readouterr().err
