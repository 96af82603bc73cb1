"""Which training step a run takes, decided here and nowhere else (`choose_kernel` for the
trainers whose `kernel` field picks it, `own_step` for those that always take one), and the step
a run actually used, as one label for the runs table (`step`): the kernel, the negatives as
drawn, the device kind and, for the torch trainer on the CPU, the CPU path —
`torch/center/cpu/threads`, `torch/center/cpu/processes`, `triton/pair/cuda`, `gensim/pair/cpu`.

`kernel=auto` is the Triton kernel on CUDA and the batched torch step on the CPU under one run
id, so the config alone does not say which algorithm trained; the trainers record it in
`metrics.json` (`provenance.trainer`: kernel, neg_draw, device, cpu_path) and the analysis
keeps runs of different steps in different cells. Runs stored before that are read from what
they have: the config, `provenance.device`, and the facts that a torch run without a recorded
kernel predates the Triton kernels (so took the torch step) and a torch run on the CPU without
a recorded CPU path predates the worker processes (so took the threads path), and a worker-process
run without a recorded row cap predates today's worker step (`processes-split`); what cannot be
known is "unknown".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from study.core.errors import ConfigError
from study.core.trainers import trainer_spec

if TYPE_CHECKING:  # config imports this module
    from study.core.config import RunConfig

UNKNOWN = "unknown"
# Worker-process runs stored before 2026-12-03 (no `worker_row_cap` recorded) split the step
# evenly, batch_size / W centers each, and trained like a smaller batch: another algorithm.
SPLIT_PROCESSES = "processes-split"


def word2vec_negatives(model: str) -> str:
    """How word2vec.c (and gensim) draw negatives: per pair for skip-gram, per centre for CBOW."""
    return "pair" if model == "sg" else "center"


def own_step(config: RunConfig, trainer: str | None = None) -> dict[str, str] | None:
    """The step of a trainer (default: the config's) that always takes the same one
    (`TrainerSpec.own_step`: gensim): its label, negatives as word2vec.c draws them, the CPU;
    None for a trainer whose `kernel` picks its step (`choose_kernel`)."""
    label = trainer_spec(trainer or config.trainer).own_step
    if label is None:
        return None
    return {"kernel": label, "neg_draw": word2vec_negatives(config.model), "device": "cpu"}


def triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def interpreting() -> bool:
    """True when Triton runs kernels on the CPU through its interpreter (TRITON_INTERPRET=1)."""
    return os.environ.get("TRITON_INTERPRET", "0").lower() in {"1", "true", "on", "yes"}


def choose_kernel(config: RunConfig, device: str) -> str:
    """The step a run takes on `device` ("cpu" or "cuda"): `kernel=auto` takes the Triton
    kernel on CUDA when triton imports and the run is one it trains (negative sampling), else
    the batched torch step. One-line errors for runs the chosen step cannot do."""
    kernel = config.kernel
    if kernel == "auto":
        fits = config.objective == "ns"  # (RunConfig refuses CBOW with neg_draw=pair)
        use_triton = device == "cuda" and fits and triton_available()
        kernel = "triton" if use_triton else "torch"
    if kernel == "triton":
        if not triton_available():
            raise ConfigError(
                "kernel=triton needs the triton package (pip install 'w2v-study[gpu]')"
            )
        if device != "cuda" and not interpreting():
            raise ConfigError(
                "kernel=triton needs a CUDA device (or TRITON_INTERPRET=1 to run the kernel on "
                "the CPU, slowly, for tests): use kernel=torch"
            )
    elif config.neg_draw == "pair":
        where = "without triton" if device == "cuda" else "without CUDA"
        raise ConfigError(
            f"neg_draw=pair needs the Triton kernel, and kernel=auto takes the batched torch "
            f"step here ({where}), which shares K negatives per center: use neg_draw=center "
            "here, or run on a CUDA machine with triton"
        )
    return kernel


def draws_per_pair(config: RunConfig) -> bool:
    """The Triton kernel's negatives: fresh for every pair (skip-gram with neg_draw=pair), else
    K per centre."""
    return config.model == "sg" and config.neg_draw == "pair"


def step_label(config: RunConfig, result: Mapping[str, Any]) -> str:
    """`kernel/negatives/device[/cpu_path]` of a finished run (parts it lacks: "unknown")."""
    provenance = result.get("provenance")
    provenance = provenance if isinstance(provenance, Mapping) else {}
    info = provenance.get("trainer")
    info = info if isinstance(info, Mapping) else {}
    fixed = own_step(config)
    if fixed is not None:
        kernel, negatives, device = fixed["kernel"], fixed["neg_draw"], fixed["device"]
    else:
        kernel = _text(info.get("kernel")) or (
            "torch" if result.get("status") == "done" else UNKNOWN
        )
        device = _text(info.get("device")) or _device_kind(provenance.get("device"))
        negatives = _negatives(config, kernel, info)
    parts = [kernel, negatives, device]
    cpu_path = _text(info.get("cpu_path"))
    if not cpu_path and fixed is None and device == "cpu" and kernel != UNKNOWN:
        cpu_path = "threads"  # before the worker processes, every CPU run took the threads path
    if cpu_path == "processes" and "worker_row_cap" not in info:
        cpu_path = SPLIT_PROCESSES  # an earlier worker step (`cpu_processes.worker_step`)
    if cpu_path:
        parts.append(cpu_path)
    return "/".join(parts)


def _negatives(config: RunConfig, kernel: str, info: Mapping[str, Any]) -> str:
    if config.objective == "softmax":
        return "softmax"
    recorded = _text(info.get("neg_draw"))
    if recorded:
        return recorded
    if kernel == "torch":
        return "center"  # the batched step shares K negatives per centre
    if kernel == "triton":
        return "pair" if draws_per_pair(config) else "center"
    return UNKNOWN


def _device_kind(device: Any) -> str:
    """ "cuda" or "cpu" from provenance.device ("cuda: NVIDIA H200", "cpu: x86_64 (2 cores)")."""
    kind = _text(device).partition(":")[0].strip()
    return kind if kind in ("cpu", "cuda") else UNKNOWN


def _text(value: Any) -> str:
    return value if isinstance(value, str) and value and value.isprintable() else ""
