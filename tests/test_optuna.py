"""Optuna studies: search spaces, objectives, pruning, storage errors, result store."""

import subprocess
import sys

import optuna
import pytest

from study.cli.app import main
from study.core.config import RunConfig
from study.core.errors import ConfigError
from study.run.runner import CorpusCache
from study.run.search import make_objective, make_sampler, parse_objectives, parse_space
from study.store.results import ResultStore, load_table
from study.store.storage import open_storage


def test_parse_space_and_objectives():
    space = parse_space(["alpha=0.0:1.5", "lr_start=0.001:0.1:log", "dim=50,100", "window=2:10"])
    assert [p.name for p in space] == ["alpha", "lr_start", "dim", "window"]
    assert space[1].log and space[2].choices == (50, 100)
    objectives = parse_objectives(["analogy_acc", "train_seconds"])
    assert [(o.name, o.direction) for o in objectives] == [
        ("analogy_acc", "maximize"),
        ("train_seconds", "minimize"),
    ]
    with pytest.raises(ConfigError, match="unknown config key 'alfa'"):
        parse_space(["alfa=0:1"])
    with pytest.raises(ConfigError, match="alpha=3.0 is out of range"):
        parse_space(["alpha=0:3"])
    with pytest.raises(ConfigError, match="empty range"):
        parse_space(["window=5:2"])
    with pytest.raises(ConfigError, match="unknown objective 'accuracy'"):
        parse_objectives(["accuracy"])


@pytest.mark.slow  # real processes, 7-14 s: CI's slow step runs it (default suite < 5 min)
def test_pruning_prunes_a_deliberately_bad_trial(tmp_path):
    """Two good trials set the median; a trial with a tiny learning rate is pruned early."""
    from study.data.corpus import DEFAULT_CORPUS_NAME, resolve

    # the first ~40 articles of the embedded corpus: real words, so WS353 is meaningful
    corpus = tmp_path / "wiki-part.txt"
    corpus.write_text("\n".join(resolve(DEFAULT_CORPUS_NAME).load().documents()[:40]))
    store = ResultStore(tmp_path / "tune")
    base = RunConfig(
        trainer="gensim",
        workers=1,
        dim=16,
        epochs=3,
        probe_pairs=0,
        lr_end=0.0,
        min_count=3,
        corpus=str(corpus),
    )
    study = optuna.create_study(
        direction="maximize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
    )
    for lr in (0.05, 0.04, 1e-6):
        study.enqueue_trial({"lr_start": lr})
    objective = make_objective(
        base,
        parse_space(["lr_start=0.000001:0.1:log"]),
        parse_objectives(["ws353_spearman"]),
        store,
        CorpusCache(),
    )
    study.optimize(objective, n_trials=3)
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "COMPLETE", "PRUNED"], [
        (t.state, t.intermediate_values) for t in study.trials
    ]
    runs, epochs = load_table(store)
    assert sorted(runs["status"]) == ["done", "done", "pruned"]
    pruned = runs[runs["status"] == "pruned"].iloc[0]
    assert pruned["lr_start"] == 1e-6
    assert len(epochs[epochs["run_id"] == pruned["run_id"]]) < base.epochs


@pytest.mark.slow  # 10-20 s of real trials: CI's slow step runs it (default suite < 5 min)
def test_optuna_cli_sqlite_default_storage_and_multi_objective(tmp_path, planted_corpus_file):
    command = [
        sys.executable,
        "-m",
        "study",
        "optuna",
        "--study-name",
        "mo",
        "--results",
        str(tmp_path),
        "--n-trials",
        "2",
        "--objective",
        "analogy_coverage",
        "train_seconds",
        "--sampler",
        "random",
        "--seed",
        "1",
        "--space",
        "alpha=0.0:1.0",
        "--set",
        "dim=8",
        "epochs=1",
        "min_count=2",
        "probe_pairs=64",
        "device=cpu",
        f"corpus={planted_corpus_file}",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2 and "unknown objective 'analogy_coverage'" in result.stderr
    command[command.index("analogy_coverage")] = "analogy_acc"
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "multi-objective studies cannot prune" in result.stdout
    assert (tmp_path / "mo" / "optuna.db").exists()
    study = optuna.load_study(study_name="mo", storage=f"sqlite:///{tmp_path / 'mo' / 'optuna.db'}")
    assert len(study.directions) == 2 and len(study.trials) == 2
    runs, _ = load_table(tmp_path / "mo")
    assert set(runs["run_id"]) == {t.user_attrs["run_id"] for t in study.trials}
    # optuna-dashboard labels the objectives with these names (not "Objective 0")
    assert study.metric_names == ["analogy_acc", "train_seconds"]
    for trial in study.trials:  # every metric of the run is attached to its trial
        stored = ResultStore(tmp_path / "mo").read_metrics(trial.user_attrs["run_id"])
        assert stored is not None
        for name, value in stored["metrics"].items():
            assert trial.user_attrs[name] == pytest.approx(value, nan_ok=True), name
        for key in ("train_seconds", "words_per_sec", "vocab_size", "corpus_words"):
            assert trial.user_attrs[key] == pytest.approx(stored[key]), key
        assert trial.user_attrs["status"] == "done"  # (the trial FAILs: NaN analogy_acc)


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("tpe", optuna.samplers.TPESampler),
        ("random", optuna.samplers.RandomSampler),
        ("qmc", optuna.samplers.QMCSampler),
        ("cmaes", optuna.samplers.CmaEsSampler),
        ("nsga2", optuna.samplers.NSGAIISampler),
        ("grid", optuna.samplers.GridSampler),
    ],
)
def test_samplers_are_optunas_own_and_seeded(name, cls):
    space = parse_space(["window=2:4", "negative=5,10"] if name == "grid" else ["alpha=0.0:1.0"])

    def suggestions(seed):
        sampler = make_sampler(name, space, n_objectives=1, seed=seed)
        assert isinstance(sampler, cls)
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        study = optuna.create_study(sampler=sampler)
        study.optimize(lambda t: sum(float(p.suggest(t)) for p in space), n_trials=6)
        return [t.params for t in study.trials]

    first = suggestions(3)
    assert first == suggestions(3)  # the seed makes the sequence reproducible
    if name == "grid":
        assert sorted((p["window"], p["negative"]) for p in first) == [
            (w, n) for w in (2, 3, 4) for n in (5, 10)
        ]
    else:
        assert len({p["alpha"] for p in first}) == 6


def test_sampler_misuse_is_a_config_error():
    with pytest.raises(ConfigError, match="alpha=0.0:1.0 is a float range"):
        make_sampler("grid", parse_space(["alpha=0.0:1.0"]), 1)
    with pytest.raises(ConfigError, match="cmaes is single-objective"):
        make_sampler("cmaes", parse_space(["alpha=0.0:1.0"]), 2)


def test_optuna_cli_grid_sampler_stops_when_the_grid_is_done(tmp_path, planted_corpus_file):
    command = [
        *("optuna", "--study", "g", "--results", str(tmp_path), "--n-trials", "5"),
        *("--sampler", "grid", "--seed", "0", "--space", "window=2,3", "--no-pruning"),
        *("--set", "dim=8", "epochs=1", "min_count=2", "probe_pairs=0", "device=cpu"),
        f"corpus={planted_corpus_file}",
    ]
    assert main(command) == 0
    study = optuna.load_study(study_name="g", storage=f"sqlite:///{tmp_path / 'g' / 'optuna.db'}")
    assert sorted(t.params["window"] for t in study.trials) == [2, 3]
    assert study.metric_names == ["analogy_acc"]


def test_unreachable_storage_is_one_clear_line(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "study",
            "optuna",
            "--study-name",
            "x",
            "--results",
            str(tmp_path),
            "--storage",
            "postgresql+psycopg2://nobody:secret@127.0.0.1:9/none",
            "--n-trials",
            "1",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: cannot open Optuna storage postgresql+psycopg2://nobody:***@127.0.0.1:9/none"
    )
    assert "secret" not in result.stderr and "Traceback" not in result.stderr


def test_killed_trial_is_failed_and_retried_not_left_running(tmp_path, monkeypatch):
    """A RUNNING trial without heartbeats is failed by the next worker and re-enqueued."""
    monkeypatch.setenv("W2V_STUDY_HEARTBEAT", "1,2")
    storage = open_storage(f"sqlite:///{tmp_path / 'hb.db'}")
    study = optuna.create_study(storage=storage, study_name="hb")
    study.enqueue_trial({}, user_attrs={"run_id": "abc"})
    trial = study.ask()  # claimed, then the "worker" dies without heartbeats
    storage.record_heartbeat(trial._trial_id)
    import time

    time.sleep(3.5)  # > grace (2 s; the heartbeat setting needs grace > interval)
    optuna.storages.fail_stale_trials(study)
    trials = study.get_trials()
    assert trials[0].state.name == "FAIL"
    assert trials[1].state.name == "WAITING" and trials[1].user_attrs == {"run_id": "abc"}


def test_a_trial_killed_before_its_first_heartbeat_is_still_failed(tmp_path, monkeypatch):
    """Optuna's heartbeat thread may not have beaten yet when a worker dies right after its
    trial started; such a trial would stay RUNNING for good. The objective beats first."""
    import time

    import study.run.search as search

    monkeypatch.setenv("W2V_STUDY_HEARTBEAT", "1,2")
    storage = open_storage(f"sqlite:///{tmp_path / 'hb.db'}")
    study = optuna.create_study(storage=storage, study_name="early")
    trial = study.ask()  # RUNNING, and no heartbeat thread at all: a worker that dies now

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the first thing the run does is where the kill lands

    monkeypatch.setattr(search, "execute_run", killed)
    store = ResultStore(tmp_path / "early")
    objective = make_objective(
        RunConfig(), parse_space(["alpha=0:1"]), parse_objectives(["ws353_spearman"]), store,
        CorpusCache(), heartbeat=storage,
    )  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        objective(trial)
    time.sleep(3)
    optuna.storages.fail_stale_trials(study)
    assert study.get_trials()[0].state.name == "FAIL"
