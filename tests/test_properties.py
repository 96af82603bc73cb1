"""Property tests of the parsers users feed: no input may produce a traceback.

Each parser either accepts its input (and what it returns is then valid and round-trips) or
rejects it with a `StudyError`, whose message the CLI prints as one line. Hypothesis runs with
the fixed profile from conftest.py (derandomized, bounded), so the default suite stays fast and
every run tries the same examples.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import optuna
from hypothesis import given, settings
from hypothesis import strategies as st

from study.cli.app import main
from study.core.config import RunConfig, base_type, field_names, parse_assignments, parse_value
from study.core.errors import StudyError
from study.run.search import check_space, parse_objectives, parse_space

NUMBER_TEXT = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(-3, 3).map(lambda x: f"{x:.3g}"),
    st.sampled_from(
        [
            "nan",
            "-nan",
            "inf",
            "-inf",
            "Infinity",
            "1e999",
            "-1e999",
            "-0",
            "-0.0",
            "+0",
            "0x10",
            "1_0",
            "0_5",
            "\u0663",
            "\u0661\u0662",
            "\uff15",
            "",
            " ",
            "None",
            "none",
            "1e-400",
            "+5",
            ".5",
            "5.",
            "1e",
            "--1",
            "1e5",
            "9" * 400,
            "0.5:1",
            "\x00",
            "1\x00",
        ]
    ),  # fmt: skip
    st.text(max_size=12),
)
KEYS = st.sampled_from([*field_names(), "windw", "", "trainer ", "lr-start", "=", "a=b"])
SCRATCH = Path(tempfile.mkdtemp(prefix="w2v-properties-"))  # dry runs write nothing here


def _cli(argv: list[str]) -> tuple[int, str]:
    """Exit code and stderr of the CLI; any exception other than SystemExit fails the test."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue()


def _assert_valid(config: RunConfig) -> None:
    for name in field_names():
        value = getattr(config, name)
        if isinstance(value, float):
            assert math.isfinite(value) and not (value == 0 and math.copysign(1, value) < 0)
    again = RunConfig.from_dict(json.loads(config.canonical_json()))
    assert again == config and again.run_id == config.run_id  # config.json round-trips


@given(key=KEYS, value=NUMBER_TEXT)
def test_config_values_are_parsed_or_rejected_in_one_line(key, value):
    try:
        parsed = parse_assignments([f"{key}={value}"])
        config = RunConfig().with_overrides(parsed)
    except StudyError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400
        return
    _assert_valid(config)


@given(value=st.floats(allow_nan=False, allow_infinity=False, min_value=-2, max_value=2))
def test_equal_numbers_give_one_run_id(value):
    """-0.0 and 0, 1 and 1.0, a float and its printed form: one value, one run id."""
    config = RunConfig(alpha=value)
    assert RunConfig(alpha=float(repr(value))).run_id == config.run_id
    assert RunConfig().with_overrides({"alpha": repr(value)}).run_id == config.run_id
    if value == 0:
        assert config.run_id == RunConfig(alpha=0).run_id == RunConfig(alpha=-0.0).run_id


@given(
    axes=st.lists(
        st.tuples(KEYS, st.lists(NUMBER_TEXT, min_size=0, max_size=3)), min_size=1, max_size=3
    ),
    seeds=st.one_of(st.none(), st.lists(NUMBER_TEXT, max_size=3).map(",".join)),
)
def test_grid_axes_are_parsed_or_rejected_in_one_line(axes, seeds):
    argv = ["grid", "--dry-run", "--results", str(SCRATCH), "--study", "p"]
    argv += ["--grid", *(f"{key}={','.join(values)}" for key, values in axes)]
    if seeds is not None:
        argv += [f"--seeds={seeds}"]
    code, err = _cli(argv)
    assert code in (0, 2)
    if code == 2:
        assert err.startswith("error: ") and err.count("\n") == 1, err
    assert not (SCRATCH / "p").exists()  # a dry run (or a rejected grid) writes nothing


RANGE = st.tuples(NUMBER_TEXT, NUMBER_TEXT, st.sampled_from(["", ":log", ":lin", ":log:x"])).map(
    lambda t: f"{t[0]}:{t[1]}{t[2]}"
)
CHOICES = st.lists(NUMBER_TEXT, min_size=0, max_size=4).map(",".join)
SPACE_KEYS = st.sampled_from(
    ["alpha", "window", "negative", "sample", "lr_start", "lr_end", "max_vocab", "dim", "model",
     "trainer", "corpus", "seed", "windw"]
)  # fmt: skip


@given(key=SPACE_KEYS, spec=st.one_of(RANGE, CHOICES, st.sampled_from(["sg,cbow", "torch"])))
def test_search_spaces_are_parsed_or_rejected_and_every_suggestion_is_a_valid_config(key, spec):
    base = RunConfig()
    try:
        space = parse_space([f"{key}={spec}"])
        check_space(base, space)
    except StudyError as exc:
        assert "\n" not in str(exc)
        return
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(4):
        trial = study.ask()
        config = base.with_overrides({p.name: p.suggest(trial) for p in space})
        kind = base_type(key)
        if kind in (int, float):
            assert isinstance(getattr(config, key), kind)
        _assert_valid(config)
        study.tell(trial, 0.0)


@given(items=st.lists(st.text(max_size=20), min_size=1, max_size=3))
def test_objectives_are_parsed_or_rejected_in_one_line(items):
    try:
        objectives = parse_objectives(items)
    except StudyError as exc:
        assert "\n" not in str(exc)
        return
    assert len({o.name for o in objectives}) == len(objectives)


@given(key=st.sampled_from(field_names()), value=NUMBER_TEXT)
def test_parse_value_never_returns_a_non_finite_or_negative_zero_number(key, value):
    try:
        parsed = parse_value(key, value)
    except StudyError:
        return
    if base_type(key) is float and parsed is not None:
        assert math.isfinite(parsed) and not (parsed == 0 and math.copysign(1, parsed) < 0)


# -- corpus text: arbitrary Unicode (and bytes) ------------------------------------------------
TOKEN = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=6
).filter(lambda t: not any(c.isspace() for c in t) and t == "".join(t.split()))
LINES = st.lists(st.lists(TOKEN, min_size=0, max_size=8).map(" ".join), min_size=0, max_size=12)
SEPARATORS = st.sampled_from(["\n", "\r\n", "\u2028", "\x1c", "\x85", "\n\n"])


def _tokens(text: str) -> list[str]:
    return [token for line in text.splitlines() for token in line.split()]


@given(
    text=st.one_of(
        st.tuples(LINES, SEPARATORS).map(lambda t: t[1].join(t[0])),
        st.text(max_size=80),
    ),
    suffix=st.sampled_from([".txt", ".gz", ".xz"]),
)
def test_corpus_text_loads_or_is_refused_and_the_cache_round_trips_it(text, suffix):
    import gzip
    import lzma

    from study.data.vocab import load_corpus

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"c{suffix}"
        data = text.encode()
        path.write_bytes({".gz": gzip.compress, ".xz": lzma.compress}.get(suffix, bytes)(data))
        try:
            first = load_corpus(str(path), min_count=1, data_root=Path(tmp) / "data")
        except StudyError as exc:
            assert "\n" not in str(exc)
            assert not _tokens(text)  # only an empty corpus may be refused here
            return
        second = load_corpus(str(path), min_count=1, data_root=Path(tmp) / "data")
    tokens = _tokens(text)
    assert sorted(first.vocab.words) == sorted(set(tokens))
    assert first.raw_tokens == len(tokens)
    assert second.cache_path is not None  # read back from the cache, unchanged
    assert second.vocab.words == first.vocab.words
    assert np.array_equal(second.vocab.counts, first.vocab.counts)
    assert np.array_equal(second.ids, first.ids)
    assert np.array_equal(second.sentence_starts, first.sentence_starts)


@given(data=st.binary(max_size=64))
def test_corpus_bytes_load_or_are_refused_in_one_line(data):
    from study.data.vocab import load_corpus

    with tempfile.TemporaryDirectory() as tmp:
        for name in ("c.txt", "c.gz", "c.bz2", "c.xz", "c.zip"):
            path = Path(tmp) / name
            path.write_bytes(data)
            try:
                load_corpus(str(path), min_count=1, data_root=Path(tmp) / "data")
            except StudyError as exc:
                assert "\n" not in str(exc)


@settings(max_examples=6)
@given(
    lines=st.lists(st.lists(TOKEN, min_size=2, max_size=6).map(" ".join), min_size=3, max_size=8)
)
def test_corpus_of_any_tokens_trains_and_its_vectors_read_back(lines):
    """End to end on arbitrary tokens: both trainers finish, and the stored vectors (with
    vocab.txt) read back with exactly the corpus's words."""
    from study.run.runner import CorpusCache, execute_run
    from study.store.results import ResultStore
    from study.train.vectors import load_vectors

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "c.txt"
        corpus.write_text("\n".join(lines * 3) + "\n")
        store = ResultStore(Path(tmp) / "s")
        fixed = {"dim": 4, "epochs": 1, "min_count": 1, "workers": 1, "probe_pairs": 16,
                 "device": "cpu", "corpus": str(corpus), "sample": 0.0}  # fmt: skip
        for trainer in ("torch", "gensim"):
            config = RunConfig(trainer=trainer, **fixed)
            result = execute_run(config, store, CorpusCache(str(Path(tmp) / "data")))
            assert result["status"] == "done", result.get("error")
            vectors = load_vectors(store.run_dir(config.run_id) / "vectors.bin")
            assert sorted(vectors.index_to_key) == sorted(set(_tokens("\n".join(lines))))


# -- vector files: valid ones damaged in arbitrary ways, and arbitrary bytes -----------------------
def _vector_file(binary: bool) -> bytes:
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=3, count=0)
    words = ["king", "queen", "man", "wo\u00a0man", "a\x00"]
    kv.add_vectors(words, np.arange(15, dtype=np.float32).reshape(5, 3) / 7)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v"
        kv.save_word2vec_format(str(path), binary=binary)
        return path.read_bytes()


VECTOR_FILES = {True: _vector_file(True), False: _vector_file(False)}
HEADERS = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.tuples(st.integers(-2, 10**12), st.integers(-2, 10**6)).map(lambda t: f"{t[0]} {t[1]}"),
)


def _load_or_refuse(path: Path) -> None:
    from study.train.vectors import load_vectors

    try:
        vectors = load_vectors(path)
    except StudyError as exc:
        assert "\n" not in str(exc)
        return
    matrix = np.asarray(vectors.vectors)
    assert matrix.ndim == 2 and len(vectors.index_to_key) == matrix.shape[0] > 0
    assert np.isfinite(matrix).all()
    assert len(set(vectors.index_to_key)) == len(vectors.index_to_key)


@given(
    binary=st.booleans(),
    header=HEADERS,
    cut=st.integers(0, 120),
    flips=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=4),
    vocab=st.one_of(st.none(), st.text(max_size=40)),
)
def test_damaged_vector_files_load_or_are_refused_in_one_line(binary, header, cut, flips, vocab):
    data = bytearray(VECTOR_FILES[binary])
    if header is not None:
        data = bytearray(header.encode() + data[data.index(b"\n") :])
    for position, value in flips:
        if position < len(data):
            data[position] = value
    del data[len(data) - min(cut, len(data)) :]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vectors.bin"
        path.write_bytes(bytes(data))
        if vocab is not None:
            (Path(tmp) / "vocab.txt").write_text(vocab)
        _load_or_refuse(path)


@given(data=st.binary(max_size=120), suffix=st.sampled_from(["", ".gz", ".bz2", ".kv"]))
def test_arbitrary_bytes_as_vectors_are_refused_in_one_line(data, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"vectors{suffix}"
        path.write_bytes(data)
        _load_or_refuse(path)
