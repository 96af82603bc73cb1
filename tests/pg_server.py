"""A throwaway PostgreSQL server on loopback for `postgres`-marked tests.

Uses Debian's postgresql package binaries (initdb, pg_ctl in /usr/lib/postgresql/<v>/bin), run
as the `postgres` user (initdb refuses root), on a free port with its own socket dir.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


def postgres_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(*command: str) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return list(command)


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a fresh cluster; yields a SQLAlchemy URL of an empty database; stops it after."""
    bindir = postgres_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    root = tempfile.mkdtemp(prefix="w2v-pg-", dir="/tmp")
    data, sockets = os.path.join(root, "data"), os.path.join(root, "sock")
    os.mkdir(sockets)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    port = _free_port()
    run = lambda *cmd: subprocess.run(_as_postgres(*cmd), check=True, capture_output=True)  # noqa: E731
    try:
        run(f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
        run(
            f"{bindir}/pg_ctl",
            "-D",
            data,
            "-w",
            "-l",
            os.path.join(root, "log"),
            "-o",
            f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c max_connections=200",
            "start",
        )
        try:
            run(
                f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "optuna"
            )
            yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/optuna"
        finally:
            run(f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)
