"""Checks of the files a study folder holds, as they are read back: a file damaged by hand (or
by a tool) is a `DamagedFile` naming the file and what is wrong, never a traceback, and the
store (`study.results`) then counts its run as not finished.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from study.config import ADDED_FIELDS, RunConfig
from study.errors import StudyError

STATUSES = ("done", "failed", "pruned")
_NUMBER_KEYS = ("train_seconds", "seconds", "words", "words_per_sec", "epochs_done",
                "vocab_size", "corpus_words")  # fmt: skip
_TEXT_KEYS = ("error", "traceback", "corpus_fingerprint", "run_id")


class DamagedFile(ValueError):
    """A study file that cannot be what it claims to be."""


def read_json_object(path: Path) -> dict[str, Any] | None:
    """A JSON object from a file; None if the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise DamagedFile(f"cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
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
    if not path.exists():
        return pd.DataFrame()
    try:
        frame = pd.read_csv(path)
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
