"""The study's core variables, pinned where training consumes them, for both steps of the torch
trainer: the negatives a step actually uses follow count**alpha (a chi-square goodness of fit
against the noise distribution, which also rejects the other alphas, so the test has power),
the dynamic window's reach is uniform on 1..window, and the learning rate is one linear
schedule from lr_start to lr_end across all epochs, for every step.

Each test fails under the mutation it guards against (checked by hand when written: uniform
negatives in the Triton kernel or the torch step, the learning rate restarting at lr_start
every epoch). The Triton kernels run through the interpreter on tiny inputs; they record what
they drew (`recording_draws`), and with one program they equal the NumPy reference, which
states the schedule on its own."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from scipy.stats import chisquare
from sgns_reference import Draws, Order, reference_epoch
from test_torch_trainer import config, make_corpus

from study.core.steps import interpreting
from study.data.sampling import AliasSampler, noise_distribution
from study.data.vocab import EncodedCorpus, Vocab
from study.train.trainers import torch_walk
from study.train.trainers.base import Callback, TrainState
from study.train.trainers.torch_sgns import TorchTrainer
from study.train.trainers.triton_sgns import kernel_key

ALPHAS = (0.0, 0.75, 1.0)
# Corpus counts far apart, so that count**alpha differs clearly between the alphas above.
COUNTS = np.array([6400, 1600, 400, 100], dtype=np.int64)


def skewed_corpus(n: int, seed: int = 0) -> EncodedCorpus:
    """`n` positions (sentences of 20) over 4 words whose corpus counts are COUNTS: as when a
    run trains on a slice of a larger corpus, the noise distribution comes from the counts."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, len(COUNTS), n).astype(np.int32)
    starts = np.append(np.arange(0, n, 20), n).astype(np.int64)
    vocab = Vocab([f"w{i}" for i in range(len(COUNTS))], COUNTS.copy())
    return EncodedCorpus(f"skewed{n}", ids, starts, vocab, n, fingerprint=f"skewed{n}-{seed}")


def check_fit(drawn: np.ndarray, alpha: float) -> None:
    """The draws fit count**alpha (p > 0.001) and reject each other alpha (p < 0.001)."""
    observed = np.bincount(drawn, minlength=len(COUNTS))
    p_values = {
        a: chisquare(observed, noise_distribution(COUNTS, a) * len(drawn)).pvalue for a in ALPHAS
    }
    assert p_values[alpha] > 1e-3, (alpha, observed, p_values)
    for other in ALPHAS:
        if other != alpha:
            assert p_values[other] < 1e-3, (alpha, other, observed, p_values)


# -- negatives --------------------------------------------------------------------------------
def test_packed_alias_table_holds_the_noise_distribution_to_2_to_the_minus_32() -> None:
    """The kernels' table: slot i keeps itself with threshold/2³², else hands over to its
    alias; the implied distribution is count**alpha."""
    counts = np.array([1000, 400, 400, 77, 5, 5, 1, 1, 1, 3000])
    for alpha in ALPHAS:
        packed = AliasSampler(counts, alpha).packed().numpy()
        keep = (packed & 0xFFFFFFFF) / 2.0**32
        alias = packed >> 32
        implied = keep / len(counts)
        np.add.at(implied, alias, (1.0 - keep) / len(counts))
        np.testing.assert_allclose(implied, noise_distribution(counts, alpha), atol=2**-32)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_torch_step_negatives_follow_count_power_alpha(
    monkeypatch: pytest.MonkeyPatch, alpha: float
) -> None:
    consumed: list[torch.Tensor] = []
    step = torch_walk.train_step  # the batched step as the stream walk calls it

    def recording_step(
        win: Any, w_in: Any, w_out: Any, cfg: Any, lr: float, negatives: Any, cap: Any = None
    ):
        consumed.append(negatives.clone())
        return step(win, w_in, w_out, cfg, lr, negatives, cap)

    monkeypatch.setattr(torch_walk, "train_step", recording_step)
    cfg = config(alpha=alpha, dim=4, window=2, negative=3, epochs=1, kernel="torch")
    TorchTrainer(progress=False).fit(skewed_corpus(600), cfg)
    drawn = torch.cat([n.flatten() for n in consumed]).numpy()
    assert len(drawn) == 600 * 3
    check_fit(drawn, alpha)


@pytest.fixture
def interpreter() -> None:
    pytest.importorskip("triton")

    if not interpreting():
        pytest.skip("a GPU machine: the interpreter is off (test_triton_gpu.py covers CUDA)")


def triton_draws(corpus: EncodedCorpus, **fields: Any) -> np.ndarray:
    """The draws the Triton kernel consumed in one epoch: (positions, 1 + K·slots)."""
    from study.train.trainers.triton_sgns import recording_draws

    with recording_draws() as trace:
        TorchTrainer(progress=False).fit(corpus, config(kernel="triton", epochs=1, **fields))
    ((_, draws),) = trace.epochs
    return draws


@pytest.mark.parametrize("alpha", ALPHAS)
def test_triton_negatives_follow_count_power_alpha_and_reach_is_uniform(
    interpreter: None, alpha: float
) -> None:
    """Per centre: K = 15 negatives for each of 40 centres (600 draws), and their reach; the
    draws are exactly the reference's Philox draws (test_triton_kernel's oracle)."""
    corpus = skewed_corpus(40)
    draws = triton_draws(corpus, alpha=alpha, dim=4, window=3, negative=15, programs=2, seed=2)
    assert draws.shape == (40, 16) and (draws >= 0).all()
    check_fit(draws[:, 1:].flatten(), alpha)
    table = AliasSampler(COUNTS, alpha).packed().numpy()
    expected = Draws(kernel_key(2), 0, table, window=3, negative=15)
    for p, row in enumerate(draws):
        assert row[0] == expected.reach(p)
        np.testing.assert_array_equal(row[1:], expected.negatives(p))
    reach = np.bincount(draws[:, 0], minlength=4)
    assert reach[0] == 0 and chisquare(reach[1:]).pvalue > 1e-3, reach


def test_triton_negatives_per_pair_follow_count_power_alpha(interpreter: None) -> None:
    """Per pair: K fresh negatives for every (centre, context) pair the kernel trained, the
    reference's draws for that pair slot."""
    corpus = skewed_corpus(24)
    draws = triton_draws(
        corpus, alpha=0.75, dim=4, window=1, negative=15, neg_draw="pair", programs=1, seed=3
    )
    negatives = draws[:, 1:]
    drawn = negatives[negatives >= 0]
    assert len(drawn) >= 600 and len(drawn) % 15 == 0
    check_fit(drawn, 0.75)
    table = AliasSampler(COUNTS, 0.75).packed().numpy()
    expected = Draws(kernel_key(3), 0, table, window=1, negative=15)
    for p, row in enumerate(negatives):
        for slot in range(2):
            if row[slot * 15] >= 0:
                np.testing.assert_array_equal(row[slot * 15 : (slot + 1) * 15],
                                              expected.negatives(p, slot))  # fmt: skip


# -- learning rate ----------------------------------------------------------------------------
def test_torch_step_learning_rate_is_one_linear_schedule_across_epochs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every step's lr is lr_start - (lr_start - lr_end)·t, t = the run's progress (words
    before the step / all words of all epochs): decreasing through epoch boundaries."""
    seen: list[tuple[float, int]] = []
    step = torch_walk.train_step  # the batched step as the stream walk calls it

    def recording_step(
        win: Any, w_in: Any, w_out: Any, cfg: Any, lr: float, negatives: Any, cap: Any = None
    ):
        seen.append((lr, len(win.centers)))
        return step(win, w_in, w_out, cfg, lr, negatives, cap)

    monkeypatch.setattr(torch_walk, "train_step", recording_step)
    n, epochs = 200, 3
    cfg = config(dim=4, epochs=epochs, batch_size=32, lr_start=0.05, lr_end=0.001, kernel="torch")
    TorchTrainer(progress=False).fit(skewed_corpus(n), cfg)
    lrs = np.array([lr for lr, _ in seen])
    done = np.cumsum([0] + [size for _, size in seen])[:-1]  # words before each step
    expected = cfg.lr_start - (cfg.lr_start - cfg.lr_end) * done / (n * epochs)
    assert len(seen) == epochs * 7
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    assert (np.diff(lrs) < 0).all()


class InitialVectors(Callback):
    def on_train_begin(self, state: TrainState) -> None:
        self.w_in = state.input_vectors().astype(np.float64)
        self.w_out = state.output_vectors().astype(np.float64)


def test_triton_learning_rate_is_one_linear_schedule_across_epochs(interpreter: None) -> None:
    """Three epochs of the Triton path on 2 programs equal the sequential reference whose lr at
    local position j of epoch e is lr_start - (lr_start - lr_end)·(e + j/slice)/epochs, one
    schedule for the whole run (the vectors differ if it restarts every epoch)."""
    from study.train.trainers.triton_sgns import Slices

    rng = np.random.default_rng(5)
    corpus = make_corpus([[f"w{i}" for i in rng.integers(6, size=8)] for _ in range(2)], "lr")
    epochs, programs = 3, 2
    cfg = config(
        dim=6, window=2, negative=2, epochs=epochs, lr_start=0.2, lr_end=0.01, kernel="triton",
        programs=programs, seed=4, probe_pairs=0,
    )  # fmt: skip
    initial = InitialVectors()
    result = TorchTrainer(progress=False).fit(corpus, cfg, [initial])
    w_in, w_out = initial.w_in, initial.w_out
    n = corpus.n_words
    stream = corpus.ids
    sent = np.repeat(np.arange(2), 8).astype(np.int32)
    slices = Slices.plan(n, programs)
    table = AliasSampler(corpus.vocab.counts, cfg.alpha).packed().numpy()
    span = cfg.lr_start - cfg.lr_end
    for epoch in range(epochs):
        draws = Draws(kernel_key(cfg.seed), epoch, table, cfg.window, cfg.negative)
        loss, pairs = reference_epoch(
            "sg", w_in, w_out, stream, sent, draws,
            Order(programs, slices.slice_len, slices.count),
            lr0=cfg.lr_start - span * epoch / epochs,
            lr_step=span / (epochs * slices.slice_len), per_pair=False,
        )  # fmt: skip
        assert result.epochs[epoch]["loss"] == pytest.approx(loss / pairs, rel=1e-5)
    np.testing.assert_allclose(result.vectors.vectors, w_in, atol=1e-5)
    np.testing.assert_allclose(result.output_vectors, w_out, atol=1e-5)
