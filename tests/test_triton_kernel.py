"""The Triton kernels on the CPU through Triton's interpreter (TRITON_INTERPRET=1): equal to the
sequential NumPy reference, which reproduces their in-kernel draws; learning planted structure
within noise of the batched torch step; the same callbacks and TrainState as the torch step;
and every variant compiled for the H100/H200 (sm_90) ahead of time, held to no spills and to
the register cap its program count assumes, since the interpreter accepts code the compiler
may not.

The interpreter runs one program after another at ~15 ms per stream position, so the inputs
are tiny. The CUDA tests (marker `gpu`) run the same checks at full speed on a GPU. The tests
that pin α and the learning-rate schedule are in test_core_variables.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sgns_reference import Draws, Order, philox, reference_epoch
from test_torch_trainer import config, make_corpus

from study.core.errors import ConfigError
from study.data.sampling import AliasSampler
from study.train.probes import GradientProbe
from study.train.trainers.base import Callback, TrainState
from study.train.trainers.torch_sgns import TorchTrainer

triton = pytest.importorskip("triton")

from study.core.steps import interpreting  # noqa: E402
from study.train.trainers import triton_kernels as tk  # noqa: E402
from study.train.trainers.triton_sgns import EpochLaunch, Slices, kernel_key, launch  # noqa: E402


@pytest.fixture
def interpreter() -> None:
    """Kernels on CPU tensors: conftest switches the interpreter on where there is no GPU (the
    `gpu` tests cover a machine with one)."""
    if not interpreting():
        pytest.skip("a GPU machine: the interpreter is off (see test_triton_gpu.py)")


def random_problem(dim: int, seed: int = 0) -> dict[str, Any]:
    """A random stream of 3 sentences over 12 words with uneven counts, matrices in the kernels'
    padded layout (zero columns beyond `dim`), and the alias table of count**0.75."""
    rng = np.random.default_rng(seed)
    vocab, n = 12, 30
    row = sum(tk.row_layout(dim))
    w_in, w_out = np.zeros((2, vocab, row), dtype=np.float32)
    w_in[:, :dim] = rng.normal(0, 0.3, (vocab, dim))
    w_out[:, :dim] = rng.normal(0, 0.3, (vocab, dim))
    counts = np.sort(rng.integers(1, 500, vocab))[::-1].copy()
    return {
        "stream": rng.integers(0, vocab, n).astype(np.int32),
        "sent": np.repeat(np.arange(3), 10).astype(np.int32),
        "w_in": w_in,
        "w_out": w_out,
        "table": AliasSampler(counts, 0.75).packed().numpy(),
    }


def run_kernel(
    variant: tk.Variant, arrays: dict[str, Any], slices: Slices, key: int, epoch: int,
    lr0: float, lr_step: float, trace: bool = False, device: str = "cpu",
) -> tuple[float, int, dict[str, torch.Tensor]]:  # fmt: skip
    """Every launch of one epoch: (loss, pairs, the tensors after it)."""
    tensors = {k: torch.tensor(v, device=device) for k, v in arrays.items()}
    draws = None
    if trace:
        width = variant.trace_width()
        draws = torch.full((len(arrays["stream"]), width), -1, dtype=torch.int32, device=device)
        tensors["trace"] = draws
    loss, pairs = 0.0, 0
    launches = EpochLaunch(
        variant, tensors["w_in"], tensors["w_out"], tensors["stream"], tensors["sent"],
        tensors["table"], slices, key, epoch, lr0, lr_step, draws,
    )  # fmt: skip
    for first in range(0, slices.slice_len, slices.count):
        step_loss, step_pairs = launch(launches, first)
        loss += step_loss.double().sum().item()
        pairs += int(step_pairs.sum())
    return loss, pairs, {k: v.cpu() for k, v in tensors.items()}


@pytest.mark.parametrize(
    ("model", "per_pair", "dim", "programs", "count"),
    [
        ("sg", False, 18, 1, 7),
        ("sg", True, 18, 1, 7),
        ("cbow", False, 18, 1, 7),
        ("sg", False, 16, 3, 7),  # one block; 3 slices in 3 launches
    ],
    ids=["sg-per-center", "sg-per-pair", "cbow", "sg-3-programs"],
)
def test_kernel_equals_sequential_reference(
    interpreter: None, monkeypatch: pytest.MonkeyPatch, model: str, per_pair: bool, dim: int,
    programs: int, count: int,
) -> None:  # fmt: skip
    """Same key → the same draws, vectors, loss and pair count as sequential SGD in
    word2vec.c's order, over several launches (the interpreter runs programs in order, so 3
    programs are 3 sequential slices; the reference draws as a function of position alone, so
    the launch structure cannot change them); the padding columns stay zero. Dim 18 runs as two
    blocks of 16 + 4 columns (as dim 300 runs as 256 + 64), 2 of them padding."""
    if dim == 18:
        monkeypatch.setattr(tk, "row_layout", lambda dim: (16, 4))
    arrays = random_problem(dim)
    window, negative, key, epoch, lr0, lr_step = 2, 3, kernel_key(7), 2, 0.05, 3e-4
    variant = tk.Variant(model, dim, negative, window, per_pair)
    n = len(arrays["stream"])
    slices = Slices(programs, -(-n // programs), count)
    loss, pairs, out = run_kernel(variant, arrays, slices, key, epoch, lr0, lr_step)
    ref_in, ref_out = arrays["w_in"].astype(np.float64), arrays["w_out"].astype(np.float64)
    ref_loss, ref_pairs = reference_epoch(
        model, ref_in, ref_out, arrays["stream"], arrays["sent"],
        Draws(key, epoch, arrays["table"], window, negative),
        Order(programs, slices.slice_len, count), lr0, lr_step, per_pair,
    )  # fmt: skip
    assert pairs == ref_pairs > 0
    assert loss == pytest.approx(ref_loss, rel=1e-6)
    np.testing.assert_allclose(out["w_in"].numpy(), ref_in, atol=1e-6)
    np.testing.assert_allclose(out["w_out"].numpy(), ref_out, atol=1e-6)
    assert np.abs(ref_in - arrays["w_in"]).max() > 0.05  # the vectors did move
    assert not out["w_in"][:, dim:].any() and not out["w_out"][:, dim:].any()


def test_numpy_philox_is_tritons(interpreter: None) -> None:
    """The reference's Philox4x32-10 gives tl.philox's four outputs for a block of counters."""

    tl = triton.language

    @triton.jit
    def draw(out_ptr, seed, p, epoch, pair_slot):
        lanes = tl.arange(0, 8)
        zero = lanes * 0
        r0, r1, r2, r3 = tl.philox(seed, lanes, zero + p, zero + epoch, zero + pair_slot)
        tl.store(out_ptr + lanes, r0.to(tl.int32, bitcast=True))
        tl.store(out_ptr + 8 + lanes, r1.to(tl.int32, bitcast=True))
        tl.store(out_ptr + 16 + lanes, r2.to(tl.int32, bitcast=True))
        tl.store(out_ptr + 24 + lanes, r3.to(tl.int32, bitcast=True))

    out = torch.zeros(32, dtype=torch.int32)
    key = kernel_key(3)
    draw[(1,)](out, key, 1234, 5, 6)
    expected = np.stack(philox(key, np.arange(8), 1234, 5, 6))
    np.testing.assert_array_equal(out.numpy().view(np.uint32).reshape(4, 8), expected)


def test_row_layout_pads_to_one_or_two_power_of_two_blocks() -> None:
    assert tk.row_layout(100) == (128, 0)
    assert tk.row_layout(300) == (256, 64)  # 320 columns, not 512
    assert tk.row_layout(500) == (512, 0)
    assert tk.row_layout(3) == (4, 0)
    for dim in range(1, 700):
        first, second = tk.row_layout(dim)
        assert first + second >= dim and (first + second) % tk.VECTOR == 0
        assert first + second <= 64 or first + second - dim <= 0.25 * (first + second)


def tiny_planted(seed: int = 0) -> object:
    """40 sentences of 8 words, each from one of 3 groups of 4 words."""
    rng = np.random.default_rng(seed)
    sentences = [
        [f"g{group}w{i}" for i in rng.integers(4, size=8)] for group in rng.integers(3, size=40)
    ]
    return make_corpus(sentences, f"tiny-planted{seed}")


def own_group_share(kv: object) -> float:
    hits = []
    for word in kv.index_to_key:  # type: ignore[attr-defined]
        near = [w for w, _ in kv.most_similar(word, topn=3)]  # type: ignore[attr-defined]
        hits.append(np.mean([w.split("w")[0] == word.split("w")[0] for w in near]))
    return float(np.mean(hits))


TINY = dict(dim=8, window=2, negative=2, lr_start=0.1, epochs=2)


@pytest.mark.slow
def test_many_programs_learn_planted_groups_like_the_torch_step(interpreter: None) -> None:
    """4 Hogwild programs learn the planted groups and end within noise of the torch step's
    loss (the torch step at batch 1, over 4 seeds, gives the noise). Slow: 640 positions
    through the interpreter (~25 s)."""
    corpus = tiny_planted()
    result = TorchTrainer(progress=False).fit(
        corpus, config(**TINY, kernel="triton", programs=4, seed=1)
    )
    torch_losses = [
        TorchTrainer(progress=False)
        .fit(corpus, config(**TINY, kernel="torch", batch_size=1, seed=seed))
        .epochs[-1]["loss"]
        for seed in range(4)
    ]
    shape = tk.Variant("sg", 8, 2, 2).launch_shape()
    assert result.info == {
        "kernel": "triton",
        "cpu_path": "threads",
        "cpu_threads": result.info["cpu_threads"],
        "programs": 4,
        "num_warps": shape.warps,
        "max_registers": shape.registers,
        "row_floats": 8,
        "device": "cpu",
        "neg_draw": "center",
    }
    assert own_group_share(result.vectors) == 1.0
    first, last = result.epochs[0]["loss"], result.epochs[-1]["loss"]
    assert last < first < 2.2  # a fresh model starts at (1 + K) ln 2 = 2.08 per pair
    spread = max(4 * float(np.std(torch_losses)), 0.05)
    assert abs(last - float(np.mean(torch_losses))) < spread


class StateRecorder(Callback):
    """Records what each hook sees of the TrainState."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, object]]] = []

    def _record(self, hook: str, state: TrainState) -> None:
        self.seen.append(
            (
                hook,
                {
                    "epoch": state.epoch,
                    "w_in": (type(state.w_in), tuple(state.w_in.shape), state.w_in.dtype),
                    "w_out": (type(state.w_out), tuple(state.w_out.shape), state.w_out.dtype),
                    "row_keys": tuple(state.row),
                    "positive": (state.words > 0, state.pairs > 0, state.seconds > 0)
                    if hook == "on_epoch_end"
                    else None,
                },
            )
        )

    def on_train_begin(self, state: TrainState) -> None:
        self._record("on_train_begin", state)

    def on_epoch_begin(self, state: TrainState) -> None:
        self._record("on_epoch_begin", state)

    def on_epoch_end(self, state: TrainState) -> None:
        self._record("on_epoch_end", state)

    def on_train_end(self, state: TrainState) -> None:
        self._record("on_train_end", state)


def test_callbacks_see_the_same_state_as_with_the_torch_step(interpreter: None) -> None:
    """The probe and any other callback get the same hooks, TrainState and row columns (the
    kernels' padded tables show callbacks their first `dim` columns)."""
    rng = np.random.default_rng(3)
    corpus = make_corpus([[f"w{i}" for i in rng.integers(6, size=8)] for _ in range(6)], "cb")
    seen = {}
    for kernel in ("torch", "triton"):
        recorder = StateRecorder()
        cfg = config(
            dim=6, window=2, negative=2, epochs=1, kernel=kernel, programs=2, probe_pairs=64
        )
        result = TorchTrainer(progress=False).fit(corpus, cfg, [GradientProbe(), recorder])
        seen[kernel] = recorder.seen
        assert result.epochs[0]["probe_loss"] > 0
        assert result.vectors.vectors.shape == (len(corpus.vocab), 6)
        assert result.output_vectors.shape == (len(corpus.vocab), 6)
    assert seen["triton"] == seen["torch"]
    assert seen["torch"][2][1]["positive"] == (True, True, True)


def test_triton_without_cuda_or_interpreter_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(ConfigError, match="kernel=triton needs a CUDA device"):
        TorchTrainer(progress=False).fit(tiny_planted(), config(kernel="triton"))


def test_auto_kernel_is_the_torch_step_on_the_cpu() -> None:
    result = TorchTrainer(progress=False).fit(tiny_planted(), config(**TINY))
    assert result.info["kernel"] == "torch"


def test_per_pair_negatives_need_the_triton_kernel() -> None:
    with pytest.raises(ConfigError, match="neg_draw=pair needs"):
        TorchTrainer(progress=False).fit(tiny_planted(), config(**TINY, neg_draw="pair"))
    with pytest.raises(ConfigError, match="neg_draw=pair needs kernel=triton"):
        config(kernel="torch", neg_draw="pair")


def test_program_count_follows_the_launch_shape_not_the_compiler() -> None:
    """programs=0 on a GPU: SMs × the programs its launch shape holds, a fixed figure (the
    register cap the kernel is compiled under), capped at one per MIN_SLICE_WORDS words."""
    shape = tk.LaunchShape(warps=2, registers=96)
    assert shape.programs_per_sm == 10  # 65,536 / (96 · 64)
    assert tk.LaunchShape(1, 255).programs_per_sm == 8  # 255 rounds up to 256 per thread
    assert tk.LaunchShape(1, 32).programs_per_sm == 32  # at most 32 blocks per SM
    assert tk.LaunchShape(8, 32).programs_per_sm == 8  # at most 64 warps per SM
    for variant in BENCHMARKED:
        assert variant.launch_shape().programs_per_sm >= 1


# The variants the benchmarks and the grid run (window 5; the grid's windows 2 and 10 in the
# slow test): skip-gram per centre and per pair, CBOW, at dim 100 / K 5 and dim 300 / K 10.
BENCHMARKED = [
    tk.Variant(model, dim, negative, 5, per_pair)
    for dim, negative in [(100, 5), (300, 10)]
    for model, per_pair in [("sg", False), ("sg", True), ("cbow", False)]
]
GRID = [
    tk.Variant("sg", dim, negative, window)
    for dim, negatives in [(100, (5, 10, 15)), (500, (1, 5, 15))]
    for negative in negatives
    for window in (2, 5, 10)
    if (dim, negative, window) != (100, 5, 5)
]


COMPILE = """
import json, sys
from study.train.trainers.triton_aot import report
from study.train.trainers.triton_kernels import Variant
for fields in json.loads(sys.argv[1]):
    print(json.dumps(report(Variant(*fields))), flush=True)
"""


def compile_reports(variants: list[tk.Variant]) -> list[dict[str, Any]]:
    """sm_90 compile reports, in a fresh process: with the interpreter on, Triton's own
    functions are the interpreter's and cannot be compiled."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1]), env.get("PYTHONPATH", "")])
    env["TRITON_DEFAULT_FP_FUSION"] = "1"
    fields = [[v.model, v.dim, v.negative, v.window, v.per_pair] for v in variants]
    out = subprocess.run(
        [sys.executable, "-c", COMPILE, json.dumps(fields)],
        capture_output=True, text=True, env=env, timeout=1200, check=True,
    )  # fmt: skip
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def check_compiled(variants: list[tk.Variant]) -> None:
    reports = compile_reports(variants)
    assert [r["variant"] for r in reports] == [v.label() for v in variants]
    for variant, report in zip(variants, reports, strict=True):
        shape = variant.launch_shape()
        print(
            f"{report['variant']:>26}: {report['registers']} registers (cap {shape.registers}), "
            f"{shape.warps} warps, {shape.programs_per_sm} programs/SM, spills "
            f"{report['stack_bytes']} B, {report['sass_instructions']} SASS instructions, "
            f"{report['global_loads_128bit']}/{report['global_loads']} loads 128-bit"
        )
        assert report["ptx_target"] and report["cubin_bytes"] > 10_000, report
        assert report["stack_bytes"] == 0 and report["local_bytes"] == 0, f"spills: {report}"
        assert report["registers"] <= shape.registers, report
        assert report["num_warps"] == shape.warps, report
        assert report["atomic_reductions"] > 0, report  # updates go back as atomic adds
        assert report["global_loads_128bit"] > 0, report  # rows move in 16-byte vectors


def test_kernels_compile_for_hopper_without_spills() -> None:
    """Every benchmarked variant compiles to PTX and a cubin for sm_90 (H100/H200) without a
    GPU, within its register cap and without spilling; registers are printed (pytest -s)."""
    check_compiled(BENCHMARKED)


@pytest.mark.slow
def test_grid_and_levy_variants_compile_for_hopper_without_spills() -> None:
    """The 135-run grid's other shapes (dim 100, K 5/10/15, window 2/5/10) and levy2015's at
    full scale (dim 500, K 1/5/15, window 2/5/10): 25 compiles, a few minutes."""
    check_compiled(GRID)
