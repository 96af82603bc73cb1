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
