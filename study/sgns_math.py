"""Closed-form SGNS loss and gradients, vectorised in torch (any dtype, any device).

For one (center w, context c) pair with negatives n_1..n_K, v = input vector of w, u = output
vectors, s⁺ = u_c·v, s_k = u_{n_k}·v:

    L        = -log σ(s⁺) - Σ_k log σ(-s_k)
    ∂L/∂v    = (σ(s⁺) - 1) u_c + Σ_k σ(s_k) u_{n_k}
    ∂L/∂u_c  = (σ(s⁺) - 1) v
    ∂L/∂u_nk = σ(s_k) v

Used by the PyTorch trainer's plain path and by the gradient-norm probe; checked against
autograd and the NumPy reference (`study.reference`) in the tests.
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


# -- a center's whole window, negatives shared by the center's pairs ---------------------------
# The trainer's skip-gram step: center v with context rows u_o (mask m_o ∈ {0, 1} marks the
# real pairs, n = Σ_o m_o) and K negatives drawn once per center and used by each of its n
# pairs (negative sharing, Ji et al. 2016). Summing the per-pair formulas above over the window:
#     L        = Σ_o m_o softplus(-s_o) + n Σ_k softplus(s_k)
#     ∂L/∂v    = Σ_o m_o (σ(s_o) - 1) u_o + n Σ_k σ(s_k) u_k
#     ∂L/∂u_o  = m_o (σ(s_o) - 1) v,   ∂L/∂u_k = n σ(s_k) v


@dataclass
class WindowTerms:
    loss: torch.Tensor  # (B,) loss summed over the center's pairs
    pairs: torch.Tensor  # (B,) n, pairs per center
    coef_pos: torch.Tensor  # (B, O) m_o (σ(s_o) - 1)
    coef_neg: torch.Tensor  # (B, K) n σ(s_k)


def window_terms(
    v: torch.Tensor, u_ctx: torch.Tensor, mask: torch.Tensor, u_neg: torch.Tensor
) -> WindowTerms:
    """v: (B, d); u_ctx: (B, O, d) (may be a strided view); mask: (B, O) 0/1; u_neg: (B, K, d)."""
    s_pos = torch.einsum("bd,bod->bo", v, u_ctx)
    s_neg = torch.einsum("bd,bkd->bk", v, u_neg)
    pairs = mask.sum(-1)
    loss = (F.softplus(-s_pos) * mask).sum(-1) + pairs * F.softplus(s_neg).sum(-1)
    coef_pos = (torch.sigmoid(s_pos) - 1.0) * mask
    coef_neg = pairs[:, None] * torch.sigmoid(s_neg)
    return WindowTerms(loss=loss, pairs=pairs, coef_pos=coef_pos, coef_neg=coef_neg)


def window_grad_center(
    terms: WindowTerms, u_ctx: torch.Tensor, u_neg: torch.Tensor
) -> torch.Tensor:
    """∂L/∂v, shape (B, d)."""
    return torch.einsum("bo,bod->bd", terms.coef_pos, u_ctx) + torch.einsum(
        "bk,bkd->bd", terms.coef_neg, u_neg
    )


def window_grad_context(terms: WindowTerms, v: torch.Tensor) -> torch.Tensor:
    """∂L/∂u_o, shape (B, O, d) (the trainer scatters it without materialising it)."""
    return terms.coef_pos[:, :, None] * v[:, None, :]


def window_grad_negatives(terms: WindowTerms, v: torch.Tensor) -> torch.Tensor:
    """∂L/∂u_k, shape (B, K, d)."""
    return terms.coef_neg[:, :, None] * v[:, None, :]


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
