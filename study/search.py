"""Optuna studies over RunConfig fields: search spaces, objectives, pruning.

- Search space: `key=low:high` (int or float range, by the field's type), `key=low:high:log`,
  or `key=a,b,c` (categorical). Default: alpha, window, negative.
- Objectives: any metric name of `study.evaluate` (maximised) or of the run (`train_seconds`,
  `seconds`: minimised); `name:maximize` / `name:minimize` overrides. Two or more objectives make
  a multi-objective study (e.g. analogy_acc and train_seconds).
- Pruning (single objective only: Optuna cannot prune multi-objective trials, so there each
  trial runs all its epochs): after every epoch the callback evaluates the objective on the
  current vectors, calls `trial.report` and raises `TrialPruned` when the pruner says so. The
  pruned run is stored with `status: pruned` and the epochs it finished.
Every trial's run lands in the study's result store (`results/<study name>/runs/<run id>`), so
tables and reports work the same as for grids. A config already finished in the store is not
trained again: its stored metrics are returned.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import optuna

from study.config import RunConfig, check_value, field_type, parse_value
from study.errors import ConfigError, StudyError
from study.results import STATUS_DONE, STATUS_PRUNED, ResultStore, RunResult, provenance
from study.runner import CorpusCache, execute_run
from study.trainers.base import Callback, TrainState, keyed_vectors

DEFAULT_SPACE = ["alpha=-0.5:1.5", "window=2:10", "negative=2:20"]
_MINIMIZED = {"train_seconds", "seconds"}
_RUN_KEYS = {"train_seconds", "seconds", "words_per_sec"}


@dataclass(frozen=True)
class Param:
    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.choices:
            return trial.suggest_categorical(self.name, list(self.choices))
        assert self.low is not None and self.high is not None
        if field_type(self.name) is int:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)


def parse_space(items: Iterable[str]) -> list[Param]:
    params: list[Param] = []
    for item in items:
        key, sep, spec = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not spec.strip():
            raise ConfigError(f"expected key=low:high or key=a,b,c in --space, got {item!r}")
        field_type(key)  # unknown keys fail here
        if ":" in spec:
            parts = spec.split(":")
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
                raise ConfigError(f"range must be low:high or low:high:log, got {spec!r}")
            low, high = parse_value(key, parts[0]), parse_value(key, parts[1])
            if low >= high:
                raise ConfigError(f"empty range for {key}: {low} >= {high}")
            check_value(key, low)
            check_value(key, high)
            params.append(Param(key, low, high, log=len(parts) == 3))
        else:
            choices = tuple(parse_value(key, v.strip()) for v in spec.split(",") if v.strip())
            if not choices:
                raise ConfigError(f"empty list of choices for {key}")
            params.append(Param(key, choices=choices))
    return params


@dataclass(frozen=True)
class Objective:
    name: str
    direction: str  # "maximize" | "minimize"


# the flat metric names `study.evaluate.evaluate` returns that make sense as objectives
METRIC_NAMES = [
    "analogy_acc",
    "analogy_3cosmul_acc",
    "analogy_sem_acc",
    "analogy_syn_acc",
    "ws353_spearman",
    "simlex_spearman",
]


def parse_objectives(items: Sequence[str]) -> list[Objective]:
    objectives = []
    for item in items or ["analogy_acc"]:
        name, _, direction = item.partition(":")
        if name not in METRIC_NAMES and name not in _RUN_KEYS:
            raise ConfigError(
                f"unknown objective {name!r}; choose a metric ({', '.join(METRIC_NAMES)}) "
                f"or {', '.join(sorted(_RUN_KEYS))}"
            )
        direction = direction or ("minimize" if name in _MINIMIZED else "maximize")
        if direction not in {"maximize", "minimize"}:
            raise ConfigError(f"direction must be maximize or minimize, got {direction!r}")
        objectives.append(Objective(name, direction))
    return objectives


class PruningReporter(Callback):
    """Evaluates the objective metric each epoch and lets Optuna prune the trial."""

    def __init__(self, trial: optuna.Trial, objective: Objective):
        self.trial = trial
        self.objective = objective

    def on_epoch_end(self, state: TrainState) -> None:
        from study.evaluate import evaluate

        if state.epoch >= state.epochs:
            return  # the final value is reported by the objective itself
        vectors = keyed_vectors(state.corpus.vocab.words, state.input_vectors())
        value = evaluate(vectors).get(self.objective.name, math.nan)
        state.row[f"pruning_{self.objective.name}"] = value
        if math.isfinite(value):
            self.trial.report(value, step=state.epoch)
            if self.trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {state.epoch}: {value:.4g}")


def make_objective(
    base: RunConfig,
    space: Sequence[Param],
    objectives: Sequence[Objective],
    store: ResultStore,
    corpora: CorpusCache,
) -> Any:
    prune = len(objectives) == 1

    def objective(trial: optuna.Trial) -> float | list[float]:
        config = base.with_overrides({p.name: p.suggest(trial) for p in space})
        trial.set_user_attr("run_id", config.run_id)
        payload = store.read_metrics(config.run_id)
        if payload is None or payload["status"] != STATUS_DONE:
            callbacks = [PruningReporter(trial, objectives[0])] if prune else []
            try:
                payload = execute_run(config, store, corpora, extra_callbacks=callbacks)
            except optuna.TrialPruned as exc:
                store.finish_run(
                    config,
                    {"status": STATUS_PRUNED, "error": str(exc), "provenance": provenance(config)},
                )
                raise
        if payload["status"] != STATUS_DONE:
            raise StudyError(str(payload.get("error")))  # recorded as a FAILED trial
        values = [_value(payload, o.name) for o in objectives]
        return values[0] if len(values) == 1 else values

    return objective


def _value(result: RunResult, name: str) -> float:
    if name in _RUN_KEYS:
        return float(cast(dict[str, Any], result)[name])  # a done run has every run key
    return float(result.get("metrics", {}).get(name, math.nan))
