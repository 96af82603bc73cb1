"""Closed-form SGNS loss and gradients, vectorised in torch (any dtype, any device), used by the
torch trainer's batched step (`torch_step`) and the gradient probe and checked against autograd
and the NumPy reference (`tests/numpy_reference.py`). For one pair (w, c) with negatives n_k,
v = input vector of w, s⁺ = u_c·v, s_k = u_{n_k}·v:

    L = -log σ(s⁺) - Σ_k log σ(-s_k)      ∂L/∂v = (σ(s⁺) - 1) u_c + Σ_k σ(s_k) u_{n_k}
    ∂L/∂u_c = (σ(s⁺) - 1) v               ∂L/∂u_nk = σ(s_k) v
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class SGNSTerms:
    loss: torch.Tensor  # (B,) loss per pair
    coef_pos: torch.Tensor  # (B,) σ(s⁺) - 1
    coef_neg: torch.Tensor  # (B, K) σ(s_k)


def sgns_terms(v: torch.Tensor, u_pos: torch.Tensor, u_neg: torch.Tensor) -> SGNSTerms:
    """Per-pair loss and gradient coefficients. v, u_pos: (B, d); u_neg: (B, K, d)."""
    s_pos = (v * u_pos).sum(-1)
    s_neg = torch.einsum("bd,bkd->bk", v, u_neg)
    # -log σ(s) = softplus(-s) and -log σ(-s) = softplus(s): stable for large |s|
    loss = F.softplus(-s_pos) + F.softplus(s_neg).sum(-1)
    return SGNSTerms(loss=loss, coef_pos=torch.sigmoid(s_pos) - 1.0, coef_neg=torch.sigmoid(s_neg))


def grad_center(terms: SGNSTerms, u_pos: torch.Tensor, u_neg: torch.Tensor) -> torch.Tensor:
    """∂L/∂v, shape (B, d)."""
    return terms.coef_pos[:, None] * u_pos + torch.einsum("bk,bkd->bd", terms.coef_neg, u_neg)


def grad_context(terms: SGNSTerms, v: torch.Tensor) -> torch.Tensor:
    """∂L/∂u_c, shape (B, d)."""
    return terms.coef_pos[:, None] * v


def grad_negatives(terms: SGNSTerms, v: torch.Tensor) -> torch.Tensor:
    """∂L/∂u_{n_k}, shape (B, K, d)."""
    return terms.coef_neg[:, :, None] * v[:, None, :]


# -- a center's whole window, negatives shared by the window's pairs ---------------------------
# The trainer's skip-gram step, in word2vec.c's orientation: the input vectors x_o of the
# context words predict the center's output vector t_0 (s_o0 = x_o·t_0, label 1) against K
# negatives t_1..t_K drawn once per center and shared by its pairs (s_ok = x_o·t_k, label 0;
# Ji et al. 2016). m_o ∈ {0, 1} marks the real pairs. Summing the per-pair formulas above:
#     L        = Σ_o m_o [softplus(-s_o0) + Σ_k softplus(s_ok)]
#     ∂L/∂s_oj = m_o (σ(s_oj) - [j = 0])  =: G_oj
#     ∂L/∂x_o  = Σ_j G_oj t_j,   ∂L/∂t_j = Σ_o G_oj x_o


@dataclass
class WindowTerms:
    loss: torch.Tensor  # (B,) loss summed over the center's pairs
    pairs: torch.Tensor  # (B,) Σ_o m_o, pairs per center
    coef: torch.Tensor  # (B, O, 1 + K) G = ∂L/∂s


def window_terms(x: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor) -> WindowTerms:
    """x: (B, O, d) context input vectors (may be a strided view); mask: (B, O) 0/1;
    targets: (B, 1 + K, d), the center's output vector then its K negatives."""
    scores = torch.bmm(x, targets.transpose(1, 2))
    # sign = +1 for the center's column, -1 for the negatives: q = σ(sign·s) is the probability
    # of the right label, loss = -log q, and G = sign·(q - 1). One sigmoid and one log instead of
    # softplus on strided slices (far faster on CPU: docs/DESIGN.md); -log q is exact in float32
    # until |s| ≈ 87, far past the point where the divergence guard stops a run.
    sign = torch.full((targets.shape[1],), -1.0, dtype=x.dtype, device=x.device)
    sign[0] = 1.0
    q = torch.sigmoid(scores * sign)
    loss = -(torch.log(q).sum(-1) * mask).sum(-1)
    coef = (q - 1.0).mul_(sign * mask[:, :, None])
    return WindowTerms(loss=loss, pairs=mask.sum(-1), coef=coef)


def window_grad_targets(terms: WindowTerms, x: torch.Tensor) -> torch.Tensor:
    """∂L/∂t (center's output vector, then the negatives), shape (B, 1 + K, d)."""
    return torch.bmm(terms.coef.transpose(1, 2), x)


# -- full softmax (the exact objective SGNS approximates) ----------------------------------------
# For one pair with scores s = W_out v over the whole vocabulary and p = softmax(s):
#     L = -log p_c,   ∂L/∂v = W_outᵀ (p - e_c),   ∂L/∂W_out = (p - e_c) vᵀ
# With several weighted targets per input (a skip-gram window: weights m_o, n = Σ_o m_o) the
# coefficients add up: L = -Σ_o m_o log p_{c_o}, coef = n p - Σ_o m_o e_{c_o}.


@dataclass
class SoftmaxTerms:
    loss: torch.Tensor  # (B,) loss per input (summed over its targets)
    coef: torch.Tensor  # (B, V) ∂L/∂s = n p - Σ_o m_o e_{c_o}


def softmax_terms(
    v: torch.Tensor,
    w_out: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor | None = None,
) -> SoftmaxTerms:
    """v: (B, d); w_out: (V, d); targets: (B,) or (B, O) ids; weights: like targets (default 1)."""
    if targets.dim() == 1:
        targets = targets[:, None]
    if weights is None:
        weights = torch.ones(targets.shape, dtype=v.dtype, device=v.device)
    elif weights.dim() == 1:
        weights = weights[:, None]
    log_p = torch.log_softmax(v @ w_out.T, dim=-1)
    loss = -(log_p.gather(1, targets) * weights).sum(-1)
    coef = log_p.exp() * weights.sum(-1, keepdim=True)
    coef = coef.scatter_add(1, targets, -weights)
    return SoftmaxTerms(loss=loss, coef=coef)


def softmax_grad_center(terms: SoftmaxTerms, w_out: torch.Tensor) -> torch.Tensor:
    """∂L/∂v per input, shape (B, d)."""
    return terms.coef @ w_out


def softmax_grad_output(terms: SoftmaxTerms, v: torch.Tensor) -> torch.Tensor:
    """∂(Σ_b L_b)/∂W_out, shape (V, d): dense, every output row gets a gradient."""
    return terms.coef.T @ v
