"""The Triton fast path of the torch trainer: Hogwild epochs over the subsampled stream.

The stream is cut into `programs` contiguous slices, one per kernel program; each launch
advances every program by `count` positions of its own slice. The kernels draw their own
randomness (Philox, keyed by the run's seed), so a launch needs no host tensors and the epoch
no host round trip until its end. The learning rate decays linearly with each program's
progress through its slice, which is the epoch's progress (all programs advance together).
Rows live in padded tables (`triton_kernels.row_layout`); callbacks see the first `dim`
columns. Loss: float32 per program and launch, summed in float64. Kernels and launch shapes:
`study.train.trainers.triton_kernels`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from study.core.config import RunConfig
from study.core.errors import DivergenceError
from study.core.steps import draws_per_pair
from study.data.sampling import AliasSampler

INTERPRETER_PROGRAMS = 4  # the interpreter runs programs one after another: keep it small
# Each default program walks at least this many words: Hogwild's concurrency is bounded by the
# data, so a small corpus runs on fewer programs and its SGD stays close to sequential (on a
# 200k-word corpus, 2,772 programs ended one epoch 8% above the torch step's loss).
MIN_SLICE_WORDS = 4096
# Stream positions per launch, over all programs: the progress bar's step. Launches are queued
# without waiting (no host round trip inside an epoch), so their number costs little.
LAUNCH_POSITIONS = 1 << 22
KEY_STREAM = 0x5732_5632  # tags the kernels' Philox key apart from any other use of the seed
# The only buffer sized by the run besides the tables: a draw trace (tests, `recording_draws`).
MAX_TRACE_BYTES = 1 << 30


def kernel_key(seed: int) -> int:
    """The run's Philox key (63 bits) for the kernels' draws, derived from its seed apart from
    the torch generator's streams (torch's CUDA generator is a Philox keyed by the seed too)."""
    low, high = np.random.SeedSequence([seed, KEY_STREAM]).generate_state(2, np.uint32)
    return int(low) | (int(high) & 0x7FFF_FFFF) << 32


@dataclass(frozen=True)
class Slices:
    """How an epoch's stream is shared out: `programs` slices of `slice_len` positions, walked
    `count` positions per launch."""

    programs: int
    slice_len: int
    count: int

    @classmethod
    def plan(cls, n: int, programs: int) -> Slices:
        programs = max(1, min(programs, n))
        slice_len = math.ceil(n / programs)
        count = max(1, min(slice_len, LAUNCH_POSITIONS // programs))
        return cls(programs, slice_len, count)


@dataclass
class DrawTrace:
    """Every draw the kernels consumed, one entry per epoch: (stream, draws) with draws[p] =
    [reach, then K negatives per pair slot (2·window slots per pair, one per centre)], -1
    where nothing was drawn. For tests and debugging (`recording_draws`)."""

    epochs: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)


_recording: DrawTrace | None = None


@contextmanager
def recording_draws() -> Iterator[DrawTrace]:
    """Within the block, Triton epochs run the kernel variant that writes down what it draws
    (the same code, plus stores) and keep it in the yielded DrawTrace."""
    global _recording
    previous, _recording = _recording, DrawTrace()
    try:
        yield _recording
    finally:
        _recording = previous


def variant_for(config: RunConfig, trace: bool = False) -> Any:
    from study.train.trainers.triton_kernels import Variant

    per_pair = draws_per_pair(config)
    return Variant(config.model, config.dim, config.negative, config.window, per_pair, trace)


@dataclass(frozen=True)
class EpochLaunch:
    """What every kernel launch of one epoch shares."""

    variant: Any  # triton_kernels.Variant: the compiled kernel's shape
    w_in: torch.Tensor  # the padded tables (V, variant.row), updated in place
    w_out: torch.Tensor
    stream: torch.Tensor  # int32 (n,): the epoch's subsampled stream
    sent: torch.Tensor  # int32 (n,): sentence id per stream position
    table: torch.Tensor  # int64 (V,): the alias table (`AliasSampler.packed`)
    slices: Slices
    key: int  # the run's Philox key
    epoch: int
    lr0: float  # learning rate at local position j: lr0 - lr_step·j
    lr_step: float
    trace: torch.Tensor | None = None  # int32 (n, variant.trace_width()) for TRACE variants


def launch(plan: EpochLaunch, first: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One kernel launch over local positions [first, first + slices.count) of every slice.
    Returns this launch's (loss, pairs) per program."""
    from study.train.trainers import triton_kernels as tk

    slices, device = plan.slices, plan.w_in.device
    loss = torch.zeros(slices.programs, dtype=torch.float32, device=device)
    pairs = torch.zeros(slices.programs, dtype=torch.int32, device=device)
    trace = pairs if plan.trace is None else plan.trace  # never written when TRACE is off
    args = (plan.w_in, plan.w_out, plan.stream, plan.sent, plan.table, loss, pairs, trace)
    scalars = (plan.stream.shape[0], slices.slice_len, first, slices.count, plan.table.shape[0],
               plan.key, plan.epoch)  # fmt: skip
    shape = plan.variant.launch_shape()
    tk.kernel(plan.variant.model)[(slices.programs,)](
        *args, *scalars, plan.lr0, plan.lr_step, **plan.variant.constexprs(),
        num_warps=shape.warps, maxnreg=shape.registers,
    )  # fmt: skip
    return loss, pairs


class Hogwild:
    """A run's Triton state: the kernel variant, the padded tables (callbacks see their first
    `dim` columns through `w_in` / `w_out`), the alias table, the Philox key and the programs."""

    def __init__(
        self,
        config: RunConfig,
        w_in: torch.Tensor,
        w_out: torch.Tensor,
        sampler: AliasSampler,
        n_words: int,
    ):
        self.config = config
        self.variant = variant_for(config)
        self.table_in = _padded(w_in, self.variant.row)
        self.table_out = _padded(w_out, self.variant.row)
        self.w_in = self.table_in[:, : config.dim]
        self.w_out = self.table_out[:, : config.dim]
        self.alias = sampler.packed()
        self.key = kernel_key(config.seed)
        self.programs = config.programs or default_programs(self.variant, n_words, w_in.device)

    def info(self) -> dict[str, Any]:
        """What the run records of the kernel: programs, launch shape, padded row width."""
        shape = self.variant.launch_shape()
        return {
            "programs": self.programs,
            "num_warps": shape.warps,
            "max_registers": shape.registers,
            "row_floats": self.variant.row,
        }

    def epoch(
        self,
        index: int,
        stream: torch.Tensor,
        sent: torch.Tensor,
        lr_first: float,
        lr_last: float,
        progress: Callable[[float], None] = lambda fraction: None,
    ) -> tuple[float, int]:
        """One Hogwild epoch over `stream` (int32, subsampled) in place; (summed loss, pairs).
        The lr goes from lr_first to lr_last over each program's slice."""
        n = int(stream.shape[0])
        slices = Slices.plan(n, self.programs)
        lr_step = (lr_first - lr_last) / slices.slice_len
        variant, trace = self.variant, None
        if _recording is not None:
            variant = variant_for(self.config, trace=True)
            if 4 * n * variant.trace_width() > MAX_TRACE_BYTES:
                raise ValueError(
                    f"recording the draws of {n:,} positions needs more than "
                    f"{MAX_TRACE_BYTES >> 20} MiB: record a smaller corpus"
                )
            trace = torch.full((n, variant.trace_width()), -1, dtype=torch.int32,
                               device=stream.device)  # fmt: skip
        loss_sum = torch.zeros((), dtype=torch.float64, device=stream.device)
        pairs = torch.zeros((), dtype=torch.int64, device=stream.device)
        launches = EpochLaunch(variant, self.table_in, self.table_out, stream, sent, self.alias,
                               slices, self.key, index, lr_first, lr_step, trace)  # fmt: skip
        for first in range(0, slices.slice_len, slices.count):
            loss, n_pairs = launch(launches, first)
            loss_sum += loss.sum(dtype=torch.float64)
            pairs += n_pairs.sum(dtype=torch.int64)
            progress(min(1.0, (first + slices.count) / slices.slice_len))
        total = float(loss_sum.item())  # the epoch's one host round trip
        if not math.isfinite(total):
            raise DivergenceError(
                f"training diverged in epoch {index + 1} (loss={total}) with kernel=triton: "
                f"lower lr_start (now {self.config.lr_start})"
            )
        if _recording is not None and trace is not None:
            _recording.epochs.append((stream.cpu().numpy().copy(), trace.cpu().numpy()))
        return total, int(pairs.item())


def _padded(matrix: torch.Tensor, row: int) -> torch.Tensor:
    """`matrix` copied into a (V, row) table whose extra columns are zeros (they stay zero:
    every update of a column is a product with the same column of another row)."""
    table = torch.zeros(matrix.shape[0], row, dtype=matrix.dtype, device=matrix.device)
    table[:, : matrix.shape[1]] = matrix
    return table


def default_programs(variant: Any, n_words: int, device: torch.device) -> int:
    """`programs=0`: every SM filled with the programs its launch shape holds at once (a fixed
    figure per kernel variant, not the compiler's register count: the same race level on every
    Triton version; a few in the interpreter), but no more than one per `MIN_SLICE_WORDS`
    corpus words."""
    by_data = max(1, n_words // MIN_SLICE_WORDS)
    if device.type != "cuda":
        return min(INTERPRETER_PROGRAMS, by_data)
    sms = torch.cuda.get_device_properties(device).multi_processor_count
    return min(sms * variant.launch_shape().programs_per_sm, by_data)
