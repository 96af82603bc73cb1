"""The Triton fast path of the torch trainer: one epoch of Hogwild SGD over the subsampled stream.

The stream is cut into `programs` contiguous slices, one per kernel program; each launch
advances every program by `count` positions of its own slice, with the reach and negatives of
those positions drawn beforehand by torch on the device from the run's generator. The learning
rate decays linearly with each program's progress through its slice, which is the epoch's
progress (all programs advance together). Loss: float32 per program and launch, summed in
float64. Kernels: `study.trainers.triton_kernels`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch

from study.config import RunConfig
from study.errors import ConfigError, DivergenceError
from study.sampling import AliasSampler

INTERPRETER_PROGRAMS = 4  # the interpreter runs programs one after another: keep it small
# Each default program walks at least this many words: Hogwild's concurrency is bounded by the
# data, so a small corpus runs on fewer programs and its SGD stays close to sequential (on a
# 200k-word corpus, 2,772 programs ended one epoch 8% above the torch step's loss).
MIN_SLICE_WORDS = 4096
DRAW_BUDGET = 1 << 25  # int32 negatives drawn per launch (128 MB), bounding the launch size


def triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def interpreting() -> bool:
    """True when Triton runs kernels on the CPU through its interpreter (TRITON_INTERPRET=1)."""
    return os.environ.get("TRITON_INTERPRET", "0").lower() in {"1", "true", "on", "yes"}


def check_triton(config: RunConfig, device: torch.device) -> None:
    """One-line errors for runs the Triton kernels cannot do."""
    if not triton_available():
        raise ConfigError("kernel=triton needs the triton package (pip install 'w2v-study[gpu]')")
    if device.type != "cuda" and not interpreting():
        raise ConfigError(
            "kernel=triton needs a CUDA device (or TRITON_INTERPRET=1 to run the kernel on the "
            "CPU, slowly, for tests): use kernel=torch"
        )
    if config.model == "cbow" and config.neg_draw == "pair":
        raise ConfigError("neg_draw=pair is for skip-gram; CBOW draws K negatives per centre")
    if config.programs:
        check_draws(config.programs, config)


def max_programs(config: RunConfig) -> int:
    """The most programs whose negatives for one position each fit the per-launch budget."""
    return max(1, DRAW_BUDGET // negatives_per_center(config))


def check_draws(programs: int, config: RunConfig) -> None:
    """A launch advances every program by at least one position, so `programs` times the
    negatives of one position must fit DRAW_BUDGET: with programs=2^20, window=100,
    negative=100, neg_draw=pair one launch needed 78 GiB of negatives."""
    if programs > max_programs(config):
        need = programs * negatives_per_center(config) * 4
        raise ConfigError(
            f"programs={programs} would draw {need / 2**30:.1f} GiB of negatives per kernel "
            f"launch (window={config.window}, negative={config.negative}, "
            f"neg_draw={config.neg_draw}); at most {max_programs(config):,} programs fit the "
            f"{DRAW_BUDGET * 4 / 2**20:.0f} MB budget: lower programs (0 picks it), window or "
            "negative"
        )


@dataclass(frozen=True)
class Slices:
    """How an epoch's stream is shared out: `programs` slices of `slice_len` positions, walked
    `count` positions per launch."""

    programs: int
    slice_len: int
    count: int

    @classmethod
    def plan(cls, n: int, programs: int, ints_per_center: int) -> Slices:
        """Every launch draws at most DRAW_BUDGET negatives (`programs` are capped to fit by
        `check_draws` and `default_programs`; a plan beyond it is refused, never allocated)."""
        programs = max(1, min(programs, n))
        if programs * ints_per_center > DRAW_BUDGET:
            raise ConfigError(
                f"{programs} programs x {ints_per_center} negatives per position exceed the "
                f"per-launch budget of {DRAW_BUDGET:,} negatives"
            )
        slice_len = math.ceil(n / programs)
        count = max(1, min(slice_len, DRAW_BUDGET // (programs * ints_per_center)))
        return cls(programs, slice_len, count)


def draws_per_pair(config: RunConfig) -> bool:
    """Fresh negatives for every pair (skip-gram with neg_draw=pair), else K per centre."""
    return config.model == "sg" and config.neg_draw == "pair"


def negatives_per_center(config: RunConfig) -> int:
    return config.negative * (2 * config.window if draws_per_pair(config) else 1)


def launch(
    model: str,
    w_in: torch.Tensor,
    w_out: torch.Tensor,
    stream: torch.Tensor,
    sent: torch.Tensor,
    reach: torch.Tensor,
    negatives: torch.Tensor,
    slices: Slices,
    first: int,
    lr0: float,
    lr_step: float,
    window: int,
    per_pair: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One kernel launch over local positions [first, first + slices.count) of every slice.

    `reach` (P, count) and `negatives` (P, count, K) or (P, count, 2·window, K) are int32.
    Returns this launch's (loss, pairs) per program."""
    from study.trainers import triton_kernels as tk

    consts = tk.constexprs(model, w_in.shape[1], negatives.shape[-1], window, per_pair)
    loss = torch.zeros(slices.programs, dtype=torch.float32, device=w_in.device)
    pairs = torch.zeros(slices.programs, dtype=torch.int32, device=w_in.device)
    args = (w_in, w_out, stream, sent, reach, negatives, loss, pairs)
    scalars = (stream.shape[0], slices.slice_len, first, slices.count, lr0, lr_step)
    warps = tk.num_warps(model, consts)
    tk.kernel(model)[(slices.programs,)](*args, *scalars, **consts, num_warps=warps)
    return loss, pairs


def run_epoch(
    stream: torch.Tensor,
    sent: torch.Tensor,
    w_in: torch.Tensor,
    w_out: torch.Tensor,
    sampler: AliasSampler,
    config: RunConfig,
    gen: torch.Generator,
    lr_first: float,
    lr_last: float,
    programs: int,
    progress: Callable[[float], None] = lambda fraction: None,
) -> tuple[float, int]:
    """One Hogwild epoch over `stream` (int32, subsampled) in place; (summed loss, pairs)."""
    n = int(stream.shape[0])
    slices = Slices.plan(n, programs, negatives_per_center(config))
    per_pair = draws_per_pair(config)
    lr_step = (lr_first - lr_last) / slices.slice_len
    loss_sum = torch.zeros((), dtype=torch.float64, device=stream.device)
    pairs = torch.zeros((), dtype=torch.int64, device=stream.device)
    shape: tuple[int, ...] = (slices.programs, slices.count)
    neg_shape = (
        (*shape, 2 * config.window, config.negative) if per_pair else (*shape, config.negative)
    )
    for first in range(0, slices.slice_len, slices.count):
        reach = torch.randint(
            1, config.window + 1, shape, generator=gen, device=stream.device, dtype=torch.int32
        )
        negatives = sampler.sample(neg_shape, gen, dtype=torch.int32)
        loss, n_pairs = launch(
            config.model, w_in, w_out, stream, sent, reach, negatives, slices, first,
            lr_first, lr_step, config.window, per_pair,
        )  # fmt: skip
        loss_sum += loss.sum(dtype=torch.float64)
        pairs += n_pairs.sum(dtype=torch.int64)
        total = loss_sum.item()  # one sync per launch: a cheap divergence check
        if not math.isfinite(total):
            raise DivergenceError(
                f"training diverged (loss={total}) with kernel=triton: lower lr_start "
                f"(now {config.lr_start})"
            )
        progress(min(1.0, (first + slices.count) / slices.slice_len))
    return float(loss_sum.item()), int(pairs.item())


def resident_programs(
    config: RunConfig, w_in: torch.Tensor, w_out: torch.Tensor, stream: torch.Tensor,
    sent: torch.Tensor,
) -> int:  # fmt: skip
    """How many programs fit on the GPU at once (registers, threads, 32 blocks per SM): more
    would run in waves, fewer would leave SMs idle. Compiles the kernel (cached) to read its
    register count."""
    from study.trainers import triton_kernels as tk

    consts = tk.constexprs(
        config.model, config.dim, config.negative, config.window, draws_per_pair(config)
    )
    warps = tk.num_warps(config.model, consts)
    small = torch.ones(1, dtype=torch.int32, device=w_in.device)
    args = (w_in, w_out, stream, sent, small, small, small.float(), small, 1, 1, 0, 1, 0.1, 0.1)
    compiled = tk.kernel(config.model).warmup(*args, **consts, num_warps=warps, grid=(1,))
    compiled._init_handles()
    props = torch.cuda.get_device_properties(w_in.device)
    regs_per_warp = math.ceil(max(1, compiled.n_regs) * 32 / 256) * 256
    by_regs = getattr(props, "regs_per_multiprocessor", 65536) // (regs_per_warp * warps)
    by_threads = getattr(props, "max_threads_per_multi_processor", 2048) // (32 * warps)
    per_sm = max(1, min(32, by_regs, by_threads))
    return per_sm * props.multi_processor_count


def default_programs(
    config: RunConfig, w_in: torch.Tensor, w_out: torch.Tensor, stream: torch.Tensor,
    sent: torch.Tensor,
) -> int:  # fmt: skip
    """`programs=0`: as many as the GPU holds at once (a few in the interpreter), but no more
    than one per `MIN_SLICE_WORDS` words of the corpus."""
    by_data = min(max(1, int(stream.shape[0]) // MIN_SLICE_WORDS), max_programs(config))
    if w_in.device.type != "cuda":
        return min(INTERPRETER_PROGRAMS, by_data)
    try:
        resident = resident_programs(config, w_in, w_out, stream, sent)
    except Exception:  # an occupancy query that fails must not stop training
        resident = torch.cuda.get_device_properties(w_in.device).multi_processor_count * 8
    return min(resident, by_data)
