"""Closed-form SGNS / softmax gradients (study.train.sgns_math) == autograd == NumPy oracle
(float64)."""

from __future__ import annotations

import numpy as np
import numpy_reference as reference
import pytest
import torch
import torch.nn.functional as F

from study.data.sampling import AliasSampler, build_alias, noise_distribution
from study.train.sgns_math import (
    grad_center,
    grad_context,
    grad_negatives,
    sgns_terms,
    softmax_grad_center,
    softmax_grad_output,
    softmax_terms,
    window_grad_targets,
    window_terms,
)

TOL = 1e-6


def close(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> None:
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=TOL, atol=TOL)


def random_rows(*shape: int, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).requires_grad_()


def test_pair_closed_form_matches_autograd_and_numpy() -> None:
    batch, k, dim = 32, 5, 12
    v, u_pos, u_neg = (
        random_rows(batch, dim, seed=1),
        random_rows(batch, dim, seed=2),
        random_rows(batch, k, dim, seed=3),
    )
    terms = sgns_terms(v, u_pos, u_neg)
    # autograd on the textbook form of the loss, independent of sgns_terms' softplus form
    s_pos = (v * u_pos).sum(-1)
    s_neg = (u_neg @ v[:, :, None]).squeeze(-1)
    auto_loss = -torch.log(torch.sigmoid(s_pos)) - torch.log(torch.sigmoid(-s_neg)).sum(-1)
    g_v, g_pos, g_neg = torch.autograd.grad(auto_loss.sum(), [v, u_pos, u_neg])
    with torch.no_grad():
        close(terms.loss, auto_loss)
        close(grad_center(terms, u_pos, u_neg), g_v)
        close(grad_context(terms, v), g_pos)
        close(grad_negatives(terms, v), g_neg)
    np_loss, np_v, np_pos, np_neg = reference.sgns_pair_terms(
        v.detach().numpy(), u_pos.detach().numpy(), u_neg.detach().numpy()
    )
    close(np_loss, auto_loss.detach())
    close(np_v, g_v)
    close(np_pos, g_pos)
    close(np_neg, g_neg)


def test_reference_matrix_gradients_scatter_repeated_ids() -> None:
    """The oracle's dense dW (np.add.at over repeated ids) equals autograd on whole matrices."""
    vocab, dim, batch, k = 7, 5, 40, 3
    rng = np.random.default_rng(0)
    w_in, w_out = rng.normal(size=(vocab, dim)), rng.normal(size=(vocab, dim)) * 0.3
    centers, contexts = rng.integers(vocab, size=batch), rng.integers(vocab, size=batch)
    negatives = rng.integers(vocab, size=(batch, k))
    grads = reference.sgns(w_in, w_out, centers, contexts, negatives)
    t_in = torch.tensor(w_in, requires_grad=True)
    t_out = torch.tensor(w_out, requires_grad=True)
    v = t_in[torch.as_tensor(centers)]
    terms = sgns_terms(v, t_out[torch.as_tensor(contexts)], t_out[torch.as_tensor(negatives)])
    d_in, d_out = torch.autograd.grad(terms.loss.sum(), [t_in, t_out])
    close(grads.loss, terms.loss.detach())
    close(grads.d_in, d_in)
    close(grads.d_out, d_out)


def test_window_form_equals_pairs_sharing_the_centers_negatives() -> None:
    batch, slots, k, dim = 16, 7, 4, 9
    x, targets = random_rows(batch, slots, dim, seed=4), random_rows(batch, 1 + k, dim, seed=5)
    mask = (torch.rand(batch, slots, generator=torch.Generator().manual_seed(7)) < 0.6).double()
    mask[0] = 0.0  # a center without contexts contributes nothing
    terms = window_terms(x, mask, targets)
    g_x, g_t = torch.autograd.grad(terms.loss.sum(), [x, targets])
    with torch.no_grad():
        close(torch.bmm(terms.coef, targets), g_x)  # ∂L/∂x: the step computes it per slot
        close(window_grad_targets(terms, x), g_t)
        close(terms.pairs, mask.sum(-1))
        # the same thing as independent pairs (b, o): input x[b, o] predicts center b's output
        # vector against center b's negatives
        b, o = mask.nonzero(as_tuple=True)
        pair_loss, np_x, np_pos, np_neg = reference.sgns_pair_terms(
            x[b, o].numpy(), targets[b, 0].numpy(), targets[b, 1:].numpy()
        )
        close(
            torch.zeros(batch, dtype=torch.float64).index_add_(0, b, torch.tensor(pair_loss)),
            terms.loss,
        )
        close(g_x[b, o], np_x)
        np_t = np.concatenate([np_pos[:, None, :], np_neg], axis=1)
        close(torch.zeros_like(targets).index_add_(0, b, torch.tensor(np_t)), g_t)
        assert not g_x[mask == 0].any()


@pytest.mark.parametrize("window_targets", [False, True])
def test_softmax_closed_form_matches_autograd_and_numpy(window_targets: bool) -> None:
    vocab, dim, batch, slots = 11, 6, 13, 4
    v, w_out = random_rows(batch, dim, seed=8), random_rows(vocab, dim, seed=9, scale=0.5)
    g = torch.Generator().manual_seed(10)
    if window_targets:
        targets = torch.randint(vocab, (batch, slots), generator=g)
        weights = (torch.rand(batch, slots, generator=g) < 0.7).double()
    else:
        targets = torch.randint(vocab, (batch,), generator=g)
        weights = torch.ones(batch, dtype=torch.float64)
    terms = softmax_terms(v, w_out, targets, weights)
    per_slot = F.cross_entropy(
        (v @ w_out.T)[:, None, :]
        .expand(-1, targets.reshape(batch, -1).shape[1], -1)
        .transpose(1, 2),
        targets.reshape(batch, -1),
        reduction="none",
    )
    auto_loss = (per_slot * weights.reshape(batch, -1)).sum(-1)
    g_v, g_out = torch.autograd.grad(auto_loss.sum(), [v, w_out])
    with torch.no_grad():
        close(terms.loss, auto_loss)
        close(softmax_grad_center(terms, w_out), g_v)
        close(softmax_grad_output(terms, v), g_out)
    # NumPy oracle: independent (input, target) pairs with weight 1
    b, o = weights.reshape(batch, -1).nonzero(as_tuple=True)
    rows = np.arange(batch)[b.numpy()]
    oracle = reference.softmax(
        v.detach().numpy(), w_out.detach().numpy(), rows, targets.reshape(batch, -1)[b, o].numpy()
    )
    close(oracle.d_in, g_v)
    close(oracle.d_out, g_out)
    close(oracle.loss.sum(), auto_loss.detach().sum())


def test_alias_table_reproduces_the_noise_distribution_exactly() -> None:
    counts = np.array([1000, 400, 400, 77, 5, 5, 1, 1, 1, 3000])
    probs = noise_distribution(counts, 0.75)
    accept, alias = build_alias(probs)
    n = len(probs)
    implied = accept / n  # mass each slot keeps for itself ...
    np.add.at(implied, alias, (1.0 - accept) / n)  # ... plus what slots hand to their alias
    np.testing.assert_allclose(implied, probs, rtol=1e-12, atol=1e-15)


def test_alias_sampler_and_numpy_unigram_sampler_agree_with_count_power() -> None:
    counts = np.array([500, 200, 100, 50, 20, 10, 5, 1])
    draws = 200_000
    torch_ids = AliasSampler(counts, 0.75).sample((draws,), torch.Generator().manual_seed(0))
    np_ids = reference.UnigramSampler(counts, 0.75).sample((draws,), np.random.default_rng(0))
    expected = counts**0.75 / (counts**0.75).sum()
    for ids in (torch_ids.numpy(), np_ids):
        freq = np.bincount(ids, minlength=len(counts)) / draws
        # 5 standard errors of a binomial proportion
        np.testing.assert_array_less(np.abs(freq - expected), 5 * np.sqrt(expected / draws) + 1e-4)


def test_alias_sampler_is_reproducible_given_the_generator() -> None:
    sampler = AliasSampler(np.arange(1, 50), 0.5)
    a = sampler.sample((3, 7), torch.Generator().manual_seed(3))
    b = sampler.sample((3, 7), torch.Generator().manual_seed(3))
    assert a.dtype == torch.int64 and a.shape == (3, 7)
    assert torch.equal(a, b)
