"""A grid run by many worker processes or machines that share one Optuna storage: cells are
queued once as WAITING trials, each worker claims one at a time and runs it into the shared
result store, and a killed worker's cell is re-queued through heartbeats, so every cell runs to
completion exactly once (protocol: docs/DESIGN.md, "Optuna studies and the shared grid").
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import cast

import optuna
from optuna.exceptions import DuplicatedStudyError, UpdateFinishedTrialError
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import TrialState
from tqdm.auto import tqdm

from study.core.config import RunConfig
from study.run.runner import (
    SKIPPED,
    CallbackFactory,
    CorpusCache,
    GridOptions,
    execute_run,
    grid_lock,
)
from study.run.search import trial_attrs
from study.store.identity import check_grid_corpora
from study.store.results import STATUS_DONE, STATUS_FAILED, ResultStore
from study.store.storage import (
    HEARTBEAT_ENV,
    Heartbeat,
    file_lock,
    heartbeat_settings,
    load_or_create_study,
    open_storage,
    sqlite_lock_path,
)

log = logging.getLogger(__name__)
READY_ATTR = "grid_enqueued"
SKIPPED_ATTR = "skipped_already_finished"  # on trials closed without a run (duplicate entries)
POLL_SECONDS = 2.0
METRIC_NAME = "run_finished"  # the grid's trial value: 1.0 once the cell's run is done


def run_grid_shared(
    cells: Sequence[RunConfig],
    store: ResultStore,
    storage_url: str,
    overwrite: bool = False,
    retry_failed: bool = False,
    data_root: str | None = None,
    progress: bool = True,
    wait_seconds: float = 600.0,
    callbacks: CallbackFactory | None = None,
    save_output_vectors: bool = True,
    benchmarks: Sequence[str] | None = None,
) -> dict[str, int]:
    """Work on the shared grid until no cell is left; returns this worker's counts.
    `benchmarks`: what each run is scored on (names of `study.evaluate.benchmarks`; None: all)."""
    options = GridOptions(
        overwrite=overwrite,
        retry_failed=retry_failed,
        data_root=data_root,
        progress=progress,
        callbacks=callbacks,
        save_output_vectors=save_output_vectors,
        benchmarks=benchmarks,
        wait_seconds=wait_seconds,
    )
    with grid_lock(store, shared=True):
        check_grid_corpora(store, cells, data_root, overwrite, retry_failed)
        return _work(cells, store, storage_url, options)


def _work(
    cells: Sequence[RunConfig], store: ResultStore, storage_url: str, options: GridOptions
) -> dict[str, int]:
    storage = open_storage(storage_url)
    study = load_or_create_study(storage, store.name, ["maximize"], metric_names=[METRIC_NAME])
    todo = [c for c in cells if options.needs_run(store, c)]
    _enqueue_once(
        study,
        storage,
        todo,
        options.wait_seconds,
        sqlite_lock_path(storage_url, "enqueue"),
        lambda cs: [c for c in cs if options.needs_run(store, c)],
    )
    claim_lock = sqlite_lock_path(storage_url, "claim")
    counts = {SKIPPED: len(cells) - len(todo), STATUS_DONE: 0, STATUS_FAILED: 0}
    corpora = CorpusCache(options.data_root)
    waiting_for = 0  # cells running in other workers, as last reported
    with tqdm(desc=f"grid {store.name} (shared)", unit="run", disable=not options.progress) as bar:
        while True:
            _fail_stale_trials(study)  # killed workers' trials → FAIL + retry
            trial_id = _claim(study, claim_lock)
            if trial_id is None:
                running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                if not running:
                    break
                if len(running) != waiting_for:  # say why this worker waits, once per change
                    waiting_for = len(running)
                    bar.write(_waiting_message(waiting_for))
                time.sleep(POLL_SECONDS)  # others are running: theirs may still be retried
                continue
            waiting_for = 0
            trial = storage.get_trial(trial_id)
            config = RunConfig.from_dict(json.loads(trial.user_attrs["config"]))
            bar.set_postfix_str(config.run_id)
            finished = store.status(config.run_id) is not None
            if not options.needs_run(store, config):
                # A duplicate queue entry (a late worker, or one that took a slow enqueuer for
                # a dead one, queued a finished cell again): close it without training.
                _close_as_skipped(storage, trial_id)
                continue
            with Heartbeat(storage, trial_id), _released_on_interrupt(study, trial_id):
                extra = options.extra_callbacks(store, config)
                # replace only a run that was finished when claimed (--overwrite,
                # --retry-failed): one another worker finishes meanwhile is kept, not removed
                payload = execute_run(
                    config,
                    store,
                    corpora,
                    extra,
                    save_output_vectors=options.save_output_vectors,
                    replace=finished,
                    benchmarks=options.benchmarks,
                )
            for key, value in trial_attrs(payload).items():
                storage.set_trial_user_attr(trial_id, key, value)
            outcome = payload["status"]
            counts[outcome] = counts.get(outcome, 0) + 1
            if outcome == STATUS_DONE:
                storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
            else:
                storage.set_trial_state_values(trial_id, TrialState.FAIL)
            bar.update()
    _close_finished_cells(study, storage, store, cells, claim_lock)
    _delete_finished_locks(study, storage)
    return counts


def _close_as_skipped(storage: optuna.storages.RDBStorage, trial_id: int) -> None:
    """A trial whose cell the store already has done: COMPLETE, marked as not trained."""
    storage.set_trial_user_attr(trial_id, SKIPPED_ATTR, True)
    storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])


def _close_finished_cells(
    study: optuna.Study,
    storage: optuna.storages.RDBStorage,
    store: ResultStore,
    cells: Sequence[RunConfig],
    lock: Path | None,
) -> None:
    """A worker killed after its run finished but before closing the trial leaves that trial
    FAIL; once its retries are used up nothing queues the cell again (the store has it done).
    Record such a cell as a skipped COMPLETE trial, so the study agrees with the store."""
    with file_lock(lock):
        complete = {
            t.user_attrs.get("run_id")
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        }
        for config in cells:
            if config.run_id in complete or store.status(config.run_id) != STATUS_DONE:
                continue
            trial_id = storage.create_new_trial(study._study_id)
            storage.set_trial_user_attr(trial_id, "run_id", config.run_id)
            storage.set_trial_user_attr(trial_id, "config", config.canonical_json())
            _close_as_skipped(storage, trial_id)


def _waiting_message(running: int) -> str:
    _, grace = heartbeat_settings()
    cells = "cell is" if running == 1 else "cells are"
    return (
        f"waiting: {running} {cells} running in other workers; a cell whose worker was killed "
        f"is run again here once its heartbeat is {grace} s old (${HEARTBEAT_ENV})"
    )


@contextlib.contextmanager
def _released_on_interrupt(study: optuna.Study, trial_id: int) -> Iterator[None]:
    """Ctrl-C or SIGTERM (which `study.cli.app` turns into KeyboardInterrupt) during a cell: fail
    its trial and queue the cell again at once, so other or restarted workers take it now
    instead of waiting a heartbeat grace period for a trial left RUNNING."""
    try:
        yield
    except (KeyboardInterrupt, SystemExit):
        storage = study._storage
        trial = storage.get_trial(trial_id)
        with contextlib.suppress(UpdateFinishedTrialError):
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
            study.enqueue_trial({}, user_attrs=dict(trial.user_attrs))
        raise


def _cells_hash(cells: Sequence[RunConfig]) -> str:
    return hashlib.sha256(",".join(sorted(c.run_id for c in cells)).encode()).hexdigest()[:12]


def _enqueue_once(
    study: optuna.Study,
    storage: optuna.storages.RDBStorage,
    cells: Sequence[RunConfig],
    wait_seconds: float,
    enqueue_lock: Path | None = None,
    still_needed: Callable[[Sequence[RunConfig]], list[RunConfig]] = list,
) -> None:
    if not cells:
        return
    base = f"{_lock_prefix(study.study_name)}{_cells_hash(cells)}"
    ids = {c.run_id for c in cells}
    for round_ in itertools.count():
        lock_name = f"{base}-{round_}"
        try:
            optuna.create_study(storage=storage, study_name=lock_name)
        except DuplicatedStudyError:
            if not _wait_until_ready(study, storage, lock_name, wait_seconds):
                # the worker that enqueues died part-way (or is stuck): queue what it did not
                log.warning("the worker enqueuing the grid stopped part-way; queueing the rest")
                break
            if _queued(study, ids):
                return  # that round is still going: join it
            remaining = still_needed(cells)  # that round may have run them since we looked
            if len(remaining) < len(cells):
                return _enqueue_once(
                    study, storage, remaining, wait_seconds, enqueue_lock, still_needed
                )
            # That round is over and these cells still need a run (a rerun with --overwrite or
            # --retry-failed, cells given up after the retries): a new round.
            continue
        break
    with file_lock(enqueue_lock):
        # re-check the store: after a wait, some of these cells may have finished meanwhile
        _enqueue_missing(study, still_needed(cells))
    try:
        lock_id = storage.get_study_id_from_name(lock_name)
        storage.set_study_user_attr(lock_id, READY_ATTR, len(cells))
    except KeyError:
        pass  # only READY locks are deleted; be safe against a future cleaner that is not


def _lock_prefix(study_name: str) -> str:
    return f"{study_name}.grid-"


def _delete_finished_locks(study: optuna.Study, storage: optuna.storages.RDBStorage) -> None:
    """Delete the lock studies of rounds whose queue is complete (READY), by id: a lock of the
    same name created since (a new round) has another id and stays. Workers still waiting on
    a deleted lock take it as ready (`_wait_until_ready`)."""
    prefix = _lock_prefix(study.study_name)
    for name in [s.study_name for s in storage.get_all_studies()]:
        if not name.startswith(prefix):
            continue
        try:
            lock_id = storage.get_study_id_from_name(name)
            if READY_ATTR in storage.get_study_user_attrs(lock_id):
                storage.delete_study(lock_id)
        except KeyError:
            pass  # another worker deleted it first


def _queued(study: optuna.Study, run_ids: set[str]) -> bool:
    states = (TrialState.WAITING, TrialState.RUNNING)
    return any(
        t.user_attrs.get("run_id") in run_ids for t in study.get_trials(False, states=states)
    )


def _enqueue_missing(study: optuna.Study, cells: Sequence[RunConfig]) -> None:
    """Enqueue every cell that is not WAITING or RUNNING already."""
    states = (TrialState.WAITING, TrialState.RUNNING)
    queued = {t.user_attrs.get("run_id") for t in study.get_trials(False, states=states)}
    for config in cells:
        if config.run_id not in queued:
            study.enqueue_trial(
                {}, user_attrs={"run_id": config.run_id, "config": config.canonical_json()}
            )


def _wait_until_ready(
    study: optuna.Study, storage: optuna.storages.RDBStorage, lock_name: str, seconds: float
) -> bool:
    """Wait for the enqueuing worker; False if it made no progress for a heartbeat grace
    period (it was killed part-way: its queue is incomplete) or did not finish in time."""
    _, grace = heartbeat_settings()
    deadline = time.monotonic() + seconds
    seen, last_progress = -1, time.monotonic()
    while time.monotonic() < deadline:
        try:
            lock_id = storage.get_study_id_from_name(lock_name)
            if READY_ATTR in storage.get_study_user_attrs(lock_id):
                return True
        except KeyError:
            return True  # deleted: its round finished (`_delete_finished_locks`)
        count = len(study.get_trials(deepcopy=False))
        if count != seen:
            seen, last_progress = count, time.monotonic()
        elif time.monotonic() - last_progress > grace:
            return False
        time.sleep(POLL_SECONDS)
    log.warning("the worker that enqueues the grid did not finish in %.0f s", seconds)
    return False


def _fail_stale_trials(study: optuna.Study) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _claim(study: optuna.Study, lock: Path | None) -> int | None:
    """Move one WAITING trial to RUNNING and return its id (None when the queue is empty)."""
    storage = study._storage
    with file_lock(lock):
        for trial in storage.get_all_trials(
            study._study_id, deepcopy=False, states=(TrialState.WAITING,)
        ):
            try:
                if storage.set_trial_state_values(trial._trial_id, TrialState.RUNNING):
                    # at once: Optuna never counts a RUNNING trial without any heartbeat as
                    # stale, so a worker killed before its Heartbeat thread starts would leave
                    # the cell RUNNING forever (and every other worker waiting for it)
                    cast(BaseHeartbeat, storage).record_heartbeat(trial._trial_id)
                    return int(trial._trial_id)
            except UpdateFinishedTrialError:
                continue
    return None
