"""Checks of the files a study folder holds, as they are read back: a file damaged by hand (or
by a tool) is a `DamagedFile` naming the file and what is wrong, never a traceback, and the
store (`study.store.results`) then counts its run as not finished.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from study.core.config import ADDED_FIELDS, RunConfig
from study.core.errors import StudyError
from study.core.files import FileProblem, read_regular
from study.evaluate.items import check_against_metrics, load_items

STATUSES = ("done", "failed", "pruned")
_NUMBER_KEYS = ("train_seconds", "seconds", "words", "words_per_sec", "epochs_done",
                "vocab_size", "corpus_words")  # fmt: skip
_TEXT_KEYS = ("error", "traceback", "corpus_fingerprint", "run_id")
_METRIC_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
MAX_JSON_BYTES = 64 << 20  # metrics.json, config.json, study.json: kilobytes when whole
MAX_TABLE_BYTES = 1 << 30  # epochs.csv: a few kilobytes per epoch


class DamagedFile(ValueError):
    """A study file that cannot be what it claims to be."""


def read_study_file(path: Path, max_bytes: int = MAX_JSON_BYTES) -> bytes | None:
    """The bytes of a file of a study folder; None if it does not exist. A pipe or device in its
    place (open() waited forever), a symbolic link (its target's content would reach warnings
    and reports) or a file far too large is damage."""
    try:
        return read_regular(path, follow_symlinks=False, max_bytes=max_bytes)
    except FileProblem as exc:
        if exc.missing:
            return None
        raise DamagedFile(str(exc)) from None


def read_json_object(path: Path) -> dict[str, Any] | None:
    """A JSON object from a file; None if the file does not exist."""
    data = read_study_file(path)
    if data is None:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DamagedFile(f"cannot read it ({exc})") from None
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise DamagedFile(f"not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise DamagedFile(f"not a JSON object (a {type(value).__name__})")
    return value


def check_result(record: dict[str, Any], run_id: str) -> dict[str, Any]:
    """A metrics.json record: a known status and values of the types the tables expect."""
    if record.get("status") not in STATUSES:
        raise DamagedFile(f"no valid run status (got {str(record.get('status'))[:30]!r})")
    if record.get("run_id", run_id) != run_id:
        raise DamagedFile(f"it names run {str(record.get('run_id'))[:20]!r}, not {run_id}")
    metrics = record.get("metrics", {})
    if not isinstance(metrics, dict) or not all(_is_number(v) for v in metrics.values()):
        raise DamagedFile("'metrics' is not a mapping of names to numbers")
    if not all(_METRIC_NAME.fullmatch(name) for name in metrics):
        # names become table columns and figure file names: never a path or markup
        raise DamagedFile("'metrics' has a name that is not letters, digits, '_', '-' or '.'")
    for key in _NUMBER_KEYS:
        if key in record and not _is_number(record[key]):
            raise DamagedFile(f"{key!r} is not a number")
    for key in _TEXT_KEYS:
        if key in record and not isinstance(record[key], str | None):
            raise DamagedFile(f"{key!r} is not text")
    if not isinstance(record.get("provenance", {}), dict):
        raise DamagedFile("'provenance' is not a mapping")
    return record


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def check_items(path: Path, result: Mapping[str, Any]) -> None:
    """A run's items.npz, if it has one: whole, of the format, and agreeing with its metrics."""
    try:
        items = load_items(path)
        if items is not None:
            check_against_metrics(items, result.get("metrics") or {})
    except ValueError as exc:
        raise DamagedFile(str(exc)) from None


def check_config(values: dict[str, Any], run_id: str) -> RunConfig:
    """A config.json: a valid RunConfig whose id is its folder's name (or the id an earlier
    version gave it: see `legacy_run_id`)."""
    try:
        config = RunConfig.from_dict(values)
    except (StudyError, TypeError, ValueError) as exc:
        raise DamagedFile(f"not a valid config ({exc})") from None
    if config.run_id != run_id and legacy_run_id(values) != run_id:
        raise DamagedFile(f"its config hashes to run id {config.run_id}, not {run_id}")
    return config


def legacy_run_id(values: dict[str, Any]) -> str:
    """The id of a config as written, before -0.0/int float values were normalised (issue 14):
    such a folder is still that run's, read under its old id."""
    kept = {k: v for k, v in values.items() if not (k in ADDED_FIELDS and v == ADDED_FIELDS[k])}
    text = json.dumps(kept, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_epochs(path: Path) -> pd.DataFrame:
    """epochs.csv: numeric columns, integral epochs (an empty frame when there is none)."""
    data = read_study_file(path, MAX_TABLE_BYTES)
    if data is None:
        return pd.DataFrame()
    try:
        frame = pd.read_csv(io.BytesIO(data))
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        raise DamagedFile(f"not a CSV table ({str(exc).splitlines()[0][:80]})") from None
    bad = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise DamagedFile(f"column {str(bad[0])[:30]!r} holds text, not numbers")
    if "epoch" in frame:
        epochs = frame["epoch"].to_numpy(dtype=float)
        if not all(math.isfinite(e) and e == int(e) and e >= 1 for e in epochs):
            raise DamagedFile("'epoch' holds values that are not epoch numbers")
    elif not frame.empty:
        raise DamagedFile("no 'epoch' column")
    return frame
