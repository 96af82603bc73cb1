"""Writing a report without ever destroying one: it is built whole in a hidden folder of its own
beside the old one (`staging`), then swapped in (`publish`): new figures first, then report.md
and report.html, each by a rename, and only then the figures the previous report wrote and this
one does not. A report that fails while it is built (disk full, a file-size limit, SIGTERM, a
crash) leaves the previous one as it was; a figure in figures/ that no report wrote is never
touched. Concurrent reports build apart and take turns to swap (a lock in the output folder).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from study.core.atomic import atomic_write_text, fsync_dir
from study.core.errors import StudyError
from study.core.files import FileProblem, open_lock_file, read_regular

FIGURES = "figures"
MANIFEST = ".written-by-report.json"  # in figures/: the figures the last report wrote
LOCK = ".report.lock"


def _cannot(out: Path, exc: OSError | FileProblem) -> StudyError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return StudyError(f"cannot write the report in {out}: {reason} (choose another --out)")


def check_folder(out: Path) -> None:
    """One line before any work when the output folder (or its figures/) is not a folder."""
    for path in (out, out / FIGURES):
        if (path.exists() or path.is_symlink()) and not path.is_dir():
            raise StudyError(f"cannot write the report in {out}: {path} is a file, not a folder")


@contextlib.contextmanager
def staging(out: Path) -> Iterator[Path]:
    """A new hidden folder in `out` to build a report in; removed with whatever is left in it."""
    check_folder(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=".report-", dir=out))
        (folder / FIGURES).mkdir()
    except OSError as exc:
        raise _cannot(out, exc) from exc
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def publish(built: Path, out: Path, figures: Sequence[str]) -> None:
    """Move the report built in `built` into `out` (see the module doc)."""
    with _report_lock(out), _signals_deferred():
        try:
            shown = out / FIGURES
            shown.mkdir(exist_ok=True)
            previous = _written(shown)
            _write_manifest(shown, sorted(previous | set(figures)))  # a kill from here on
            for name in figures:  # still lets the next report remove what this one wrote
                os.replace(built / FIGURES / name, shown / name)
            for name in ("report.md", "report.html"):
                os.replace(built / name, out / name)
            fsync_dir(out)
            for name in previous - set(figures):
                (shown / name).unlink(missing_ok=True)
            _write_manifest(shown, sorted(figures))
        except OSError as exc:
            raise _cannot(out, exc) from exc


def _written(figures: Path) -> set[str]:
    """The figures the previous report wrote (none when it kept no list: older reports)."""
    try:
        names = json.loads(read_regular(figures / MANIFEST, follow_symlinks=False))
    except (FileProblem, ValueError):
        return set()
    if not isinstance(names, list):
        return set()
    # only plain PNG names in this folder: a damaged list must never point elsewhere
    return {n for n in names if isinstance(n, str) and _is_figure_name(n)}


def _is_figure_name(name: str) -> bool:
    return name == Path(name).name and name.endswith(".png") and not name.startswith(".")


def _write_manifest(figures: Path, names: Sequence[str]) -> None:
    atomic_write_text(figures / MANIFEST, json.dumps(list(names), indent=1) + "\n")


@contextlib.contextmanager
def _report_lock(out: Path) -> Iterator[None]:
    try:
        fd = open_lock_file(out / LOCK)
    except FileProblem as exc:
        raise _cannot(out, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the swap is done (a handful of renames), so that a report
    is only ever interrupted while it is built, away from the one in place."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, wanted)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
