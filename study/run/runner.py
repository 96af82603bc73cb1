"""Running studies: one run (train → probe → evaluate → store) and a resumable local grid; a run
that fails with a `StudyError` (divergence, bad corpus) is recorded as failed and the grid goes
on, and only missing runs are run again (`overwrite`, `retry_failed` widen that).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from study.core.config import RunConfig
from study.core.errors import CorpusError, StudyError
from study.core.files import FileProblem, open_lock_file
from study.data.vocab import EncodedCorpus, load_corpus
from study.store.results import (
    STATUS_DONE,
    STATUS_FAILED,
    ResultStore,
    RunResult,
    provenance,
)
from study.train.probes import PROBE_COLUMNS
from study.train.trainers import get_trainer
from study.train.trainers.base import Callback, TrainState

log = logging.getLogger(__name__)
SKIPPED = "skipped"  # a grid's count of cells already finished in the store (not a run status)
GRID_LOCK = ".grid.lock"  # in the study folder: one local grid, or any number of shared workers

# Extra callbacks for one run of a grid, made from its config and its run folder (TensorBoard,
# nearest neighbours ...).
CallbackFactory = Callable[[RunConfig, Path], Sequence[Callback]]


class EpochRecorder(Callback):
    """Keeps every epoch row (so a failed run still records the epochs it finished)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def on_epoch_end(self, state: TrainState) -> None:
        self.rows.append(state.row)  # the trainer's row object; later callbacks may add columns


class EpochPrinter(Callback):
    """Prints one line per epoch with the standard columns and the probe's."""

    COLUMNS = ["loss", *(c for c in PROBE_COLUMNS if c != "probe_seconds"), "lr", "seconds",
               "words_per_sec"]  # fmt: skip

    def __init__(self, write: Callable[[str], None] = tqdm.write) -> None:
        self.write = write

    def on_epoch_end(self, state: TrainState) -> None:
        parts = [f"epoch {state.epoch:>3}/{state.epochs}"]
        for key in self.COLUMNS:
            if key in state.row:
                parts.append(f"{key}={_fmt(state.row[key])}")
        self.write("  ".join(parts))


def _fmt(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@dataclass
class CorpusCache:
    """Corpora prepared once per grid: keyed by (corpus, min_count, max_vocab)."""

    data_root: str | None = None
    corpora: dict[tuple[str, int, int | None], EncodedCorpus] = field(default_factory=dict)

    def get(self, config: RunConfig) -> EncodedCorpus:
        key = (config.corpus, config.min_count, config.max_vocab)
        if key not in self.corpora:
            self.corpora[key] = load_corpus(*key, data_root=self.data_root)
        return self.corpora[key]


def default_callbacks(config: RunConfig) -> list[Callback]:
    callbacks: list[Callback] = []
    if config.probe_pairs > 0:
        from study.train.probes import GradientProbe

        callbacks.append(GradientProbe())
    return callbacks


def execute_run(
    config: RunConfig,
    store: ResultStore,
    corpora: CorpusCache,
    extra_callbacks: Sequence[Callback] = (),
    print_epochs: bool = False,
    save_vectors: bool = True,
    save_output_vectors: bool = True,
    replace: bool = True,
    benchmarks: Sequence[str] | None = None,
) -> RunResult:
    """Train, evaluate and store one run; returns its record (what metrics.json holds).

    Evaluation scores w and w+c on `benchmarks` (names of `study.evaluate.benchmarks`; None: all).

    `replace=False` (the caller saw the run unfinished): if another process has finished it
    since, its record is returned and nothing is trained or removed.

    User errors (`StudyError`, e.g. divergence) are recorded as a failed run and returned;
    the caller decides whether to go on. Anything else (a bug, KeyboardInterrupt, an Optuna
    TrialPruned raised by a callback) propagates after nothing is marked done.
    """
    from study.evaluate.score import run_evaluation

    if not store.start_run(config, replace):
        finished = store.read_metrics(config.run_id)
        if finished is not None:
            return finished  # finished by another process since the caller looked: keep it
        store.start_run(config, replace=True)  # a damaged record: train it again
    recorder = EpochRecorder()
    printer = [EpochPrinter()] if print_epochs else []  # before extras: they may print too
    callbacks: list[Callback] = [*default_callbacks(config), *printer, *extra_callbacks, recorder]
    started = time.perf_counter()
    corpus: EncodedCorpus | None = None
    try:
        corpus = corpora.get(config)
        check_trainable(corpus, config)
        result = get_trainer(config.trainer).fit(corpus, config, callbacks)
        store.write_epochs(config.run_id, result.epochs)
        attach_counts(result.vectors, corpus)
        if save_vectors:  # output vectors (W_out) too unless opted out: the w+c trick needs them
            output = result.output_vectors if save_output_vectors else None
            store.write_vectors(config.run_id, result.vectors, output)
        evaluation = run_evaluation(
            result.vectors, benchmarks=benchmarks, output_vectors=result.output_vectors
        )
        store.write_items(config.run_id, evaluation.items)
    except StudyError as exc:
        log.warning("run %s failed: %s", config.run_id, exc)
        if recorder.rows:
            store.write_epochs(config.run_id, recorder.rows)
        failed: RunResult = {
            "status": STATUS_FAILED,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=8),
            "seconds": time.perf_counter() - started,
            "epochs_done": len(recorder.rows),
            "provenance": provenance(config),
        }
        if corpus is not None:
            failed["corpus_fingerprint"] = corpus.fingerprint
        store.finish_run(config, failed)
        return failed
    except BaseException:
        if recorder.rows:  # e.g. an Optuna pruner stopped it: keep the epochs it did
            store.write_epochs(config.run_id, recorder.rows)
        raise
    done: RunResult = {
        "status": STATUS_DONE,
        "metrics": evaluation.metrics,
        "train_seconds": result.train_seconds,
        "seconds": time.perf_counter() - started,
        "words": result.words,
        "words_per_sec": result.words_per_sec,
        "epochs_done": len(result.epochs),
        "vocab_size": len(corpus.vocab),
        "corpus_words": corpus.n_words,
        "corpus_fingerprint": corpus.fingerprint,
        "provenance": {**provenance(config), "trainer": result.info},
    }
    store.finish_run(config, done)
    return done


def check_trainable(corpus: EncodedCorpus, config: RunConfig) -> None:
    """A corpus without one line of two in-vocabulary words has no (center, context) pair:
    fail the run with that reason before the trainers and the probe meet it (gensim read it as
    divergence, the probe raised a bare ValueError that stopped the grid)."""
    if corpus.n_words == 0 or int(np.diff(corpus.sentence_starts).max(initial=0)) < 2:
        raise CorpusError(
            f"corpus {corpus.name} is too small to train on: no line has two words that occur "
            f"at least min_count={config.min_count} times (vocabulary: {len(corpus.vocab)} "
            "words); use a larger corpus"
            + (" or a lower min_count" if config.min_count > 1 else "")
        )


def attach_counts(vectors: Any, corpus: EncodedCorpus) -> None:
    """Store word counts with the vectors (saved files keep frequency order and counts)."""
    if "count" not in vectors.expandos:
        vectors.allocate_vecattrs(attrs=["count"], types=[np.int64])
        counts = dict(zip(corpus.vocab.words, corpus.vocab.counts.tolist(), strict=True))
        vectors.expandos["count"][:] = [counts.get(w, 0) for w in vectors.index_to_key]


def needs_run(store: ResultStore, config: RunConfig, overwrite: bool, retry_failed: bool) -> bool:
    """Only missing runs by default; failed ones with retry_failed; everything with overwrite."""
    if overwrite:
        return True
    status = store.status(config.run_id)
    return status is None or (status == STATUS_FAILED and retry_failed)


@dataclass(frozen=True)
class GridOptions:
    """How a grid runs its cells, locally (`run_grid`) or shared (`run_grid_shared`)."""

    overwrite: bool = False  # rerun finished runs too
    retry_failed: bool = False  # rerun failed runs
    data_root: str | None = None
    progress: bool = True
    callbacks: CallbackFactory | None = None
    save_output_vectors: bool = True
    benchmarks: Sequence[str] | None = None  # `study.evaluate.benchmarks` names; None: all
    wait_seconds: float = 600.0  # shared grid: how long to wait for the enqueuing worker

    def needs_run(self, store: ResultStore, config: RunConfig) -> bool:
        return needs_run(store, config, self.overwrite, self.retry_failed)

    def extra_callbacks(self, store: ResultStore, config: RunConfig) -> Sequence[Callback]:
        """The callbacks a run gets beyond the probe (none without a factory)."""
        return self.callbacks(config, store.run_dir(config.run_id)) if self.callbacks else ()


def run_grid(
    cells: Sequence[RunConfig],
    store: ResultStore,
    overwrite: bool = False,
    retry_failed: bool = False,
    data_root: str | None = None,
    progress: bool = True,
    callbacks: CallbackFactory | None = None,
    save_output_vectors: bool = True,
    benchmarks: Sequence[str] | None = None,
) -> dict[str, int]:
    """Run the missing cells of a grid one after the other; returns counts by outcome.
    `benchmarks`: what each run is scored on (names of `study.evaluate.benchmarks`; None: all)."""
    from study.store.identity import check_grid_corpora

    options = GridOptions(
        overwrite=overwrite,
        retry_failed=retry_failed,
        data_root=data_root,
        progress=progress,
        callbacks=callbacks,
        save_output_vectors=save_output_vectors,
        benchmarks=benchmarks,
    )
    with grid_lock(store, shared=False):
        check_grid_corpora(store, cells, data_root, overwrite, retry_failed)
        todo = [c for c in cells if options.needs_run(store, c)]
        return _run_cells(cells, todo, store, options)


def _run_cells(
    cells: Sequence[RunConfig], todo: Sequence[RunConfig], store: ResultStore, options: GridOptions
) -> dict[str, int]:
    counts = {SKIPPED: len(cells) - len(todo), STATUS_DONE: 0, STATUS_FAILED: 0}
    corpora = CorpusCache(options.data_root)
    bar = tqdm(total=len(todo), desc=f"grid {store.name}", unit="run", disable=not options.progress)
    with bar:
        for config in todo:
            bar.set_postfix_str(progress_label(config))
            extra = options.extra_callbacks(store, config)
            finished = store.status(config.run_id) is not None  # --overwrite, --retry-failed
            result = execute_run(
                config,
                store,
                corpora,
                extra,
                save_output_vectors=options.save_output_vectors,
                replace=finished,
                benchmarks=options.benchmarks,
            )
            counts[result["status"]] += 1
            bar.update()
    return counts


@contextlib.contextmanager
def grid_lock(store: ResultStore, shared: bool) -> Iterator[None]:
    """Hold the study's grid lock for the block: exclusive for a local grid, shared for the
    workers of a `--storage` grid (they split the cells through Optuna). Two local grids on one
    study would each train every cell: the second stops at once with one line."""
    path = store.root / GRID_LOCK
    try:
        store.root.mkdir(parents=True, exist_ok=True)
        handle = os.fdopen(open_lock_file(path), "r+")
    except FileProblem as exc:
        raise StudyError(f"cannot write {path}: {exc}") from None
    except OSError as exc:
        raise StudyError(f"cannot write {path}: {exc.strerror or exc}") from exc
    with handle:
        try:
            fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StudyError(_lock_held_message(store, handle, shared)) from None
        if not shared:
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")  # for the message the next one prints
            handle.flush()
        yield


def _lock_held_message(store: ResultStore, handle: Any, shared: bool) -> str:
    name = store.name
    if not shared:
        try:  # a shared lock is free while workers of a --storage grid hold theirs
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass
        else:
            fcntl.flock(handle, fcntl.LOCK_UN)
            return (
                f"workers of a shared grid (--storage) are running study {name!r}: run this "
                "command with their --storage URL to join them, or wait for them to finish"
            )
    handle.seek(0)
    pid = handle.read().strip() or "?"
    if shared:
        tail = " (a shared grid cannot join a local one)"
    else:
        url = f"sqlite:///{(store.root / 'optuna.db').resolve()}"
        tail = f", or share the cells between processes: start every one with --storage {url}"
    return f"another local grid (pid {pid}) is running study {name!r}: wait for it to finish{tail}"


def progress_label(
    config: RunConfig, fields: Sequence[str] = ("trainer", "alpha", "window", "negative", "seed")
) -> str:
    """A run's key fields for the grid's progress bar (`analyze.inference.describe` is a cell's
    fields for a report)."""
    return " ".join(f"{name}={getattr(config, name)}" for name in fields)
