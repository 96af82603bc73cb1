"""Optuna studies over RunConfig fields: search spaces (`parse_space`), objectives
(`parse_objectives`), samplers (`make_sampler`), the trial objective and per-epoch pruning;
every trial's run lands in the study's result store like a grid's (docs/DESIGN.md, "Optuna
studies and the shared grid").
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import optuna
from optuna.storages import RDBStorage

from study.core.config import RunConfig, base_type, check_field, field_type, parse_value, show
from study.core.errors import ConfigError, StudyError
from study.evaluate.benchmarks import metric_direction, objective_metrics, parse_metric
from study.run.runner import CorpusCache, execute_run
from study.store.results import (
    RUN_FACTS,
    STATUS_DONE,
    STATUS_PRUNED,
    ResultStore,
    RunResult,
    provenance,
)
from study.train.trainers.base import Callback, TrainState
from study.train.vectors import keyed_vectors

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
        if base_type(self.name) is int:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)


def parse_space(items: Iterable[str]) -> list[Param]:
    """`key=low:high`, `key=low:high:log` or `key=a,b,c` per field; every bound and choice is
    checked against the field's type and range here, not trial by trial."""
    params: list[Param] = []
    for item in items:
        key, sep, spec = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not spec.strip():
            raise ConfigError(f"expected key=low:high or key=a,b,c in --space, got {show(item)}")
        field_type(key)  # unknown keys fail here
        if key in {p.name for p in params}:
            raise ConfigError(f"{key} is given twice in --space")
        if ":" in spec:
            params.append(_parse_range(key, spec))
        else:
            values = [v.strip() for v in spec.split(",") if v.strip()]
            if not values:
                raise ConfigError(f"empty list of choices for {key}")
            choices: list[Any] = []
            for text in values:
                value = parse_value(key, text)
                check_field(key, value)
                if value in choices:
                    raise ConfigError(f"--space {key} lists {show(value)} twice")
                choices.append(value)
            params.append(Param(key, choices=tuple(choices)))
    return params


def _parse_range(key: str, spec: str) -> Param:
    parts = spec.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2].strip() != "log"):
        raise ConfigError(f"range must be low:high or low:high:log, got {show(spec)}")
    kind = base_type(key)
    if kind not in (int, float):
        raise ConfigError(f"{key} is not a number: give its choices as a,b,c, not a range")
    low, high = parse_value(key, parts[0]), parse_value(key, parts[1])
    if low is None or high is None:
        raise ConfigError(f"range bounds of {key} must be numbers, got {show(spec)}")
    check_field(key, low)
    check_field(key, high)
    if low >= high:
        raise ConfigError(f"empty range for {key}: {low} >= {high}")
    log = len(parts) == 3
    if log and low <= 0:
        raise ConfigError(f"a log range needs low > 0, got {key}={spec}")
    return Param(key, low, high, log=log)


def check_space(base: RunConfig, space: Sequence[Param]) -> None:
    """Each bound and choice must make a valid config with the fixed fields (e.g. lr_start
    above lr_end): a space that cannot work fails once, up front, not as failed trials."""
    for param in space:
        for value in param.choices or (param.low, param.high):
            try:
                base.with_overrides({param.name: value})
            except ConfigError as exc:
                raise ConfigError(f"--space {param.name}={show(value)}: {exc}") from None


@dataclass(frozen=True)
class Objective:
    name: str
    direction: str  # "maximize" | "minimize"


# the metric names of `study.evaluate.score` that make sense as objectives
# (study.evaluate.benchmarks)
METRIC_NAMES = objective_metrics()


def parse_objectives(items: Sequence[str]) -> list[Objective]:
    objectives: list[Objective] = []
    for item in items or ["analogy_acc"]:
        name, _, direction = item.partition(":")
        if name not in METRIC_NAMES and name not in _RUN_KEYS:
            shown = ", ".join(objective_metrics(["w"]))
            raise ConfigError(
                f"unknown objective {show(name)}; choose a metric ({shown}; each also as "
                f"<benchmark>_wc_<stat> for w+c) or {', '.join(sorted(_RUN_KEYS))}"
            )
        default = metric_direction(name) or ("minimize" if name in _MINIMIZED else "maximize")
        direction = direction or default
        if direction not in {"maximize", "minimize"}:
            raise ConfigError(f"direction must be maximize or minimize, got {show(direction)}")
        if name in {o.name for o in objectives}:
            raise ConfigError(f"objective {name!r} is given twice")
        objectives.append(Objective(name, direction))
    return objectives


class PruningReporter(Callback):
    """Evaluates the objective metric each epoch and lets Optuna prune the trial."""

    def __init__(self, trial: optuna.Trial, objective: Objective):
        self.trial = trial
        self.objective = objective

    def on_epoch_end(self, state: TrainState) -> None:
        from study.evaluate.score import run_evaluation

        if state.epoch >= state.epochs:
            return  # the final value is reported by the objective itself
        vectors = keyed_vectors(state.corpus.vocab.words, state.input_vectors())
        metric = parse_metric(self.objective.name)
        if metric is None:
            return  # a run fact (train_seconds ...): known only at the end
        output = state.output_vectors() if metric.vectors == "w+c" else None
        evaluation = run_evaluation(vectors, benchmarks=[metric.benchmark], output_vectors=output)
        value = evaluation.metrics.get(self.objective.name, math.nan)
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
    heartbeat: RDBStorage | None = None,
) -> Any:
    """The trial objective. With `heartbeat` (the study's storage, heartbeats on), the trial's
    first heartbeat is recorded before anything else: Optuna's heartbeat thread may not have
    written one yet, and a RUNNING trial without any heartbeat is never failed as stale, so a
    worker killed in that moment would leave its trial RUNNING for good."""
    prune = len(objectives) == 1

    def objective(trial: optuna.Trial) -> float | list[float]:
        if heartbeat is not None and heartbeat.get_heartbeat_interval() is not None:
            heartbeat.record_heartbeat(trial._trial_id)
        config = base.with_overrides({p.name: p.suggest(trial) for p in space})
        trial.set_user_attr("run_id", config.run_id)
        payload = store.read_metrics(config.run_id)
        if payload is None or payload["status"] != STATUS_DONE:
            callbacks = [PruningReporter(trial, objectives[0])] if prune else []
            try:
                payload = execute_run(
                    config, store, corpora, extra_callbacks=callbacks, replace=payload is not None
                )
            except optuna.TrialPruned as exc:
                pruned: RunResult = {
                    "status": STATUS_PRUNED,
                    "error": str(exc),
                    "provenance": provenance(config),
                }
                store.finish_run(config, pruned)
                _set_user_attrs(trial, trial_attrs(pruned))
                raise
        _set_user_attrs(trial, trial_attrs(payload))
        if payload["status"] != STATUS_DONE:
            raise StudyError(str(payload.get("error")))  # recorded as a FAILED trial
        values = [_objective_value(payload, o.name) for o in objectives]
        for o, value in zip(objectives, values, strict=True):
            if not math.isfinite(value):  # Optuna would fail the trial without saying which
                raise StudyError(
                    f"objective {o.name} is {value} for run {config.run_id} (e.g. too few of "
                    "its benchmark's words in the vocabulary); the run is kept, the trial fails"
                )
        return values[0] if len(values) == 1 else values

    return objective


def _set_user_attrs(trial: optuna.Trial, attrs: Mapping[str, Any]) -> None:
    for key, value in attrs.items():
        trial.set_user_attr(key, value)


def _objective_value(result: RunResult, name: str) -> float:
    """An objective's value in a run's result: a run key (train_seconds, ...) or a metric."""
    if name in _RUN_KEYS:
        return float(cast(dict[str, Any], result)[name])  # a done run has every run key
    return float(result.get("metrics", {}).get(name, math.nan))


def trial_attrs(result: RunResult) -> dict[str, Any]:
    """What a trial carries of its run (a metrics.json payload): status, error, every metric."""
    payload = cast(Mapping[str, Any], result)
    attrs: dict[str, Any] = {"status": payload.get("status")}
    if payload.get("error"):
        attrs["error"] = str(payload["error"])
    for name, value in dict(payload.get("metrics") or {}).items():
        attrs[name] = float(value)
    for key in RUN_FACTS:  # the run facts besides its metrics
        if payload.get(key) is not None:
            attrs[key] = payload[key]
    return attrs


# -- samplers -----------------------------------------------------------------------------
SAMPLERS = ("tpe", "random", "qmc", "cmaes", "nsga2", "grid")
GRID_MAX_CELLS = 100_000  # a bigger --sampler grid is almost surely a mistyped range


def make_sampler(
    name: str, space: Sequence[Param], n_objectives: int, seed: int | None = None
) -> optuna.samplers.BaseSampler:
    """One of Optuna's samplers by its CLI name, seeded; bad combinations are a ConfigError."""
    samplers = optuna.samplers
    with warnings.catch_warnings():  # QMC is "experimental" in Optuna since 3.0
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "tpe":
            return samplers.TPESampler(seed=seed)
        if name == "random":
            return samplers.RandomSampler(seed=seed)
        if name == "qmc":
            # scrambled, so the seed matters (an unscrambled Sobol sequence ignores it)
            return samplers.QMCSampler(
                qmc_type="sobol", scramble=True, seed=seed, warn_independent_sampling=False
            )
        if name == "nsga2":
            return samplers.NSGAIISampler(seed=seed)
        if name == "cmaes":
            if n_objectives > 1:
                raise ConfigError("--sampler cmaes is single-objective; use nsga2 or tpe")
            _require_cmaes()
            return samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
        if name == "grid":
            return samplers.GridSampler(grid_space(space), seed=seed)
    raise ConfigError(f"unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}")


def independent_note(name: str, space: Sequence[Param]) -> str | None:
    """The note for fields a relative sampler leaves to random sampling (instead of Optuna's
    warning in every trial)."""
    categorical = [p.name for p in space if p.choices]
    if name in {"qmc", "cmaes"} and categorical:
        return f"note: --sampler {name} samples {', '.join(categorical)} at random (value lists)"
    return None


def grid_space(space: Sequence[Param]) -> dict[str, list[Any]]:
    """`--space` as the value lists of a GridSampler: choices, or every int of an int range."""
    grid: dict[str, list[Any]] = {}
    for p in space:
        if p.choices:
            grid[p.name] = list(p.choices)
        elif base_type(p.name) is int and p.low is not None and p.high is not None:
            grid[p.name] = list(range(int(p.low), int(p.high) + 1))
        else:
            raise ConfigError(
                f"--sampler grid needs value lists (e.g. {p.name}=0.5,0.75,1.0) or integer "
                f"ranges; {p.name}={p.low}:{p.high} is a float range"
            )
    cells = math.prod(len(v) for v in grid.values())
    if cells > GRID_MAX_CELLS:
        raise ConfigError(f"--sampler grid: the space has {cells:,} cells (> {GRID_MAX_CELLS:,})")
    return grid


def _require_cmaes() -> None:
    try:
        import cmaes  # noqa: F401
    except ImportError:
        raise ConfigError("--sampler cmaes needs the cmaes package: pip install cmaes") from None
