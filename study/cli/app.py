"""`python -m study`: one entry point, one subcommand module per job.

User errors (`StudyError`) print as one line and exit 2; `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any, NoReturn

from study import __version__
from study.core.errors import StudyError

# Each module defines `register(subparsers)`, which adds its subcommand and sets `func`.
COMMAND_MODULES = [
    "study.cli.corpus",
    "study.cli.run",
    "study.cli.grid",
    "study.cli.optuna",
    "study.cli.eval",
    "study.cli.report",
    "study.cli.compare",
    "study.cli.findings",
]


class UsageError(StudyError):
    """A command line argparse rejects (unknown option, missing or malformed value)."""


class Parser(argparse.ArgumentParser):
    """argparse, but a bad command line is one `error:` line like every other user error
    (argparse prints the whole usage first); subcommand parsers inherit this class."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m study",
        description="word2vec (SGNS) hyperparameter studies: PyTorch trainer vs gensim.",
    )
    parser.add_argument("--version", action="version", version=f"w2v-study {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for user errors")
    parser.add_argument(
        "--data-dir",
        default=None,
        help="folder for text8 and corpus caches (default: $W2V_STUDY_DATA or ./data)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser.parse_args(argv)
        args.argv = argv  # the command line as given, for the commands that record it (and
        # `grid --gpus`, which starts it again per GPU)
    except UsageError as exc:
        if "--debug" in argv:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO, format="%(levelname)s: %(message)s"
    )
    if not args.debug:
        logging.getLogger("gensim").setLevel(logging.WARNING)  # per-epoch chatter; we print rows
    previous = _sigterm_interrupts()
    try:
        result = args.func(args)
    except StudyError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return int(result or 0)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _sigterm_interrupts() -> Any:
    """SIGTERM (kill, a batch system's stop) unwinds like Ctrl-C: a shared grid then releases
    its cell and Optuna fails its trial, instead of both waiting out a heartbeat grace period.
    Returns the previous handler (None off the main thread, where handlers cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _interrupt)
