"""Negative sampling from count**alpha with Walker's alias method on the training device: the
table is built once (Vose, float64 on the host) and each draw costs two uniforms and two
gathers with a seeded `torch.Generator`, instead of `torch.multinomial` re-scanning the whole
distribution per batch (word2vec.c uses a 1e8-entry unigram table).
"""

from __future__ import annotations

import numpy as np
import torch


def noise_distribution(counts: np.ndarray, alpha: float) -> np.ndarray:
    """The negative-sampling distribution: count**alpha, normalised (float64)."""
    weights = np.asarray(counts, dtype=np.float64) ** alpha
    total = weights.sum()
    if not np.isfinite(total) or total <= 0:
        raise ValueError("noise distribution needs positive, finite counts")
    return weights / total


def build_alias(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vose's alias table for `probs` (sums to 1): (accept probability, alias index) per slot.

    Draw: slot i uniform in [0, V); keep i with probability accept[i], else take alias[i].
    """
    n = len(probs)
    scaled = np.asarray(probs, dtype=np.float64) * n
    accept = np.ones(n, dtype=np.float64)
    alias = np.arange(n, dtype=np.int64)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        accept[s] = scaled[s]
        alias[s] = g
        scaled[g] -= 1.0 - scaled[s]  # the large slot gives away what fills the small one
        (small if scaled[g] < 1.0 else large).append(g)
    # Leftovers are 1 up to rounding: they keep themselves (accept = 1, alias = self).
    return accept, alias


def pack_alias(accept: np.ndarray, alias: np.ndarray) -> np.ndarray:
    """One int64 per slot, alias << 32 | threshold: slot i is kept when a uniform 32-bit r is
    below its threshold ⌊accept·2³²⌋ (exact to 2⁻³²). A slot that always keeps itself has
    alias = itself, so the threshold 2³² - 1 in its place changes nothing."""
    threshold = np.minimum(np.floor(np.asarray(accept) * 2.0**32), 2.0**32 - 1).astype(np.int64)
    own = np.asarray(accept) >= 1.0
    alias = np.where(own, np.arange(len(alias)), alias).astype(np.int64)
    return (alias << 32) | threshold


class AliasSampler:
    """Draws word ids from count**alpha on `device` in O(1) per draw."""

    def __init__(self, counts: np.ndarray, alpha: float, device: torch.device | str = "cpu"):
        self.probs = noise_distribution(counts, alpha)
        accept, alias = build_alias(self.probs)
        self.device = torch.device(device)
        self.accept = torch.as_tensor(accept, dtype=torch.float32, device=self.device)
        self.alias = torch.as_tensor(alias, dtype=torch.int64, device=self.device)
        self.size = len(accept)
        self._packed = pack_alias(accept, alias)

    def packed(self) -> torch.Tensor:
        """The table as the Triton kernels read it (one 8-byte load per draw), on the device."""
        return torch.as_tensor(self._packed, device=self.device)

    def sample(
        self,
        shape: tuple[int, ...],
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.int64,
    ) -> torch.Tensor:
        """Ids of the given shape (int64, or int32 for the Triton kernels' draws)."""
        slot = torch.randint(self.size, shape, generator=generator, device=self.device, dtype=dtype)
        coin = torch.rand(shape, generator=generator, device=self.device)
        return torch.where(coin < self.accept[slot], slot, self.alias[slot].to(dtype))
