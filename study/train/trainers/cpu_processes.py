"""Hogwild over worker processes on the CPU (`kernel=torch`, `workers` > 1), the way gensim's
workers and word2vec.c's threads train: each worker process, with one intra-op thread, walks the
chunks it is handed (`torch_walk.train_chunk`) and writes its updates in place into W_in and
W_out in shared memory, without locks. No worker waits for another inside an epoch (torch's
intra-op threads meet at a barrier in every op, so one delayed thread stalls them all).

The workers start once per run, from a forkserver (fork after OpenMP has started is unsafe;
spawn imports torch again in every worker of every run, ~3 s; the forkserver imports it once
per process, then starts a worker in ~20 ms). The parent hands out chunks one at a time (a
worker asks for the next as it finishes one, so a worker slowed by another job simply trains
fewer), sums each epoch's loss and pairs in chunk order, and runs the callbacks between epochs
while the workers wait.

Every exit path stops them: an error in a worker ends the run as failed (`WorkerError`, or the
worker's own `StudyError` such as divergence); a worker stopped by SIGTERM or SIGINT, or Ctrl-C
or SIGTERM in the parent, interrupts it (KeyboardInterrupt); the parent then terminates the
workers and waits for them. Workers ignore SIGINT (Ctrl-C is the parent's to handle) and exit
on their own when the parent dies. The tables are shared through file descriptors (torch's
default strategy on Linux), so no named shared memory outlives the processes.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import signal
import sys
import time
import traceback
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from types import TracebackType
from typing import Any

import torch
import torch.multiprocessing as torch_mp
from tqdm.auto import tqdm

from study.core import errors
from study.core.config import RunConfig
from study.core.errors import StudyError
from study.data.sampling import AliasSampler
from study.data.vocab import EncodedCorpus
from study.train.trainers.base import lr_at
from study.train.trainers.torch_step import MAX_ROW_STEP
from study.train.trainers.torch_walk import Chunk, StreamData, keep_tensor, plan_chunks, train_chunk

START_METHOD = "forkserver"
MIN_WORKER_BATCH = 128  # centers per worker step (below it a step's fixed cost dominates)
# 2 workers stepping over 1.75 * batch_size / 2 centers match workers=1's last-epoch loss
# (docs/DESIGN.md, 2026-12-03, wiki8's first 3 M words); for more workers an extrapolation.
WORKER_STEP_FACTOR = 1.75
STOP_SECONDS = 5.0  # a worker told to stop (or terminated) gets this long before SIGKILL
INTERRUPTING_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


class WorkerError(StudyError):
    """A CPU worker process failed (an exception in it, or it died): the run is failed."""


@dataclass
class Tables:
    """What every worker receives once, at its start: the shared tables and stream data, and
    the worker's step (`worker_step`)."""

    config: RunConfig
    data: StreamData
    w_in: torch.Tensor
    w_out: torch.Tensor
    batch_size: int
    cap: float


def worker_step(batch_size: int, workers: int) -> tuple[int, float]:
    """Each worker's centers per step and per-row rate cap, chosen so that W workers train like
    one process stepping over `batch_size` centers. W full steps at once would move a frequent
    row about W times as far as one step (W = 4 diverged in an emulation, docs/DESIGN.md); an
    even split (batch_size / W, cap / W) trains 2 real workers like a smaller batch (last-epoch
    loss 2.2986 against 2.3040 for workers=1, 8 seeds, and Google analogies +0.008). So each
    takes WORKER_STEP_FACTOR * batch_size / W centers (at least MIN_WORKER_BATCH: smaller steps
    cost more per word than they gain; at most batch_size) and the cap in proportion to that
    share, so a capped row's rate per occurrence is one process's."""
    share = WORKER_STEP_FACTOR * batch_size / workers
    size = min(batch_size, max(MIN_WORKER_BATCH, math.ceil(share)))
    return size, MAX_ROW_STEP * min(size, share) / batch_size


@contextlib.contextmanager
def worker_epochs(
    corpus: EncodedCorpus,
    config: RunConfig,
    w_in: torch.Tensor,
    w_out: torch.Tensor,
    workers: int,
    info: dict[str, Any],
) -> Iterator[Callable[[int, tqdm], tuple[float, int, float]]]:
    """The run's epochs, trained by `workers` processes on W_in and W_out (moved to shared
    memory): yields `run_epoch(epoch, bar) -> (summed loss, pairs, last learning rate)`, and
    records the workers in `info`."""
    try:
        data = StreamData(
            ids=torch.from_numpy(corpus.ids).share_memory_(),
            sentence_starts=torch.from_numpy(corpus.sentence_starts).share_memory_(),
            keep_p=keep_tensor(corpus, config.sample).share_memory_(),
            sampler=AliasSampler(corpus.vocab.counts, config.alpha, "cpu"),
        )
        w_in, w_out = w_in.share_memory_(), w_out.share_memory_()
    except RuntimeError as exc:  # e.g. a container's small /dev/shm
        raise StudyError(
            f"cannot put the tables in shared memory for the CPU worker processes ({exc}): "
            "give /dev/shm more room (docker: --shm-size=1g) or use workers=1"
        ) from exc
    chunks = plan_chunks(corpus.sentence_starts, config.batch_size)
    workers = min(workers, len(chunks))
    batch_size, cap = worker_step(config.batch_size, workers)
    tables = Tables(config, data, w_in, w_out, batch_size, cap)
    with WorkerPool(tables, workers) as pool:
        info["cpu_workers"] = workers
        info["worker_batch_size"] = batch_size
        info["worker_row_cap"] = cap  # absent from runs of the even split (`study.core.steps`)
        info["worker_start_seconds"] = round(pool.start_seconds, 3)

        def run_epoch(epoch: int, bar: tqdm) -> tuple[float, int, float]:
            loss_sum, pairs = pool.run_epoch(
                epoch, chunks, lambda chunk: bar.update(chunk.stop - chunk.start)
            )
            info["worker_cpu_seconds"] = pool.cpu_seconds
            return loss_sum, pairs, lr_at(config, (epoch + 1) / config.epochs)

        yield run_epoch


class WorkerPool:
    """`workers` Hogwild worker processes for one run; use as a context manager."""

    def __init__(self, tables: Tables, workers: int):
        self.tables = tables
        self.n = workers
        self.processes: list[Any] = []
        self.conns: list[Connection] = []
        self.start_seconds = 0.0
        self.cpu_seconds = 0.0  # CPU time the workers spent training chunks

    def __enter__(self) -> WorkerPool:
        started = time.perf_counter()
        context = torch_mp.get_context(START_METHOD)
        context.set_forkserver_preload([__name__])
        try:
            for rank in range(self.n):
                parent_end, child_end = context.Pipe()
                process = context.Process(  # type: ignore[attr-defined]
                    target=_worker_main,
                    args=(rank, child_end, self.tables),
                    name=f"w2v-cpu-worker-{rank + 1}",
                    daemon=True,  # also terminated by multiprocessing's exit handler
                )
                with _main_module_hidden():
                    process.start()
                self.processes.append(process)
                self.conns.append(parent_end)
                child_end.close()
            for rank in range(self.n):
                self._receive(rank, expect="ready")
        except BaseException:
            self._stop(at_once=True)
            raise
        self.start_seconds = time.perf_counter() - started
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop(at_once=exc_type is not None)

    def run_epoch(
        self, epoch: int, chunks: Sequence[Chunk], on_chunk: Callable[[Chunk], None]
    ) -> tuple[float, int]:
        """Train every chunk once across the workers; returns (summed loss, pairs), summed in
        chunk order."""
        results: dict[int, tuple[float, int]] = {}
        todo = list(reversed(chunks))
        busy: dict[int, Chunk] = {}

        def hand_out(rank: int) -> None:
            if todo:
                chunk = todo.pop()
                busy[rank] = chunk
                try:
                    self.conns[rank].send(("chunk", epoch, chunk.index, chunk.start, chunk.stop))
                except OSError:  # it died while waiting (between epochs)
                    raise self._death(rank) from None

        for rank in range(self.n):
            hand_out(rank)
        while busy:
            for rank in self._ready(list(busy)):
                chunk = busy.pop(rank)
                loss, pairs, cpu = self._receive(rank, expect="chunk")
                self.cpu_seconds += cpu
                results[chunk.index] = (loss, pairs)
                on_chunk(chunk)
                hand_out(rank)
        loss_sum = sum(results[c.index][0] for c in chunks)
        return loss_sum, sum(results[c.index][1] for c in chunks)

    # -- internals ---------------------------------------------------------------------------
    def _ready(self, ranks: list[int]) -> list[int]:
        """Ranks among `ranks` with a message, or dead (their `_receive` raises)."""
        sentinels = {self.processes[r].sentinel: r for r in ranks}
        conns = {id(self.conns[r]): r for r in ranks}
        ready = wait([self.conns[r] for r in ranks] + list(sentinels))
        found = {conns[id(obj)] if id(obj) in conns else sentinels[obj] for obj in ready}
        return sorted(found)

    def _receive(self, rank: int, expect: str) -> Any:
        """The worker's next message, which must be `expect`; its error or death raised."""
        conn = self.conns[rank]
        try:
            if not conn.poll(None if self.processes[rank].is_alive() else 0):
                raise EOFError
            kind, *payload = conn.recv()
        except (EOFError, OSError):
            raise self._death(rank) from None
        if kind == "error":
            raise _worker_exception(rank, self.n, *payload)
        if kind != expect:  # pragma: no cover - protocol bug
            raise RuntimeError(f"CPU worker {rank + 1}: expected {expect!r}, got {kind!r}")
        return payload[0] if len(payload) == 1 else payload

    def _death(self, rank: int) -> BaseException:
        """Why a worker stopped: a stopping signal interrupts the run, anything else fails it."""
        process = self.processes[rank]
        process.join(STOP_SECONDS)
        code = process.exitcode
        where = f"CPU worker {rank + 1} of {self.n} (pid {process.pid})"
        if code is None or code >= 0:
            return WorkerError(f"{where} exited with code {code} during the run")
        name = signal.Signals(-code).name
        if -code in INTERRUPTING_SIGNALS:
            return KeyboardInterrupt(f"{where} was stopped by {name}")
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return WorkerError(f"{where} was killed by {name}{hint}")

    def _stop(self, at_once: bool) -> None:
        """Stop every worker: told to (after a clean epoch loop) or terminated at once (an
        error or interrupt), then SIGKILL for any that still runs after STOP_SECONDS."""
        for process, conn in zip(self.processes, self.conns, strict=True):
            if at_once:
                if process.is_alive():
                    process.terminate()
            else:
                try:
                    conn.send(("stop",))
                except OSError:
                    pass
        deadline = time.monotonic() + STOP_SECONDS
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        for conn in self.conns:
            conn.close()
        for process in self.processes:
            process.close()
        self.processes, self.conns = [], []


def _worker_exception(
    rank: int, n: int, kind: str, message: str, worker_traceback: str
) -> BaseException:
    """A worker's exception in the parent: a `StudyError` keeps its class (divergence is a
    failed run like in one process); anything else becomes a `WorkerError`."""
    cls = getattr(errors, kind, None)
    if isinstance(cls, type) and issubclass(cls, StudyError):
        exc: BaseException = cls(message)
    else:
        exc = WorkerError(f"CPU worker {rank + 1} of {n} failed: {kind}: {message}")
    exc.add_note(f"in the worker process:\n{worker_traceback}")
    return exc


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """While a worker starts: multiprocessing's spawn and forkserver run the parent's main
    script again in every child (as `__mp_main__`), so a user's script without an
    `if __name__ == "__main__":` guard would train again in each worker. The workers need only
    study's own modules, so they are started with a bare `__main__`."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


# -- in the worker --------------------------------------------------------------------------
def _worker_main(rank: int, conn: Connection, tables: Tables) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops us
    torch.set_num_threads(1)
    parent = multiprocessing.parent_process()
    try:
        conn.send(("ready", os.getpid()))
        while True:
            if parent is not None and conn not in wait([conn, parent.sentinel]):
                return  # the parent died: nobody will read what we train
            message = conn.recv()
            if message[0] == "stop":
                return
            _, epoch, index, start, stop = message
            cpu = time.process_time()
            loss, pairs = train_chunk(
                tables.data, tables.w_in, tables.w_out, tables.config, epoch,
                Chunk(index, start, stop), tables.batch_size, tables.cap,
            )  # fmt: skip
            conn.send(("chunk", (loss, pairs, time.process_time() - cpu)))
    except (EOFError, BrokenPipeError):
        return  # the parent closed our pipe: it is stopping the run
    except BaseException as exc:  # report it; the parent decides what the run becomes
        try:
            conn.send(("error", type(exc).__name__, str(exc), traceback.format_exc()))
        except OSError:
            pass
        raise SystemExit(1) from None
