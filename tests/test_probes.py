import math

import numpy as np
import pytest
import torch

from study.core.config import RunConfig
from study.data.vocab import load_corpus
from study.train.probes import (
    PROBE_COLUMNS,
    GradientProbe,
    _draw_pairs,
    draw_probe_sample,
    pair_gradients,
    probe_metrics,
)
from study.train.trainers.base import TrainState


@pytest.fixture
def planted(planted_corpus_file):
    return load_corpus(str(planted_corpus_file), min_count=1)


def random_tables(vocab: int, dim: int, seed: int = 0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(scale=0.6, size=(vocab, dim)).astype(dtype),
        rng.normal(scale=0.6, size=(vocab, dim)).astype(dtype),
    )


def test_pair_gradients_equal_autograd():
    rng = np.random.default_rng(1)
    vocab, dim, n, k = 40, 12, 300, 5  # rows repeat across pairs: per-pair grads must not mix
    w_in, w_out = random_tables(vocab, dim)
    centers = rng.integers(0, vocab, n)
    contexts = rng.integers(0, vocab, n)
    negatives = rng.integers(0, vocab, (n, k))

    got = pair_gradients(w_in, w_out, centers, contexts, negatives)

    v = torch.tensor(w_in[centers], requires_grad=True)
    u_c = torch.tensor(w_out[contexts], requires_grad=True)
    u_n = torch.tensor(w_out[negatives], requires_grad=True)
    s_pos = (v * u_c).sum(-1)
    s_neg = torch.einsum("bd,bkd->bk", v, u_n)
    loss = -torch.nn.functional.logsigmoid(s_pos) - torch.nn.functional.logsigmoid(-s_neg).sum(-1)
    loss.sum().backward()  # pair b's loss depends only on row b of v, u_c, u_n

    assert got.loss.dtype == torch.float64
    torch.testing.assert_close(got.loss, loss.detach(), atol=1e-6, rtol=0)
    torch.testing.assert_close(got.grad_v, v.grad, atol=1e-6, rtol=0)
    torch.testing.assert_close(got.grad_c, u_c.grad, atol=1e-6, rtol=0)
    torch.testing.assert_close(got.grad_n, u_n.grad, atol=1e-6, rtol=0)

    # and the probe's columns are the means of exactly these quantities
    sample = draw_like(centers, contexts, negatives)
    metrics = probe_metrics(w_in, w_out, sample)
    assert metrics["probe_loss"] == pytest.approx(float(loss.detach().mean()), abs=1e-9)
    assert metrics["grad_v_norm"] == pytest.approx(float(v.grad.norm(dim=1).mean()), abs=1e-9)
    assert metrics["grad_c_norm"] == pytest.approx(float(u_c.grad.norm(dim=1).mean()), abs=1e-9)
    assert metrics["grad_n_norm"] == pytest.approx(float(u_n.grad.norm(dim=2).mean()), abs=1e-9)


def draw_like(centers, contexts, negatives):
    from study.train.probes import ProbeSample

    return ProbeSample(centers, contexts, negatives, negatives)


def make_state(corpus, config, w_in, w_out) -> TrainState:
    return TrainState(config=config, corpus=corpus, epochs=1, w_in=w_in, w_out=w_out)


def test_probe_identical_for_tensor_and_numpy_state(planted):
    config = RunConfig(alpha=0.5, probe_pairs=1000, dim=16)
    w_in, w_out = random_tables(len(planted.vocab), 16, dtype=np.float32)
    rows = []
    for a, b in [(w_in, w_out), (torch.from_numpy(w_in.copy()), torch.from_numpy(w_out.copy()))]:
        probe = GradientProbe()
        state = make_state(planted, config, a, b)
        probe.on_train_begin(state)
        state.row = state.standard_row()
        probe.on_epoch_end(state)
        rows.append(state.row)
    assert set(PROBE_COLUMNS) <= set(rows[0])
    for column in PROBE_COLUMNS:
        if column != "probe_seconds":
            assert rows[0][column] == rows[1][column], column
            assert math.isfinite(rows[0][column]) and rows[0][column] > 0


def test_probe_works_on_a_trainable_tensor(planted):
    """An nn.Parameter (requires_grad) is read without autograd and without copying the table."""
    config = RunConfig(probe_pairs=256, dim=8)
    w_in = torch.nn.Parameter(torch.randn(len(planted.vocab), 8))
    w_out = torch.nn.Parameter(torch.randn(len(planted.vocab), 8))
    probe = GradientProbe()
    state = make_state(planted, config, w_in, w_out)
    probe.on_train_begin(state)
    probe.on_epoch_end(state)
    assert state.row["probe_loss"] > 0


def test_probe_pairs_zero_disables_it(planted):
    config = RunConfig(probe_pairs=0)
    w_in, w_out = random_tables(len(planted.vocab), 4)
    probe = GradientProbe()
    state = make_state(planted, config, w_in, w_out)
    probe.on_train_begin(state)
    state.row = state.standard_row()
    probe.on_epoch_end(state)
    assert not set(PROBE_COLUMNS) & set(state.row)


def test_pairs_follow_the_dynamic_window(tmp_path):
    """Every word occurs once, so ids are positions: check windows, sentences, distances."""
    n_sent, length, window = 40, 50, 4
    lines = [" ".join(f"s{s}p{p}" for p in range(length)) for s in range(n_sent)]
    path = tmp_path / "unique.txt"
    path.write_text("\n".join(lines) + "\n")
    corpus = load_corpus(str(path), min_count=1)
    sample = draw_probe_sample(corpus, 20000, window, 3, alpha=0.75, sample=0.0, seed=3)
    words = np.asarray(corpus.vocab.words)
    c_words, x_words = words[sample.centers], words[sample.contexts]
    sent = lambda w: np.array([int(x[1 : x.index("p")]) for x in w])  # noqa: E731
    pos = lambda w: np.array([int(x[x.index("p") + 1 :]) for x in w])  # noqa: E731
    assert np.array_equal(sent(c_words), sent(x_words))  # windows never cross sentences
    dist = np.abs(pos(c_words) - pos(x_words))
    assert dist.min() >= 1 and dist.max() <= window
    # P(distance d) ∝ P(b >= d) = (window - d + 1) / window for interior centers
    freq = np.bincount(dist, minlength=window + 1)[1:] / len(dist)
    expected = np.arange(window, 0, -1) / np.arange(window, 0, -1).sum()
    np.testing.assert_allclose(freq, expected, atol=0.015)


def test_pairs_are_drawn_once_per_corpus_window_sample_and_seed(planted):
    """A grid's runs reuse the pairs (the corpus-wide subsampling draw is most of the probe's
    setup): the same arrays, equal to a fresh draw, read-only; another corpus object draws its
    own even under the same name."""
    a = draw_probe_sample(planted, 500, 3, 2, alpha=0.5, sample=1e-3, seed=4)
    b = draw_probe_sample(planted, 500, 3, 5, alpha=1.0, sample=1e-3, seed=4)
    assert a.centers is b.centers and a.contexts is b.contexts
    fresh = _draw_pairs(planted, 500, 3, 1e-3, 4)
    assert np.array_equal(a.centers, fresh[0]) and np.array_equal(a.contexts, fresh[1])
    assert not a.centers.flags.writeable
    other = draw_probe_sample(planted, 500, 4, 2, alpha=0.5, sample=1e-3, seed=4)
    assert other.centers is not a.centers  # another window
    copy = type(planted)(**{**planted.__dict__, "ids": planted.ids[::-1].copy()})
    reversed_sample = draw_probe_sample(copy, 500, 3, 2, alpha=0.5, sample=1e-3, seed=4)
    assert reversed_sample.centers is not a.centers


def test_negatives_follow_the_noise_distributions(planted):
    counts = planted.vocab.counts
    half = draw_probe_sample(planted, 4000, 5, 5, alpha=0.0, sample=1e-3, seed=0)
    ref = draw_probe_sample(planted, 4000, 5, 5, alpha=0.75, sample=1e-3, seed=0)
    # same seed: same pairs and same reference negatives for every α
    assert np.array_equal(half.centers, ref.centers)
    assert np.array_equal(half.negatives_ref, ref.negatives_ref)
    assert ref.negatives is ref.negatives_ref  # α = 0.75: the run's negatives are the reference
    freq_uniform = np.bincount(half.negatives.ravel(), minlength=len(counts)) / half.negatives.size
    np.testing.assert_allclose(freq_uniform, 1 / len(counts), atol=0.01)
    p_ref = counts**0.75 / (counts**0.75).sum()
    freq_ref = np.bincount(ref.negatives.ravel(), minlength=len(counts)) / ref.negatives.size
    np.testing.assert_allclose(freq_ref, p_ref, atol=0.01)


def test_gensim_and_torch_probe_losses_have_the_same_magnitude(planted_corpus_file):
    pytest.importorskip("study.train.trainers.torch_sgns")
    from study.train.trainers.gensim_sgns import GensimTrainer
    from study.train.trainers.torch_sgns import TorchTrainer

    corpus = load_corpus(str(planted_corpus_file), min_count=1)
    # batch 64: the tiny corpus has ~2.5k words per epoch after subsampling, so the torch
    # trainer's default batch (1024 centers) would take only a few steps per epoch
    config = RunConfig(
        dim=20, epochs=5, workers=1, probe_pairs=2048, device="cpu", alpha=0.5, batch_size=64
    )
    results = {}
    for trainer in (GensimTrainer(), TorchTrainer(progress=False)):
        result = trainer.fit(corpus, config, [GradientProbe()])
        results[trainer.name] = result.epochs[-1]
    g, t = results["gensim"], results["torch"]
    # untrained vectors give 6·log 2 ≈ 4.16 per pair; both trainers must have learned
    for row in (g, t):
        assert 0.5 < row["probe_loss"] < 3.0
        assert 0.5 < row["probe_loss_ref"] < 3.0
    # seeds 0-2 measured: probe losses within 1.5 %, gradient norms within 15 %
    assert g["probe_loss"] == pytest.approx(t["probe_loss"], rel=0.1)
    assert g["probe_loss_ref"] == pytest.approx(t["probe_loss_ref"], rel=0.1)
    for column in ("grad_v_norm", "grad_c_norm", "grad_n_norm"):
        assert g[column] == pytest.approx(t[column], rel=0.35), column


@pytest.mark.gpu
def test_probe_on_cuda_tensors_matches_cpu(planted):
    config = RunConfig(alpha=0.5, probe_pairs=1000, dim=16)
    w_in, w_out = random_tables(len(planted.vocab), 16, dtype=np.float32)
    probe = GradientProbe()
    probe.on_train_begin(make_state(planted, config, w_in, w_out))
    cpu = probe_metrics(w_in, w_out, probe.sample)
    on_gpu = [torch.from_numpy(w).cuda() for w in (w_in, w_out)]
    cuda = probe_metrics(*on_gpu, probe.sample)
    for column, value in cpu.items():
        assert cuda[column] == pytest.approx(value, rel=1e-9), column
