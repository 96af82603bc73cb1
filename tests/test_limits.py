"""Messages that mislead and sizes nobody checked (issue 24, classes 19 and 21): an integer range
called a float range by `--sampler grid`, a NaN objective that fails its trial without naming
the metric, and a Triton launch whose negatives buffer had no cap (78 GiB for programs=2^20,
window=100, negative=100, neg_draw=pair: computed, never allocated).
"""

from __future__ import annotations

import pytest
from conftest import planted_groups_text
from hypothesis import given
from hypothesis import strategies as st

from study.cli import main
from study.config import RunConfig, base_type, field_names
from study.errors import ConfigError
from study.search import grid_space, parse_space
from study.trainers.triton_sgns import (
    DRAW_BUDGET,
    Slices,
    check_draws,
    max_programs,
    negatives_per_center,
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


def test_a_launch_that_would_draw_78_gib_is_refused_before_anything_is_drawn():
    config = RunConfig(kernel="triton", programs=2**20, window=100, negative=100, neg_draw="pair")
    with pytest.raises(
        ConfigError, match=r"programs=1048576 would draw 78\.1 GiB .* at most 1,677"
    ):
        check_draws(config.programs, config)
    with pytest.raises(ConfigError, match="exceed the per-launch budget"):
        Slices.plan(10**9, config.programs, negatives_per_center(config))


@given(
    n=st.integers(1, 10**9),
    programs=st.integers(1, 2**20),
    window=st.integers(1, 100),
    negative=st.integers(1, 100),
    model=st.sampled_from(["sg", "cbow"]),
    per_pair=st.booleans(),
)
def test_no_launch_ever_draws_beyond_the_budget(n, programs, window, negative, model, per_pair):
    neg_draw = "pair" if per_pair and model == "sg" else "center"
    config = RunConfig(kernel="triton", window=window, negative=negative, model=model,
                       neg_draw=neg_draw)  # fmt: skip
    per_position = negatives_per_center(config)
    assert max_programs(config) * per_position <= DRAW_BUDGET or max_programs(config) == 1
    try:
        check_draws(programs, config)
        slices = Slices.plan(n, programs, per_position)
    except ConfigError:
        assert programs > max_programs(config)
        return
    assert slices.programs * slices.count * per_position <= DRAW_BUDGET
