"""Which torch device a run's `device` field names."""

from __future__ import annotations

import torch

from study.core.errors import ConfigError


def resolve_device(device: str) -> torch.device:
    """`auto` means CUDA when available, else CPU; asking for CUDA without one is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but no CUDA device is available (use device=auto or cpu)")
    return torch.device(device)
