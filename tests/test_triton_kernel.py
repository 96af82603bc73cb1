"""The Triton kernels on the CPU through Triton's interpreter (TRITON_INTERPRET=1): equal to the
sequential NumPy reference, learning planted structure within noise of the batched torch step,
the same callbacks and TrainState as the torch step; and every variant compiled for the H100/H200
(sm_90) ahead of time, since the interpreter accepts code the compiler may not.

The interpreter runs one program after another at ~20 ms per stream position, so the inputs
are tiny. The CUDA tests (marker `gpu`) run the same checks at full speed on a GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sgns_reference import reference_epoch
from test_torch_trainer import config, make_corpus

from study.errors import ConfigError
from study.probes import GradientProbe
from study.trainers.base import Callback, TrainState
from study.trainers.torch_sgns import TorchTrainer

triton = pytest.importorskip("triton")

from study.trainers.triton_sgns import Slices, interpreting, launch  # noqa: E402


@pytest.fixture
def interpreter() -> None:
    """Kernels on CPU tensors: conftest switches the interpreter on where there is no GPU (the
    `gpu` tests cover a machine with one)."""
    if not interpreting():
        pytest.skip("a GPU machine: the interpreter is off (see test_triton_gpu.py)")


def random_problem(
    per_pair: bool, programs: int, count: int, seed: int = 0
) -> tuple[dict[str, np.ndarray], Slices, list[tuple[np.ndarray, np.ndarray]]]:
    """A random stream of 6 sentences over 12 words, matrices and the draws of every launch."""
    rng = np.random.default_rng(seed)
    vocab, dim, window, k, n = 12, 16, 2, 3, 60
    arrays = {
        "stream": rng.integers(0, vocab, n).astype(np.int32),
        "sent": np.repeat(np.arange(6), 10).astype(np.int32),
        "w_in": rng.normal(0, 0.3, (vocab, dim)).astype(np.float32),
        "w_out": rng.normal(0, 0.3, (vocab, dim)).astype(np.float32),
    }
    slices = Slices(programs, -(-n // programs), count)
    shape = (programs, count, 2 * window, k) if per_pair else (programs, count, k)
    launches = [
        (
            rng.integers(1, window + 1, (programs, count)).astype(np.int32),
            rng.integers(0, vocab, shape).astype(np.int32),
        )
        for _ in range(0, slices.slice_len, count)
    ]
    return arrays, slices, launches


@pytest.mark.parametrize(
    ("model", "per_pair", "programs"),
    [("sg", False, 1), ("sg", True, 1), ("cbow", False, 1), ("sg", False, 3)],
    ids=["sg-per-center", "sg-per-pair", "cbow", "sg-3-programs"],
)
def test_kernel_equals_sequential_reference(
    interpreter: None, model: str, per_pair: bool, programs: int
) -> None:
    """Same draws → the same vectors, loss and pair count as sequential SGD in word2vec.c's
    order, over several launches (the interpreter runs programs in order, so 3 programs are
    3 sequential slices)."""
    arrays, slices, launches = random_problem(per_pair, programs, count=7)
    window, lr0, lr_step = 2, 0.05, 3e-4
    w_in, w_out = torch.tensor(arrays["w_in"]), torch.tensor(arrays["w_out"])
    stream, sent = torch.tensor(arrays["stream"]), torch.tensor(arrays["sent"])
    loss, pairs = 0.0, 0
    for index, (reach, negatives) in enumerate(launches):
        step_loss, step_pairs = launch(
            model, w_in, w_out, stream, sent, torch.tensor(reach), torch.tensor(negatives),
            slices, index * slices.count, lr0, lr_step, window, per_pair,
        )  # fmt: skip
        loss += step_loss.double().sum().item()
        pairs += int(step_pairs.sum())
    ref_in, ref_out = arrays["w_in"].astype(np.float64), arrays["w_out"].astype(np.float64)
    ref_loss, ref_pairs = reference_epoch(
        model, ref_in, ref_out, arrays["stream"], arrays["sent"], launches,
        slices.slice_len, slices.count, lr0, lr_step, window, per_pair,
    )  # fmt: skip
    assert pairs == ref_pairs > 0
    assert loss == pytest.approx(ref_loss, rel=1e-6)
    np.testing.assert_allclose(w_in.numpy(), ref_in, atol=1e-6)
    np.testing.assert_allclose(w_out.numpy(), ref_out, atol=1e-6)
    assert np.abs(ref_in - arrays["w_in"]).max() > 0.05  # the vectors did move


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


def test_many_programs_learn_planted_groups_like_the_torch_step(interpreter: None) -> None:
    """4 Hogwild programs learn the planted groups and end within noise of the torch step's
    loss (the torch step at batch 1, over 4 seeds, gives the noise)."""
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
    assert result.info == {"kernel": "triton", "cpu_threads": result.info["cpu_threads"]} | {
        "programs": 4
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
    """The probe and any other callback get the same hooks, TrainState and row columns."""
    rng = np.random.default_rng(3)
    corpus = make_corpus([[f"w{i}" for i in rng.integers(6, size=8)] for _ in range(6)], "cb")
    seen = {}
    for kernel in ("torch", "triton"):
        recorder = StateRecorder()
        cfg = config(
            dim=8, window=2, negative=2, epochs=1, kernel=kernel, programs=2, probe_pairs=64
        )
        result = TorchTrainer(progress=False).fit(corpus, cfg, [GradientProbe(), recorder])
        seen[kernel] = recorder.seen
        assert result.epochs[0]["probe_loss"] > 0
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


# The variants the benchmarks run: (model, dim, negative, per_pair).
VARIANTS = [
    ("sg", 100, 5, False),
    ("sg", 100, 5, True),
    ("sg", 300, 10, False),
    ("sg", 300, 10, True),
    ("cbow", 100, 5, False),
    ("cbow", 300, 10, False),
]


COMPILE_ALL = """
import json, sys
from study.trainers.triton_kernels import compile_ahead
report = {}
for model, dim, negative, per_pair in json.loads(sys.argv[1]):
    ptx = compile_ahead(model, dim, negative, window=5, per_pair=per_pair).asm
    report[f"{model}-{dim}-{negative}-{per_pair}"] = {
        "target": ".target sm_90" in ptx["ptx"],
        "cubin_bytes": len(ptx["cubin"]),
        "reductions": ptx["ptx"].count("red.global") + ptx["ptx"].count("atom.global"),
    }
print(json.dumps(report))
"""


def test_kernels_compile_for_hopper() -> None:
    """Every variant the benchmarks run compiles to PTX and a cubin for sm_90 (H100/H200)
    without a GPU. In a fresh process: with the interpreter on, Triton's own functions are
    the interpreter's and cannot be compiled."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1]), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", COMPILE_ALL, json.dumps(VARIANTS)],
        capture_output=True, text=True, env=env, timeout=600, check=True,
    )  # fmt: skip
    report = json.loads(out.stdout.splitlines()[-1])
    assert len(report) == len(VARIANTS)
    for name, variant in report.items():
        assert variant["target"], name
        assert variant["cubin_bytes"] > 10_000, name
        assert variant["reductions"] > 0, name  # updates go back as atomic adds
