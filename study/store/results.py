"""The result store and the run record: one folder per study, one subfolder per run id holding
config.json, epochs.csv, vectors.bin (+ vocab.txt, output_vectors.bin: `study.train.vectors`) and,
written last, metrics.json (a `RunResult`), all through `study.core.atomic`; tables are rebuilt from
the folders (`load_table`), so a killed process never costs a finished run (layout:
docs/DESIGN.md, "Result store").
"""

from __future__ import annotations

import logging
import os
import platform
import re
import subprocess
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, NotRequired, TypedDict, cast

import numpy as np
import pandas as pd

from study.core.atomic import atomic_paths, atomic_write_bytes, atomic_write_json, remove_durably
from study.core.config import RunConfig, field_names, show
from study.core.errors import StudyError
from study.core.steps import own_step, step_label
from study.evaluate.items import ITEMS_FILE, RunItems, read_items, write_items
from study.store import run_files

log = logging.getLogger(__name__)
# What a training writes into its run folder besides config.json and metrics.json
# (study.train.vectors, study.train.neighbours, study.evaluate.tensorboard): removed before
# the run is trained again.
RUN_OUTPUTS = ("epochs.csv", "vectors.bin", "vocab.txt", "output_vectors.bin", ITEMS_FILE,
               "neighbours.csv", "tensorboard")  # fmt: skip
RESULTS_ROOT_ENV = "W2V_STUDY_RESULTS"
# A study name is a folder and an Optuna study name: fullmatch, since `$` also matches before
# a final newline ("a\n" passed), and ASCII only.
STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", re.ASCII)
SCHEMA_VERSION = 1

# -- the run record (metrics.json) ------------------------------------------------------------
Status = Literal["done", "failed", "pruned"]
STATUS_DONE: Final = "done"
STATUS_FAILED: Final = "failed"
STATUS_PRUNED: Final = "pruned"  # stopped early by an Optuna pruner; its epochs.csv has what it did
STATUSES: Final[tuple[Status, ...]] = (STATUS_DONE, STATUS_FAILED, STATUS_PRUNED)


class RunResult(TypedDict):
    """The content of metrics.json, written last: its presence marks a run as finished."""

    status: Status
    run_id: NotRequired[str]  # set by ResultStore.finish_run
    schema_version: NotRequired[int]  # likewise
    error: NotRequired[str]  # failed and pruned runs: "ErrorType: message"
    traceback: NotRequired[str]  # failed runs
    metrics: NotRequired[
        dict[str, float]
    ]  # done runs: flat evaluation metrics (study.evaluate.score)
    train_seconds: NotRequired[float]  # training alone
    seconds: NotRequired[float]  # the whole run: corpus, training, evaluation, writes
    words: NotRequired[int]  # training words processed
    words_per_sec: NotRequired[float]
    epochs_done: NotRequired[int]
    vocab_size: NotRequired[int]
    corpus_words: NotRequired[int]
    corpus_fingerprint: NotRequired[str]  # the corpus content trained on (study.data.corpus)
    provenance: NotRequired[dict[str, Any]]  # see `provenance()`


def results_root(override: str | os.PathLike[str] | None = None) -> Path:
    """Parent of all study folders: the flag, else $W2V_STUDY_RESULTS, else ./results."""
    if override is not None:
        return Path(override)
    return Path(os.environ.get(RESULTS_ROOT_ENV, "results"))


# -- provenance ---------------------------------------------------------------------------
def provenance(config: RunConfig, device_name: str | None = None) -> dict[str, Any]:
    """Where a result came from: code revision, environment, device and every seed."""
    import gensim
    import numpy
    import torch

    info = {
        "git_revision": _git(["rev-parse", "HEAD"]),
        "git_dirty": _git_dirty(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            "torch": torch.__version__,
            "gensim": gensim.__version__,
            "numpy": numpy.__version__,
            "pandas": pd.__version__,
            "w2v_study": _package_version(),
        },
        "device": device_name or _device_name(config),
        "seeds": {"seed": config.seed, "probe_seed": config.probe_seed},
    }
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:  # which GPU of the machine (`grid --gpus` sets it per worker)
        info["cuda_visible_devices"] = visible
    return info


def _git(args: Sequence[str]) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _git_dirty() -> bool | None:
    status = _git(["status", "--porcelain", "--untracked-files=no"])
    return None if status is None else bool(status)


def _package_version() -> str:
    from study import __version__

    return __version__


def _device_name(config: RunConfig) -> str:
    import torch

    on_gpu = own_step(config) is None and config.device != "cpu"  # gensim: the CPU
    if on_gpu and torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu: {platform.processor() or platform.machine()} ({os.cpu_count()} cores)"


# -- the store ----------------------------------------------------------------------------
@dataclass(frozen=True)
class RunRecord:
    """A finished (done, failed or pruned) run as read back from disk, every file checked."""

    config: RunConfig
    result: RunResult
    run_id: str = ""  # its folder's name: config.run_id, or the id an earlier version gave it
    epochs: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def status(self) -> Status:
        return self.result["status"]


_REPORTED: set[str] = set()


def _damaged(path: Path, reason: str, consequence: str) -> None:
    """One warning line per damaged file and process (status() reads a run many times)."""
    message = f"damaged study file {path}: {reason}; {consequence}"
    if message not in _REPORTED:
        _REPORTED.add(message)
        log.warning(message)


class ResultStore:
    """The folder of one study. Paths only; nothing is cached in memory."""

    def __init__(self, study_dir: str | os.PathLike[str]):
        self.root = Path(study_dir)

    @property
    def name(self) -> str:
        return self.root.name

    @classmethod
    def for_study(cls, name: str, root: str | os.PathLike[str] | None = None) -> ResultStore:
        if not isinstance(name, str) or not STUDY_NAME.fullmatch(name):
            raise StudyError(
                f"invalid study name {show(name)}: use 1-100 letters, digits, '-', '_' or '.' "
                "(starting with a letter or digit)"
            )
        return cls(results_root(root) / name)

    def run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / run_id

    # -- writing ------------------------------------------------------------------------
    def write_study_info(self, info: Mapping[str, Any]) -> None:
        """study.json; a study grown by several commands (another grid into the same folder)
        keeps the earlier ones in `earlier_commands`, so its record still says how every run
        was made."""
        old = self.read_study_info()
        kept = old.get("earlier_commands", [])
        earlier = [str(c) for c in kept] if isinstance(kept, list) else []
        if "command" in old:
            earlier.append(str(old["command"]))
        earlier = [c for c in dict.fromkeys(earlier) if c != info.get("command")]
        history = {"earlier_commands": earlier} if earlier else {}
        atomic_write_json(self.root / "study.json", {**info, **history})

    def study_commands(self) -> list[str]:
        """The commands that made the study, oldest first ([] when none is recorded)."""
        info = self.read_study_info()
        kept = info.get("earlier_commands", [])
        commands = [str(c) for c in kept] if isinstance(kept, list) else []
        return commands + ([str(info["command"])] if "command" in info else [])

    def start_run(self, config: RunConfig, replace: bool = True) -> bool:
        """Create the run folder and write config.json; False (and nothing written) if the run
        is finished and `replace` is off: another process finished it since the caller looked.

        Replacing a finished run (--overwrite, --retry-failed, a failed Optuna trial run again)
        first removes its metrics.json, durably, then what its training left: a process killed
        during the new training can never leave the old metrics.json beside new vectors, nor a
        failed run keep the old vectors (a run folder never pairs files of two trainings)."""
        folder = self.run_dir(config.run_id)
        if (folder / "metrics.json").exists():
            if not replace:
                return False
            left = [folder / name for name in RUN_OUTPUTS if (folder / name).exists()]
            remove_durably(folder / "metrics.json", *left)
        atomic_write_json(folder / "config.json", config.to_dict())
        return True

    def write_epochs(self, run_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
        frame = pd.DataFrame(list(rows))
        atomic_write_bytes(self.run_dir(run_id) / "epochs.csv", frame.to_csv(index=False).encode())

    def write_vectors(
        self, run_id: str, vectors: Any, output_vectors: np.ndarray | None = None
    ) -> Path:
        """vectors.bin + vocab.txt (+ output_vectors.bin), each atomically
        (`study.train.vectors`)."""
        from study.train.vectors import save_run_vectors

        return save_run_vectors(self.run_dir(run_id), vectors, output_vectors)

    def write_items(self, run_id: str, items: RunItems) -> None:
        """Per-item evaluation results (`study.evaluate.items`), written before metrics.json."""
        write_items(self.items_path(run_id), items)

    def finish_run(self, config: RunConfig, result: RunResult) -> None:
        """Write metrics.json: the marker that the run is finished (done, failed or pruned)."""
        if result.get("status") not in STATUSES:
            raise ValueError(f"bad run status {result.get('status')!r}")
        record: RunResult = {**result, "run_id": config.run_id, "schema_version": SCHEMA_VERSION}
        atomic_write_json(self.run_dir(config.run_id) / "metrics.json", record)

    # -- reading ------------------------------------------------------------------------
    # Every file read back is checked (`study.store.run_files`): a damaged one is one warning line
    # naming it, its run counts as not finished (a rerun replaces it), and nothing stops.
    def status(self, run_id: str) -> Status | None:
        record = self.read_run(run_id)
        return None if record is None else record.status

    def read_metrics(self, run_id: str) -> RunResult | None:
        """The run's metrics.json, or None while the run is unfinished (or damaged)."""
        record = self.read_run(run_id)
        return None if record is None else record.result

    def read_run(self, run_id: str) -> RunRecord | None:
        """The finished run in folder `run_id`, or None: unfinished, or a file is damaged."""
        folder = self.run_dir(run_id)
        path = folder / "metrics.json"
        try:
            values = run_files.read_json_object(path)
            if values is None:
                return None
            result = cast(RunResult, run_files.check_result(values, run_id))
            path = folder / "config.json"
            config_values = run_files.read_json_object(path)
            if config_values is None:
                raise run_files.DamagedFile("missing (the run has a metrics.json)")
            config = run_files.check_config(config_values, run_id)
            path = folder / "epochs.csv"
            epochs = run_files.read_epochs(path)
            path = folder / ITEMS_FILE
            run_files.check_items(path, result)
        except run_files.DamagedFile as exc:
            _damaged(path, str(exc), f"run {run_id} counts as not finished")
            return None
        return RunRecord(config, result, run_id, epochs)

    def read_epochs(self, run_id: str) -> pd.DataFrame:
        path = self.run_dir(run_id) / "epochs.csv"
        try:
            return run_files.read_epochs(path)
        except run_files.DamagedFile as exc:
            _damaged(path, str(exc), "its epochs are left out")
            return pd.DataFrame()

    def vectors_path(self, run_id: str) -> Path:
        from study.train.vectors import VECTORS_FILE

        return self.run_dir(run_id) / VECTORS_FILE

    def items_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / ITEMS_FILE

    def read_items(self, run_id: str) -> RunItems | None:
        """The run's per-item results, or None (a run stored before they were kept)."""
        return read_items(self.items_path(run_id))

    def read_study_info(self) -> dict[str, Any]:
        path = self.root / "study.json"
        try:
            return run_files.read_json_object(path) or {}
        except run_files.DamagedFile as exc:
            _damaged(path, str(exc), "ignored")
            return {}

    def finished_runs(self) -> Iterator[RunRecord]:
        """Every finished run, in folder order; unfinished and damaged ones are skipped (the
        damaged ones with a warning), and so is anything in runs/ that is not a run folder."""
        runs = self.root / "runs"
        if not runs.is_dir():
            return
        try:
            entries = sorted(runs.iterdir())
        except OSError as exc:
            raise StudyError(f"cannot list {runs}: {exc.strerror or exc}") from exc
        records = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if not entry.is_dir():
                _damaged(entry, "not a run folder", "ignored")
                continue
            record = self.read_run(entry.name)
            if record is not None:
                records.append(record)
        # Folders under an id an earlier version gave (`run_files.legacy_run_id`) hold the run
        # of their normalised config: one record per config, its current-id folder first.
        records.sort(key=lambda r: r.run_id != r.config.run_id)
        seen: set[str] = set()
        for record in records:
            if record.config.run_id in seen:
                continue
            seen.add(record.config.run_id)
            yield record


def load_table(
    study: str | os.PathLike[str] | ResultStore, save: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, epochs) tables of a study, rebuilt from its run folders; reading writes nothing.

    runs: one row per finished run: `run_id`, `status`, `error`, every RunConfig field, `step`
    (the training step that ran: `study.core.steps`), every evaluation metric, then RUN_KEYS
    (`train_seconds`, ..., `corpus_words`, `cores`: `run_cores`).
    epochs: one row per epoch of every finished run: `run_id`, every RunConfig field, then the
    epoch columns (loss, probe losses, gradient norms, lr, seconds, words, ...).
    Columns keep their types: integer fields stay integers (nullable `Int64` where a value can
    be missing, e.g. `max_vocab`, or `words` of a failed run). `save=True` also writes the
    tables (`save_tables`).
    """
    store = study if isinstance(study, ResultStore) else ResultStore(study)
    if not store.root.is_dir():
        raise StudyError(f"no study folder at {store.root}")
    run_rows: list[dict[str, Any]] = []
    epoch_frames: list[pd.DataFrame] = []
    for record in store.finished_runs():
        config = record.config.to_dict()
        result = record.result
        run_rows.append(
            {
                "run_id": record.run_id,
                "status": result["status"],
                "error": result.get("error"),
                **config,
                STEP: step_label(record.config, result),
                **result.get("metrics", {}),
                **{k: result.get(k) for k in RUN_FACTS},
                "cores": run_cores(result),
            }
        )
        epochs = record.epochs.copy()
        if not epochs.empty:
            epochs.insert(0, "run_id", record.run_id)
            for i, (key, value) in enumerate(config.items(), start=1):
                epochs.insert(i, key, value)
            epoch_frames.append(epochs)
    runs = _typed(pd.DataFrame(run_rows, columns=_run_columns(run_rows)))
    epochs_table = (
        pd.concat(epoch_frames, ignore_index=True)
        if epoch_frames
        else pd.DataFrame(columns=["run_id", *field_names(), "epoch"])
    )
    epochs_table = _typed(epochs_table)
    if save:
        save_tables(store, runs, epochs_table)
    return runs, epochs_table


def save_tables(
    study: str | os.PathLike[str] | ResultStore,
    runs: pd.DataFrame | None = None,
    epochs: pd.DataFrame | None = None,
) -> list[Path]:
    """Write runs/epochs as CSV (any tool) and Parquet (the exact column types) in the study
    folder, as one set (`atomic_paths`): a write that fails leaves the previous four tables
    whole, never a new runs.csv beside stale Parquet and epochs. The tables are loaded first
    when not given. Returns the paths."""
    store = study if isinstance(study, ResultStore) else ResultStore(study)
    if runs is None or epochs is None:
        runs, epochs = load_table(store)
    writes = []
    for name, table in (("runs", runs), ("epochs", epochs)):
        writes.append((store.root / f"{name}.csv", table, "csv"))
        writes.append((store.root / f"{name}.parquet", table, "parquet"))
    paths = [path for path, _, _ in writes]
    with atomic_paths(paths) as temporaries:
        for (path, table, kind), tmp in zip(writes, temporaries, strict=True):
            try:
                if kind == "csv":
                    tmp.write_bytes(table.to_csv(index=False).encode())
                else:
                    table.to_parquet(tmp, index=False)
            except OSError as exc:  # pyarrow's own too, e.g. "[errno 27] File too large"
                raise StudyError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return paths


def save_tables_or_warn(
    store: ResultStore, runs: pd.DataFrame | None = None, epochs: pd.DataFrame | None = None
) -> bool:
    """`save_tables` at the end of a grid or Optuna study, whose runs are stored already: a
    failure (a full disk) is a warning, not an error, since the tables only gather the run
    folders and are written whole by the next command that has room."""
    try:
        save_tables(store, runs, epochs)
    except StudyError as exc:
        log.warning(
            "%s; every run is stored in its folder and the previous tables are whole: run the "
            "command again once there is room (nothing is trained again)",
            exc,
        )
        return False
    return True


STEP = "step"  # the runs table's column of the training step a run used (`study.core.steps`)
# Run facts a run's metrics.json holds besides its metrics (missing for failed runs).
RUN_FACTS = [
    "train_seconds",
    "seconds",
    "words",
    "words_per_sec",
    "epochs_done",
    "vocab_size",
    "corpus_words",
]
# The runs table's columns after the metrics: the run facts, then the cores (`run_cores`).
RUN_KEYS = [*RUN_FACTS, "cores"]
# Columns that are counts, stored as nullable integers (a failed run has none of some).
_COUNT_COLUMNS = {"words", "epochs_done", "vocab_size", "corpus_words", "epoch", "pairs"}
_SECONDS_COLUMNS = {"train_seconds", "seconds", "words_per_sec"}
_FLOAT_COLUMNS = {*_SECONDS_COLUMNS, "cores"}  # cores: NaN where unknown (GPU, older runs)


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    """Column types from the schema, not from what the values happen to look like (a CSV
    reader makes an all-empty `error` or an optional `max_vocab` float64)."""
    hints = typing.get_type_hints(RunConfig)
    for column in table.columns:
        hint = hints.get(column)
        kind = _column_kind(hint) if hint is not None else None
        if kind == "int":
            table[column] = table[column].astype("int64")
        elif kind == "optional int" or column in _COUNT_COLUMNS:
            table[column] = table[column].astype("Int64")
        elif kind == "float" or column in _FLOAT_COLUMNS:
            table[column] = table[column].astype("float64")
        elif kind == "str" or column in {"run_id", "status", "error", STEP}:
            table[column] = table[column].astype("str")  # missing stays missing (NaN)
    return table


def _column_kind(hint: Any) -> str | None:
    args = set(typing.get_args(hint))
    if hint is int:
        return "int"
    if args == {int, type(None)}:
        return "optional int"
    if hint is float:
        return "float"
    if hint is str or typing.get_origin(hint) is Literal:
        return "str"
    return None


def run_cores(result: RunResult) -> float:
    """CPU cores the run trained with (`provenance.trainer`: torch's `cpu_workers` processes
    or `cpu_threads` threads, gensim's `workers`); NaN for GPU runs, failed runs and runs
    stored before it was recorded."""
    info = result.get("provenance", {}).get("trainer", {})
    cores = info.get("cpu_workers", info.get("cpu_threads", info.get("workers")))
    return float(cores) if isinstance(cores, int) and cores > 0 else float("nan")


def _run_columns(rows: list[dict[str, Any]]) -> list[str]:
    columns = ["run_id", "status", "error", *field_names()]
    for row in rows:
        columns += [key for key in row if key not in columns and key not in RUN_KEYS]
    return [*columns, *RUN_KEYS]
