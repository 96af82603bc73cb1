"""Optuna storage: SQLite by default (one machine), any RDB URL Optuna accepts (PostgreSQL for
many workers or machines), with heartbeats: a trial silent for `grace_period` seconds is marked
FAILED by the next worker that looks and a copy is queued again, so no trial stays RUNNING.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

from study.core.errors import StudyError
from study.core.files import FileProblem, open_lock_file
from study.core.redact import MASK, redact, redact_url

HEARTBEAT_ENV = "W2V_STUDY_HEARTBEAT"  # "interval,grace" in seconds; tests use short ones


def heartbeat_settings() -> tuple[int, int]:
    text = os.environ.get(HEARTBEAT_ENV, "30,120")
    parts = text.split(",")
    if len(parts) != 2 or not all(p.strip().isascii() and p.strip().isdigit() for p in parts):
        raise StudyError(f"${HEARTBEAT_ENV} must be 'interval,grace' in seconds, got {text[:40]!r}")
    interval, grace = (int(p) for p in parts)
    if not 1 <= interval < grace:
        # grace <= interval would fail live trials between two heartbeats
        raise StudyError(
            f"${HEARTBEAT_ENV}: need 1 <= interval < grace (seconds), got {text[:40]!r}"
        )
    return interval, grace


def default_sqlite_url(study_dir: Path) -> str:
    return f"sqlite:///{(study_dir / 'optuna.db').resolve()}"


def open_storage(url: str) -> RDBStorage:
    """An RDBStorage with heartbeats and retries; unreachable URLs give one clear error."""
    interval, grace = heartbeat_settings()
    engine_kwargs: dict[str, object] = {}
    if url.startswith("sqlite:"):
        path = url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StudyError(
                    f"cannot open Optuna storage {redact_url(url)}: cannot create "
                    f"{Path(path).parent} ({exc.strerror or exc})"
                ) from exc
        # several processes write one SQLite file: wait for the lock instead of failing at once
        engine_kwargs["connect_args"] = {"timeout": 120}
    else:
        engine_kwargs["pool_pre_ping"] = True
    last_error: Exception | None = None
    for attempt in range(3):  # workers starting together race to create the tables
        try:
            # SQLite's table creation is not atomic across processes: serialise it
            with file_lock(sqlite_lock_path(url, "init")), warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=interval,
                    grace_period=grace,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=3),
                )
        except ImportError as exc:
            raise StudyError(
                f"the driver for {redact_url(url)} is not installed ({exc}); for PostgreSQL: "
                "pip install 'w2v-study[postgres]'"
            ) from None
        except Exception as exc:  # sqlalchemy errors: bad URL, refused connection, auth
            last_error = exc
            if "already exists" not in str(exc):
                break
            time.sleep(0.5 + attempt)
    reason = str(last_error).strip().splitlines()[0] if last_error else "unknown error"
    # the driver's message may quote the URL, or (a malformed URL) the password alone
    reason = _without_password(redact(reason), url)
    raise StudyError(f"cannot open Optuna storage {redact_url(url)}: {reason}") from None


def sqlite_lock_path(url: str, purpose: str) -> Path | None:
    """A lock file beside a SQLite database (None for server databases, which lock rows)."""
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///") + f".{purpose}-lock")
    return None


@contextlib.contextmanager
def file_lock(path: Path | None) -> Iterator[None]:
    """An exclusive flock on `path` for the block; no-op for None."""
    if path is None:
        yield
        return
    try:
        fd = open_lock_file(path)
    except FileProblem as exc:
        raise StudyError(f"cannot use lock file {path}: {exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _without_password(text: str, url: str) -> str:
    """`text` with the password of `url` (the part between 'user:' and the last '@') masked
    wherever it appears, quoted or not."""
    if "://" in url:
        credentials = url.split("://", 1)[1].rpartition("@")[0]
        password = credentials.partition(":")[2]
    else:  # malformed: the password is what sits between the last ':' and the '@'
        password = url.rpartition("@")[0].rpartition(":")[2]
    return text.replace(password, MASK) if len(password) >= 3 else text


class Heartbeat:
    """Records a trial's heartbeat every `interval` seconds in a daemon thread."""

    def __init__(self, storage: RDBStorage, trial_id: int):
        self.storage = storage
        self.trial_id = trial_id
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        interval = self.storage.get_heartbeat_interval() or 30
        while not self.stop.is_set():
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception:  # a transient DB error must not kill the run; next beat retries
                pass
            self.stop.wait(interval)

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def load_or_create_study(
    storage: RDBStorage,
    name: str,
    directions: Sequence[str],
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    metric_names: Sequence[str] | None = None,
) -> optuna.Study:
    """Create or join a study; `metric_names` name its objective values (optuna-dashboard
    shows them instead of "Objective 0")."""
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            directions=[optuna.study.StudyDirection[d.upper()] for d in directions],
            sampler=sampler,
            pruner=pruner,
            load_if_exists=True,
        )
    except ValueError as exc:  # e.g. directions differ from the stored study's
        raise StudyError(f"cannot use Optuna study {name!r}: {exc}") from exc
    if metric_names is not None and study.metric_names != list(metric_names):
        with warnings.catch_warnings():  # experimental since Optuna 3.2
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(list(metric_names))
    return study
