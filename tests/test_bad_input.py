"""Every bad input through the CLI: one line `error: ...` on stderr, exit code 2, no traceback;
`--debug` raises it with its traceback. Plus failures of the results folder (read-only, full
disk), diverging runs, and plot words missing from the vocabulary.

Most cases call `study.cli.app.main` in this process (the same code `python -m study` runs; a
non-user error would escape as an exception and fail the test); `test_real_process_*` check
the exit code and stderr of real `python -m study` processes.
"""

from __future__ import annotations

import errno
import json
import logging
import lzma
import os
import random
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import optuna
import pytest
from conftest import planted_groups_text
from fault_inject import run_worker, ws353_planted_text
from tiny_run import FAST_SETS, fast_sets

from study.cli.app import main
from study.core.config import RunConfig
from study.core.errors import StudyError
from study.run.runner import CorpusCache
from study.run.search import make_objective, parse_objectives, parse_space
from study.store.results import ResultStore, load_table

ROOT = Path(__file__).resolve().parents[1]


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def corrupt_xz(folder: Path) -> Path:
    data = lzma.compress(b"the cat sat on the mat\n" * 200)
    return write(folder / "bad.txt.xz", data[: len(data) // 2])


def corrupt_zip(folder: Path) -> Path:
    path = folder / "bad.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("c.txt", "the cat sat on the mat\n" * 200)
    data = path.read_bytes()
    return write(path, data[: len(data) // 2])


def fifo(folder: Path) -> Path:
    """A named pipe nobody writes to: opening it for reading used to wait forever."""
    path = folder / "pipe"
    os.mkfifo(path)
    return path


def two_member_zip(folder: Path) -> Path:
    path = folder / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.txt", "a b\n")
        archive.writestr("b.txt", "c d\n")
    return path


def small_vectors(folder: Path) -> Path:
    from gensim.models import KeyedVectors

    words = ["love", "sex", "tiger", "cat", "king", "queen"]
    kv = KeyedVectors(vector_size=4, count=0)
    kv.add_vectors(words, np.random.default_rng(0).normal(size=(len(words), 4)))
    path = folder / "vectors.txt"
    kv.save_word2vec_format(str(path), binary=False)
    return path


def vectors_with(
    folder: Path,
    fmt: str,
    header: str | None = None,
    nan_rows: int = 0,
    inf_rows: int = 0,
    cut: int = 0,
    dup: bool = False,
    junk: str | None = None,
    bad_word: bool = False,
    vocab: str | None = None,
) -> Path:
    """A word2vec file (6 words, dim 4) made hostile in one way."""
    from gensim.models import KeyedVectors

    words = ["love", "sex", "tiger", "cat", "king", "queen"]
    values = np.random.default_rng(0).normal(size=(len(words), 4)).astype(np.float32)
    values[:nan_rows] = np.nan
    values[len(words) - inf_rows :] = np.inf
    if dup:
        words[1] = words[0]
    kv = KeyedVectors(vector_size=4, count=0)
    kv.add_vectors([f"w{i}" for i in range(len(words))], values)
    path = folder / f"vectors.{fmt}"
    kv.save_word2vec_format(str(path), binary=fmt == "bin")
    data = path.read_bytes()
    for i, word in enumerate(words):  # gensim itself refuses repeated keys: rename on disk
        data = data.replace(f"w{i} ".encode(), f"{word} ".encode(), 1)
    if bad_word:
        data = data.replace(b"tiger ", b"ti\xffer ", 1)
    if junk is not None:
        lines = data.split(b"\n")
        lines[2] = lines[2].rsplit(b" ", 1)[0] + b" " + junk.encode()
        data = b"\n".join(lines)
    if header is not None:
        data = header.encode() + data[data.index(b"\n") :]
    if cut:
        data = data[:-cut]
    path.write_bytes(data)
    if vocab is not None:
        write(folder / "vocab.txt", vocab)
    return path


def grid(results: Path, *args: str) -> list[str]:
    return ["grid", "--results", str(results), *args]


def optuna_cmd(results: Path, *args: str) -> list[str]:
    return ["optuna", "--study-name", "o", "--results", str(results), *args]


# (id, argv builder given a scratch folder, expected part of the message)
CASES = [
    # -- corpora -------------------------------------------------------------------------
    (
        "missing-file",
        lambda d: ["corpus", "info", "--corpus", str(d / "nope.txt")],
        "is neither a known name",
    ),
    (
        "empty-corpus",
        lambda d: ["corpus", "info", "--corpus", str(write(d / "e.txt", ""))],
        "is empty",
    ),
    (
        "whitespace-corpus",
        lambda d: ["corpus", "info", "--corpus", str(write(d / "w.txt", " \n\t\n"))],
        "is empty",
    ),
    (
        "no-word-above-min-count",
        lambda d: ["corpus", "info", "--corpus", str(write(d / "r.txt", "a b c\n"))],
        "no word occurs at least min_count=5 times",
    ),
    (
        "non-utf8",
        lambda d: ["corpus", "info", "--corpus", str(write(d / "b.txt", b"ok \xff\xfe bad\n"))],
        "is not UTF-8 text: byte 3",
    ),
    ("corrupt-xz", lambda d: ["corpus", "info", "--corpus", str(corrupt_xz(d))], "corrupt"),
    ("corrupt-zip", lambda d: ["corpus", "info", "--corpus", str(corrupt_zip(d))], "corrupt"),
    (
        "zip-two-members",
        lambda d: ["corpus", "info", "--corpus", str(two_member_zip(d))],
        "must hold exactly one file",
    ),
    ("corpus-is-a-dir", lambda d: ["corpus", "info", "--corpus", str(d)], "is a directory"),
    # -- non-regular corpus paths (issue 14, class 6): refused at once, never a hang ----------
    ("corpus-fifo", lambda d: ["corpus", "info", "--corpus", str(fifo(d))], "(a pipe)"),
    (
        "corpus-char-device",
        lambda d: ["corpus", "info", "--corpus", "/dev/zero"],
        "corpus /dev/zero is not a regular file (a character device)",
    ),
    # -- config values ----------------------------------------------------------------------
    (
        "unknown-key",
        lambda d: ["run", "--results", str(d), "--set", "windw=5"],
        "unknown config key 'windw' (did you mean 'window'?)",
    ),
    (
        "wrong-type-int",
        lambda d: ["run", "--results", str(d), "--set", "window=2.5"],
        "window must be an integer, got '2.5'",
    ),
    (
        "wrong-type-float",
        lambda d: ["run", "--results", str(d), "--set", "alpha=high"],
        "alpha must be a number, got 'high'",
    ),
    (
        "wrong-choice",
        lambda d: ["run", "--results", str(d), "--set", "model=glove"],
        "model must be 'sg' or 'cbow'",
    ),
    (
        "out-of-range",
        lambda d: ["run", "--results", str(d), "--set", "negative=0"],
        "negative=0 is out of range",
    ),
    (
        "lr-end-above-start",
        lambda d: ["run", "--results", str(d), "--set", "lr_start=0.01", "lr_end=0.1"],
        "lr_end=0.1 must not exceed lr_start=0.01",
    ),
    (
        "not-key-value",
        lambda d: ["run", "--results", str(d), "--set", "window"],
        "expected key=value",
    ),
    (
        "bad-study-name",
        lambda d: ["run", "--results", str(d), "--study", "a/b"],
        "invalid study name 'a/b'",
    ),
    # -- grids ------------------------------------------------------------------------------
    ("grid-empty-list", lambda d: grid(d, "--grid", "alpha="), "empty list of values"),
    (
        "grid-empty-list-commas",
        lambda d: grid(d, "--grid", "window=,,"),
        "empty list of values",
    ),
    ("grid-unknown-key", lambda d: grid(d, "--grid", "alpah=0.5"), "unknown config key 'alpah'"),
    ("grid-out-of-range", lambda d: grid(d, "--grid", "alpha=0.5,3"), "alpha=3.0 is out of range"),
    ("grid-wrong-type", lambda d: grid(d, "--grid", "window=2,x"), "window must be an integer"),
    ("grid-empty-seeds", lambda d: grid(d, "--seeds", ","), "--seeds is an empty list"),
    ("grid-bad-seeds", lambda d: grid(d, "--seeds", "1,x"), "--seeds: seed must be an integer"),
    ("grid-trainer-axis", lambda d: grid(d, "--grid", "trainer=torch"), "use --trainers"),
    ("grid-unknown-set", lambda d: grid(d, "--set", "windw=3"), "unknown config key 'windw'"),
    # -- Optuna -----------------------------------------------------------------------------
    ("optuna-unknown-key", lambda d: optuna_cmd(d, "--space", "alfa=0:1"), "unknown config key"),
    ("optuna-empty-range", lambda d: optuna_cmd(d, "--space", "window=5:2"), "empty range"),
    ("optuna-bad-range", lambda d: optuna_cmd(d, "--space", "alpha=0:1:lin"), "low:high:log"),
    ("optuna-objective", lambda d: optuna_cmd(d, "--objective", "acc"), "unknown objective"),
    ("optuna-n-trials", lambda d: optuna_cmd(d, "--n-trials", "0"), "--n-trials: must be >= 1"),
    (
        "optuna-storage-unwritable",
        lambda d: optuna_cmd(d, "--storage", "sqlite:////proc/nope/o.db", "--n-trials", "1"),
        "cannot open Optuna storage sqlite:////proc/nope/o.db: cannot create /proc/nope",
    ),
    (
        "optuna-storage-bad-dialect",
        lambda d: optuna_cmd(d, "--storage", "nosuchdb://h/x", "--n-trials", "1"),
        "cannot open Optuna storage nosuchdb://h/x",
    ),
    (
        "grid-storage-unreachable",
        lambda d: grid(
            d,
            "--grid",
            "alpha=0.5",
            "--storage",
            "postgresql+psycopg2://u:pw@127.0.0.1:9/x",
        ),
        "cannot open Optuna storage postgresql+psycopg2://u:***@127.0.0.1:9/x",
    ),
    # -- numbers anywhere a user types one (issue 14, class 9) --------------------------------
    ("set-nan", lambda d: ["run", "--results", str(d), "--set", "alpha=nan"], "must be finite"),
    ("set-inf", lambda d: ["run", "--results", str(d), "--set", "lr_start=inf"], "must be finite"),
    ("set-overflow", lambda d: ["run", "--results", str(d), "--set", "alpha=1e999"], "finite"),
    (
        "set-underscore-int",
        lambda d: ["run", "--results", str(d), "--set", "window=1_0"],
        "window must be an integer, got '1_0'",
    ),
    (
        "set-unicode-digit",
        lambda d: ["run", "--results", str(d), "--set", "window=\u0663"],
        "window must be an integer",
    ),
    (
        "set-underscore-float",
        lambda d: ["run", "--results", str(d), "--set", "alpha=0_5"],
        "alpha must be a plain decimal number",
    ),
    (
        "set-huge-int",
        lambda d: ["run", "--results", str(d), "--set", "seed=" + "9" * 5000],
        "seed must be an integer, got '9999",
    ),
    (
        "corpus-info-negative-max-vocab",
        lambda d: ["corpus", "info", "--max-vocab", "-3"],
        "argument --max-vocab: must be >= 1, got -3",
    ),
    ("corpus-info-zero-min-count", lambda d: ["corpus", "info", "--min-count", "0"], ">= 1"),
    ("corpus-info-bad-top", lambda d: ["corpus", "info", "--top", "x"], "expected an integer"),
    ("eval-k-zero", lambda d: ["eval", str(small_vectors(d)), "-k", "0"], "-k: must be >= 1"),
    ("eval-restrict-negative", lambda d: ["eval", "v.bin", "--restrict", "-5"], ">= 1"),
    ("report-pca-words", lambda d: ["report", str(d), "--pca-words", "-1"], "--pca-words"),
    ("optuna-seed-negative", lambda d: optuna_cmd(d, "--seed", "-1"), "--seed: must be in [0,"),
    ("optuna-space-nan", lambda d: optuna_cmd(d, "--space", "alpha=nan:1"), "alpha must be finite"),
    (
        "optuna-space-log-zero",
        lambda d: optuna_cmd(d, "--space", "sample=0:0.1:log"),
        "a log range needs low > 0",
    ),
    (
        "optuna-space-choice-out-of-range",
        lambda d: optuna_cmd(d, "--space", "window=0,5"),
        "window=0 is out of range",
    ),
    (
        "optuna-space-bad-choice",
        lambda d: optuna_cmd(d, "--space", "model=sg,glove"),
        "model must be 'sg' or 'cbow'",
    ),
    (
        "optuna-space-range-of-a-choice-field",
        lambda d: optuna_cmd(d, "--space", "model=1:2"),
        "model is not a number",
    ),
    (
        "optuna-space-against-fixed",
        lambda d: optuna_cmd(d, "--set", "lr_end=0.01", "--space", "lr_start=0.001:0.1:log"),
        "--space lr_start=0.001: lr_end=0.01 must not exceed lr_start=0.001",
    ),
    # -- repeated keys and values (class 12) ------------------------------------------------
    (
        "set-repeated-key",
        lambda d: ["run", "--results", str(d), "--set", "window=2", "window=3"],
        "window is given twice in --set (2 and 3)",
    ),
    (
        "set-repeated-key-spelled-two-ways",
        lambda d: ["run", "--results", str(d), "--set", "lr-start=0.1", "lr_start=0.2"],
        "lr_start is given twice in --set",
    ),
    (
        "grid-repeated-axis",
        lambda d: grid(d, "--grid", "window=2,3", "window=5"),
        "grid axis 'window' is given twice",
    ),
    (
        "grid-repeated-value-minus-zero",
        lambda d: grid(d, "--grid", "alpha=0,-0"),
        "grid axis 'alpha' lists 0.0 twice",
    ),
    ("grid-repeated-seed", lambda d: grid(d, "--seeds", "1,01"), "--seeds lists 1 twice"),
    (
        "grid-axis-and-set",
        lambda d: grid(d, "--grid", "window=2,3", "--set", "window=5"),
        "window is both a --grid axis and a --set value",
    ),
    ("grid-set-seed", lambda d: grid(d, "--set", "seed=3"), "use --seeds for seed values"),
    (
        "run-corpus-twice",
        lambda d: ["run", "--results", str(d), "--corpus", "a.txt", "--set", "corpus=b.txt"],
        "--corpus a.txt and --set corpus=b.txt disagree",
    ),
    (
        "optuna-space-repeated",
        lambda d: optuna_cmd(d, "--space", "alpha=0:1", "alpha=0:2"),
        "alpha is given twice in --space",
    ),
    (
        "optuna-space-and-set",
        lambda d: optuna_cmd(d, "--space", "alpha=0:1", "--set", "alpha=0.5"),
        "alpha is both in --space and --set",
    ),
    (
        "optuna-objective-twice",
        lambda d: optuna_cmd(d, "--objective", "analogy_acc", "analogy_acc"),
        "objective 'analogy_acc' is given twice",
    ),
    # -- command lines argparse rejects: one line too ----------------------------------------
    ("unknown-option", lambda d: grid(d, "--bogus"), "unrecognized arguments: --bogus"),
    ("missing-command", lambda d: [], "the following arguments are required"),
    # -- hostile vector files (issue 14, class 8) -------------------------------------------
    (
        "eval-binary-header-dim-wrong",
        lambda d: ["eval", str(vectors_with(d, "bin", header="6 3"))],
        "does not match the file",
    ),
    (
        "eval-binary-header-count-wrong",
        lambda d: ["eval", str(vectors_with(d, "bin", header="5 4"))],
        "follow the last of 5 vectors",
    ),
    (
        "eval-binary-count-too-big",
        lambda d: ["eval", str(vectors_with(d, "bin", header="999999999 4"))],
        "cannot hold 999,999,999 vectors of dim 4",
    ),
    (
        "eval-text-header-dim-wrong",
        lambda d: ["eval", str(vectors_with(d, "txt", header="6 5"))],
        "expected a word and 5 numbers (the header's dim), got 5 fields",
    ),
    (
        "eval-text-header-count-wrong",
        lambda d: ["eval", str(vectors_with(d, "txt", header="9 4"))],
        "the header says 9 vectors, the file has 6",
    ),
    (
        "eval-nan-vectors",
        lambda d: ["eval", str(vectors_with(d, "bin", nan_rows=5))],
        "5 of 6 vectors hold NaN or infinite values",
    ),
    (
        "eval-inf-vectors-text",
        lambda d: ["eval", str(vectors_with(d, "txt", inf_rows=1))],
        "1 of 6 vectors hold NaN or infinite values",
    ),
    (
        "eval-truncated-binary",
        lambda d: ["eval", str(vectors_with(d, "bin", cut=20))],
        "cannot hold",
    ),
    (
        "eval-repeated-word",
        lambda d: ["eval", str(vectors_with(d, "txt", dup=True))],
        "two vectors",
    ),
    (
        "eval-not-a-number",
        lambda d: ["eval", str(vectors_with(d, "txt", junk="abc"))],
        "'abc' is not a number",
    ),
    (
        "eval-word-not-utf8",
        lambda d: ["eval", str(vectors_with(d, "bin", bad_word=True))],
        "its word is not UTF-8",
    ),
    ("eval-header-zero", lambda d: ["eval", str(write(d / "z.txt", "0 4\n"))], "nothing to read"),
    (
        "eval-bad-pickle",
        lambda d: ["eval", str(write(d / "v.kv", b"\x80\x04garbage"))],
        "cannot read vectors",
    ),
    ("eval-vectors-fifo", lambda d: ["eval", str(fifo(d))], "not a regular file (a pipe)"),
    ("eval-vectors-dir", lambda d: ["eval", str(d)], "vectors path is a directory"),
    (
        "eval-vocab-mismatch",
        lambda d: ["eval", str(vectors_with(d, "bin", vocab="love 3\nsex 2\n"))],
        "vocab.txt: does not match the vectors beside it",
    ),
    (
        "eval-vocab-malformed",
        lambda d: ["eval", str(vectors_with(d, "bin", vocab="love three\n"))],
        "vocab.txt:1: expected 'word count'",
    ),
    (
        "eval-pairs-fifo",
        lambda d: ["eval", str(small_vectors(d)), "--pairs", str(fifo(d))],
        "not a regular file",
    ),
    # -- evaluation files -------------------------------------------------------------------
    ("eval-missing-vectors", lambda d: ["eval", str(d / "nope.bin")], "vectors file not found"),
    (
        "eval-not-vectors",
        lambda d: ["eval", str(write(d / "v.txt", "hello world\n"))],
        "not a word2vec file",
    ),
    (
        "eval-pairs-malformed-line",
        lambda d: [
            "eval",
            str(small_vectors(d)),
            "--pairs",
            str(write(d / "bad.txt", "love sex 6.77\ntiger cat\n")),
        ],
        "bad.txt:2: expected 'word1 word2 score', got 'tiger cat'",
    ),
    (
        "eval-pairs-bad-score",
        lambda d: [
            "eval",
            str(small_vectors(d)),
            "--pairs",
            str(write(d / "bad.txt", "# c\nlove sex high\n")),
        ],
        "bad.txt:2: score 'high' is not a number",
    ),
    (
        "eval-pairs-missing",
        lambda d: ["eval", str(small_vectors(d)), "--pairs", str(d / "none.txt")],
        "none.txt: benchmark file not found",
    ),
    (
        "eval-analogies-malformed",
        lambda d: [
            "eval",
            str(small_vectors(d)),
            "--analogies",
            str(write(d / "an.txt", ": capital\nking queen man\n")),
        ],
        "an.txt:2: expected 4 words",
    ),
]


@pytest.mark.parametrize(
    "make_argv, message",
    [pytest.param(*c[1:], id=c[0]) for c in CASES],
)
def test_user_error_is_one_line_exit_2_and_debug_shows_it(tmp_path, capsys, make_argv, message):
    argv = make_argv(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err
    with pytest.raises(StudyError, match="."):
        main(["--debug", *argv])


@pytest.mark.parametrize(
    "setting, message",
    [
        ("fast", "must be 'interval,grace'"),
        ("1,2,3", "must be 'interval,grace'"),
        ("-1,5", "must be 'interval,grace'"),
        ("0,0", "need 1 <= interval < grace"),  # grace 0: every live trial would be stale
        ("30,10", "need 1 <= interval < grace"),
    ],
)
def test_bad_heartbeat_setting(tmp_path, capsys, monkeypatch, setting, message):
    monkeypatch.setenv("W2V_STUDY_HEARTBEAT", setting)
    argv = optuna_cmd(tmp_path, "--storage", f"sqlite:///{tmp_path / 'o.db'}", "--n-trials", "1")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"$W2V_STUDY_HEARTBEAT{':' if 'need' in message else ''}" in err and message in err


def test_config_errors_write_nothing(tmp_path, capsys):
    """A rejected config fails before the results folder is touched."""
    for argv in (
        ["run", "--results", str(tmp_path / "r"), "--set", "windw=5"],
        grid(tmp_path / "r", "--grid", "alpha="),
    ):
        assert main(argv) == 2
    assert not (tmp_path / "r").exists()


# -- damaged study folders (issue 14, class 7) ------------------------------------------------
@pytest.fixture(scope="module")
def two_run_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-cell grid (window 2, 3) to copy and damage."""
    root = tmp_path_factory.mktemp("damaged")
    corpus = write(root / "c.txt", planted_groups_text())
    argv = grid(root / "r", "--study", "d", "--grid", "window=2,3", "--set", *fast_sets(),
                f"corpus={corpus}")  # fmt: skip
    assert main(argv) == 0
    return root


def _damage(run: Path, how: str) -> str:
    """Damage one run folder (or the study) as a person or a tool might; returns the file."""
    metrics = json.loads((run / "metrics.json").read_text())
    config = json.loads((run / "config.json").read_text())
    writes = {
        "metrics-not-json": ("metrics.json", "{not json"),
        "metrics-not-utf8": ("metrics.json", b"\xff\xfe{}"),
        "metrics-a-list": ("metrics.json", "[1, 2]"),
        "metrics-bad-status": ("metrics.json", json.dumps({**metrics, "status": "finished"})),
        "metrics-text-metric": ("metrics.json", json.dumps({**metrics, "metrics": {"x": "hi"}})),
        "metrics-text-count": ("metrics.json", json.dumps({**metrics, "vocab_size": "many"})),
        "metrics-other-run": ("metrics.json", json.dumps({**metrics, "run_id": "0" * 16})),
        "config-not-json": ("config.json", "{"),
        "config-bad-value": ("config.json", json.dumps({**config, "window": -1})),
        "config-unknown-key": ("config.json", json.dumps({**config, "colour": "red"})),
        "config-other-run": ("config.json", json.dumps({**config, "seed": 7})),
        "epochs-text": ("epochs.csv", "epoch,loss\n1,low\n"),
        "epochs-not-csv": ("epochs.csv", b'\x00\x01\xff\n\x02,,,\n"'),
        "epochs-fraction": ("epochs.csv", "epoch,loss\n1.5,0.3\n"),
    }
    if how == "config-missing":
        (run / "config.json").unlink()
        return "config.json"
    if how == "metrics-fifo":  # open() of it waited forever (issue 24)
        (run / "metrics.json").unlink()
        os.mkfifo(run / "metrics.json")
        return "metrics.json"
    if how == "items-nan":  # used silently: the cell's interval moved (issue 24)
        with np.load(run / "items.npz") as npz:
            arrays = {k: npz[k] for k in npz.files}
        arrays["pairs.ws353.gold"][3] = np.nan
        np.savez(run / "items.npz", **arrays)
        return "items.npz"
    name, data = writes[how]
    write(run / name, data)
    return name


DAMAGES = ["metrics-not-json", "metrics-not-utf8", "metrics-a-list", "metrics-bad-status",
           "metrics-text-metric", "metrics-text-count", "metrics-other-run", "config-missing",
           "config-not-json", "config-bad-value", "config-unknown-key", "config-other-run",
           "epochs-text", "epochs-not-csv", "epochs-fraction", "metrics-fifo",
           "items-nan"]  # fmt: skip


@pytest.mark.parametrize("how", DAMAGES)
def test_damaged_run_is_one_warning_counts_as_unfinished_and_is_rerun(
    tmp_path, capsys, two_run_study, how
):
    """A damaged run file gave a traceback (or stopped the grid with one line). Now: one warning
    naming the file, the run is left out of the tables, the other run stays, and the grid's
    rerun replaces the damaged run."""
    shutil.copytree(two_run_study, tmp_path, dirs_exist_ok=True)
    study = tmp_path / "r" / "d"
    victim = sorted((study / "runs").iterdir())[0]
    _damage(victim, how)
    runs, _ = load_table(study)
    assert list(runs["run_id"]) == [sorted(p.name for p in (study / "runs").iterdir())[1]]
    corpus = two_run_study / "c.txt"  # the configs name the original corpus file
    argv = grid(tmp_path / "r", "--study", "d", "--grid", "window=2,3", "--set", *fast_sets(),
                f"corpus={corpus}")  # fmt: skip
    capsys.readouterr()
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "2 runs: 1 skipped, 1 done" in captured.out
    runs, _ = load_table(study)
    assert len(runs) == 2 and set(runs["status"]) == {"done"}


def test_damaged_study_folder_still_reports_with_one_line_per_damaged_file(
    tmp_path, capsys, caplog, two_run_study
):
    """Stray files in runs/ stopped grid and report; a corrupt study.json gave a traceback."""
    shutil.copytree(two_run_study, tmp_path, dirs_exist_ok=True)
    study = tmp_path / "r" / "d"
    write(study / "runs" / "notes.txt", "my notes")
    write(study / "runs" / ".DS_Store", b"\x00")
    (study / "runs" / "empty-folder").mkdir()
    write(study / "study.json", "{")
    victim = sorted(p for p in (study / "runs").iterdir() if len(p.name) == 16)[0]
    _damage(victim, "config-not-json")
    capsys.readouterr()
    with caplog.at_level(logging.WARNING, logger="study.store.results"):
        assert main(["report", str(study)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    damaged = [r.getMessage() for r in caplog.records if "damaged study file" in r.getMessage()]
    assert len(damaged) == 3, damaged
    assert any("notes.txt: not a run folder; ignored" in line for line in damaged)
    assert any("study.json: not JSON" in line for line in damaged)
    assert any(f"{victim.name}/config.json: not JSON" in line for line in damaged)
    assert (study / "report.html").exists()


# -- runs that fail: recorded, reported, the study goes on -------------------------------------
def test_run_with_a_bad_corpus_is_recorded_failed_exit_1(tmp_path, capsys):
    """`study run` records the failed run (its reason in metrics.json) and exits 1."""
    code = main(["run", "--results", str(tmp_path), "--set", *FAST_SETS, "corpus=nope.txt"])
    assert code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [line] = [x for x in err.splitlines() if x.startswith("error:")]
    assert "CorpusError: corpus 'nope.txt' is neither a known name" in line
    runs, _ = load_table(tmp_path / "scratch", save=False)
    assert list(runs["status"]) == ["failed"] and "nope.txt" in runs["error"][0]


def test_grid_with_a_bad_corpus_records_every_cell_failed_and_warns(tmp_path, capsys):
    """A grid goes on past failed cells: each is recorded with its reason; exit 0 + warning."""
    argv = grid(tmp_path, "--grid", "alpha=0.5,1.0", "--set", *FAST_SETS, "corpus=nope.txt")
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "warning: 2 runs failed; their errors are in runs.csv" in out
    runs, _ = load_table(tmp_path / "grid", save=False)
    assert list(runs["status"]) == ["failed", "failed"]
    assert runs["error"].str.contains("'nope.txt' is neither a known name").all()


# torch with one center word per step (batch_size=1) and lr_start=1000 overflows to NaN within
# epoch 1 on any planted corpus. (With the default batch the trainer caps per-row rates, and
# whether lr_start=10000 diverges depends on the corpus.) gensim never produces NaN/inf, even at
# lr_start=10000 (its sigmoid table saturates), so it has no divergence to record.
DIVERGE = ["lr_start=1000", "batch_size=1", "dim=16"]


def test_diverging_learning_rate_is_a_failed_run_with_the_reason(
    tmp_path, capsys, planted_corpus_file
):
    argv = ["run", "--results", str(tmp_path), "--trainer", "torch", "--set", *fast_sets(*DIVERGE)]
    assert main([*argv, f"corpus={planted_corpus_file}"]) == 1
    err = capsys.readouterr().err
    assert "error: run failed: DivergenceError:" in err and "Traceback" not in err
    runs, epochs = load_table(tmp_path / "scratch", save=False)
    assert list(runs["status"]) == ["failed"]
    assert runs["error"][0].startswith("DivergenceError: training diverged in epoch 1")
    assert "lower lr_start" in runs["error"][0]
    assert epochs.empty  # no epoch finished; a later divergence keeps the finished ones


def test_diverging_optuna_trial_fails_and_the_study_goes_on(tmp_path):
    corpus = write(tmp_path / "c.txt", ws353_planted_text())
    store = ResultStore(tmp_path / "tune")
    fixed = dict(s.split("=", 1) for s in fast_sets("batch_size=1", "dim=16", f"corpus={corpus}"))
    base = RunConfig().with_overrides(fixed)
    study = optuna.create_study(direction="maximize")
    for lr in (1000.0, 0.025):
        study.enqueue_trial({"lr_start": lr})
    objective = make_objective(
        base,
        parse_space(["lr_start=0.001:10000:log"]),
        parse_objectives(["ws353_spearman"]),
        store,
        CorpusCache(),
    )
    study.optimize(objective, n_trials=2, catch=(StudyError,))
    assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE"]
    runs, _ = load_table(store, save=False)
    failed = runs.set_index("run_id").loc[study.trials[0].user_attrs["run_id"]]
    assert failed["status"] == "failed" and "diverged" in failed["error"]
    assert sorted(runs["status"]) == ["done", "failed"]


# -- the results folder fails --------------------------------------------------------------------
@pytest.mark.parametrize(
    "where, code",
    [("fsync", errno.ENOSPC), ("replace", errno.ENOSPC), ("mkstemp", errno.EACCES)],
)
def test_disk_full_or_denied_is_one_line_and_leaves_no_temp_file(
    tmp_path, capsys, monkeypatch, planted_corpus_file, where, code
):
    import study.core.atomic as atomic

    def fail(*_args, **_kwargs):
        raise OSError(code, os.strerror(code))

    if where == "mkstemp":
        monkeypatch.setattr(atomic.tempfile, "mkstemp", fail)
    else:
        monkeypatch.setattr(atomic.os, where, fail)
    argv = ["run", "--results", str(tmp_path / "r"), "--set", *FAST_SETS]
    assert main([*argv, f"corpus={planted_corpus_file}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: cannot write ")
    assert os.strerror(code) in err
    leftovers = [p for p in (tmp_path / "r").rglob("*") if p.is_file()]
    assert leftovers == []  # no temp file, no config.json, nothing half-written


def test_disk_full_mid_run_in_a_real_process(tmp_path, planted_corpus_file):
    """Writes beyond 1500 bytes fail (RLIMIT_FSIZE → EFBIG, like a full disk) in a worker:
    the small files are written, vectors.bin is not; the run is not marked done, no temp
    file remains, the error is one line."""
    from study.data.vocab import load_corpus

    data = tmp_path / "data"
    load_corpus(str(planted_corpus_file), 2, data_root=data)  # cache written before the limit
    argv = ["run", "--results", str(tmp_path / "r"), "--set", *fast_sets("dim=16")]
    argv += [f"corpus={planted_corpus_file}"]
    out = tmp_path / "out.txt"
    code = run_worker(argv, out, {"W2V_STUDY_DATA": str(data)}, fsize_limit=1500)
    assert code == 2, out.read_text()
    errors = [line for line in out.read_text().splitlines() if line.startswith("error:")]
    assert errors == [errors[0]] and "File too large" in errors[0] and "Traceback" not in errors[0]
    [folder] = (tmp_path / "r" / "scratch" / "runs").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "epochs.csv"]
    assert json.loads((folder / "config.json").read_text())["dim"] == 16  # whole, not cut
    assert load_table(tmp_path / "r" / "scratch", save=False)[0].empty  # not read as a run


def _can_drop_dac() -> bool:
    if os.geteuid() != 0:
        return True  # plain permissions apply
    if shutil.which("setpriv") is None:
        return False
    probe = subprocess.run(
        ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--", "true"],
        capture_output=True,
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _can_drop_dac(), reason="root without setpriv: chmod cannot bite")
def test_real_process_read_only_results_folder(tmp_path, planted_corpus_file):
    """A read-only results folder (root drops CAP_DAC_OVERRIDE so chmod applies to it too)."""
    results = tmp_path / "ro"
    results.mkdir()
    results.chmod(0o555)
    prefix = []
    if os.geteuid() == 0:
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]
    command = [*prefix, sys.executable, "-m", "study"]
    argv = ["run", "--results", str(results), "--set", *FAST_SETS, f"corpus={planted_corpus_file}"]
    env = {**os.environ, "W2V_STUDY_DATA": str(tmp_path / "data")}
    result = subprocess.run(
        [*command, *argv], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: cannot write ") and "Permission denied" in result.stderr
    assert result.stderr.count("\n") == 1
    assert list(results.iterdir()) == []


def test_real_process_debug_shows_the_traceback(tmp_path):
    """(Exit code 2 and one line without --debug: the read-only test above, and the grid CLI
    tests in test_runner.py, run real processes too.)"""
    command = [sys.executable, "-m", "study", "--debug", "run", "--results", str(tmp_path)]
    result = subprocess.run(
        [*command, "--set", "windw=5"], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "study.core.errors.ConfigError: unknown config key 'windw'" in result.stderr


# -- PCA overlay: words missing from the vocabulary ------------------------------------------------
def test_plot_words_missing_from_the_vocabulary_are_skipped_with_a_warning(caplog):
    from gensim.models import KeyedVectors

    from study.analyze.figures.overlay import select_words

    rng = np.random.default_rng(0)
    words = ["king", "queen", "man", "woman", "the", "of", "and", "a", "in", "to"]
    kv = KeyedVectors(vector_size=8, count=0)
    kv.add_vectors(words, rng.normal(size=(len(words), 8)))
    other = KeyedVectors(vector_size=8, count=0)
    other.add_vectors(words[1:], rng.normal(size=(len(words) - 1, 8)))
    with caplog.at_level(logging.WARNING, logger="study.analyze.figures.overlay"):
        chosen, missing = select_words([kv, other], seed_words=["king", "queen", "paris"], target=5)
    assert missing == ["king", "paris"]  # king is not in the second model, paris in neither
    assert "queen" in chosen and "king" not in chosen and "paris" not in chosen
    assert "skipped: king, paris" in caplog.text
    with pytest.raises(StudyError, match="none of the PCA seed words"):
        select_words([kv], seed_words=["paris", "london"])


# -- corpora the harness must read or refuse, never crash or hang on (issue 14) ---------------
def test_piped_corpus_is_refused_in_one_line_without_hanging(tmp_path, planted_corpus_file):
    """`--corpus /dev/stdin` fed by a pipe, and a bash process substitution, were read twice
    (fingerprint, then text): the second read saw nothing. Now refused at once, exit 2."""
    env = {**os.environ, "W2V_STUDY_DATA": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)}
    study = f"{sys.executable} -m study"
    for command in (
        f"cat {planted_corpus_file} | {study} corpus info --corpus /dev/stdin",
        f"{study} corpus info --corpus <(cat {planted_corpus_file})",
    ):
        result = subprocess.run(
            ["bash", "-c", command], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and "is not a regular file (a pipe)" in result.stderr


TOO_SMALL = [*FAST_SETS, "min_count=1"]


@pytest.mark.parametrize("trainer", ["torch", "gensim"])
@pytest.mark.parametrize("probe", ["probe_pairs=64", "probe_pairs=0"])
def test_corpus_too_small_to_train_is_a_failed_run_and_the_grid_goes_on(
    tmp_path, capsys, trainer, probe
):
    """One word per line has no (center, context) pair: the probe raised a bare ValueError that
    stopped the grid with a traceback, and gensim (probe off) blamed lr_start."""
    corpus = write(tmp_path / "one.txt", "\n".join(f"w{i % 7}" for i in range(300)) + "\n")
    sets = [*fast_sets("min_count=1", probe), f"corpus={corpus}"]
    argv = grid(tmp_path, "--grid", "window=2,3", "--trainers", trainer, "--set", *sets)
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "warning: 2 runs failed" in captured.out
    runs, _ = load_table(tmp_path / "grid", save=False)
    assert list(runs["status"]) == ["failed", "failed"]
    assert runs["error"].str.contains("is too small to train on: no line has two words").all()
    assert not runs["error"].str.contains("lr_start").any()


def test_pairs_lost_to_subsampling_fail_the_run_naming_sample(tmp_path, capsys):
    """Two words in the whole corpus: subsampling (sample>0) drops them; the run fails and the
    message points at `sample`, the probe's at probe_pairs (never at lr_start)."""
    corpus = write(tmp_path / "two.txt", "alpha beta\n")
    cases = [("gensim", "probe_pairs=0"), ("torch", "probe_pairs=0"), ("torch", "probe_pairs=64")]
    for trainer, probe in cases:
        sets = [*fast_sets("min_count=1", probe, "sample=0.001", "seed=3"), f"corpus={corpus}"]
        argv = ["run", "--results", str(tmp_path), "--trainer", trainer, "--set", *sets]
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "Traceback" not in err and "lr_start" not in err
        if probe == "probe_pairs=64":
            assert "too small for the gradient probe" in err and "probe_pairs=0" in err
        else:
            assert "fewer than two words after subsampling; lower sample (now 0.001)" in err


def test_no_pairs_message_names_only_fixes_that_apply():
    from study.train.trainers.base import no_pairs_error

    with_sample = str(no_pairs_error(RunConfig(sample=0.001), 1))
    assert "lower sample (now 0.001)" in with_sample
    without = str(no_pairs_error(RunConfig(sample=0.0, min_count=1), 2))
    assert "sample" not in without and "min_count" not in without and "epoch 2" in without


def _cache_fails(kind: str, data: Path) -> tuple[dict[str, str], int | None, list[str]]:
    """(env, file-size limit, command prefix) making the corpus cache unwritable."""
    if kind == "data-dir-is-a-file":
        data.write_text("not a folder")
        return {"W2V_STUDY_DATA": str(data)}, None, []
    if kind == "file-size-limit":  # the cache (~400 kB) exceeds it, every result file fits
        return {"W2V_STUDY_DATA": str(data)}, 150_000, []
    data.mkdir()
    data.chmod(0o555)
    prefix = []
    if os.geteuid() == 0:
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]
    return {"W2V_STUDY_DATA": str(data)}, None, prefix


@pytest.mark.parametrize("kind", ["data-dir-is-a-file", "file-size-limit", "read-only-data-dir"])
def test_corpus_cache_write_failure_warns_and_the_grid_goes_on(tmp_path, kind):
    """The cache only saves time: a data dir that is a file, read-only, or a file-size limit
    hit while writing the cache gave a traceback that stopped the grid (then a failed run)."""
    if kind == "read-only-data-dir" and not _can_drop_dac():
        pytest.skip("root without setpriv: chmod cannot bite")
    env, limit, prefix = _cache_fails(kind, tmp_path / "data")
    corpus = write(tmp_path / "c.txt", planted_groups_text(n_sentences=5000))  # 100k tokens
    argv = grid(tmp_path / "r", "--grid", "window=2,3", "--set", *fast_sets(), f"corpus={corpus}")
    out = tmp_path / "out.txt"
    if prefix:
        result = subprocess.run(
            [*prefix, sys.executable, "-m", "study", *argv],
            capture_output=True, text=True, env={**os.environ, **env}, cwd=ROOT, timeout=300,
        )  # fmt: skip
        code, text = result.returncode, result.stdout + result.stderr
    else:
        code = run_worker(argv, out, env, fsize_limit=limit)
        text = out.read_text()
    assert code == 0, text
    assert "Traceback" not in text and "2 runs: 0 skipped, 2 done" in text
    assert "corpus cache not written, going on without it: cannot write" in text
    assert not list(tmp_path.rglob("*.tmp*"))  # no temp file left in the data dir or results


TOKENS = ["a\x00", "a", "\x00", "x\x00\x00", "é", "e\u0301", "𝔘𝔫𝔦", "日本", "\ufeffbom", "z" * 300,
          "'quote", "back\\slash", "tab\u200bzero-width", "\x7f", "\U0010ffff"]  # fmt: skip


def test_cache_round_trips_every_token_and_eval_reads_the_vectors(tmp_path, capsys):
    """Tokens with trailing NULs came back from the cache changed ('a\\x00' -> 'a': two words
    became one), so the second run (from the cache) failed or stored unreadable vectors."""
    from study.data.vocab import load_corpus
    from study.train.vectors import load_vectors

    rng = random.Random(0)  # not NumPy: a NumPy str array would drop the NULs itself
    lines = [" ".join(rng.choices(TOKENS, k=12)) for _ in range(200)]
    corpus = write(tmp_path / "odd.txt", "\n".join(lines) + "\n")
    first = load_corpus(str(corpus), 1, data_root=tmp_path / "data")
    second = load_corpus(str(corpus), 1, data_root=tmp_path / "data")  # from the cache
    assert second.cache_path is not None and sorted(first.vocab.words) == sorted(TOKENS)
    assert second.vocab.words == first.vocab.words
    assert np.array_equal(second.ids, first.ids)
    for trainer in ("torch", "gensim"):
        sets = [*fast_sets("min_count=1", "probe_pairs=64"), f"corpus={corpus}"]
        argv = ["run", "--results", str(tmp_path / "r"), "--trainer", trainer, "--set", *sets]
        assert main(argv) == 0, capsys.readouterr().err
    for vectors in (tmp_path / "r").rglob("vectors.bin"):
        assert sorted(load_vectors(str(vectors)).index_to_key) == sorted(TOKENS)


def test_failed_optuna_trials_are_one_line_each_in_the_cli(tmp_path, capsys):
    """Optuna logged each failed trial with a traceback; a user error now prints its line."""
    corpus = write(tmp_path / "c.txt", ws353_planted_text())
    sets = [*fast_sets(*DIVERGE), f"corpus={corpus}"]
    sets = [s for s in sets if not s.startswith("lr_start=")]
    argv = optuna_cmd(tmp_path, "--n-trials", "2", "--space", "lr_start=1000,2000", "--set", *sets)
    assert main([*argv, "--sampler", "random", "--seed", "0"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    failures = [line for line in err.splitlines() if "failed with parameters" in line]
    assert len(failures) == 2 and all("DivergenceError: training diverged" in f for f in failures)
