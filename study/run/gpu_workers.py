"""One shared-grid worker per GPU: `study grid ... --gpus all` (or `--gpus 0,1,3`) starts the
same grid command once per chosen GPU, each child seeing only its device
(`CUDA_VISIBLE_DEVICES`), all sharing the study's Optuna storage. The children are ordinary
`--storage` workers, so the shared grid's guarantees hold unchanged: each cell runs once, a
killed worker's cell is run again by another, and rerunning the command resumes.

This process only starts the children, prefixes their output with their GPU, and stops them
when it is stopped: Ctrl-C reaches the whole process group; on SIGTERM it gives them a moment
to stop on their own, then sends SIGTERM (they release their cells), then SIGKILL. On Linux a
child also gets SIGTERM when this process dies (`PR_SET_PDEATHSIG`), so none is orphaned.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import IO

from study.core.errors import ConfigError

# Set in the children: the launcher has recorded the user's command in study.json, so a child
# (the same grid, without --gpus) does not record its own as a second command of the study.
CHILD_ENV = "W2V_STUDY_GPU_CHILD"
GRACE_SECONDS = 2.0  # after an interrupt: children that got the signal too stop on their own
STOP_SECONDS = 60.0  # then SIGTERM; SIGKILL after this long (releasing a cell takes seconds)


def visible_gpus(environ: Mapping[str, str] | None = None) -> list[str]:
    """The GPUs this process may use, as `CUDA_VISIBLE_DEVICES` entries: that variable's list
    when it is set (a batch system's allocation), else every device CUDA counts."""
    environ = os.environ if environ is None else environ
    listed = environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        entries = [d.strip() for d in listed.split(",") if d.strip()]
        return [] if entries[:1] == ["-1"] else entries
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def assign_gpus(spec: str, visible: Sequence[str]) -> list[str]:
    """`--gpus all` or `--gpus 0,1,3` (device numbers as torch counts them, cuda:N, i.e.
    positions in CUDA_VISIBLE_DEVICES when it is set) → each worker's CUDA_VISIBLE_DEVICES."""
    shown = ", ".join(visible) if visible else "none"
    if spec.strip() == "all":
        if not visible:
            raise ConfigError("--gpus all: no GPU is visible (CUDA_VISIBLE_DEVICES, nvidia-smi)")
        return list(visible)
    parts = [p.strip() for p in spec.split(",")]
    if not parts or any(not re.fullmatch(r"[0-9]+", p) for p in parts):
        raise ConfigError(f"--gpus takes 'all' or device numbers like 0,1,3, got {spec!r}")
    numbers = [int(p) for p in parts]
    if len(set(numbers)) < len(numbers):
        raise ConfigError(f"--gpus lists a device twice: {spec!r}")
    missing = [n for n in numbers if n >= len(visible)]
    if missing:
        raise ConfigError(
            f"--gpus {spec}: no GPU {missing[0]} (visible: {len(visible)} GPUs, {shown})"
        )
    return [visible[n] for n in numbers]


def worker_argv(argv: Sequence[str], storage: str) -> list[str]:
    """The grid command line without `--gpus`, with `--storage` (added when missing)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--gpus":
            skip = True
        elif not arg.startswith("--gpus="):
            out.append(arg)
    if not any(a == "--storage" or a.startswith("--storage=") for a in out):
        out += ["--storage", storage]
    return out


def run_per_gpu(command: Sequence[str], devices: Sequence[str]) -> int:
    """Run `command` once per device, each with CUDA_VISIBLE_DEVICES set to it, and wait for
    all; returns 0 when every child succeeded, else the first failing child's exit code."""
    children: list[subprocess.Popen[bytes]] = []
    readers: list[threading.Thread] = []
    parent = os.getpid()
    try:
        for device in devices:
            child = subprocess.Popen(
                list(command),
                env={**os.environ, "CUDA_VISIBLE_DEVICES": device, CHILD_ENV: "1"},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                preexec_fn=lambda: _stop_with_parent(parent),
            )
            children.append(child)
            assert child.stdout is not None
            reader = threading.Thread(
                target=_relay, args=(child.stdout, f"[gpu {device}] "), daemon=True
            )
            reader.start()
            readers.append(reader)
        codes = [child.wait() for child in children]
    except BaseException:  # KeyboardInterrupt (Ctrl-C, or SIGTERM through study.cli.app)
        _stop(children)
        raise
    finally:
        for reader in readers:
            reader.join(5)
    return next((code for code in codes if code != 0), 0)


def _stop(children: Sequence[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + GRACE_SECONDS
    for child in children:
        _wait(child, deadline)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for child in children:
        if not _wait(child, deadline):
            child.kill()
            child.wait()


def _wait(child: subprocess.Popen[bytes], deadline: float) -> bool:
    try:
        child.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return False
    return True


def _relay(stream: IO[bytes], prefix: str) -> None:
    """Copy a child's output line by line with its prefix; progress bars redraw with carriage
    returns, which end a line here too."""
    pending = b""
    while chunk := stream.read1(65536):  # type: ignore[attr-defined]
        pending += chunk
        *lines, pending = re.split(rb"[\r\n]", pending)
        _write(prefix, lines)
    _write(prefix, [pending])


def _write(prefix: str, lines: Sequence[bytes]) -> None:
    text = "".join(
        f"{prefix}{line.decode(errors='replace').rstrip()}\n" for line in lines if line.strip()
    )
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()


def _stop_with_parent(parent: int) -> None:
    """In the child before exec: SIGTERM when this process dies (Linux; elsewhere a killed
    launcher leaves its workers to finish the grid, which stays correct)."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() != parent:  # it died before prctl took effect
            os._exit(1)
