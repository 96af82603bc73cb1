"""The TensorBoard callback (read back with tensorboard's own event reader) and the
nearest-neighbours callback (printed, and stored in the run folder)."""

import csv

import numpy as np
import pytest
from tiny_run import FAST

from study.cli.app import main
from study.core.config import RunConfig
from study.evaluate.tensorboard import TENSORBOARD_DIR, TensorBoardCallback
from study.run.runner import CorpusCache, execute_run
from study.store.results import ResultStore
from study.train.neighbours import NEIGHBOURS_FILE, nearest
from study.train.vectors import keyed_vectors


def test_tensorboard_event_files_hold_epochs_metrics_hparams_and_embeddings(
    tmp_path, planted_corpus_file
):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = RunConfig().with_overrides({**FAST, "corpus": str(planted_corpus_file)})
    store = ResultStore(tmp_path / "tb")
    log_dir = store.run_dir(config.run_id) / TENSORBOARD_DIR
    callback = TensorBoardCallback(log_dir, eval_every=1, projector_words=20)
    result = execute_run(config, store, CorpusCache(), extra_callbacks=[callback])
    assert result["status"] == "done"

    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    epochs = store.read_epochs(config.run_id)
    for column in ("loss", "probe_loss", "probe_loss_ref", "grad_v_norm", "grad_n_norm", "lr"):
        logged = events.Scalars(f"epoch/{column}")
        assert [e.step for e in logged] == [1, 2], column
        assert [e.value for e in logged] == pytest.approx(list(epochs[column]), rel=1e-6), column
    coverage = events.Scalars("eval/ws353_coverage")
    assert [e.step for e in coverage] == [1, 2]  # eval_every=1, and the end
    assert coverage[-1].value == pytest.approx(result["metrics"]["ws353_coverage"])
    assert "hparams/ws353_coverage" in scalars  # the HPARAMS tab's metric

    # the HPARAMS plugin's session: the run's hyperparameters
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = start.session_start_info.hparams
    assert hparams["alpha"].number_value == config.alpha
    assert hparams["trainer"].string_value == "torch"

    # the projector: the 20 most frequent words' input vectors with their words
    (projector,) = log_dir.rglob("projector_config.pbtxt")
    assert "input_vectors" in projector.read_text()
    (tensors,) = log_dir.rglob("tensors.tsv")
    (metadata,) = log_dir.rglob("metadata.tsv")
    rows = np.loadtxt(tensors, delimiter="\t")
    assert rows.shape == (20, FAST["dim"])
    corpus = CorpusCache().get(config)
    assert metadata.read_text().split() == corpus.vocab.words[:20]


def test_tensorboard_rerun_starts_afresh(tmp_path, planted_corpus_file):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = RunConfig().with_overrides(
        {**FAST, "probe_pairs": 0, "corpus": str(planted_corpus_file)}
    )
    store = ResultStore(tmp_path / "tb")
    log_dir = store.run_dir(config.run_id) / TENSORBOARD_DIR
    for _ in range(2):
        execute_run(config, store, CorpusCache(), [TensorBoardCallback(log_dir, projector_words=0)])
    events = EventAccumulator(str(log_dir))
    events.Reload()
    assert [e.step for e in events.Scalars("epoch/loss")] == [1, 2]  # not [1, 2, 1, 2]


def test_nearest_matches_gensim_most_similar():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(50)]
    vectors = rng.normal(size=(50, 8)).astype(np.float32)
    kv = keyed_vectors(words, vectors)
    index = {w: i for i, w in enumerate(words)}
    found = nearest(vectors, words, index, ["w3", "w17"], k=5)
    for word in ("w3", "w17"):
        expected = kv.most_similar(word, topn=5)
        assert [n for n, _ in found[word]] == [n for n, _ in expected]
        assert [c for _, c in found[word]] == pytest.approx([c for _, c in expected], abs=1e-5)


def test_run_cli_prints_and_stores_neighbours_and_tensorboard(
    tmp_path, planted_corpus_file, capsys
):
    sets = {**FAST, "epochs": 3, "corpus": str(planted_corpus_file)}
    argv = ["run", "--results", str(tmp_path), "--study", "nb", "--set"]
    argv += [f"{k}={v}" for k, v in sets.items()]
    argv += ["--neighbours", "g0w0,g3w1,nope", "-k", "4", "--tensorboard"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "not in the vocabulary, skipped: nope" in out
    assert "epoch 3 g0w0: " in out and "epoch 1 g3w1: " in out
    run_dir = ResultStore(tmp_path / "nb").run_dir(RunConfig().with_overrides(sets).run_id)
    with open(run_dir / NEIGHBOURS_FILE) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 * 2 * 4  # epochs x found words x k
    assert {(r["epoch"], r["word"]) for r in rows} == {
        (str(e), w) for e in (1, 2, 3) for w in ("g0w0", "g3w1")
    }
    last = [r for r in rows if r["epoch"] == "3" and r["word"] == "g0w0"]
    assert [int(r["rank"]) for r in last] == [1, 2, 3, 4]
    cosines = [float(r["cosine"]) for r in last]
    assert cosines == sorted(cosines, reverse=True) and "g0w0" not in {r["neighbour"] for r in last}
    assert list((run_dir / TENSORBOARD_DIR).glob("events.out.tfevents.*"))


def test_grid_stores_neighbours_in_each_run_folder_without_printing(
    tmp_path, planted_corpus_file, capsys
):
    sets = [f"{k}={v}" for k, v in {**FAST, "corpus": str(planted_corpus_file)}.items()]
    argv = ["grid", "--results", str(tmp_path), "--study", "g", "--grid", "alpha=0.5,1.0"]
    assert main([*argv, "--set", *sets, "--neighbours", "g1w2"]) == 0
    assert "g1w2:" not in capsys.readouterr().out
    files = sorted((tmp_path / "g" / "runs").glob(f"*/{NEIGHBOURS_FILE}"))
    assert len(files) == 2
