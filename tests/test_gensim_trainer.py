import math

import numpy as np
import pytest
from gensim.models import Word2Vec
from gensim.models.callbacks import CallbackAny2Vec

from study.core.config import RunConfig
from study.data.vocab import load_corpus
from study.train.probes import PROBE_COLUMNS, GradientProbe, pair_gradients
from study.train.trainers import get_trainer
from study.train.trainers.base import EPOCH_COLUMNS, Callback
from study.train.trainers.gensim_sgns import GensimTrainer, expected_contexts_per_word

FAST = dict(dim=20, workers=1, probe_pairs=1024)


@pytest.fixture
def planted(planted_corpus_file):
    return load_corpus(str(planted_corpus_file), min_count=1)


class Recorder(Callback):
    def __init__(self):
        self.hooks: list[str] = []

    def on_train_begin(self, state):
        self.hooks.append("train_begin")

    def on_epoch_begin(self, state):
        self.hooks.append("epoch_begin")

    def on_epoch_end(self, state):
        self.hooks.append("epoch_end")
        state.row["extra"] = 1.0  # callbacks may add columns

    def on_train_end(self, state):
        self.hooks.append("train_end")


def test_rows_losses_and_vocabulary(planted):
    config = RunConfig(trainer="gensim", epochs=6, **FAST)
    recorder = Recorder()
    trainer = get_trainer("gensim")
    result = trainer.fit(planted, config, [GradientProbe(), recorder])

    assert recorder.hooks == ["train_begin"] + ["epoch_begin", "epoch_end"] * 6 + ["train_end"]
    assert [row["epoch"] for row in result.epochs] == list(range(1, 7))
    assert list(result.epochs[0]) == EPOCH_COLUMNS + PROBE_COLUMNS + ["extra"]
    losses = [row["loss"] for row in result.epochs]
    assert all(loss > 0 and math.isfinite(loss) for loss in losses)
    # learnable corpus: the first epoch averages over the untrained start (≈ 6·log 2 = 4.2)
    assert losses[-1] < 0.7 * losses[0]
    probe = [row["probe_loss"] for row in result.epochs]
    assert probe[-1] < probe[0]
    assert losses[-1] == pytest.approx(probe[-1], rel=0.15)  # same objective, same magnitude
    lrs = [row["lr"] for row in result.epochs]
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] < 0.002
    assert all(row["words"] == planted.n_words for row in result.epochs)
    assert result.words == 6 * planted.n_words
    assert result.train_seconds <= result.seconds

    # the same vocabulary as the corpus, word for word (row i = corpus id i)
    assert result.vectors.index_to_key == planted.vocab.words
    assert np.array_equal(trainer.model.wv.vectors, result.vectors.vectors)
    assert result.output_vectors.shape == (len(planted.vocab), 20)


def test_learns_the_planted_groups(planted):
    result = GensimTrainer().fit(planted, RunConfig(epochs=10, **FAST))
    kv = result.vectors
    groups = [[f"g{g}w{i}" for i in range(5)] for g in range(6)]
    hits = [
        sum(n.startswith(word[:3]) for n, _ in kv.most_similar(word, topn=4)) / 4
        for group in groups
        for word in group
    ]
    assert np.mean(hits) > 0.8


def test_deterministic_with_one_worker(planted):
    config = RunConfig(epochs=2, **FAST)
    a = GensimTrainer().fit(planted, config)
    b = GensimTrainer().fit(planted, config)
    assert np.array_equal(a.vectors.vectors, b.vectors.vectors)
    assert [r["loss"] for r in a.epochs] == [r["loss"] for r in b.epochs]


def test_cbow_runs_and_learns(planted):
    result = GensimTrainer().fit(planted, RunConfig(model="cbow", epochs=5, **FAST))
    losses = [row["loss"] for row in result.epochs]
    assert all(loss > 0 for loss in losses) and losses[-1] < losses[0]


def test_pair_count_matches_brute_force(tmp_path):
    """ρ (contexts per retained word) against direct enumeration of every window draw."""
    lengths = [1, 2, 3, 7, 12, 40]
    lines = [" ".join(f"w{i % 9}" for i in range(n)) for n in lengths]
    path = tmp_path / "lengths.txt"
    path.write_text("\n".join(lines) + "\n")
    corpus = load_corpus(str(path), min_count=1)
    window = 4
    expected_pairs = 0.0
    for n in lengths:
        for i in range(n):
            for b in range(1, window + 1):  # each b with probability 1/window
                expected_pairs += (min(i, b) + min(n - 1 - i, b)) / window
    rho = expected_contexts_per_word(corpus, window, sample=0.0)
    assert rho == pytest.approx(expected_pairs / sum(lengths), rel=1e-12)


def test_gensim_pair_count_matches_effective_words(planted):
    """With sample=0 every word is kept: pairs are the exact expectation, once per epoch."""
    result = GensimTrainer().fit(planted, RunConfig(sample=0.0, epochs=1, **FAST))
    sentences, length = 600, 20  # the planted corpus: 600 sentences of 20 words
    per_sentence = 2 * sum(np.mean([min(i, b) for b in range(1, 6)]) for i in range(length))
    assert result.epochs[0]["pairs"] == round(sentences * per_sentence)


# -- gensim's loss tally and its limits, shown rather than hidden ----------------------------
class EpochLoss(CallbackAny2Vec):
    """The stock recipe: reset at epoch begin, read the delta at epoch end."""

    def __init__(self, offset: float = 0.0):
        self.offset = offset
        self.losses: list[float] = []

    def on_epoch_begin(self, model):
        model.running_training_loss = self.offset

    def on_epoch_end(self, model):
        self.losses.append(model.running_training_loss - self.offset)


def test_compute_loss_must_be_passed_to_train(planted):
    """The bug this project fixes: train() resets compute_loss set in the constructor."""
    model = Word2Vec(vector_size=10, min_count=1, workers=1, compute_loss=True, seed=0)
    sentences = planted.sentences()
    model.build_vocab(sentences)
    model.train(sentences, total_examples=len(sentences), epochs=2)
    assert model.get_latest_training_loss() == 0.0
    model.train(sentences, total_examples=len(sentences), epochs=2, compute_loss=True)
    assert model.get_latest_training_loss() > 0.0


def test_float32_tally_loses_terms_on_a_large_running_sum(planted):
    """gensim's tally is float32: on top of 2**25 (ulp 4) every term below 2 rounds away.

    An epoch on wiki8 sums ~1e8; the per-job tally (default) keeps the sum as a Python float.
    """
    config = RunConfig(epochs=1, **FAST)
    losses = {}
    for tally in ("stock", "job"):
        trainer = GensimTrainer(tally=tally)
        model = trainer.build_model(planted, config)
        recorder = EpochLoss(offset=2.0**25)
        sentences = planted.sentences()
        model.train(
            sentences,
            total_examples=len(sentences),
            epochs=1,
            compute_loss=True,
            callbacks=[recorder],
        )
        losses[tally] = recorder.losses[0]
    assert losses["job"] > 10_000  # ≈ 31k: 12k words × 5.3 contexts × ~0.5 (not 0 at all)
    assert losses["stock"] < 0.2 * losses["job"]


def test_gensim_skips_terms_with_large_dot_products(planted):
    """Terms with |u·v| >= 6 are neither trained nor tallied: the tally misses most of the loss.

    The probe's float64 closed form counts every term.
    """
    config = RunConfig(epochs=1, lr_start=1e-8, lr_end=1e-8, sample=0.0, **FAST)
    trainer = GensimTrainer()
    model = trainer.build_model(planted, config)
    rng = np.random.default_rng(0)
    model.wv.vectors[:] = rng.normal(scale=2.0, size=model.wv.vectors.shape)
    model.syn1neg[:] = rng.normal(scale=2.0, size=model.syn1neg.shape)  # |u·v| ~ 18
    recorder = EpochLoss()
    sentences = planted.sentences()
    model.train(
        sentences, total_examples=len(sentences), epochs=1, compute_loss=True, callbacks=[recorder]
    )
    pairs = 600 * 106  # the planted corpus, sample=0: exact expected pair count
    gensim_loss = recorder.losses[0] / pairs
    ids = planted.ids.astype(np.int64)
    # every adjacent pair (a subset of the training pairs) with gensim-like negatives
    negatives = rng.choice(len(planted.vocab), size=(len(ids) - 1, 5))
    exact = pair_gradients(model.wv.vectors, model.syn1neg, ids[1:], ids[:-1], negatives)
    exact_loss = float(exact.loss.mean())
    assert exact_loss > 10  # large dot products of either sign: large losses
    assert gensim_loss < 0.3 * exact_loss


def test_progress_bar_inside_each_epoch(planted, capsys, monkeypatch):
    """gensim runs showed no progress inside an epoch; the bar advances as its jobs finish."""
    import study.train.trainers.gensim_sgns as gensim_sgns

    finished: list[tuple[str, float, float]] = []

    class Recording(gensim_sgns.tqdm):  # type: ignore[misc,name-defined]
        def close(self):
            if not self.disable:
                finished.append((self.desc, self.n, self.total))
            super().close()

    monkeypatch.setattr(gensim_sgns, "tqdm", Recording)
    GensimTrainer(progress=True).fit(planted, RunConfig(trainer="gensim", epochs=2, **FAST))
    assert "epoch 1/2" in capsys.readouterr().err
    n = planted.n_words
    assert finished == [("epoch 1/2", n, n), ("epoch 2/2", n, n)]  # every word counted, per epoch
    GensimTrainer(progress=False).fit(planted, RunConfig(trainer="gensim", epochs=1, **FAST))
    assert "epoch 1/1" not in capsys.readouterr().err and len(finished) == 2
