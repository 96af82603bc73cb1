"""Opening files without surprises: only regular files are read, and no open ever blocks.

A FIFO, device or socket where a file should be made `open()` wait forever (a FIFO has no
writer) or read without end (`/dev/zero`); O_NONBLOCK keeps the open from waiting and `fstat`
on the descriptor then tells what it really is. Files of a study folder are read without
following a symbolic link (`follow_symlinks=False`): the project never writes one there, and
a link to a file elsewhere would put that file's content into warnings and reports.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class FileProblem(Exception):
    """Why a file cannot be read, in words, without its path (callers name it their way).
    `missing` tells a file that does not exist from one that cannot be read."""

    def __init__(self, reason: str, missing: bool = False):
        super().__init__(reason)
        self.missing = missing


def kind_of(mode: int) -> str:
    kinds = [(stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a pipe"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")]  # fmt: skip
    return next((name for test, name in kinds if test(mode)), "not a plain file")


def open_regular(
    path: str | os.PathLike[str], follow_symlinks: bool = True, max_bytes: int | None = None
) -> int:
    """A read-only descriptor of the regular file at `path`, or a `FileProblem`."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FileProblem("not found", missing=True) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            raise FileProblem("a symbolic link, not a file this folder holds itself") from None
        raise FileProblem(f"cannot open it ({exc.strerror or exc})") from None
    except ValueError as exc:  # a NUL in the name
        raise FileProblem(f"cannot open it ({exc})") from None
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = f"not a regular file ({kind_of(info.st_mode)})"
    elif max_bytes is not None and info.st_size > max_bytes:
        problem = f"{info.st_size:,} bytes, far more than such a file holds (at most {max_bytes:,})"
    if problem is not None:
        os.close(fd)
        raise FileProblem(problem)
    return fd


def read_regular(
    path: str | os.PathLike[str], follow_symlinks: bool = True, max_bytes: int | None = None
) -> bytes:
    """The bytes of the regular file at `path` (see `open_regular`), or a `FileProblem`."""
    fd = open_regular(path, follow_symlinks, max_bytes)
    with os.fdopen(fd, "rb") as handle:
        try:
            return handle.read()
        except OSError as exc:
            raise FileProblem(f"cannot read it ({exc.strerror or exc})") from None


def open_lock_file(path: Path) -> int:
    """A descriptor for flock-ing `path`, created if missing; never blocks on a FIFO there."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        raise FileProblem(exc.strerror or str(exc)) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise FileProblem(f"not a regular file ({kind_of(mode)}): remove it")
    return fd
