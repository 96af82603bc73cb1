"""The training step a run actually used, as one label for the runs table (`step`): the kernel,
the negatives as drawn, the device kind and, for the torch trainer on the CPU, the CPU path —
`torch/center/cpu/threads`, `torch/center/cpu/processes`, `triton/pair/cuda`, `gensim/pair/cpu`.

`kernel=auto` is the Triton kernel on CUDA and the batched torch step on the CPU under one run
id, so the config alone does not say which algorithm trained; the trainers record it in
`metrics.json` (`provenance.trainer`: kernel, neg_draw, device, cpu_path) and the analysis
keeps runs of different steps in different cells. Runs stored before that are read from what
they have: the config, `provenance.device`, and the facts that a torch run without a recorded
kernel predates the Triton kernels (so took the torch step) and a torch run on the CPU without
a recorded CPU path predates the worker processes (so took the threads path); what cannot be
known is "unknown".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from study.core.config import RunConfig

UNKNOWN = "unknown"


def step_label(config: RunConfig, result: Mapping[str, Any]) -> str:
    """`kernel/negatives/device[/cpu_path]` of a finished run (parts it lacks: "unknown")."""
    provenance = result.get("provenance")
    provenance = provenance if isinstance(provenance, Mapping) else {}
    info = provenance.get("trainer")
    info = info if isinstance(info, Mapping) else {}
    if config.trainer == "gensim":
        kernel, device = "gensim", "cpu"
        negatives = "pair" if config.model == "sg" else "center"
    else:
        kernel = _text(info.get("kernel")) or (
            "torch" if result.get("status") == "done" else UNKNOWN
        )
        device = _text(info.get("device")) or _device_kind(provenance.get("device"))
        negatives = _negatives(config, kernel, info)
    parts = [kernel, negatives, device]
    cpu_path = _text(info.get("cpu_path"))
    if not cpu_path and config.trainer == "torch" and device == "cpu" and kernel != UNKNOWN:
        cpu_path = "threads"  # before the worker processes, every CPU run took the threads path
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
        return "pair" if config.model == "sg" and config.neg_draw == "pair" else "center"
    return UNKNOWN


def _device_kind(device: Any) -> str:
    """ "cuda" or "cpu" from provenance.device ("cuda: NVIDIA H200", "cpu: x86_64 (2 cores)")."""
    kind = _text(device).partition(":")[0].strip()
    return kind if kind in ("cpu", "cuda") else UNKNOWN


def _text(value: Any) -> str:
    return value if isinstance(value, str) and value and value.isprintable() else ""
