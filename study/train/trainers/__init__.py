"""Trainers: the PyTorch SGNS trainer (`torch`) and the gensim baseline (`gensim`)."""

from __future__ import annotations

import importlib

from study.train.trainers.base import Callback, Trainer, TrainResult, TrainState

_TRAINERS = {
    "torch": ("study.train.trainers.torch_sgns", "TorchTrainer"),
    "gensim": ("study.train.trainers.gensim_sgns", "GensimTrainer"),
}


def get_trainer(name: str) -> Trainer:
    """The trainer called `name` (a RunConfig.trainer value)."""
    module, cls = _TRAINERS[name]
    trainer: Trainer = getattr(importlib.import_module(module), cls)()
    return trainer


__all__ = ["Callback", "TrainResult", "TrainState", "Trainer", "get_trainer"]
