"""Test-only fault injection: real worker processes killed with SIGKILL at chosen points.

Workers run the real CLI entry point, `study.cli.app.main(argv)`, in processes forked from a
forkserver that has already imported the study package, torch, gensim and Optuna, so a
(re)start costs milliseconds instead of the seconds an interpreter needs to import them.
Nothing in `study/` knows about this module: the hooks are installed in the child only.

A worker dies in one of two ways, both a real SIGKILL (no `finally`, no atexit, no flush):
- from inside, at a named point: `Fault("metrics.json", 2)` kills the process the 2nd time it
  reaches that point; `Fault.random(p, seed)` kills it at any point with probability p;
- from outside, after a delay: `Worker.kill()` (the randomized tests pick random delays).

Points, and what the process is doing when it dies there:
  cache          corpus cache written to its temp file, not yet renamed into place
  epoch          an epoch just ended (the run is mid-training)
  eval           the trained run's evaluation computed, not yet returned
  epochs.csv, vectors.bin, items.npz, metrics.json, config.json
                 that result file fully written under its temp name, just before the rename
  metrics.json+  just after metrics.json is renamed into place (the run is finished, but the
                 grid/Optuna has not been told)
  claim          shared grid: a WAITING trial was just claimed (RUNNING), before its heartbeat
  enqueue        shared grid: one cell was just put in the queue (the others not yet)
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna  # noqa: F401 - preloaded in the forkserver
import torch  # noqa: F401 - preloaded in the forkserver

import study.cli.app
import study.core.atomic
import study.data.vocab
import study.evaluate.score
import study.run.runner
import study.run.search
import study.run.shared_grid
import study.store.results

RESULT_FILES = (
    "epochs.csv",
    "vocab.txt",
    "vectors.bin",
    "output_vectors.bin",
    "items.npz",
    "metrics.json",
    "config.json",
)
POINTS = ("cache", "epoch", "eval", *RESULT_FILES, "metrics.json+", "claim", "enqueue")
LOG_ENV = "W2V_FAULT_LOG"  # file where each worker appends "pid start|end run_id [status]"


@dataclass(frozen=True)
class Fault:
    """Kill at the `nth` time `point` is reached, or at any point with `probability`."""

    point: str | None = None
    nth: int = 1
    probability: float = 0.0
    seed: int = 0

    @classmethod
    def random(cls, probability: float, seed: int) -> Fault:
        return cls(None, 0, probability, seed)

    def __post_init__(self) -> None:
        if self.point is not None and self.point not in POINTS:
            raise ValueError(f"unknown fault point {self.point!r}")


# -- inside the worker --------------------------------------------------------------------
class _Trigger:
    def __init__(self, fault: Fault | None):
        self.fault = fault
        self.counts: dict[str, int] = {}
        self.rng = random.Random(fault.seed if fault else 0)

    def reach(self, point: str) -> None:
        self.counts[point] = self.counts.get(point, 0) + 1
        fault = self.fault
        if fault is None:
            return
        if fault.point is None:
            if self.rng.random() < fault.probability:
                _die(point)
        elif fault.point == point and self.counts[point] == fault.nth:
            _die(point)


_current_run: list[str] = []  # the run id this worker is executing, if any


def _die(point: str) -> None:
    _log(f"killed {point} {_current_run[-1] if _current_run else '-'}")
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)  # never reached: SIGKILL is not deliverable later than now


def _log(text: str) -> None:
    path = os.environ.get(LOG_ENV)
    if path:  # one O_APPEND write per line: lines of concurrent workers never interleave
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, f"{os.getpid()} {text}\n".encode())
        finally:
            os.close(fd)


class _OsProxy:
    """The `os` module as seen by one study module, with `replace` going through the trigger."""

    def __init__(self, on_replace: Callable[[str, bool], None]):
        self._on_replace = on_replace

    def replace(self, src: Any, dst: Any) -> None:
        name = Path(dst).name
        self._on_replace(name, False)
        os.replace(src, dst)
        self._on_replace(name, True)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


def _install(trigger: _Trigger) -> None:
    def on_replace(name: str, done: bool) -> None:
        if not done and name in RESULT_FILES:
            trigger.reach(name)
        elif not done and name.endswith(".npz"):  # the corpus cache
            trigger.reach("cache")
        if done and name == "metrics.json":
            trigger.reach("metrics.json+")

    study.core.atomic.os = _OsProxy(on_replace)  # type: ignore[assignment]

    recorder_end = study.run.runner.EpochRecorder.on_epoch_end

    def on_epoch_end(self: Any, state: Any) -> None:
        recorder_end(self, state)
        trigger.reach("epoch")

    study.run.runner.EpochRecorder.on_epoch_end = on_epoch_end  # type: ignore[method-assign]

    real_evaluation = study.evaluate.score.run_evaluation

    def run_evaluation(*args: Any, **kwargs: Any) -> Any:
        result = real_evaluation(*args, **kwargs)
        trigger.reach("eval")
        return result

    study.evaluate.score.run_evaluation = run_evaluation  # type: ignore[assignment]

    real_claim = study.run.shared_grid._claim

    def claim(*args: Any, **kwargs: Any) -> Any:
        trial_id = real_claim(*args, **kwargs)
        if trial_id is not None:
            trigger.reach("claim")
        return trial_id

    study.run.shared_grid._claim = claim  # type: ignore[assignment]

    real_enqueue = optuna.Study.enqueue_trial

    def enqueue_trial(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = real_enqueue(self, *args, **kwargs)
        trigger.reach("enqueue")
        return result

    optuna.Study.enqueue_trial = enqueue_trial  # type: ignore[method-assign]

    real_execute = study.run.runner.execute_run

    def execute_run(config: Any, *args: Any, **kwargs: Any) -> Any:
        _log(f"start {config.run_id}")
        _current_run.append(config.run_id)
        payload = real_execute(config, *args, **kwargs)
        _current_run.pop()
        _log(f"end {config.run_id} {payload['status']}")
        return payload

    for module in (study.run.runner, study.run.shared_grid, study.run.search):
        module.execute_run = execute_run  # type: ignore[attr-defined]


def _worker_main(
    argv: Sequence[str],
    env: Mapping[str, str],
    fault: Fault | None,
    output: str,
    fsize_limit: int | None,
) -> None:
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.environ.update(env)
    if fsize_limit is not None:  # writes past this size fail with EFBIG, like a full disk
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_limit, fsize_limit))
    _install(_Trigger(fault))
    sys.exit(study.cli.app.main(list(argv)))


# -- in the test process --------------------------------------------------------------------
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload([__name__])


def _ensure_forkserver() -> None:
    """Start the forkserver with this folder and the repo on its path, so the preload works
    (Python 3.11's forkserver ignores the sys.path it is given and skips failed preloads)."""
    import multiprocessing.forkserver

    here = Path(__file__).resolve().parent
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(here), str(here.parent), *filter(None, [old])])
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old


class Worker:
    """One study worker process: `study.cli.app.main(argv)` with an optional fault."""

    def __init__(
        self,
        argv: Sequence[str],
        output: Path,
        env: Mapping[str, str] | None = None,
        fault: Fault | None = None,
        fsize_limit: int | None = None,
    ):
        self.output = output
        _ensure_forkserver()
        self.process = _CONTEXT.Process(
            target=_worker_main,
            args=(list(argv), dict(env or {}), fault, str(output), fsize_limit),
        )
        self.process.start()

    def wait(self, timeout: float = 300) -> int:
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join()
            raise TimeoutError(f"worker did not finish in {timeout} s:\n{self.text()}")
        return int(self.process.exitcode)

    def kill(self) -> None:
        """SIGKILL from outside (a no-op if it already exited)."""
        if self.process.exitcode is None:
            self.process.kill()
        self.process.join()

    def alive(self) -> bool:
        return self.process.is_alive()

    def text(self) -> str:
        return self.output.read_text(errors="replace") if self.output.exists() else ""


def run_worker(
    argv: Sequence[str],
    output: Path,
    env: Mapping[str, str] | None = None,
    fault: Fault | None = None,
    timeout: float = 300,
    fsize_limit: int | None = None,
) -> int:
    """Start a worker and wait for it; returns its exit code (-9 when killed)."""
    return Worker(argv, output, env, fault, fsize_limit).wait(timeout)


def read_log(path: Path) -> list[tuple[int, str, str]]:
    """(pid, event, rest) lines of the execution log: `start RUN`, `end RUN STATUS` or
    `killed POINT RUN` (RUN is `-` outside a run)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        pid, event, rest = (line.split(" ", 2) + [""])[:3]
        rows.append((int(pid), event, rest))
    return rows


def runs_completed(path: Path) -> list[str]:
    """Run ids whose run finished (metrics.json written), once per time it happened."""
    done = []
    for _pid, event, rest in read_log(path):
        fields = rest.split()
        if event == "end" or (event == "killed" and fields[0] == "metrics.json+"):
            done.append(fields[-1] if event == "killed" else fields[0])
    return done


# -- corpora whose runs have defined metrics ---------------------------------------------------
def ws353_planted_text(n_groups: int = 6, group_size: int = 5, seed: int = 0) -> str:
    """Planted co-occurrence groups made of WordSim-353 words, so `ws353_spearman` is defined.

    (The generic planted corpus has no benchmark word, so every metric would be NaN and a
    results comparison would only compare NaNs.)
    """
    import numpy as np

    words: list[str] = []
    for line in Path(study.evaluate.score.WS353_PATH).read_text().splitlines():
        if line.startswith("#"):
            continue
        for word in line.split("\t")[:2]:
            word = word.strip().lower()
            if word.isalpha() and word not in words:
                words.append(word)
        if len(words) >= n_groups * group_size:
            break
    groups = [words[g * group_size : (g + 1) * group_size] for g in range(n_groups)]
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(400):
        group = groups[rng.integers(n_groups)]
        lines.append(" ".join(group[rng.integers(group_size)] for _ in range(16)))
    return "\n".join(lines) + "\n"


# -- comparing and checking result stores ---------------------------------------------------
TIMING = ("seconds", "per_sec", "time")  # columns that differ between identical runs


def _timeless(frame: Any) -> Any:
    keep = [c for c in frame.columns if not any(t in c for t in TIMING)]
    return frame[keep].sort_values([c for c in ("run_id", "epoch") if c in keep])


def snapshot(study_dir: Path) -> dict[str, Any]:
    """What must not depend on crashes: run rows, epoch rows (no timings), vector bytes."""
    import hashlib

    from study.store.results import load_table

    runs, epochs = load_table(study_dir, save=False)
    runs = _timeless(runs.drop(columns=["error"])).reset_index(drop=True)
    epochs = _timeless(epochs).reset_index(drop=True)
    vectors = {
        rid: hashlib.sha256((study_dir / "runs" / rid / "vectors.bin").read_bytes()).hexdigest()
        for rid in runs["run_id"]
    }
    return {"runs": runs, "epochs": epochs, "vectors": vectors}


def assert_same_results(got: Path, expected: Path) -> None:
    import pandas.testing

    a, b = snapshot(got), snapshot(expected)
    assert sorted(a["vectors"]) == sorted(b["vectors"]), "different sets of runs"
    pandas.testing.assert_frame_equal(a["runs"], b["runs"], check_like=True)
    pandas.testing.assert_frame_equal(a["epochs"], b["epochs"], check_like=True)
    assert a["vectors"] == b["vectors"], "vectors differ"


def assert_store_consistent(study_dir: Path, allowed_run_ids: set[str]) -> set[str]:
    """Every finished run is whole; unfinished ones are invisible to the tables.

    Returns the finished run ids. A killed write may leave a hidden `.NAME.XXXX.tmp` file in a
    run folder; nothing else may be there (no partial file under a real name).
    """
    import json

    from gensim.models import KeyedVectors

    from study.core.config import RunConfig
    from study.store.results import load_table

    finished = set()
    runs_dir = study_dir / "runs"
    for folder in sorted(runs_dir.iterdir()) if runs_dir.is_dir() else []:
        assert folder.name in allowed_run_ids, f"unexpected run folder {folder.name}"
        names = {p.name for p in folder.iterdir() if not p.name.startswith(".")}
        assert names <= set(RESULT_FILES), names
        hidden = {p.name for p in folder.iterdir() if p.name.startswith(".")}
        assert all(n.endswith(".tmp") for n in hidden), hidden
        if "config.json" not in names:  # killed while writing it: nothing else was started
            assert not names, names
            continue
        config = RunConfig.from_dict(json.loads((folder / "config.json").read_text()))
        assert config.run_id == folder.name
        if "metrics.json" not in names:
            continue
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["status"] == "done" and metrics["run_id"] == folder.name
        epochs = (folder / "epochs.csv").read_text().splitlines()
        assert len(epochs) == 1 + config.epochs
        vectors = KeyedVectors.load_word2vec_format(str(folder / "vectors.bin"), binary=True)
        assert len(vectors) == metrics["vocab_size"] and vectors.vector_size == config.dim
        finished.add(folder.name)
    if study_dir.is_dir():
        runs, _ = load_table(study_dir, save=False)
        assert runs["run_id"].is_unique and set(runs["run_id"]) == finished
    return finished


def hammer(path: str, tag: int, n: int) -> None:
    """Write `{"tag": tag, "i": i, "pad": ...}` to one path n times with the store's atomic write
    (a worker target for the concurrent-writers test)."""
    from study.core.atomic import atomic_write_json

    pad = "x" * (20_000 + 1_000 * tag)  # larger than one write() so a torn write would show
    for i in range(n):
        atomic_write_json(Path(path), {"tag": tag, "i": i, "pad": pad})


def start_process(target: Callable[..., None], *args: Any) -> Any:
    """A forkserver process running `target(*args)` (target must live in this module)."""
    _ensure_forkserver()
    process = _CONTEXT.Process(target=target, args=args)
    process.start()
    return process
