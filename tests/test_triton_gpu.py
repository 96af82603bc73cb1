"""CUDA tests of both GPU paths (marker `gpu`; `benchmarks/gpu_check.sh` runs them): the compiled
Triton kernels equal the sequential reference with one program (its Philox draws included), the
loss per pair of the Triton kernel and of the torch step on CUDA equals the CPU path's within a
stated tolerance, and Hogwild's spread: run to run at one seed, and seed to seed, at the
default program count. With `W2V_GPU_REPORT=path.json` the measured figures are written there."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sgns_reference import Draws, Order, reference_epoch
from test_triton_kernel import random_problem, run_kernel

from study.core.config import RunConfig
from study.data.vocab import EncodedCorpus, load_corpus
from study.train.trainers.torch_sgns import TorchTrainer

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

# The torch step's loss per pair after one epoch: CUDA vs CPU (relative; their random streams
# differ). The kernel's CPU path is the sequential reference (test above: exact to 1e-5).
# Measured on an H200 (results/bench/gpu-tests-2.json): 0.14 %.
LOSS_TOLERANCE = 0.01
HOGWILD_SPREAD_TOLERANCE = 0.01  # relative spread of the loss over repeated same-seed runs


@pytest.fixture(scope="module")
def figures() -> Iterator[dict[str, Any]]:
    found: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "loss_tolerance": LOSS_TOLERANCE,
        "hogwild_spread_tolerance": HOGWILD_SPREAD_TOLERANCE,
    }
    yield found
    path = os.environ.get("W2V_GPU_REPORT")
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(found, indent=2) + "\n")


@pytest.fixture(scope="module")
def corpus() -> EncodedCorpus:
    """The embedded default corpus, first 200k words."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import _common

    return _common.truncated(load_corpus("enwiki-sample"), 200_000)


def cfg(**fields: Any) -> RunConfig:
    base = dict(dim=50, window=5, negative=5, epochs=1, probe_pairs=0, seed=0)
    return RunConfig(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("model", "per_pair", "dim"),
    [("sg", False, 18), ("sg", True, 18), ("cbow", False, 18), ("sg", False, 16)],
    ids=str,
)
def test_compiled_kernel_equals_sequential_reference(
    model: str, per_pair: bool, dim: int, figures: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One program, several launches, the draws traced: vectors and draws as the reference's
    (dim 18 as two blocks of 16 + 4 columns, as dim 300 runs)."""
    from study.train.trainers import triton_kernels as tk
    from study.train.trainers.triton_sgns import Slices, kernel_key

    if dim == 18:
        monkeypatch.setattr(tk, "row_layout", lambda dim: (16, 4))
    arrays = random_problem(dim)
    window, negative, key, epoch, lr0, lr_step = 2, 3, kernel_key(7), 2, 0.05, 3e-4
    variant = tk.Variant(model, dim, negative, window, per_pair, trace=True)
    slices = Slices(1, len(arrays["stream"]), 7)
    _, _, out = run_kernel(variant, arrays, slices, key, epoch, lr0, lr_step, True, "cuda")
    ref_in, ref_out = arrays["w_in"].astype(np.float64), arrays["w_out"].astype(np.float64)
    draws = Draws(key, epoch, arrays["table"], window, negative)
    reference_epoch(
        model, ref_in, ref_out, arrays["stream"], arrays["sent"], draws,
        Order(1, slices.slice_len, slices.count), lr0, lr_step, per_pair,
    )  # fmt: skip
    error = float(np.abs(out["w_in"].numpy() - ref_in).max())
    error = max(error, float(np.abs(out["w_out"].numpy() - ref_out).max()))
    label = f"{model}_{'pair' if per_pair else 'center'}_dim{dim}"
    figures[f"reference_max_abs_error_{label}"] = error
    assert error < 1e-5
    reach = out["trace"].numpy()[:, 0]
    assert list(reach) == [draws.reach(p) for p in range(len(reach))]


def test_loss_per_pair_matches_the_cpu_path(corpus: EncodedCorpus, figures: dict) -> None:
    """The torch step: CUDA == CPU within LOSS_TOLERANCE. The kernel's loss is recorded beside
    them, not asserted: on 200k words in one epoch, sequential SGD (the kernel's 48 programs)
    learns faster than the torch step's 1,024-centre steps (3.21 vs 3.52 measured on an H200),
    while on wiki8 they agree (2.489 vs 2.479 after one epoch, 2.257 vs 2.265 after five)."""
    losses = {
        # one CPU process: the same algorithm as the CUDA step (workers > 1 would be Hogwild)
        "torch-step-cpu": cfg(kernel="torch", device="cpu", workers=1),
        "torch-step-cuda": cfg(kernel="torch", device="cuda"),
        "triton-center-cuda": cfg(kernel="triton", device="cuda"),
        "triton-pair-cuda": cfg(kernel="triton", device="cuda", neg_draw="pair"),
    }
    results = {label: TorchTrainer(progress=False).fit(corpus, c) for label, c in losses.items()}
    found = {label: result.epochs[-1]["loss"] for label, result in results.items()}
    figures["loss_per_pair_1_epoch"] = found
    figures["programs"] = {label: result.info.get("programs") for label, result in results.items()}
    cpu, cuda = found["torch-step-cpu"], found["torch-step-cuda"]
    assert abs(cuda - cpu) / cpu < LOSS_TOLERANCE
    fresh = (1 + 5) * np.log(2)  # a fresh model's loss per pair at K = 5
    for label in ("triton-center-cuda", "triton-pair-cuda"):
        assert found[label] < 0.8 * fresh, label  # it learned (3.21 and 3.23 measured)


def test_hogwild_run_to_run_spread(corpus: EncodedCorpus, figures: dict) -> None:
    """Same seed, same draws: Hogwild's races alone make the runs differ, by little; beside
    them the seed-to-seed spread at the default program count."""
    results = [TorchTrainer(progress=False).fit(corpus, cfg(kernel="triton")) for _ in range(3)]
    losses = [r.epochs[-1]["loss"] for r in results]
    vectors = [r.vectors.vectors for r in results]
    spread = (max(losses) - min(losses)) / float(np.mean(losses))
    seeds = [
        TorchTrainer(progress=False).fit(corpus, cfg(kernel="triton", seed=s)).epochs[-1]["loss"]
        for s in (1, 2)
    ]
    by_seed = [losses[0], *seeds]
    figures["hogwild_same_seed"] = {
        "losses": losses,
        "relative_loss_spread": spread,
        "max_abs_vector_difference": float(np.abs(vectors[0] - vectors[1]).max()),
        "programs": results[0].info.get("programs"),
        "trainer_info": results[0].info,
    }
    figures["hogwild_seed_to_seed"] = {
        "seeds": [0, 1, 2],
        "losses": by_seed,
        "relative_loss_spread": (max(by_seed) - min(by_seed)) / float(np.mean(by_seed)),
    }
    assert spread < HOGWILD_SPREAD_TOLERANCE
