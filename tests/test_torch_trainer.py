"""The PyTorch trainer: one step equals the NumPy oracle, it learns planted structure (skip-gram,
CBOW, full softmax), is deterministic on CPU, reports per-epoch rows and fails clearly."""

from __future__ import annotations

import math
import os
from collections import Counter

import numpy as np
import numpy_reference as reference
import pytest
import torch
from gensim.models import KeyedVectors

from study.core.config import RunConfig
from study.core.errors import ConfigError, DivergenceError
from study.data.vocab import EncodedCorpus, Vocab
from study.train.sgns_math import sgns_terms
from study.train.trainers import get_trainer
from study.train.trainers.base import EPOCH_COLUMNS, Callback, TrainResult, TrainState
from study.train.trainers.torch_sgns import MAX_SOFTMAX_VOCAB, TorchTrainer
from study.train.trainers.torch_step import (
    Window,
    add_rows,
    make_window,
    row_rates,
    train_step,
    window_adjoint,
)

GROUPS, GROUP_SIZE = 6, 5


def make_corpus(sentences: list[list[str]], name: str = "test") -> EncodedCorpus:
    counter = Counter(w for s in sentences for w in s)
    words = [w for w, _ in sorted(counter.items(), key=lambda wc: -wc[1])]
    index = {w: i for i, w in enumerate(words)}
    ids = np.array([index[w] for s in sentences for w in s], dtype=np.int32)
    starts = np.cumsum([0] + [len(s) for s in sentences]).astype(np.int64)
    vocab = Vocab(words, np.array([counter[w] for w in words], dtype=np.int64))
    return EncodedCorpus(name, ids, starts, vocab, len(ids), fingerprint=name)


def planted_corpus(seed: int = 0, n_sentences: int = 500, length: int = 10) -> EncodedCorpus:
    """Sentences drawn from one group of words each: a word's group members are its contexts."""
    rng = np.random.default_rng(seed)
    sentences = []
    for _ in range(n_sentences):
        group = rng.integers(GROUPS)
        sentences.append([f"g{group}w{i}" for i in rng.integers(GROUP_SIZE, size=length)])
    return make_corpus(sentences, f"planted{seed}")


def group_precision(kv: KeyedVectors) -> float:
    """Mean fraction of each word's GROUP_SIZE - 1 nearest neighbours in its own group."""
    hits = []
    for word in kv.index_to_key:
        near = [w for w, _ in kv.most_similar(word, topn=GROUP_SIZE - 1)]
        hits.append(np.mean([w.split("w")[0] == word.split("w")[0] for w in near]))
    return float(np.mean(hits))


def config(**overrides: object) -> RunConfig:
    base = dict(
        dim=16,
        window=3,
        negative=5,
        sample=0.0,
        min_count=1,
        epochs=5,
        batch_size=128,
        lr_start=0.05,
        device="cpu",
        seed=1,
        workers=1,  # one thread: steady timings on a shared box (thread tests set their own)
    )
    base.update(overrides)
    return RunConfig(**base)  # type: ignore[arg-type]


def fit(corpus: EncodedCorpus, cfg: RunConfig, callbacks: tuple[Callback, ...] = ()) -> TrainResult:
    return TorchTrainer(progress=False).fit(corpus, cfg, callbacks)


@pytest.fixture(scope="module")
def corpus() -> EncodedCorpus:
    return planted_corpus()


# -- learning ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("model", "objective"), [("sg", "ns"), ("cbow", "ns"), ("sg", "softmax"), ("cbow", "softmax")]
)
def test_learns_planted_groups(corpus: EncodedCorpus, model: str, objective: str) -> None:
    result = fit(corpus, config(model=model, objective=objective))
    assert group_precision(result.vectors) >= 0.9
    losses = [row["loss"] for row in result.epochs]
    assert losses[-1] < losses[0]


def test_loss_decreases_and_rows_are_complete(corpus: EncodedCorpus) -> None:
    cfg = config(epochs=4)
    result = fit(corpus, cfg)
    assert [row["epoch"] for row in result.epochs] == [1, 2, 3, 4]
    losses = [row["loss"] for row in result.epochs]
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False))
    # initial loss is (1 + K) log 2 ≈ 4.16 for K = 5 (W_out = 0); trained well below it
    assert losses[0] < 6 * math.log(2) and losses[-1] < 0.8 * 6 * math.log(2)
    for row in result.epochs:
        assert list(row)[: len(EPOCH_COLUMNS)] == EPOCH_COLUMNS
        assert row["words"] == corpus.n_words
        # every word in a 10-word sentence has 1..3 contexts per side: E[pairs] ≈ 2·E[b] per word
        assert 2.5 * corpus.n_words < row["pairs"] < 4.2 * corpus.n_words
    assert result.epochs[-1]["lr"] == pytest.approx(cfg.lr_end, abs=0.02)
    assert result.words == corpus.n_words * 4
    assert len(result.vectors) == len(corpus.vocab)
    assert result.output_vectors.shape == (len(corpus.vocab), cfg.dim)


def test_same_seed_gives_identical_vectors_on_cpu(corpus: EncodedCorpus) -> None:
    cfg = config(sample=1e-2, epochs=2)  # subsampling on: all randomness must be seeded
    a, b = fit(corpus, cfg), fit(corpus, cfg)
    c = fit(corpus, cfg.with_overrides({"seed": 2}))
    assert np.array_equal(a.vectors.vectors, b.vectors.vectors)
    assert np.array_equal(a.output_vectors, b.output_vectors)
    assert [r["loss"] for r in a.epochs] == [r["loss"] for r in b.epochs]
    assert not np.array_equal(a.vectors.vectors, c.vectors.vectors)


# -- callbacks and state --------------------------------------------------------------------
class Recorder(Callback):
    def __init__(self) -> None:
        self.events: list[str] = []
        self.initial: tuple[np.ndarray, np.ndarray] | None = None

    def on_train_begin(self, state: TrainState) -> None:
        self.events.append("train_begin")
        self.initial = (state.input_vectors(), state.output_vectors())

    def on_epoch_begin(self, state: TrainState) -> None:
        self.events.append(f"epoch_begin{state.epoch}")

    def on_epoch_end(self, state: TrainState) -> None:
        self.events.append(f"epoch_end{state.epoch}")
        assert isinstance(state.w_in, torch.Tensor) and state.w_in.shape == (30, 16)
        assert math.isfinite(state.loss) and state.pairs > 0 and state.seconds > 0
        state.row["extra"] = 10.0 * state.epoch

    def on_train_end(self, state: TrainState) -> None:
        self.events.append("train_end")


def test_callbacks_see_state_and_add_columns(corpus: EncodedCorpus) -> None:
    recorder = Recorder()
    cfg = config(epochs=2)
    result = fit(corpus, cfg, (recorder,))
    assert recorder.events == [
        "train_begin",
        "epoch_begin0",
        "epoch_end1",
        "epoch_begin1",
        "epoch_end2",
        "train_end",
    ]
    assert [row["extra"] for row in result.epochs] == [10.0, 20.0]
    assert recorder.initial is not None
    w_in, w_out = recorder.initial
    # gensim's initialisation: input U(-0.5/dim, 0.5/dim), output zero
    assert np.abs(w_in).max() <= 0.5 / cfg.dim and w_in.std() > 0.1 / cfg.dim
    assert not w_out.any()
    assert result.train_seconds <= result.seconds


class ThreadRecorder(Callback):
    """torch's intra-op threads as the trainer sees them, every epoch."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    def on_epoch_end(self, state: TrainState) -> None:
        self.threads.append(torch.get_num_threads())


@pytest.fixture(scope="module")
def small() -> EncodedCorpus:
    """A few steps per epoch: threads are slow on a loaded box (every op waits for both)."""
    return planted_corpus(n_sentences=40)


@pytest.mark.parametrize("workers", [1, 2, 0])
def test_workers_set_torch_threads_for_the_run_and_restore_them(
    small: EncodedCorpus, workers: int
) -> None:
    """The threads path (workers=1, or cpu_path="threads" through the API)."""
    expected = workers or os.cpu_count()
    before = torch.get_num_threads()
    recorder = ThreadRecorder()
    trainer = TorchTrainer(progress=False, cpu_path="threads")
    result = trainer.fit(small, config(epochs=2, workers=workers), (recorder,))
    assert recorder.threads == [expected, expected]
    assert result.info["cpu_threads"] == expected  # the runner stores it in provenance.trainer
    assert result.info["cpu_path"] == "threads"
    assert torch.get_num_threads() == before


def test_cpu_threads_argument_overrides_workers_and_is_restored_after_errors(
    small: EncodedCorpus,
) -> None:
    before = torch.get_num_threads()
    recorder = ThreadRecorder()
    result = TorchTrainer(progress=False, cpu_threads=1).fit(
        small, config(epochs=1, workers=2), (recorder,)
    )
    assert recorder.threads == [1] and result.info["cpu_threads"] == 1
    with pytest.raises(ConfigError):  # fails inside the run, after the threads were set
        fit(small, config(workers=2, batch_size=1 << 24))
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(("model", "objective"), [("sg", "ns"), ("cbow", "ns"), ("sg", "softmax")])
def test_thread_count_does_not_change_results(
    corpus: EncodedCorpus, model: str, objective: str
) -> None:
    """Same seed, 1 or 2 threads (the threads path): identical vectors. Measured with this
    torch, not promised by it: the step's parallel ops split work across rows and batch items,
    not within one sum (scatter_add_ sums each row in index order). wiki8 at 1 and 2 threads:
    docs/measurements.md, "Worker processes, threads and gensim"."""
    cfg = config(model=model, objective=objective, sample=1e-2, epochs=1, batch_size=512, dim=64)
    one = fit(corpus, cfg.with_overrides({"workers": 1}))
    threads = TorchTrainer(progress=False, cpu_path="threads")
    two = threads.fit(corpus, cfg.with_overrides({"workers": 2}))
    assert two.info["cpu_threads"] == 2
    assert np.array_equal(one.vectors.vectors, two.vectors.vectors)
    assert np.array_equal(one.output_vectors, two.output_vectors)
    assert [r["loss"] for r in one.epochs] == [r["loss"] for r in two.epochs]


def test_registry_returns_the_torch_trainer() -> None:
    trainer = get_trainer("torch")
    assert isinstance(trainer, TorchTrainer) and trainer.name == "torch"


# -- one step against the oracle ------------------------------------------------------------
def tiny_window(window: int = 2) -> tuple[Window, torch.Tensor]:
    stream = torch.tensor([3, 1, 4, 1, 5, 0, 2, 6, 5, 3, 5, 2])
    sent = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
    win = make_window(stream, sent, 2, 10, window, torch.Generator().manual_seed(0))
    return Window(win.centers, win.rows, win.mask.double(), win.window), stream


def matrices(vocab: int = 7, dim: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    return (
        torch.randn(vocab, dim, generator=g, dtype=torch.float64),
        torch.randn(vocab, dim, generator=g, dtype=torch.float64) * 0.5,
    )


def window_pairs(win: Window) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(center index b, center id, context id) for every real pair of the window."""
    b, o = win.mask.nonzero(as_tuple=True)
    return b.numpy(), win.centers[b].numpy(), win.rows[b + o].numpy()


def test_windows_stay_in_sentences_and_reach() -> None:
    win, stream = tiny_window()
    b, centers, contexts = window_pairs(win)
    sent = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
    _, o = win.mask.nonzero(as_tuple=True)
    pos = 2 + b
    ctx_pos = pos + o.numpy() - win.window
    assert (sent[ctx_pos] == sent[pos]).all()
    assert (ctx_pos != pos).all() and (np.abs(ctx_pos - pos) <= win.window).all()
    assert (stream.numpy()[ctx_pos] == contexts).all()
    # dynamic window: mean pairs per center in long sentences ≈ 2 E[b] = window + 1
    long = torch.zeros(20_000, dtype=torch.int64)
    big = make_window(torch.arange(20_000), long, 0, 20_000, 5, torch.Generator().manual_seed(1))
    assert big.mask.sum(-1).mean().item() == pytest.approx(6.0, rel=0.03)


def test_skipgram_step_equals_numpy_oracle() -> None:
    win, _ = tiny_window()
    w_in, w_out = matrices()
    negatives = torch.randint(
        7, (win.centers.shape[0], 3), generator=torch.Generator().manual_seed(2)
    )
    b, centers, contexts = window_pairs(win)
    # word2vec.c's orientation: the context word's input vector predicts the center word
    # against the center's (shared) negatives
    oracle = reference.sgns(w_in.numpy(), w_out.numpy(), contexts, centers, negatives.numpy()[b])
    lr = 0.1
    new_in, new_out = w_in.clone(), w_out.clone()
    loss, pairs = train_step(win, new_in, new_out, config(model="sg"), lr, negatives, cap=1e9)
    assert pairs.item() == len(b)
    np.testing.assert_allclose(loss.item(), oracle.loss.sum(), rtol=1e-10)
    np.testing.assert_allclose(new_in.numpy(), w_in.numpy() - lr * oracle.d_in, atol=1e-10)
    np.testing.assert_allclose(new_out.numpy(), w_out.numpy() - lr * oracle.d_out, atol=1e-10)


def test_skipgram_softmax_step_equals_numpy_oracle() -> None:
    win, _ = tiny_window()
    w_in, w_out = matrices()
    b, centers, contexts = window_pairs(win)
    oracle = reference.softmax(w_in.numpy(), w_out.numpy(), centers, contexts)
    new_in, new_out = w_in.clone(), w_out.clone()
    loss, _ = train_step(win, new_in, new_out, config(objective="softmax"), 0.1, None, cap=1e9)
    np.testing.assert_allclose(loss.item(), oracle.loss.sum(), rtol=1e-10)
    np.testing.assert_allclose(new_in.numpy(), w_in.numpy() - 0.1 * oracle.d_in, atol=1e-10)
    np.testing.assert_allclose(new_out.numpy(), w_out.numpy() - 0.1 * oracle.d_out, atol=1e-10)


def test_cbow_step_is_word2vec_update() -> None:
    """W_out gets the exact gradient; each context word gets the full ∂L/∂h (word2vec.c)."""
    win, _ = tiny_window()
    w_in, w_out = matrices()
    negatives = torch.randint(
        7, (win.centers.shape[0], 3), generator=torch.Generator().manual_seed(3)
    )
    b, _, contexts = window_pairs(win)
    # autograd through the mean of the context vectors
    t_in, t_out = w_in.clone().requires_grad_(), w_out.clone().requires_grad_()
    h_leaf = (
        torch.zeros(win.centers.shape[0], 4, dtype=torch.float64).index_add(
            0, torch.as_tensor(b), t_in[torch.as_tensor(contexts)]
        )
        / win.mask.sum(-1).clamp(min=1)[:, None]
    )
    h_leaf.retain_grad()
    active = win.mask.sum(-1) > 0
    loss = sgns_terms(h_leaf, t_out[win.centers], t_out[negatives]).loss[active].sum()
    loss.backward()
    assert t_out.grad is not None and h_leaf.grad is not None
    full_dh = torch.zeros_like(w_in).index_add_(
        0, torch.as_tensor(contexts), h_leaf.grad[torch.as_tensor(b)]
    )
    new_in, new_out = w_in.clone(), w_out.clone()
    step_loss, examples = train_step(
        win, new_in, new_out, config(model="cbow"), 0.1, negatives, cap=1e9
    )
    assert examples.item() == active.sum().item()
    np.testing.assert_allclose(step_loss.item(), loss.item(), rtol=1e-10)
    np.testing.assert_allclose(new_out.numpy(), (w_out - 0.1 * t_out.grad).numpy(), atol=1e-10)
    np.testing.assert_allclose(new_in.numpy(), (w_in - 0.1 * full_dh).numpy(), atol=1e-10)


def test_window_adjoint_sums_each_positions_window_slots() -> None:
    """out[b + o] += Σ_j coef[b, o, j] values[b, j]: what 2W shifted adds of a (B, S, d)
    tensor give, from one product over strided windows; the padding rows never count."""
    batch, window, j, dim = 9, 2, 3, 4
    size = 2 * window + 1
    gen = torch.Generator().manual_seed(0)
    coef = torch.randn(batch, size, j, dtype=torch.float64, generator=gen)
    values = torch.randn(batch, j, dim, dtype=torch.float64, generator=gen)
    pad = torch.full(((size - 1) * j, dim), 1e3, dtype=torch.float64)
    padded = torch.cat([pad, values.reshape(-1, dim), pad])
    expected = torch.zeros(batch + 2 * window, dim, dtype=torch.float64)
    for b in range(batch):
        for o in range(size):
            expected[b + o] += coef[b, o] @ values[b]
    torch.testing.assert_close(window_adjoint(coef, padded), expected, rtol=1e-12, atol=1e-12)


def test_add_rows_sums_repeated_rows() -> None:
    w = torch.ones(5, 3, dtype=torch.float64)
    rows = torch.tensor([1, 3, 1, 1])
    values = torch.arange(12, dtype=torch.float64).view(4, 3)
    expected = w.clone().index_add_(0, rows, values)
    add_rows(w, rows, values)
    assert torch.equal(w, expected)


def test_row_rate_is_capped_only_for_rows_stepped_many_times() -> None:
    # row 0: 20 steps (lr·n = 2 > cap); row 1: 2 steps from two parts; row 2: untouched
    first = (torch.tensor([0] * 20 + [1]), torch.ones(21, dtype=torch.float64))
    second = (torch.tensor([1, 0]), torch.ones(2, dtype=torch.float64))
    rates = row_rates(3, 0.1, 0.5, [first, second])
    np.testing.assert_allclose(rates[0].numpy(), [0.5 / 21] * 20 + [0.1])
    np.testing.assert_allclose(rates[1].numpy(), [0.1, 0.5 / 21])
    # a learning rate above the cap is never cut below one step at that rate
    (big,) = row_rates(3, 2.0, 0.5, [first])
    np.testing.assert_allclose(big.numpy(), [2.0 / 20] * 20 + [2.0])


# -- errors ---------------------------------------------------------------------------------
def test_softmax_refuses_a_large_vocabulary() -> None:
    words = [f"w{i}" for i in range(MAX_SOFTMAX_VOCAB + 1)]
    big = make_corpus([words, words])
    with pytest.raises(ConfigError, match="max_vocab="):
        fit(big, config(objective="softmax"))


def test_huge_learning_rate_raises_divergence(corpus: EncodedCorpus) -> None:
    with pytest.raises(DivergenceError, match="lower lr_start"):
        fit(corpus, config(lr_start=10.0, lr_end=10.0, epochs=3))


def test_oversized_batch_is_a_config_error(corpus: EncodedCorpus) -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        fit(corpus, config(batch_size=1 << 24, dim=1000))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_a_config_error(corpus: EncodedCorpus) -> None:
    with pytest.raises(ConfigError, match="cuda"):
        fit(corpus, config(device="cuda"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_learns_on_cuda(corpus: EncodedCorpus) -> None:
    result = fit(corpus, config(device="cuda"))
    assert group_precision(result.vectors) >= 0.9
