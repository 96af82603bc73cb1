"""Trainers: the PyTorch SGNS trainer (`torch`) and the gensim baseline (`gensim`), built by name
from the registry (`study.core.trainers.TRAINERS`)."""

from __future__ import annotations

import importlib

from study.core.trainers import trainer_spec
from study.train.trainers.base import Callback, Trainer, TrainResult, TrainState


def get_trainer(name: str) -> Trainer:
    """The trainer called `name` (a RunConfig.trainer value), imported when first asked for."""
    module, _, cls = trainer_spec(name).factory.partition(":")
    trainer: Trainer = getattr(importlib.import_module(module), cls)()
    return trainer


__all__ = ["Callback", "TrainResult", "TrainState", "Trainer", "get_trainer"]
