"""Argument types for the CLI's own numeric options (`--top`, `-k`, `--n-trials`, ...).

argparse's `type=int` takes '1_000', Unicode digits and negative counts; these parse like
config values (plain ASCII) and check the range, so nonsense is one `error:` line.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from study.core.config import INTEGER
from study.core.errors import ConfigError

_MAX_DIGITS = 30


def int_at_least(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse `type` accepting integers in [low, high]."""

    def parse(text: str) -> int:
        plain = text.strip()
        if not INTEGER.fullmatch(plain) or len(plain.lstrip("+-")) > _MAX_DIGITS:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text[:40]!r}")
        value = int(text)
        if value < low or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return value

    parse.__name__ = "integer"  # argparse names the type in some messages
    return parse


SEED_MAX = 2**32 - 1  # NumPy's (and so Optuna's samplers') largest seed


def add_benchmarks_argument(parser: argparse.ArgumentParser) -> None:
    """`--benchmarks a,b`: which registry benchmarks each run is scored on (default: all)."""
    from study.evaluate.benchmarks import registry

    parser.add_argument(
        "--benchmarks",
        type=benchmark_list,
        default=None,
        metavar="B1,B2",
        help=f"benchmarks to score, w and w+c (default: all): {', '.join(registry())}",
    )


def benchmark_list(text: str) -> list[str]:
    """An argparse `type`: a comma-separated list of registry benchmark names, or "all"."""
    from study.core.errors import ConfigError
    from study.evaluate.benchmarks import select

    try:
        return [b.name for b in select(text)]
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_number(text: str) -> float:
    """An argparse `type` for a number above 0, parsed like a config value (`parse_float`: a
    plain finite decimal; 'inf', '1e999', '1_0' and Unicode digits are refused)."""
    from study.core.config import parse_float

    try:
        value = parse_float("the value", text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text[:40]!r}")
    return value


positive_number.__name__ = "number"  # argparse names the type in some messages
