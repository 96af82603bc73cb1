"""Atomic file writes: the one way this package writes a result, cache, figure or report file.

A file is written under a temporary name in its own folder, flushed to disk (fsync), given the
mode `open()` would give, and renamed over the target, so a reader (or a process killed at any
point) sees either the old file or the complete new one, never a partial file. On any error the
temporary file is removed and an `OSError` becomes a one-line `StudyError` naming the path.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from study.core.errors import StudyError

_UMASK = os.umask(0)  # read once (os.umask can only be read by setting it)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK  # what open() would give; mkstemp's 0600 hides results from others


@contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside `path` for a writer that wants a file name (gensim, numpy).

    On a clean exit of the block the file is fsynced, chmod-ed and renamed over `path`; on any
    exception it is removed. `suffix` keeps writers happy that append their own (".npz").
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
        os.close(fd)
    except OSError as exc:  # e.g. a read-only results folder
        raise StudyError(f"cannot write {target}: {exc.strerror or exc}") from exc
    tmp = Path(name)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fchmod(fd, FILE_MODE)
            os.fsync(fd)  # the data reaches the disk before the rename makes it visible
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError as exc:
        raise StudyError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)  # gone already after a successful rename


@contextmanager
def atomic_paths(paths: Sequence[str | os.PathLike[str]]) -> Iterator[list[Path]]:
    """Temporary paths to write several files as one set: on a clean exit of the block all of
    them are written and fsynced before the first is renamed into place; on any error none is.
    (A write fails for space or a file-size limit before the renames, which need no room.)"""
    with contextlib.ExitStack() as stack:
        temporaries = [stack.enter_context(_written_later(Path(path))) for path in paths]
        yield [tmp for tmp, _ in temporaries]
        for tmp, _ in temporaries:
            _flush(tmp)
        for tmp, target in temporaries:
            try:
                os.replace(tmp, target)
            except OSError as exc:
                raise StudyError(f"cannot write {target}: {exc.strerror or exc}") from exc


@contextmanager
def _written_later(target: Path) -> Iterator[tuple[Path, Path]]:
    """A temporary file beside `target`, removed at exit unless renamed meanwhile."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as exc:
        raise StudyError(f"cannot write {target}: {exc.strerror or exc}") from exc
    try:
        yield Path(name), target
    except OSError as exc:
        raise StudyError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        Path(name).unlink(missing_ok=True)


def _flush(tmp: Path) -> None:
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fchmod(fd, FILE_MODE)
        os.fsync(fd)
    except OSError as exc:
        raise StudyError(f"cannot write {tmp}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Flush a folder's entries (renames, removals) to disk; a no-op where that is unsupported."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):  # filesystems that cannot
            raise
    finally:
        os.close(fd)


def remove_durably(first: Path, *others: Path) -> None:
    """Remove `first`, make that durable, then remove the others (missing files are fine): a
    process killed in between, or a power cut, never finds the others without `first` gone."""
    try:
        first.unlink(missing_ok=True)
        fsync_dir(first.parent)
        for path in others:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
    except OSError as exc:
        raise StudyError(f"cannot remove {exc.filename or first}: {exc.strerror or exc}") from exc


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> None:
    """Sorted, indented JSON; numpy scalars become plain numbers, NaN stays NaN."""
    text = json.dumps(_jsonable(payload), indent=2, sort_keys=True, allow_nan=True)
    atomic_write_text(path, text + "\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value
