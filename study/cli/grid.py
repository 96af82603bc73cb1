"""`study grid`: run the Cartesian product of value lists, resumable, locally or shared."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import pandas as pd

from study.cli.args import (
    add_results_argument,
    add_run_output_arguments,
    add_set_argument,
    add_study_argument,
)
from study.cli.run import logging_callbacks
from study.core.config import RunConfig, parse_assignments
from study.core.errors import ConfigError
from study.core.redact import redact_command
from study.core.trainers import DEFAULT, NAMES
from study.run.grid import PRESETS, build_spec
from study.store.results import STATUS_FAILED, ResultStore, load_table, save_tables_or_warn


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "grid",
        help="run a grid of configs (resumable)",
        description="Run every cell of a grid: --grid axes x --trainers x --seeds, other fields "
        "fixed with --set. Only missing runs are run unless --overwrite. With --storage, "
        "any number of processes or machines running the same command share the work "
        "through an Optuna storage (each cell runs once).",
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None, help="a named grid")
    parser.add_argument(
        "--grid",
        nargs="+",
        action="extend",  # a second --grid adds axes rather than silently replacing the first
        default=[],
        metavar="KEY=V1,V2",
        help="value lists, e.g. --grid alpha=0.5,0.75,1.0 window=2,5,10",
    )
    parser.add_argument(
        "--trainers", default=None, help=f"e.g. {','.join(NAMES)} (default: {DEFAULT})"
    )
    parser.add_argument("--seeds", default=None, help="e.g. 0,1,2 (default: 0)")
    add_set_argument(parser, "fields fixed for every cell")
    add_study_argument(
        parser, "study name: the results folder (default: the preset's name or 'grid')"
    )
    add_results_argument(parser)
    parser.add_argument("--overwrite", action="store_true", help="rerun finished runs too")
    parser.add_argument("--retry-failed", action="store_true", help="rerun failed runs")
    parser.add_argument(
        "--storage",
        default=None,
        help="Optuna storage URL shared by workers (sqlite:///..., "
        "postgresql://...); without it the grid runs in this process",
    )
    parser.add_argument(
        "--gpus",
        default=None,
        metavar="all|0,1,3",
        help="start one shared-grid worker per GPU (each sees only its device) over --storage "
        "(default: sqlite:///<study>/optuna.db); device numbers as torch counts them",
    )
    parser.add_argument("--dry-run", action="store_true", help="list the cells and stop")
    add_run_output_arguments(parser)
    parser.set_defaults(func=grid_command)


def grid_command(args: argparse.Namespace) -> int:
    spec = build_spec(
        args.preset, args.grid, args.trainers, args.seeds, parse_assignments(args.set)
    )
    cells = spec.cells()
    make_callbacks = logging_callbacks(args, print_neighbours=False)
    name = args.study or args.preset or "grid"
    store = ResultStore.for_study(name, args.results)
    devices = gpu_devices(args.gpus, cells) if args.gpus is not None else None
    if args.dry_run:
        for config in cells:
            print(config.run_id, config.canonical_json())
        print(plural_runs(len(cells)))
        return 0
    if not started_by_gpus_launcher():  # the launcher recorded the user's command
        from study.run.runner import grid_lock

        # A grid refused for another one running (one line) leaves study.json as it was.
        with grid_lock(store, shared=bool(args.storage) or devices is not None):
            pass
        store.write_study_info(
            {
                "name": name,
                "command": redact_command(getattr(args, "argv", sys.argv[1:])),
                "grid": spec.to_dict(),
                "cells": len(cells),
                "benchmarks": args.benchmarks or "all",
            }
        )
    if devices is not None:
        return per_gpu(args, devices, cells, store)
    if args.storage:
        from study.run.shared_grid import run_grid_shared

        counts = run_grid_shared(
            cells,
            store,
            args.storage,
            overwrite=args.overwrite,
            retry_failed=args.retry_failed,
            data_root=args.data_dir,
            callbacks=make_callbacks,
            save_output_vectors=not args.no_output_vectors,
            benchmarks=args.benchmarks,
        )
    else:
        from study.run.runner import run_grid

        counts = run_grid(
            cells,
            store,
            overwrite=args.overwrite,
            retry_failed=args.retry_failed,
            data_root=args.data_dir,
            callbacks=make_callbacks,
            save_output_vectors=not args.no_output_vectors,
            benchmarks=args.benchmarks,
        )
    print(f"{plural_runs(len(cells))}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    print_tables(store)
    if counts.get(STATUS_FAILED):
        print(
            f"warning: {counts[STATUS_FAILED]} runs failed; their errors are in runs.csv "
            "(rerun them with --retry-failed)"
        )
    return 0


def started_by_gpus_launcher() -> bool:
    from study.run.gpu_workers import CHILD_ENV

    return os.environ.get(CHILD_ENV) == "1"


def gpu_devices(spec: str, cells: list[RunConfig]) -> list[str]:
    """`--gpus`: each worker's CUDA_VISIBLE_DEVICES."""
    from study.run.gpu_workers import assign_gpus, visible_gpus

    if all(c.device == "cpu" for c in cells):
        raise ConfigError("--gpus: every cell trains on the CPU (device=cpu); drop --gpus")
    return assign_gpus(spec, visible_gpus())


def per_gpu(
    args: argparse.Namespace, devices: list[str], cells: list[RunConfig], store: ResultStore
) -> int:
    """This grid command once per GPU, as shared-grid workers on one storage."""
    from study.core.redact import redact_url
    from study.run.gpu_workers import run_per_gpu, worker_argv

    storage = args.storage or f"sqlite:///{(store.root / 'optuna.db').resolve()}"
    command = [sys.executable, "-m", "study", *worker_argv(args.argv, storage)]
    shown = redact_url(storage)
    print(f"{len(devices)} workers (CUDA_VISIBLE_DEVICES={', '.join(devices)}) on {shown}")
    sys.stdout.flush()
    code = run_per_gpu(command, devices)
    runs = print_tables(store)
    ids = {c.run_id for c in cells}
    done = int((runs["run_id"].isin(ids) & (runs["status"] == "done")).sum()) if len(runs) else 0
    print(f"{plural_runs(len(cells))}: {done} done; the workers exited with {code}")
    return code


def plural_runs(count: int) -> str:
    """'1 run', '3 runs': a grid's listing counts runs (a cell of the statistics is a run's
    fields without the seed)."""
    return f"{count} run" if count == 1 else f"{count} runs"


def print_tables(store: ResultStore) -> pd.DataFrame:
    """Rebuild the study's tables from its run folders and say where they are (a warning
    instead when they cannot be written)."""
    runs, epochs = load_table(store)
    if save_tables_or_warn(store, runs, epochs):
        print(
            f"tables: {store.root / 'runs.csv'} ({len(runs)} runs), "
            f"{store.root / 'epochs.csv'} ({len(epochs)} epoch rows); .parquet beside them"
        )
    return runs
