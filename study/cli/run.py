"""`study run`: train one run (torch or gensim), print its epochs and metrics, store it."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from study.cli.args import (
    add_results_argument,
    add_run_output_arguments,
    add_set_argument,
    add_study_argument,
)
from study.core import trainers
from study.core.config import RunConfig, parse_assignments
from study.core.errors import ConfigError
from study.run.runner import CallbackFactory, CorpusCache, execute_run
from study.store.identity import check_corpus_identity
from study.store.results import STATUS_DONE, ResultStore
from study.train.trainers.base import Callback

# The study of one-off runs. Not "runs": a study folder keeps its runs in runs/, and
# results/runs/runs/<id> read like a mistake.
DEFAULT_RUN_STUDY = "scratch"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="train one run and evaluate it",
        description="Train one run with the given trainer and config overrides, print loss, "
        "probe losses and gradient norms per epoch, evaluate, and store it under "
        "results/<study>/runs/<run id>/.",
    )
    add_config_arguments(parser)
    parser.add_argument("--trainer", choices=trainers.NAMES, default=None)
    add_study_argument(
        parser,
        f"study name: the results folder (default: {DEFAULT_RUN_STUDY}, so a run lands in "
        f"results/{DEFAULT_RUN_STUDY}/runs/<run id>)",
        default=DEFAULT_RUN_STUDY,
    )
    add_results_argument(parser)
    parser.add_argument("--no-vectors", action="store_true", help="do not save the vectors")
    add_run_output_arguments(parser)
    parser.set_defaults(func=run_command)


def logging_callbacks(args: argparse.Namespace, print_neighbours: bool) -> CallbackFactory | None:
    """The --tensorboard / --neighbours callbacks of a run, made per run folder."""
    words = [w.strip() for w in (args.neighbours or "").split(",") if w.strip()]
    if not args.tensorboard and not words:
        return None
    if args.tensorboard:
        from study.evaluate.tensorboard import require_tensorboard

        require_tensorboard()  # a missing package fails here, before any run

    def make(config: RunConfig, run_dir: Path) -> list[Callback]:
        callbacks: list[Callback] = []
        if args.tensorboard:
            from study.evaluate.tensorboard import TENSORBOARD_DIR, TensorBoardCallback

            callbacks.append(TensorBoardCallback(run_dir / TENSORBOARD_DIR))
        if words:
            from study.train.neighbours import NeighboursCallback

            write = tqdm.write if print_neighbours else None
            callbacks.append(NeighboursCallback(words, k=args.k, out_dir=run_dir, write=write))
        return callbacks

    return make


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    add_set_argument(
        parser, "RunConfig overrides, e.g. --set window=5 negative=5 alpha=0.75 epochs=3"
    )
    parser.add_argument("--corpus", default=None, help="enwiki-sample (default), text8 or a path")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    overrides = parse_assignments(args.set)
    for key in ("trainer", "corpus"):
        option = getattr(args, key, None)
        if option:
            if key in overrides and overrides[key] != option:
                raise ConfigError(
                    f"--{key} {option} and --set {key}={overrides[key]} disagree; give one"
                )
            overrides[key] = option
    return RunConfig().with_overrides(overrides)


def run_command(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    store = ResultStore.for_study(args.study, args.results)
    check_corpus_identity(  # this run is redone; other runs of its corpus must match it
        store,
        [config.corpus],
        args.data_dir,
        reruns=lambda run_id, _status: run_id == config.run_id,
        in_this_command=lambda run_id: run_id == config.run_id,
    )
    print(f"run {config.run_id}: {config.canonical_json()}")
    make_callbacks = logging_callbacks(args, print_neighbours=True)
    result = execute_run(
        config,
        store,
        CorpusCache(args.data_dir),
        extra_callbacks=make_callbacks(config, store.run_dir(config.run_id))
        if make_callbacks
        else (),
        print_epochs=True,
        save_vectors=not args.no_vectors,
        save_output_vectors=not args.no_output_vectors,
        benchmarks=args.benchmarks,
    )
    if result["status"] != STATUS_DONE:
        print(f"error: run failed: {result.get('error')}", file=sys.stderr)
        return 1
    from study.evaluate.score import benchmark_table

    table = benchmark_table(result.get("metrics", {}))
    print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}", na_rep="nan"))
    speed = result.get("words_per_sec", math.nan)
    print(f"{speed:,.0f} words/s; stored in {store.run_dir(config.run_id)}")
    return 0
