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


def add_set_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """`--set KEY=VALUE ...`: RunConfig fields (repeatable; a second --set adds to the first)."""
    parser.add_argument(
        "--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE", help=help
    )


def add_study_argument(
    parser: argparse.ArgumentParser, help: str, default: str | None = None, required: bool = False
) -> None:
    """`--study NAME` (also spelled `--study-name`, the first spelling, so that existing
    commands keep working): the results folder of a command's runs."""
    parser.add_argument(
        "--study", "--study-name", dest="study", default=default, required=required, help=help
    )


def add_results_argument(parser: argparse.ArgumentParser) -> None:
    """`--results DIR`: the results root that study folders live in."""
    parser.add_argument("--results", default=None, help="results root (default: ./results)")


def add_run_output_arguments(parser: argparse.ArgumentParser) -> None:
    """What a command that trains runs stores and logs per run: --no-output-vectors,
    --benchmarks, --tensorboard, --neighbours and -k."""
    parser.add_argument(
        "--no-output-vectors",
        action="store_true",
        help="do not save output_vectors.bin (W_out, for w+c) beside vectors.bin: half the disk",
    )
    add_benchmarks_argument(parser)
    parser.add_argument(
        "--tensorboard",
        action="store_true",
        help="log epochs, metrics, hyperparameters and embeddings to TensorBoard in each run "
        "folder (tensorboard --logdir results/<study>); needs the tensorboard extra",
    )
    parser.add_argument(
        "--neighbours",
        default=None,
        metavar="W1,W2",
        help="nearest neighbours of these words after every epoch, printed (run) and kept in "
        "the run folder's neighbours.csv",
    )
    parser.add_argument(
        "-k", type=int_at_least(1), default=8, help="neighbours per word (default 8)"
    )


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
