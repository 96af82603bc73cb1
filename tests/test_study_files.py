"""Files the project reads back, damaged or replaced: per-item results (items.npz) of every kind
of damage, pipes and links where a file should be, vocab.txt values, vector files that do not
fit together, content-named corpora changed on disk, and names and text the Python API is given
(issue 24, classes 6, 7, 9, 10, 13, 15, 16, 18).

Each damaged per-run file is one warning naming it, and its run is left out (counted as not
finished, so a grid trains it again: `test_bad_input.py::test_damaged_run_is_one_warning_...`);
nothing hangs, allocates what a file claims, or echoes the content of a file it was linked to.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import signal
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from synthetic_store import build_store, run_items

import study
from study.cli.app import main
from study.core.errors import CorpusError, StudyError
from study.evaluate.items import ITEMS_FILE, check_against_metrics
from study.store.results import ResultStore, load_table

SECRET = "s3cr3t-content-of-another-file"


@contextlib.contextmanager
def no_hang(seconds: int = 20) -> Iterator[None]:
    """Fail instead of waiting forever (an open() of a FIFO without a writer never returns)."""

    def alarm(signum: int, frame: object) -> None:
        raise TimeoutError(f"still blocked after {seconds} s: it hangs")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six torch runs (2 cells x 3 seeds) with per-item results (WS353 pairs, analogies)."""
    return build_store(tmp_path_factory.mktemp("files"), seeds=3, trainers=("torch",)).root


def copy_study(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / source.name
    shutil.copytree(source, target)
    return target


def damaged_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "damaged study file" in r.getMessage()]


# -- items.npz: every kind of damage -------------------------------------------------------------
def _arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}


def _save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    path.write_bytes(buffer.getvalue())


def _npy_claiming(shape: tuple[int, ...]) -> bytes:
    """An .npy member whose header claims `shape` float64s but holds 8 bytes of data."""
    out = io.BytesIO()
    header = {"descr": "<f8", "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(out, header)
    return out.getvalue() + b"\x00" * 8


def _replace_member(path: Path, name: str, data: bytes) -> None:
    members = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            members[info.filename] = archive.read(info)
    members[name] = data
    with zipfile.ZipFile(path, "w") as archive:
        for member, content in members.items():
            archive.writestr(member, content)


def _set(key: str, value: object) -> Callable[[dict[str, np.ndarray]], None]:
    return lambda a: a.__setitem__(key, np.asarray(value))


def _edit(key: str, change: Callable[[np.ndarray], np.ndarray]) -> Callable[[dict], None]:
    return lambda a: a.__setitem__(key, change(a[key].copy()))


def _first_found_to_nan(predicted: np.ndarray) -> np.ndarray:
    predicted[np.flatnonzero(~np.isnan(predicted))[:5]] = np.nan
    return predicted


def _with(index: int, value: float) -> Callable[[np.ndarray], np.ndarray]:
    def change(array: np.ndarray) -> np.ndarray:
        array[index] = value
        return array

    return change


ITEM_DAMAGES: dict[str, tuple[Callable[[dict[str, np.ndarray]], None] | None, str]] = {
    # kind: (change to the arrays, what the warning says)
    "nan-gold": (_edit("pairs.ws353.gold", _with(20, np.nan)), "gold holds NaN or infinite"),
    "inf-gold": (_edit("pairs.ws353.gold", _with(20, np.inf)), "gold holds NaN or infinite"),
    "inf-cosine": (_edit("pairs.ws353.predicted", _with(20, -np.inf)), "infinite values"),
    # NaN marks a pair not found: valid alone, but then the items disagree with metrics.json
    "nan-cosines": (_edit("pairs.ws353.predicted", _first_found_to_nan), "metrics.json records"),
    "changed-answers": (
        _edit("analogy.analogy.correct_add", lambda a: a * 0),
        "metrics.json records",
    ),
    "pairs-removed": (
        lambda a: [a.pop("pairs.ws353.gold"), a.pop("pairs.ws353.predicted")],
        "lacks the per-item results of ws353_spearman",
    ),  # fmt: skip
    "analogy-removed": (
        lambda a: [a.pop(k) for k in list(a) if k.startswith("analogy.")],
        "lacks the per-item results of analogy_",
    ),  # fmt: skip
    "one-array-removed": (lambda a: a.pop("pairs.ws353.predicted"), "is missing"),
    "short-array": (_edit("pairs.ws353.predicted", lambda p: p[:-3]), "297 cosines"),
    "2d-array": (_edit("pairs.ws353.gold", lambda g: np.stack([g, g])), "is 2-D"),
    "text-gold": (_edit("pairs.ws353.gold", lambda g: g.astype(str)), "expected 1-D"),
    "float-ids": (_edit("analogy.analogy.section_ids", lambda s: s * 1.5), "expected 1-D"),
    "huge-count": (_set("analogy.analogy.n", 10**11), "is 100000000000, not a count"),
    "negative-count": (_set("analogy.analogy.n", -5), "not a count"),
    "count-beyond-flags": (_set("analogy.analogy.n", 2008), "not 2008 indexes"),
    "bad-section-ids": (
        _edit("analogy.analogy.section_ids", lambda s: s + 7),
        "indexes into 2 sections",
    ),
    "negative-section-id": (_edit("analogy.analogy.section_ids", _with(0, -1)), "indexes into"),
    "short-flags": (_edit("analogy.analogy.covered", lambda c: c[:-2]), "do not hold 2000 flags"),
    "right-not-counted": (_edit("analogy.analogy.covered", lambda c: c * 0), "not counted"),
    "version-3": (_set("version", 3), "version 3"),
    "version-2d": (_set("version", [[1]]), "expected a scalar"),
    "claims-huge-shape": (None, "far more than any benchmark"),
    "not-a-zip": (None, "not an .npz archive"),
    "truncated": (None, "not an items file"),
    "a-pipe": (None, "not a regular file (a pipe)"),
    "a-directory": (None, "not a regular file (a directory)"),
    "a-link": (None, "a symbolic link"),
}


def damage_items(path: Path, kind: str) -> None:
    change, _ = ITEM_DAMAGES[kind]
    if change is not None:
        arrays = _arrays(path)
        change(arrays)
        _save(path, arrays)
    elif kind == "claims-huge-shape":
        _replace_member(path, "pairs.ws353.gold.npy", _npy_claiming((10**10,)))
    elif kind == "not-a-zip":
        path.write_bytes(b"not a zip")
    elif kind == "truncated":
        path.write_bytes(path.read_bytes()[:300])
    elif kind == "a-pipe":
        path.unlink()
        os.mkfifo(path)
    elif kind == "a-directory":
        path.unlink()
        path.mkdir()
    elif kind == "a-link":
        secret = path.parent.parent.parent / "secret.npz"
        secret.write_text(SECRET)
        path.unlink()
        path.symlink_to(secret)


@pytest.mark.parametrize("kind", list(ITEM_DAMAGES))
def test_every_damaged_items_file_is_one_warning_and_its_run_is_left_out(
    synthetic, tmp_path, caplog, kind
):
    """NaN/inf values used silently (a cell showed 0.065 where metrics.json said 0.087), arrays
    taken out (a silent fall-back to seed-only intervals), wrong shapes, dtypes, counts and
    section ids (tracebacks; a huge count tried to allocate 93 GiB)."""
    study_dir = copy_study(synthetic, tmp_path)
    victim = sorted((study_dir / "runs").iterdir())[0]
    damage_items(victim / ITEMS_FILE, kind)
    with caplog.at_level(logging.WARNING, logger="study.store.results"), no_hang():
        runs, _ = load_table(study_dir)
    assert victim.name not in set(runs["run_id"]) and len(runs) == 5
    warned = damaged_warnings(caplog)
    assert len(warned) == 1, warned
    assert f"{victim.name}/items.npz: " in warned[0] and ITEM_DAMAGES[kind][1] in warned[0]
    assert SECRET not in warned[0]


def test_compare_leaves_out_runs_with_damaged_files(synthetic, tmp_path, capsys, caplog):
    """compare (and report: both read the study through load_table, and a report then reads
    no run file itself) gave tracebacks on damaged items and hung on a pipe; now every damaged
    file is one warning, its run is left out, and compare finishes on the rest."""
    study_dir = copy_study(synthetic, tmp_path)
    victims = sorted((study_dir / "runs").iterdir())
    for victim, kind in zip(victims[::2], ["huge-count", "a-pipe", "2d-array"], strict=True):
        damage_items(victim / ITEMS_FILE, kind)
    (victims[1] / "metrics.json").unlink()
    os.mkfifo(victims[1] / "metrics.json")
    argv = ["compare", str(study_dir), "--a", "alpha=0.5", "--b", "alpha=1"]
    with caplog.at_level(logging.WARNING), no_hang(60):
        assert main([*argv, "--where", "trainer=torch"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and len(set(damaged_warnings(caplog))) == 4
    assert "over the seeds both finished: 2;" in captured.out  # the one seed both cells still have


ARRAY_EDITS = st.sampled_from(["drop", "2d", "text", "float", "negate", "nan", "inf", "short",
                               "huge", "empty", "scalar"])  # fmt: skip


@given(edits=st.lists(st.tuples(st.integers(0, 20), ARRAY_EDITS), min_size=1, max_size=3))
def test_items_damaged_any_way_load_consistently_or_are_refused(edits):
    """Any edit of any array: either a ValueError naming the problem, or items whose every
    metric agrees with the metrics recorded beside them (never another exception)."""
    from synthetic_store import metrics_of

    original = run_items(0.5, 0)
    metrics = metrics_of(original)
    buffer = io.BytesIO(original.to_bytes())
    with np.load(buffer) as npz:
        arrays = {k: npz[k] for k in npz.files}
    names = sorted(arrays)
    for index, edit in edits:
        name = names[index % len(names)]
        if name not in arrays:
            continue
        value = arrays[name]
        arrays[name] = {
            "drop": None,
            "2d": np.atleast_2d(value),
            "text": value.astype(str),
            "float": value.astype(np.float64) if value.dtype.kind != "U" else value,
            "negate": -value if value.dtype.kind in "if" else value,
            "nan": np.where(np.arange(value.size).reshape(value.shape) == 0, np.nan, value)
            if value.dtype.kind in "f"
            else value,  # fmt: skip
            "inf": np.full_like(value, np.inf) if value.dtype.kind == "f" else value,
            "short": value[:-1] if value.ndim else value,
            "huge": np.asarray(10**12) if value.ndim == 0 else value,
            "empty": value[:0] if value.ndim else value,
            "scalar": np.asarray(value.flat[0]) if value.size else value,
        }[edit]
        if arrays[name] is None:
            del arrays[name]
    with_path = io.BytesIO()
    np.savez(with_path, **arrays)  # type: ignore[arg-type]
    try:
        items = study.evaluate.items.RunItems.from_bytes(with_path.getvalue())
        check_against_metrics(items, metrics)
    except ValueError as exc:
        assert "\n" not in str(exc)


# -- pipes and links where a study file should be ---------------------------------------------
@pytest.mark.parametrize("name", ["metrics.json", "config.json", "epochs.csv", "items.npz"])
@pytest.mark.parametrize("kind", ["pipe", "link"])
def test_a_pipe_or_link_in_place_of_a_run_file_is_damage_never_a_hang(
    synthetic, tmp_path, caplog, name, kind
):
    """A FIFO in place of a run file hung load_table, compare, report and grid (open() waited
    for a writer); a link to a file elsewhere put its content into warnings."""
    study_dir = copy_study(synthetic, tmp_path)
    victim = sorted((study_dir / "runs").iterdir())[0]
    path = victim / name
    path.unlink(missing_ok=True)
    if kind == "pipe":
        os.mkfifo(path)
    else:
        (tmp_path / "elsewhere").write_text(f"{SECRET},{SECRET}\n1,2\n")
        path.symlink_to(tmp_path / "elsewhere")
    with caplog.at_level(logging.WARNING, logger="study.store.results"), no_hang():
        runs, _ = load_table(study_dir)
    assert victim.name not in set(runs["run_id"]) and len(runs) == 5
    warned = damaged_warnings(caplog)
    assert len(warned) == 1 and f"{victim.name}/{name}: " in warned[0]
    assert SECRET not in warned[0]


def test_a_pipe_in_place_of_study_json_or_the_grid_lock_never_hangs(synthetic, tmp_path, capsys):
    study_dir = copy_study(synthetic, tmp_path)
    (study_dir / "study.json").unlink()
    os.mkfifo(study_dir / "study.json")
    os.mkfifo(study_dir / ".grid.lock")
    with no_hang():
        assert ResultStore(study_dir).read_study_info() == {}
        code = main(["grid", "--results", str(tmp_path), "--study", study_dir.name,
                     "--set", "epochs=1", "corpus=nowhere.txt"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("error: cannot write") and ".grid.lock: not a regular file (a pipe)" in err
    )


# -- vocab.txt and vector files -------------------------------------------------------------------
def _vectors_with_vocab(folder: Path, vocab: str) -> Path:
    from study.train.vectors import keyed_vectors

    words = ["king", "queen", "man"]
    kv = keyed_vectors(words, np.arange(9, dtype=np.float32).reshape(3, 3) + 1)
    path = folder / "vectors.bin"
    kv.save_word2vec_format(str(path), binary=True)
    (folder / "vocab.txt").write_text(vocab)
    return path


@pytest.mark.parametrize(
    ("vocab", "message"),
    [
        ("king 5\nqueen 99999999999999999999999\nman 1\n", "vocab.txt:2: the count is too large"),
        ("king 5\nqueen " + "9" * 5000 + "\nman 1\n", "vocab.txt:2: the count is too large"),
        ("king 5\nqueen -3\nman 1\n", "vocab.txt:2: expected 'word count'"),
        ("king 5\nking 3\nman 1\n", "vocab.txt:2: repeats the word of line 1"),
        (f"{SECRET}\nking 1\n", "vocab.txt:1: expected 'word count'"),
    ],
)
def test_damaged_vocab_values_are_one_line_and_never_echo_it(tmp_path, capsys, vocab, message):
    """A count too large for an integer crashed eval and report (OverflowError); a malformed line
    was echoed in the message, so a vocab.txt linked to another file showed its content."""
    path = _vectors_with_vocab(tmp_path, vocab)
    assert main(["eval", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and SECRET not in err


def test_a_linked_vocab_file_is_never_echoed(tmp_path, capsys):
    (tmp_path / "shadow").write_text(f"root:{SECRET}:19000:0:99999:7:::\n")
    path = _vectors_with_vocab(tmp_path, "")
    (tmp_path / "vocab.txt").unlink()
    (tmp_path / "vocab.txt").symlink_to(tmp_path / "shadow")
    assert main(["eval", str(path)]) == 2
    err = capsys.readouterr().err
    assert "vocab.txt:1: expected 'word count'" in err and SECRET not in err
    # a run folder's files are read without following links at all (report overlays)
    with pytest.raises(StudyError, match="vocab.txt is a symbolic link"):
        study.load_vectors(path, follow_symlinks=False)


@given(
    counts=st.lists(
        st.one_of(st.integers(0, 2**70).map(str), st.text(max_size=8)), min_size=3, max_size=3
    ),
    extra=st.lists(st.text(max_size=12), max_size=2),
)
def test_vocab_files_with_any_values_load_or_are_refused_in_one_line(counts, extra):
    import tempfile

    lines = [f"{w} {c}" for w, c in zip(["king", "queen", "man"], counts, strict=True)] + extra
    with tempfile.TemporaryDirectory() as tmp:
        path = _vectors_with_vocab(Path(tmp), "\n".join(lines))
        try:
            vectors = study.load_vectors(path)
        except StudyError as exc:
            assert "\n" not in str(exc)
            for line in extra:  # the content of a line is never quoted
                if len(line.strip()) > 4 and line.strip() not in {"king", "queen", "man"}:
                    assert line.strip() not in str(exc)
            return
        assert list(vectors.expandos["count"]) == [int(c) for c in counts]


@pytest.mark.parametrize(
    ("other", "message"),
    [
        ({"dim": 4}, "dim 3 and 4"),
        ({"words": ["king", "man", "queen"]}, "different words"),
        ({"counts": [1, 2, 3]}, "different word counts"),
    ],
)
def test_w_plus_c_of_vectors_that_do_not_fit_together_is_one_line(tmp_path, capsys, other, message):
    """Output vectors of another dimension crashed numpy; counts of another run went unnoticed."""
    from study.train.vectors import keyed_vectors

    run = tmp_path / "run"
    run.mkdir()
    path = _vectors_with_vocab(run, "king 5\nqueen 4\nman 3\n")
    words = other.get("words", ["king", "queen", "man"])
    dim = other.get("dim", 3)
    kv = keyed_vectors(words, np.ones((3, dim), dtype=np.float32))
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    kv.save_word2vec_format(str(elsewhere / "output_vectors.bin"), binary=True)
    counts = other.get("counts", [5, 4, 3])
    (elsewhere / "vocab.txt").write_text(
        "".join(f"{w} {c}\n" for w, c in zip(words, counts, strict=True))
    )
    argv = [
        "eval",
        str(path),
        "--w-plus-c",
        "--output-vectors",
        str(elsewhere / "output_vectors.bin"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


# -- content-named corpora and names -------------------------------------------------------------
def test_a_changed_sentences_file_is_written_again_or_refused(tmp_path, caplog):
    """corpus_from_sentences reused a file of the same name and hash without looking at it: a
    tampered file trained instead of the user's sentences."""
    sentences = ["the cat sat on the mat", "the dog sat on the log"] * 5
    spec = study.corpus_from_sentences(sentences, name="pets", data_root=tmp_path)
    path = tmp_path / "corpora" / f"{spec.removeprefix('sentences:')}.txt"
    original = path.read_bytes()
    path.write_bytes(original.replace(b"cat", b"rat"))
    # another process naming the corpus reads the file: it must hold what its name says
    with pytest.raises(CorpusError, match="was changed since it was made"):
        study.load_corpus(spec, min_count=1, data_root=tmp_path, use_cache=False)
    with caplog.at_level(logging.WARNING, logger="study.data.corpus"):
        assert study.corpus_from_sentences(sentences, name="pets", data_root=tmp_path) == spec
    assert path.read_bytes() == original
    assert any("does not hold these sentences" in r.getMessage() for r in caplog.records)
    corpus = study.load_corpus(spec, min_count=1, data_root=tmp_path)
    assert "cat" in corpus.vocab.words and "rat" not in corpus.vocab.words


NAMES = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "a\n",
            "a b",
            ".hidden",
            "a/b",
            "..",
            ".",
            "-x",
            "x" * 101,
            "ok-1_2.3",
            "é",
            "a\x00",
            "\udce9",
            "name\r",
        ]
    ),  # fmt: skip
)


@given(name=NAMES)
def test_study_names_are_what_the_message_promises(name):
    """`$` in a regex matches before a final newline, so 'a\\n' passed; so did spaces and a
    leading dot. A name is accepted only if it is letters, digits, '-', '_', '.' (not first)."""
    import re

    promise = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
    try:
        store = ResultStore.for_study(name, "/tmp/unused")
    except StudyError as exc:
        assert not promise.fullmatch(name) and "\n" not in str(exc)
        return
    assert promise.fullmatch(name) and store.root.name == name


@given(name=NAMES)
def test_corpus_names_are_what_the_message_promises(name):
    import re

    promise = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
    try:
        spec = study.corpus_from_sentences(["a b"], name=name, data_root="/tmp/w2v-names")
    except CorpusError as exc:
        assert not promise.fullmatch(name) and "\n" not in str(exc)
        return
    assert promise.fullmatch(name) and spec.startswith(f"sentences:{name}-")


ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=10)  # lone surrogates too


@given(sentences=st.lists(ANY_TEXT, min_size=1, max_size=4), corpus=ANY_TEXT)
def test_the_api_takes_any_unicode_or_refuses_it_in_one_line(sentences, corpus):
    """Lone surrogates in sentences raised an encoding traceback; in a corpus path (a file name
    that is not UTF-8) they reached the tables, whose writers crashed."""
    try:
        spec = study.corpus_from_sentences(sentences, data_root="/tmp/w2v-unicode")
    except CorpusError as exc:
        assert "\n" not in str(exc)
    else:
        text = (Path("/tmp/w2v-unicode/corpora") / f"{spec[10:]}.txt").read_text("utf-8")
        assert text.split() == " ".join(sentences).split()
    try:
        config = study.RunConfig(corpus=corpus)
    except StudyError as exc:
        assert "\n" not in str(exc)
    else:
        config.canonical_json().encode("utf-8")  # every table and report can hold it
        assert config.corpus.isprintable()
