"""`RunConfig`: every knob of one training run, validated, hashable into a stable run id; grids
and Optuna trials only produce RunConfigs, and CLI overrides (`key=value`) are type-checked
against its fields with unknown keys rejected (nanoGPT's configurator idea, without `exec`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Literal

from study.core import trainers
from study.core.errors import ConfigError
from study.core.steps import word2vec_negatives

if TYPE_CHECKING:
    Trainer = str
else:  # the registry's names (`study.core.trainers`), checked like every Literal field
    Trainer = Literal[trainers.NAMES]
Model = Literal["sg", "cbow"]
Objective = Literal["ns", "softmax"]
Device = Literal["auto", "cpu", "cuda"]
Kernel = Literal["auto", "torch", "triton"]
NegDraw = Literal["center", "pair"]

DEFAULT_CORPUS = "enwiki-sample"


@dataclass(frozen=True)
class RunConfig:
    """One training run. Field names are the keys accepted by `--set key=value` and `--grid`."""

    trainer: Trainer = trainers.DEFAULT
    model: Model = "sg"
    objective: Objective = "ns"  # "softmax": exact full softmax (torch only, small vocabularies)
    dim: int = 100
    window: int = 5  # maximum window; the effective window is drawn from U[1, window] per center
    negative: int = 5  # negatives per (center, context) pair
    alpha: float = 0.75  # negative-sampling exponent (gensim's ns_exponent), noise ∝ count**alpha
    sample: float = 1e-3  # frequent-word subsampling threshold (0 disables it)
    min_count: int = 5
    max_vocab: int | None = None  # keep only the most frequent words (after min_count)
    epochs: int = 5
    lr_start: float = 0.025  # learning rate, decayed linearly to lr_end over all epochs
    lr_end: float = 0.0001
    batch_size: int = 1024  # center words per update step (torch trainer, kernel=torch)
    # torch trainer's step: "torch" (batched tensor ops), "triton" (Hogwild kernel; CUDA), or
    # "auto" (triton on CUDA when triton imports, torch elsewhere)
    kernel: Kernel = "auto"
    # skip-gram negatives: K per center shared by its pairs, or K fresh per pair (word2vec.c,
    # gensim: the gensim trainer always draws per pair); kernel=torch shares them per center
    neg_draw: NegDraw = "center"
    # kernel=triton: parallel programs, one stream slice each; 0 fills every SM with the programs
    # the kernel variant's launch shape holds at once, at most one per 4096 corpus words
    programs: int = 0
    seed: int = 0
    device: Device = "auto"
    workers: int = 0  # CPU threads: gensim's workers, torch's intra-op threads; 0 = all cores
    corpus: str = DEFAULT_CORPUS  # "enwiki-sample", "text8" or a path to a text file
    probe_pairs: int = 4096  # (center, context) pairs in the gradient-norm probe; 0 disables it
    probe_seed: int = 0

    def __post_init__(self) -> None:
        _check_types(self)
        _normalize_floats(self)
        _check_ranges(self)

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunConfig:
        """Build from a mapping (e.g. a saved config.json); unknown keys are an error."""
        unknown = sorted(set(values) - set(field_names()))
        if unknown:
            raise ConfigError(_unknown_key_message(unknown[0]))
        return cls(**dict(values))

    def with_overrides(self, overrides: Mapping[str, Any]) -> RunConfig:
        """A copy with some fields replaced; string values are parsed to the field's type."""
        parsed = {key: parse_value(key, value) for key, value in overrides.items()}
        return dataclasses.replace(self, **parsed)

    # -- identity -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def canonical_json(self) -> str:
        """Sorted-key compact JSON: the text the run id is hashed from. Fields added after the
        first release enter it only when set away from their default, so the ids of existing
        runs stay valid."""
        implied = trainers.trainer_spec(self.trainer).implied
        values = {
            key: value
            for key, value in self.to_dict().items()
            if not (key in ADDED_FIELDS and value == ADDED_FIELDS[key]) and key not in implied
        }
        return json.dumps(values, sort_keys=True, separators=(",", ":"))

    @property
    def run_id(self) -> str:
        """Stable 16-hex-digit id: sha256 of the canonical JSON."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]


# Fields added after run ids were first published, with their defaults (see canonical_json).
ADDED_FIELDS: dict[str, Any] = {"kernel": "auto", "neg_draw": "center", "programs": 0}
# The fields a trainer ignores, and those of them left out of the id: `study.core.trainers`.


# -- parsing ------------------------------------------------------------------------------
def field_names() -> list[str]:
    return [f.name for f in fields(RunConfig)]


def field_type(name: str) -> Any:
    hints = typing.get_type_hints(RunConfig)
    if name not in hints:
        raise ConfigError(_unknown_key_message(name))
    return hints[name]


def optional_fields() -> list[str]:
    """The fields that may be None (no cap, e.g. max_vocab), in field order."""
    hints = typing.get_type_hints(RunConfig)
    return [name for name in field_names() if _is_optional(hints[name])]


def base_type(name: str) -> Any:
    """The field's type without `| None` (int, float, str or a Literal)."""
    return _strip_optional(field_type(name))


def parse_assignments(items: Iterable[str], option: str = "--set") -> dict[str, Any]:
    """Parse `key=value` strings into a dict of typed values (validated per field).

    A key given twice is an error (silently keeping the last value hid typos in long commands).
    """
    result: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"expected key=value, got {show(item)}")
        parsed = parse_value(key, value.strip())
        if key in result:
            raise ConfigError(
                f"{key} is given twice in {option} ({show(result[key])} and {show(parsed)})"
            )
        result[key] = parsed
    return result


# Plain ASCII numbers only: int()/float() also take '1_000', Unicode digits, 'nan' and 'inf',
# which are typos or nonsense in a config and would otherwise become silent values.
INTEGER = re.compile(r"[+-]?[0-9]+")  # also the CLI's own integer options (cli/args.py)
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_MAX_DIGITS = 100  # far beyond every range; keeps int() away from its 4300-digit limit


def parse_value(key: str, value: Any) -> Any:
    """Convert a CLI string (or pass through a typed value) to the type of field `key`."""
    tp = field_type(key)
    if not isinstance(value, str):
        return value  # typed values are checked in RunConfig.__post_init__
    args = set(typing.get_args(tp))
    if _is_optional(tp) and value.lower() in {"none", "null", ""}:
        return None
    base = _strip_optional(tp)
    if typing.get_origin(base) is Literal:
        return value
    text = value.strip()
    if base is int:
        if not INTEGER.fullmatch(text) or len(text) > _MAX_DIGITS:
            raise ConfigError(f"{key} must be an integer, got {show(value)}")
        return int(text)
    if base is float:
        return parse_float(key, text)
    if base is str or str in args:
        return value
    raise ConfigError(f"cannot parse a value for {key}")  # pragma: no cover - all fields covered


def parse_float(name: str, text: str) -> float:
    """A plain, finite ASCII decimal (no 'inf', '1e999', '1_0', Unicode digits): config
    values and the CLI's own numbers (`--margin`) parse alike."""
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {show(text)}") from None
    if not math.isfinite(number):  # 'nan', 'inf', '1e999'
        raise ConfigError(f"{name} must be finite, got {show(text)}")
    if not _FLOAT.fullmatch(text) or len(text) > _MAX_DIGITS:
        raise ConfigError(f"{name} must be a plain decimal number, got {show(text)}")
    return number + 0.0  # -0.0 -> 0.0: one value, one run id


def show(value: Any, limit: int = 40) -> str:
    """repr() of a user value for a message, shortened so one bad value stays one line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _is_optional(tp: Any) -> bool:
    return isinstance(tp, types.UnionType) and type(None) in typing.get_args(tp)


def _strip_optional(tp: Any) -> Any:
    if _is_optional(tp):
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return inner
    return tp


def _unknown_key_message(key: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, field_names(), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown config key {key!r}{hint}; valid keys: {', '.join(field_names())}"


# -- validation ---------------------------------------------------------------------------
def _check_types(config: RunConfig) -> None:
    for name, tp in typing.get_type_hints(RunConfig).items():
        _check_type(name, tp, getattr(config, name))


def _check_type(name: str, tp: Any, value: Any) -> None:
    if value is None and _is_optional(tp):
        return
    base = _strip_optional(tp)
    if typing.get_origin(base) is Literal:
        choices = typing.get_args(base)
        if value not in choices:
            options = " or ".join(repr(c) for c in choices)
            raise ConfigError(f"{name} must be {options}, got {show(value)}")
    elif base is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer, got {show(value)}")
    elif base is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{name} must be a number, got {show(value)}")
        if not math.isfinite(value):
            raise ConfigError(f"{name} must be finite, got {show(value)}")
    elif base is str and not isinstance(value, str):
        raise ConfigError(f"{name} must be a string, got {show(value)}")


def _normalize_floats(config: RunConfig) -> None:
    """-0.0 and 0 in a float field are 0.0: equal values must give one run id.

    CLI values are floats already, so ids of configs typed on the command line do not change.
    """
    for name, tp in typing.get_type_hints(RunConfig).items():
        value = getattr(config, name)
        if _strip_optional(tp) is float and value is not None:
            object.__setattr__(config, name, float(value) + 0.0)


def check_field(name: str, value: Any) -> None:
    """Type and range of one field's value on its own (cross-field rules need a whole config)."""
    _check_type(name, field_type(name), value)
    check_value(name, value)


# (field, low, high): inclusive bounds; None = unbounded on that side.
_RANGES: list[tuple[str, float | None, float | None]] = [
    ("dim", 1, 4096),
    ("window", 1, 100),
    ("negative", 1, 100),
    ("alpha", -2.0, 2.0),
    ("sample", 0.0, 0.5),  # gensim reads sample >= 1 as an absolute count; we do not
    ("min_count", 1, None),
    ("max_vocab", 1, None),
    ("epochs", 1, 1000),
    ("lr_start", 0.0, 1e4),
    ("lr_end", 0.0, 1e4),
    ("batch_size", 1, 1 << 24),
    ("seed", 0, 2**31 - 1),
    ("workers", 0, 1024),
    ("programs", 0, 1 << 20),
    ("probe_pairs", 0, 1 << 22),
    ("probe_seed", 0, 2**31 - 1),
]


def check_value(name: str, value: Any) -> None:
    """Range check of one field's value on its own (cross-field rules need a whole config)."""
    for field_name, low, high in _RANGES:
        if field_name != name or value is None:
            continue
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"[{low}, {high}]" if high is not None else f">= {low}"
            raise ConfigError(f"{name}={value} is out of range: must be {bounds}")
    if name == "lr_start" and value is not None and value <= 0:
        raise ConfigError(f"lr_start={value} is out of range: must be > 0")


def _check_ranges(c: RunConfig) -> None:
    for name, _low, _high in _RANGES:
        check_value(name, getattr(c, name))
    if c.lr_end > c.lr_start:
        raise ConfigError(f"lr_end={c.lr_end} must not exceed lr_start={c.lr_start}")
    spec = trainers.trainer_spec(c.trainer)
    if c.objective == "softmax" and spec.no_softmax is not None:
        having = " or ".join(t.name for t in trainers.TRAINERS if t.no_softmax is None)
        raise ConfigError(
            f"objective=softmax is only available with trainer={having} ({spec.no_softmax})"
        )
    if c.model == "cbow" and c.neg_draw == "pair":
        raise ConfigError(
            "neg_draw=pair is for skip-gram (model=sg): CBOW trains one example per centre and "
            "draws its K negatives per centre; use neg_draw=center"
        )
    if c.kernel == "triton" and spec.own_step is None and c.objective != "ns":
        raise ConfigError("kernel=triton trains negative sampling only: use objective=ns")
    _normalize_ignored(c)
    if c.neg_draw == "pair" and spec.own_step is None and c.kernel == "torch":
        raise ConfigError(
            "neg_draw=pair needs kernel=triton (the batched torch step shares negatives per "
            "center): use kernel=triton on a CUDA machine, or neg_draw=center"
        )
    if not c.corpus.strip():
        raise ConfigError("corpus must name a corpus or a path, got an empty string")
    if not c.corpus.isprintable():
        # control characters, or lone surrogates (a file name that is not UTF-8 reaches Python
        # so): no table, report or terminal line could hold it
        raise ConfigError(
            f"corpus {show(c.corpus)} holds characters that are not printable text (a file "
            "name that is not UTF-8?): rename the file"
        )


def _normalize_ignored(c: RunConfig) -> None:
    """Fields the run's trainer or step does not read get one value (identical training, one
    run id): gensim has no kernel, programs or batch_size and draws negatives as word2vec.c;
    the exact softmax draws no negatives and always takes the batched torch step; the torch
    step has no programs, the Triton kernel no batch_size. kernel=auto is left alone: which
    step it takes depends on the machine (the run records the one that ran)."""
    defaults = {f.name: f.default for f in fields(RunConfig)}
    spec = trainers.trainer_spec(c.trainer)
    values: dict[str, Any] = {}
    if spec.own_step is None:  # `kernel` picks the step
        if c.objective == "softmax":
            values = {"kernel": "auto", "programs": 0, "neg_draw": "center"}
        elif c.kernel == "torch":
            values = {"programs": 0}
        elif c.kernel == "triton":
            values = {"batch_size": defaults["batch_size"]}
    values.update({name: defaults[name] for name in spec.ignores})
    if spec.own_step is not None:
        values["neg_draw"] = word2vec_negatives(c.model)
    for name, value in values.items():
        object.__setattr__(c, name, value)
