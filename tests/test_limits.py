"""Messages that mislead and sizes nobody checked (issue 24, classes 19 and 21): an integer range
called a float range by `--sampler grid`, a NaN objective that fails its trial without naming
the metric, and a Triton launch whose negatives buffer had no cap (78 GiB for programs=2^20,
window=100, negative=100, neg_draw=pair: computed, never allocated). The kernels now draw their
negatives themselves: a launch allocates two numbers per program, whatever the window and K.
"""

from __future__ import annotations

import pytest
import torch
from conftest import planted_groups_text
from hypothesis import given
from hypothesis import strategies as st

from study.cli.app import main
from study.core.config import RunConfig, base_type, field_names
from study.core.errors import ConfigError
from study.run.search import grid_space, parse_space
from study.train.trainers import triton_kernels as tk
from study.train.trainers.triton_sgns import (
    LAUNCH_POSITIONS,
    EpochLaunch,
    Slices,
    kernel_key,
    launch,
    variant_for,
)

NUMERIC = [f for f in field_names() if base_type(f) in (int, float)]


@pytest.mark.parametrize("field", NUMERIC)
def test_grid_sampler_lists_every_integer_range_and_names_a_float_one(field):
    """`--sampler grid --space max_vocab=10:12` said max_vocab=10:12 "is a float range"."""
    ranges = {"lr_start": ("0.01", "0.02"), "lr_end": ("0.0", "0.0001"),
              "sample": ("0.0", "0.001"), "alpha": ("0.5", "1.0")}  # fmt: skip
    low, high = ranges.get(field, ("1", "3"))
    try:
        space = parse_space([f"{field}={low}:{high}"])
    except ConfigError:
        return  # a range this field refuses on its own (e.g. out of range): not this class
    if base_type(field) is int:
        assert grid_space(space)[field] == list(range(int(low), int(high) + 1))
    else:
        with pytest.raises(
            ConfigError, match=f"{field}={float(low)}:{float(high)} is a float range"
        ):
            grid_space(space)


def test_a_nan_objective_fails_its_trial_naming_the_metric(tmp_path, capsys):
    """A corpus without WS353's words gives ws353_spearman = NaN: Optuna failed the trial saying
    only that the objective returned nan."""
    corpus = tmp_path / "c.txt"
    corpus.write_text(planted_groups_text(n_sentences=200))
    argv = ["optuna", "--study", "nan", "--results", str(tmp_path / "r"), "--n-trials", "1",
            "--objective", "ws353_spearman", "--space", "window=2,3", "--set", "dim=8",
            "epochs=1", "min_count=2", "probe_pairs=0", "device=cpu", "workers=1",
            f"corpus={corpus}"]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "objective ws353_spearman is nan for run" in err and "Traceback" not in err


def test_a_launch_allocates_two_numbers_per_program_whatever_the_window_and_k(monkeypatch):
    """programs=2^20, window=100, negative=100, neg_draw=pair drew 78 GiB of negatives on the
    host per launch (then a one-line refusal); the kernels draw inside now, so the launch's own
    tensors are its loss and pair count per program: 8 MiB at the 2^20 cap."""
    config = RunConfig(kernel="triton", programs=2**20, window=100, negative=100, neg_draw="pair")
    launched = []

    class Recorder:
        def __getitem__(self, grid):
            return lambda *args, **kwargs: launched.append((grid, args))

    monkeypatch.setattr(tk, "kernel", lambda model: Recorder())
    variant = variant_for(config)
    w = torch.zeros(4, variant.row)
    ints = torch.zeros(8, dtype=torch.int32)
    table = torch.zeros(4, dtype=torch.int64)
    slices = Slices.plan(10**9, config.programs)
    launch(EpochLaunch(variant, w, w, ints, ints, table, slices, kernel_key(0), 0, 0.025, 0.0), 0)
    ((grid, args),) = launched
    assert grid == (2**20,)
    given = {id(w), id(ints), id(table)}
    made = {id(a): a for a in args if isinstance(a, torch.Tensor) and id(a) not in given}
    assert sum(a.numel() * a.element_size() for a in made.values()) == 8 * 2**20


@given(n=st.integers(1, 10**9), programs=st.integers(1, 2**20))
def test_every_launch_covers_a_bounded_share_of_the_epoch(n, programs):
    """Launches advance every program by `count` positions: the slices cover the stream, and a
    launch covers at most LAUNCH_POSITIONS positions (one per program when there are more)."""
    slices = Slices.plan(n, programs)
    assert slices.programs <= min(n, programs) and slices.programs * slices.slice_len >= n
    assert 1 <= slices.count <= slices.slice_len
    assert slices.programs * slices.count <= max(LAUNCH_POSITIONS, slices.programs)
