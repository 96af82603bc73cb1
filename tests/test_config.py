import json

import pytest

from study.core.config import ADDED_FIELDS, RunConfig, parse_assignments
from study.core.errors import ConfigError


def test_defaults_are_valid_and_id_is_stable():
    config = RunConfig()
    assert config.run_id == RunConfig().run_id
    assert len(config.run_id) == 16
    # the id is a hash of the canonical (sorted-key) JSON; fields added later enter it only
    # away from their defaults
    canonical = json.loads(config.canonical_json())
    assert canonical == {k: v for k, v in config.to_dict().items() if k not in ADDED_FIELDS}
    assert list(canonical) == sorted(canonical)
    assert config.run_id == "0c068bdb57f4b766"  # the default config's id before `kernel` existed


def test_fields_added_later_keep_old_ids_and_change_them_when_set():
    base = RunConfig()
    for key, value in {"kernel": "triton", "neg_draw": "pair", "programs": 64}.items():
        changed = RunConfig.from_dict({**base.to_dict(), key: value})
        assert changed.run_id != base.run_id
        assert json.loads(changed.canonical_json())[key] == value


def test_run_ids_of_existing_configs_are_pinned():
    """Ids of configs typed on the command line and of the presets, as computed before the
    -0.0/int normalisation (issue 14): existing study folders keep matching their configs."""
    import hashlib

    from study.run.grid import PRESETS

    cli = {"alpha": "0", "corpus": "/tmp/c.txt", "sample": "0", "lr_end": "0"}
    assert RunConfig().with_overrides(cli).run_id == "016eaed150f192a3"
    pinned = {
        "demo": "692c466d09f49126",
        "alpha-study": "e7f12d9465528e7e",
        "alpha-window-negative": "cba39edd3c7b7eca",
    }
    for name, expected in pinned.items():
        ids = ",".join(c.run_id for c in PRESETS[name].cells())
        assert hashlib.sha256(ids.encode()).hexdigest()[:16] == expected, name


def test_minus_zero_and_int_valued_floats_are_one_run_id():
    """-0.0 == 0 and 1 == 1.0: equal values, one run id (they were two)."""
    zero = RunConfig(alpha=0.0)
    assert RunConfig(alpha=-0.0).run_id == zero.run_id
    assert RunConfig().with_overrides({"alpha": "-0"}).run_id == zero.run_id
    assert RunConfig().with_overrides({"alpha": "-0.0"}).run_id == zero.run_id
    assert RunConfig(alpha=1).run_id == RunConfig(alpha=1.0).run_id
    assert json.loads(RunConfig(sample=-0.0).canonical_json())["sample"] == 0.0


def test_run_id_changes_with_any_field_and_not_with_dict_order():
    base = RunConfig()
    assert base.with_overrides({"alpha": 0.5}).run_id != base.run_id
    assert base.with_overrides({"seed": 1}).run_id != base.run_id
    shuffled = dict(reversed(list(base.to_dict().items())))
    assert RunConfig.from_dict(shuffled).run_id == base.run_id


def test_run_id_is_stable_across_processes():
    # str hashing is salted per process; the run id must not be
    import subprocess
    import sys

    code = "from study.core.config import RunConfig; print(RunConfig(alpha=0.5, window=2).run_id)"
    ids = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    }
    assert ids == {RunConfig(alpha=0.5, window=2).run_id}


def test_overrides_are_parsed_to_field_types():
    values = parse_assignments(
        ["window=10", "alpha=0.5", "max_vocab=none", "model=cbow", "lr-start=0.05"]
    )
    assert values == {
        "window": 10,
        "alpha": 0.5,
        "max_vocab": None,
        "model": "cbow",
        "lr_start": 0.05,
    }
    config = RunConfig().with_overrides(values)
    assert (config.window, config.alpha, config.model, config.lr_start) == (10, 0.5, "cbow", 0.05)


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("windw=5", "unknown config key 'windw' (did you mean 'window'?)"),
        ("window=2.5", "window must be an integer"),
        ("alpha=high", "alpha must be a number"),
        ("noequals", "expected key=value"),
    ],
)
def test_bad_assignments(assignment, message):
    with pytest.raises(
        ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")
    ):
        RunConfig().with_overrides(parse_assignments([assignment]))


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"negative": 0}, "negative=0 is out of range"),
        ({"alpha": 2.5}, "alpha=2.5 is out of range"),
        ({"alpha": -2.01}, "alpha=-2.01 is out of range"),
        ({"window": 0}, "window=0 is out of range"),
        ({"dim": 0}, "dim=0 is out of range"),
        ({"epochs": 0}, "epochs=0 is out of range"),
        ({"lr_start": 0.0}, "lr_start=0.0 is out of range"),
        ({"lr_end": 0.5}, "lr_end=0.5 must not exceed lr_start"),
        ({"model": "glove"}, "model must be 'sg' or 'cbow'"),
        ({"device": "tpu"}, "device must be"),
        ({"trainer": "gensim", "objective": "softmax"}, "only available with trainer=torch"),
        ({"window": True}, "window must be an integer"),
        ({"alpha": float("nan")}, "alpha must be finite"),
        ({"corpus": " "}, "corpus must name"),
    ],
)
def test_validation_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(**overrides)


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ConfigError, match="unknown config key 'ns_exponent'"):
        RunConfig.from_dict({"ns_exponent": 0.75})


def test_alpha_bounds_inclusive():
    assert RunConfig(alpha=-2.0).alpha == -2.0
    assert RunConfig(alpha=2).alpha == 2


# -- fields a trainer ignores: one value, one run id ------------------------------------------
PINNED_GENSIM = "73330255e79933cc"  # gensim's default config, before any of this existed


@pytest.mark.parametrize(
    "ignored",
    [{"kernel": "torch"}, {"kernel": "triton"}, {"neg_draw": "pair"}, {"neg_draw": "center"},
     {"programs": 4}, {"batch_size": 7}, {"kernel": "torch", "programs": 9, "batch_size": 64}],
)  # fmt: skip
def test_gensim_ignores_the_torch_fields_one_run_id(ignored):
    config = RunConfig(trainer="gensim", **ignored)
    assert config.run_id == RunConfig(trainer="gensim").run_id == PINNED_GENSIM
    # what the runs table then says is what gensim does: word2vec.c's per-pair negatives
    assert (config.kernel, config.programs, config.batch_size) == ("auto", 0, 1024)
    assert config.neg_draw == "pair"
    assert RunConfig(trainer="gensim", model="cbow").neg_draw == "center"  # one set per centre


def test_each_torch_step_ignores_the_other_steps_fields():
    torch_step = RunConfig(kernel="torch")
    assert RunConfig(kernel="torch", programs=9).run_id == torch_step.run_id
    triton = RunConfig(kernel="triton")
    assert RunConfig(kernel="triton", batch_size=1).run_id == triton.run_id
    softmax = RunConfig(objective="softmax")
    for other in ({"kernel": "torch"}, {"neg_draw": "pair"}, {"programs": 3}):
        assert RunConfig(objective="softmax", **other).run_id == softmax.run_id
    # kernel=auto is the torch step on a CPU and the Triton kernel on CUDA: both fields count
    assert RunConfig(programs=9).run_id != RunConfig().run_id
    assert RunConfig(batch_size=64).run_id != RunConfig().run_id


@pytest.mark.parametrize("trainer", ["torch", "gensim"])
@pytest.mark.parametrize("kernel", ["auto", "torch", "triton"])
def test_cbow_with_per_pair_negatives_is_refused_with_advice_that_works(trainer, kernel):
    with pytest.raises(ConfigError, match=r"neg_draw=pair is for skip-gram.*use neg_draw=center"):
        RunConfig(trainer=trainer, model="cbow", neg_draw="pair", kernel=kernel)
    RunConfig(trainer=trainer, model="cbow", neg_draw="center", kernel=kernel)  # the advice


def test_the_per_pair_refusal_of_the_torch_step_names_a_setting_that_works():
    with pytest.raises(
        ConfigError, match="use kernel=triton on a CUDA machine, or neg_draw=center"
    ):
        RunConfig(kernel="torch", neg_draw="pair")
    RunConfig(kernel="torch", neg_draw="center")
    RunConfig(kernel="triton", neg_draw="pair")


def test_a_gensim_grid_over_torch_fields_is_one_cell(capsys):
    from study.cli.app import main

    argv = ["grid", "--trainers", "gensim", "--grid", "programs=0,4", "batch_size=256,1024",
            "kernel=torch,triton", "--dry-run", "--study", "dry"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "1 run" and out.startswith(PINNED_GENSIM)
