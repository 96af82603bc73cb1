"""Saved vectors keep their word counts (vocab.txt) and the output vectors (W_out) are saved
too; `study eval --w-plus-c` scores input + output vectors."""

from collections import Counter

import numpy as np
import pytest
from gensim.models import KeyedVectors
from tiny_run import FAST

from study.cli.app import main
from study.core.config import RunConfig
from study.core.errors import StudyError
from study.run.runner import CorpusCache, attach_counts, execute_run
from study.store.results import ResultStore
from study.train.vectors import (
    OUTPUT_VECTORS_FILE,
    VOCAB_FILE,
    keyed_vectors,
    load_vectors,
    w_plus_c,
)


def test_a_runs_vectors_load_in_gensim_with_their_true_counts(tmp_path, planted_corpus_file):
    config = RunConfig().with_overrides({**FAST, "corpus": str(planted_corpus_file)})
    store = ResultStore(tmp_path / "s")
    assert execute_run(config, store, CorpusCache())["status"] == "done"
    folder = store.run_dir(config.run_id)
    true_counts = Counter(planted_corpus_file.read_text().split())

    # gensim alone, given the vocabulary file the run wrote beside the vectors
    kv = KeyedVectors.load_word2vec_format(
        str(folder / "vectors.bin"), binary=True, fvocab=str(folder / VOCAB_FILE)
    )
    top = kv.index_to_key[0]
    assert top == true_counts.most_common(1)[0][0]
    assert kv.get_vecattr(top, "count") == true_counts[top]
    assert kv.get_vecattr("the", "count") == true_counts["the"]
    # without it gensim invents a count from the rank: the reason vocab.txt exists
    bare = KeyedVectors.load_word2vec_format(str(folder / "vectors.bin"), binary=True)
    assert bare.get_vecattr(top, "count") == len(bare) != true_counts[top]

    # study's loader finds vocab.txt by itself; every word keeps its count
    loaded = load_vectors(folder / "vectors.bin")
    assert {w: loaded.get_vecattr(w, "count") for w in loaded.index_to_key} == {
        w: true_counts[w] for w in loaded.index_to_key
    }
    output = load_vectors(folder / OUTPUT_VECTORS_FILE)
    assert output.index_to_key == loaded.index_to_key
    assert not np.allclose(output.vectors, loaded.vectors)  # W_out, not a copy of W_in


def test_write_vectors_round_trips_both_matrices_exactly(tmp_path):
    from study.data.vocab import EncodedCorpus, Vocab

    rng = np.random.default_rng(0)
    words = ["b", "a", "c", "d"]  # a tie (a, c) keeps its order
    counts = np.array([9, 4, 4, 1])
    w_in = rng.normal(size=(4, 5)).astype(np.float32)
    w_out = rng.normal(size=(4, 5)).astype(np.float32)
    vectors = keyed_vectors(words, w_in)
    corpus = EncodedCorpus(
        "x", np.zeros(0, np.int32), np.zeros(1, np.int64), Vocab(words, counts), 0, "f"
    )
    attach_counts(vectors, corpus)
    ResultStore(tmp_path).write_vectors("r", vectors, w_out)
    folder = tmp_path / "runs" / "r"
    assert (folder / VOCAB_FILE).read_text() == "b 9\na 4\nc 4\nd 1\n"
    got_in, got_out = (
        load_vectors(folder / "vectors.bin"),
        load_vectors(folder / OUTPUT_VECTORS_FILE),
    )
    assert got_in.index_to_key == words == got_out.index_to_key
    assert np.array_equal(got_in.vectors, w_in) and np.array_equal(got_out.vectors, w_out)
    assert np.array_equal(w_plus_c(got_in, got_out).vectors, w_in + w_out)
    assert [w_plus_c(got_in, got_out).get_vecattr(w, "count") for w in words] == [9, 4, 4, 1]
    with pytest.raises(StudyError, match="different words"):
        w_plus_c(got_in, keyed_vectors(["x", "a", "c", "d"], w_out))


def test_run_cli_opt_out_and_eval_w_plus_c(tmp_path, planted_corpus_file, capsys):
    sets = [f"{k}={v}" for k, v in {**FAST, "corpus": str(planted_corpus_file)}.items()]
    base = ["run", "--results", str(tmp_path), "--set", *sets]
    assert main([*base, "--study", "lean", "--no-output-vectors"]) == 0
    assert main([*base, "--study", "full"]) == 0
    run_id = RunConfig().with_overrides(dict(s.split("=", 1) for s in sets)).run_id
    lean = tmp_path / "lean" / "runs" / run_id
    full = tmp_path / "full" / "runs" / run_id
    assert (lean / "vectors.bin").exists() and not (lean / OUTPUT_VECTORS_FILE).exists()
    assert (full / OUTPUT_VECTORS_FILE).exists()
    capsys.readouterr()

    pairs = tmp_path / "pairs.txt"
    pairs.write_text("g0w0 g0w1 9\ng0w0 g1w0 1\ng2w3 g2w4 8\ng2w3 g5w1 2\ng1w1 g1w2 9\n")
    assert main(["eval", str(full / "vectors.bin"), "--w-plus-c", "--pairs", str(pairs)]) == 0
    out = capsys.readouterr().out
    assert "(w+c)" in out and "pairs_spearman" in out
    assert main(["eval", str(lean / "vectors.bin"), "--w-plus-c"]) == 2
    assert "--w-plus-c needs the output vectors" in capsys.readouterr().err
