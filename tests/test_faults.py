"""SIGKILL fault injection: killed grid workers and Optuna trials lose and duplicate nothing.

Each test kills real worker processes (see `fault_inject`) at chosen or random points, restarts
them, and checks that the final tables, epoch rows and saved vectors equal those of an
uninterrupted run of the same cells (same seeds → same numbers on CPU), that no run is missing,
duplicated or partial, and that no Optuna trial is left RUNNING.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from fault_inject import (
    Fault,
    Worker,
    assert_same_results,
    assert_store_consistent,
    read_log,
    run_worker,
    runs_completed,
    ws353_planted_text,
)
from tiny_run import FAST

from study.core.config import RunConfig
from study.run.grid import GridSpec
from study.run.runner import CorpusCache, execute_run, run_grid
from study.store.results import ResultStore, load_table

KILLED = -signal.SIGKILL
HEARTBEAT = "1,3"  # interval, grace (s): a dead worker's trial is stale after 3 s
MAX_RETRY = 3  # study.store.storage: a trial killed again after 3 retries is given up (stays FAIL)
AXES = {"alpha": [0.5, 1.0]}
TRAINERS = ["torch", "gensim"]


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "ws353_planted.txt"
    path.write_text(ws353_planted_text())
    return path


def grid_cells(corpus: Path, axes: dict = AXES) -> list[RunConfig]:
    spec = GridSpec(axes=axes, trainers=TRAINERS, fixed={**FAST, "corpus": str(corpus)})
    return spec.cells()


def grid_argv(study: str, results: Path, corpus: Path, axes: dict = AXES, *extra: str) -> list:
    sets = [f"{k}={v}" for k, v in {**FAST, "corpus": corpus}.items()]
    grid = [f"{k}={','.join(map(str, v))}" for k, v in axes.items()]
    return [
        "grid",
        "--study",
        study,
        "--results",
        str(results),
        "--grid",
        *grid,
        "--trainers",
        ",".join(TRAINERS),
        *extra,
        "--set",
        *sets,
    ]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory, corpus_file: Path) -> Path:
    """The uninterrupted grid, run in this process."""
    root = tmp_path_factory.mktemp("baseline")
    store = ResultStore(root / "results" / "base")
    counts = run_grid(grid_cells(corpus_file), store, data_root=str(root / "data"), progress=False)
    assert counts["done"] == len(grid_cells(corpus_file))
    return store.root


def env_for(tmp_path: Path) -> dict[str, str]:
    return {
        "W2V_STUDY_DATA": str(tmp_path / "data"),
        "W2V_STUDY_HEARTBEAT": HEARTBEAT,
        "W2V_FAULT_LOG": str(tmp_path / "events.log"),
    }


def trial_states(storage_url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=storage_url).get_trials()


# -- determinism: the premise of every comparison below -----------------------------------------
DETERMINISM_SCRIPT = """
import hashlib, json, sys
from study.core.config import RunConfig
from study.store.results import ResultStore
from study.run.runner import CorpusCache, execute_run
out = {}
for config in [RunConfig.from_dict(d) for d in json.loads(sys.argv[1])]:
    store = ResultStore(sys.argv[2])
    execute_run(config, store, CorpusCache(sys.argv[3]))
    out[config.run_id] = hashlib.sha256(store.vectors_path(config.run_id).read_bytes()).hexdigest()
print(json.dumps(out))
"""


def test_same_config_and_seed_give_identical_vectors_in_two_processes(
    tmp_path, corpus_file, baseline
):
    """torch and gensim (workers=1) on CPU: bit-identical vectors in a fresh interpreter with
    another hash seed as in this process (the baseline)."""
    import hashlib
    import os

    configs = [c for c in grid_cells(corpus_file) if c.alpha == AXES["alpha"][0]]
    payload = json.dumps([c.to_dict() for c in configs])
    result = subprocess.run(
        [sys.executable, "-c", DETERMINISM_SCRIPT, payload, str(tmp_path / "s"), str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    theirs = json.loads(result.stdout.strip().splitlines()[-1])
    ours = {
        c.run_id: hashlib.sha256(
            (baseline / "runs" / c.run_id / "vectors.bin").read_bytes()
        ).hexdigest()
        for c in configs
    }
    assert theirs == ours
    assert len(set(ours.values())) == len(configs)  # and the configs do differ


# -- a local grid ----------------------------------------------------------------------------
def test_local_grid_killed_in_every_phase_resumes_to_the_uninterrupted_result(
    tmp_path, corpus_file, baseline
):
    """Kill the worker while caching the corpus, training, evaluating and writing each result
    file (after the temp file is written, before the rename); the restarted grid reruns exactly
    the unfinished cells and ends with the same tables and vectors as a run without crashes."""
    cells = {c.run_id for c in grid_cells(corpus_file)}
    study = tmp_path / "results" / "g"
    argv = grid_argv("g", tmp_path / "results", corpus_file)
    env = env_for(tmp_path)
    faults = [
        Fault("cache"),
        Fault("config.json"),
        Fault("epoch", 3),  # the 2nd run's first epoch (the 1st run finishes this time)
        Fault("eval"),
        Fault("epochs.csv"),
        Fault("vectors.bin"),
        Fault("items.npz"),
        Fault("metrics.json"),
    ]
    finished: set[str] = set()
    for fault in faults:
        code = run_worker(argv, tmp_path / "out.txt", env, fault)
        assert code == KILLED, f"{fault} did not fire:\n{(tmp_path / 'out.txt').read_text()}"
        now = assert_store_consistent(study, cells)
        assert finished <= now  # a crash never loses a finished run
        finished = now
    log = read_log(tmp_path / "events.log")
    killed = [rest.split()[0] for _pid, event, rest in log if event == "killed"]
    assert killed == [f.point for f in faults]
    assert len(finished) < len(cells)

    assert run_worker(argv, tmp_path / "out.txt", env) == 0
    assert assert_store_consistent(study, cells) == cells
    ended = runs_completed(tmp_path / "events.log")
    assert sorted(ended) == sorted(cells)  # every cell finished exactly once over all restarts
    assert_same_results(study, baseline)
    assert json.loads((study / "study.json").read_text())["cells"] == len(cells)
    runs = load_table(study, save=False)[0]
    assert set(runs["status"]) == {"done"} and runs["ws353_spearman"].notna().all()


# -- a grid shared through SQLite ------------------------------------------------------------------
@pytest.mark.parametrize("point", ["claim", pytest.param("metrics.json+", marks=pytest.mark.slow)])
def test_shared_grid_killed_worker_trial_is_failed_and_retried(
    tmp_path, corpus_file, baseline, point
):
    """A shared-grid worker is killed right after claiming a cell (before its heartbeat thread
    starts) or right after finishing a run (before telling Optuna). Another worker fails the
    stale trial after the grace period, retries the cell, and the grid ends complete.
    (Workers killed while others run: test_random_kills_of_shared_grid_workers, slow.)"""
    cells = {c.run_id for c in grid_cells(corpus_file)}
    url = f"sqlite:///{tmp_path / 'grid.db'}"
    argv = grid_argv("sg", tmp_path / "results", corpus_file, AXES, "--storage", url)
    env = env_for(tmp_path)
    # the victim queues the grid and dies on its first cell; a worker started then must finish
    # (started together, the other worker could finish every cell before the victim claims one)
    victim = Worker(argv, tmp_path / "victim.txt", env, Fault(point))
    assert victim.wait(120) == KILLED, victim.text()
    survivor = Worker(argv, tmp_path / "survivor.txt", env)
    assert survivor.wait(120) == 0, survivor.text()

    study = tmp_path / "results" / "sg"
    assert assert_store_consistent(study, cells) == cells
    assert_same_results(study, baseline)
    trials = trial_states(url, "sg")
    states = [t.state.name for t in trials]
    assert "RUNNING" not in states and "WAITING" not in states
    assert states.count("FAIL") == 1  # the killed worker's trial
    failed = next(t for t in trials if t.state.name == "FAIL")
    complete = [t.user_attrs["run_id"] for t in trials if t.state.name == "COMPLETE"]
    assert sorted(complete) == sorted(cells)  # each cell completed once
    assert failed.user_attrs["run_id"] in complete  # ... the killed one through its retry
    assert sorted(runs_completed(tmp_path / "events.log")) == sorted(cells)  # trained once each


@pytest.mark.slow  # real processes, 7-14 s: CI's slow step runs it (default suite < 5 min)
def test_shared_grid_worker_killed_while_enqueuing_is_restarted(tmp_path, corpus_file, baseline):
    """The first worker dies after queueing 2 of 4 cells; a restarted worker must not wait for
    it forever nor skip the cells that never got queued."""
    cells = {c.run_id for c in grid_cells(corpus_file)}
    url = f"sqlite:///{tmp_path / 'grid.db'}"
    argv = grid_argv("sq", tmp_path / "results", corpus_file, AXES, "--storage", url)
    env = env_for(tmp_path)
    assert run_worker(argv, tmp_path / "out.txt", env, Fault("enqueue", 2)) == KILLED
    started = time.monotonic()
    assert run_worker(argv, tmp_path / "out.txt", env, timeout=90) == 0
    assert time.monotonic() - started < 60
    study = tmp_path / "results" / "sq"
    assert assert_store_consistent(study, cells) == cells
    assert_same_results(study, baseline)
    states = [t.state.name for t in trial_states(url, "sq")]
    assert set(states) == {"COMPLETE"} and len(states) == len(cells)


def test_shared_grid_rerun_with_overwrite_or_retry_failed_runs_again(tmp_path, corpus_file):
    """A rerun of the same cells is a new round: it used to find the old round's queue lock,
    queue nothing and exit having run nothing."""
    url = f"sqlite:///{tmp_path / 'grid.db'}"
    argv = [
        *("grid", "--study", "re", "--results", str(tmp_path / "results"), "--storage", url),
        *("--grid", f"corpus={corpus_file},{tmp_path / 'missing.txt'}", "--set"),
        *(f"{k}={v}" for k, v in FAST.items()),
    ]
    env = env_for(tmp_path)
    log = tmp_path / "events.log"

    def round_(*flags: str) -> Counter:
        before = len(read_log(log))
        assert run_worker([*argv, *flags], tmp_path / "out.txt", env) == 0
        return Counter(rest.split()[1] for _, e, rest in read_log(log)[before:] if e == "end")

    assert round_() == {"done": 1, "failed": 1}
    assert round_("--retry-failed") == {"failed": 1}
    assert round_("--overwrite") == {"done": 1, "failed": 1}
    states = Counter(t.state.name for t in trial_states(url, "re"))
    assert states == {"COMPLETE": 2, "FAIL": 3}
    runs, _ = load_table(tmp_path / "results" / "re", save=False)
    assert sorted(runs["status"]) == ["done", "failed"]


# -- an Optuna study on SQLite ---------------------------------------------------------------
def optuna_argv(results: Path, url: str, corpus: Path, n_trials: int) -> list[str]:
    sets = [f"{k}={v}" for k, v in {**FAST, "corpus": corpus}.items()]
    return [
        "optuna",
        "--study-name",
        "opt",
        "--results",
        str(results),
        "--storage",
        url,
        "--n-trials",
        str(n_trials),
        "--objective",
        "ws353_spearman",
        "--space",
        "alpha=0.0:1.0",
        "--sampler",
        "random",
        "--seed",
        "3",
        "--no-pruning",
        "--set",
        *sets,
    ]


def check_optuna_study(url: str, study_dir: Path) -> list[optuna.trial.FrozenTrial]:
    """No trial RUNNING or WAITING; every killed trial FAILED and retried to COMPLETE with its
    params; every COMPLETE trial's value is its stored run's metric; no partial run."""
    trials = trial_states(url, "opt")
    states = [t.state.name for t in trials]
    assert "RUNNING" not in states and "WAITING" not in states, states
    by_number = {t.number: t for t in trials}
    for trial in trials:
        history = trial.system_attrs.get("retry_history", [])
        if trial.state.name == "FAIL" and len(history) < MAX_RETRY:
            retries = [t for t in trials if trial.number in t.system_attrs.get("retry_history", [])]
            assert retries, f"trial {trial.number} failed and was not retried"
            assert all(t.params == trial.params for t in retries)
        assert all(by_number[n].state.name == "FAIL" for n in history)
    store = ResultStore(study_dir)
    done_ids = {t.user_attrs["run_id"] for t in trials if t.state.name == "COMPLETE"}
    assert assert_store_consistent(study_dir, done_ids) == done_ids
    for trial in trials:
        if trial.state.name == "COMPLETE":
            metrics = store.read_metrics(trial.user_attrs["run_id"])
            assert metrics is not None
            assert trial.value == pytest.approx(metrics["metrics"]["ws353_spearman"], abs=0)
    return trials


def test_optuna_trial_killed_mid_training_is_failed_and_retried(tmp_path, corpus_file):
    url = f"sqlite:///{tmp_path / 'opt.db'}"
    results = tmp_path / "results"
    env = env_for(tmp_path)
    argv = optuna_argv(results, url, corpus_file, n_trials=2)
    assert run_worker(argv, tmp_path / "out.txt", env, Fault("epoch", 1)) == KILLED
    [trial] = trial_states(url, "opt")
    assert trial.state.name == "RUNNING"  # until a worker notices the missing heartbeats
    time.sleep(3.5)  # the grace period passes; then the restarted worker fails and retries it
    assert run_worker(argv, tmp_path / "out.txt", env) == 0
    trials = check_optuna_study(url, results / "opt")
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert trials[1].system_attrs["failed_trial"] == 0 and trials[1].params == trial.params

    # the retried run equals the same config run without any crash
    run_id = trials[1].user_attrs["run_id"]
    config = ResultStore(results / "opt").read_run(run_id).config
    alone = ResultStore(tmp_path / "alone")
    execute_run(config, alone, CorpusCache(str(tmp_path / "data2")))
    assert (alone.vectors_path(run_id)).read_bytes() == (
        ResultStore(results / "opt").vectors_path(run_id).read_bytes()
    )
    assert alone.read_metrics(run_id)["metrics"] == pytest.approx(
        ResultStore(results / "opt").read_metrics(run_id)["metrics"], nan_ok=True
    )


# -- long randomized versions (slow) -----------------------------------------------------------
SLOW_AXES = {"alpha": [0.25, 0.75], "window": [2, 3]}


def grid_cells_slow(corpus: Path) -> list[RunConfig]:
    spec = GridSpec(
        axes=SLOW_AXES,
        trainers=TRAINERS,
        fixed={k: v for k, v in {**FAST, "corpus": str(corpus)}.items() if k != "window"},
    )
    return spec.cells()


def slow_argv(study: str, results: Path, corpus: Path, *extra: str) -> list[str]:
    argv = grid_argv(study, results, corpus, SLOW_AXES, *extra)
    return [a for a in argv if not a.startswith("window=3")]


@pytest.fixture(scope="module")
def slow_baseline(tmp_path_factory: pytest.TempPathFactory, corpus_file: Path) -> Path:
    root = tmp_path_factory.mktemp("slow_baseline")
    store = ResultStore(root / "results" / "base")
    run_grid(grid_cells_slow(corpus_file), store, data_root=str(root / "data"), progress=False)
    return store.root


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(4))
def test_random_kills_of_a_local_grid(tmp_path, corpus_file, slow_baseline, trial):
    """Repeated SIGKILLs at random points and after random delays; restart until done."""
    rng = random.Random(trial)
    cells = {c.run_id for c in grid_cells_slow(corpus_file)}
    argv = slow_argv("g", tmp_path / "results", corpus_file)
    env = env_for(tmp_path)
    log = tmp_path / "events.log"
    finished: set[str] = set()
    completed: list[str] = []  # each time a run finished, over all attempts
    kills = 0
    for attempt in range(60):
        logged_before = len(runs_completed(log))
        external = attempt % 2 == 1
        if not external:  # at a random point (p per point reached: ~60 points in a grid)
            fault = Fault.random(0.15, rng.randrange(9**9))
            code = Worker(argv, tmp_path / "out.txt", env, fault).wait(300)
        else:  # from outside, after a random delay (the whole grid takes ~1-5 s)
            worker = Worker(argv, tmp_path / "out.txt", env)
            time.sleep(rng.uniform(0.05, 1.0))
            worker.kill()
            code = worker.wait()
        now = assert_store_consistent(tmp_path / "results" / "g", cells)
        assert finished <= now
        logged = runs_completed(log)[logged_before:]
        completed += logged
        if external and code == KILLED:
            # A kill from outside can land after metrics.json is in place and before the log
            # line: the run finished all the same, once.
            completed += sorted((now - finished) - set(logged))
        finished = now
        if code == 0:
            break
        assert code == KILLED
        kills += 1
    else:
        pytest.fail("the grid never finished")
    assert kills >= 1 and finished == cells
    assert sorted(completed) == sorted(cells)  # every cell finished exactly once
    assert_same_results(tmp_path / "results" / "g", slow_baseline)


@pytest.mark.slow
def test_random_external_kills_of_python_m_study(tmp_path, corpus_file, slow_baseline):
    """The real command line in a fresh interpreter, SIGKILLed after random delays."""
    rng = random.Random(7)
    cells = {c.run_id for c in grid_cells_slow(corpus_file)}
    command = [sys.executable, "-m", "study", *slow_argv("g", tmp_path / "results", corpus_file)]
    env = {**__import__("os").environ, **env_for(tmp_path)}
    root = Path(__file__).resolve().parents[1]
    codes = []
    for attempt in range(30):
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # The first attempt is always killed (within the interpreter's start-up and first run:
        # the whole grid can finish in a few seconds); later ones at random points.
        delay = rng.uniform(0.5, 2.0) if attempt == 0 else rng.uniform(3.0, 9.0)
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
        codes.append(process.returncode)
        assert_store_consistent(tmp_path / "results" / "g", cells)
        if process.returncode == 0:
            break
    assert codes[-1] == 0 and KILLED in codes, codes
    assert_same_results(tmp_path / "results" / "g", slow_baseline)


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(3))
def test_random_kills_of_shared_grid_workers(tmp_path, corpus_file, slow_baseline, trial):
    """Three workers on one SQLite grid, random ones killed at random points and restarted."""
    rng = random.Random(100 + trial)
    cells = {c.run_id for c in grid_cells_slow(corpus_file)}
    url = f"sqlite:///{tmp_path / 'grid.db'}"
    argv = slow_argv("sg", tmp_path / "results", corpus_file, "--storage", url)
    env = env_for(tmp_path)

    def start(i: int) -> Worker:
        fault = Fault.random(0.1, rng.randrange(9**9)) if rng.random() < 0.6 else None
        return Worker(argv, tmp_path / f"w{i}.txt", env, fault)

    workers = [start(i) for i in range(3)]
    restarts = external_kills = 0
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        time.sleep(rng.uniform(0.5, 2.0))
        if rng.random() < 0.3 and restarts < 8:  # an external kill of a random live worker
            live = [w for w in workers if w.alive()]
            if live:
                rng.choice(live).kill()
                external_kills += 1
        for i, worker in enumerate(workers):
            if not worker.alive() and worker.process.exitcode == KILLED and restarts < 8:
                workers[i] = start(i)
                restarts += 1
        if all(not w.alive() for w in workers) and all(w.process.exitcode == 0 for w in workers):
            break
        if all(not w.alive() for w in workers) and restarts >= 8:
            workers = [Worker(argv, tmp_path / "final.txt", env)]  # a clean last worker
    else:
        pytest.fail("the shared grid never finished")
    assert assert_store_consistent(tmp_path / "results" / "sg", cells) == cells
    assert_same_results(tmp_path / "results" / "sg", slow_baseline)
    trials = trial_states(url, "sg")
    states = [t.state.name for t in trials]
    assert "RUNNING" not in states and "WAITING" not in states
    complete = [t.user_attrs["run_id"] for t in trials if t.state.name == "COMPLETE"]
    assert sorted(set(complete)) == sorted(cells)
    ended = runs_completed(tmp_path / "events.log")
    assert len(ended) == len(set(ended)) and set(ended) <= cells  # nothing finished twice
    # A kill from outside can land between metrics.json and the log line: that run finished
    # unlogged (and its restarted trial finds it done), at most one per such kill.
    assert len(cells - set(ended)) <= external_kills


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(3))
def test_random_kills_of_an_optuna_study(tmp_path, corpus_file, trial):
    rng = random.Random(200 + trial)
    url = f"sqlite:///{tmp_path / 'opt.db'}"
    results = tmp_path / "results"
    env = env_for(tmp_path)
    argv = optuna_argv(results, url, corpus_file, n_trials=3)
    kills = 0
    for _attempt in range(12):
        fault = Fault.random(0.08, rng.randrange(9**9))
        code = run_worker(argv, tmp_path / "out.txt", env, fault)
        if code == KILLED:
            kills += 1
            time.sleep(3.5)  # past the grace period: the next worker retries the trial
    assert run_worker(argv, tmp_path / "out.txt", env) == 0  # a clean worker settles the rest
    check_optuna_study(url, results / "opt")
    assert kills >= 1


# -- the corpus changes between two commands on one study (issue 14, class 1) -----------------
def _corpus_sets(corpus: Path) -> list[str]:
    fixed = {**FAST, "epochs": 1, "corpus": corpus}
    return [f"{k}={v}" for k, v in fixed.items() if k != "window"]


def _grid(results: Path, corpus: Path, windows: str, *extra: str) -> list[str]:
    return ["grid", "--study", "chg", "--results", str(results), "--grid", f"window={windows}",
            *extra, "--set", *_corpus_sets(corpus)]  # fmt: skip


def _fingerprints(results: Path) -> dict[str, str]:
    return {
        p.parent.name: json.loads(p.read_text()).get("corpus_fingerprint")
        for p in (results / "chg" / "runs").glob("*/metrics.json")
    }


def test_changed_corpus_is_refused_never_mixed(tmp_path, capsys):
    """The issue's repro: a grid, the corpus file replaced, a larger grid. It used to skip the
    finished cells and train the new one on the new text (vocab 499 and 318 in one runs.csv)."""
    from study.cli.app import main

    corpus = tmp_path / "c.txt"
    corpus.write_text(ws353_planted_text(seed=0))
    results = tmp_path / "r"
    assert main(_grid(results, corpus, "2,3")) == 0
    before = _fingerprints(results)
    assert len(before) == 2 and len(set(before.values())) == 1
    old = next(iter(before.values())).rsplit(":", 1)[1][:12]
    corpus.write_text(ws353_planted_text(seed=1, group_size=4))  # other contents, same name
    capsys.readouterr()
    optuna_sets = [s for s in _corpus_sets(corpus)]
    for argv in (
        _grid(results, corpus, "2,3,5"),
        _grid(results, corpus, "2,3,5", "--storage", f"sqlite:///{tmp_path / 'o.db'}"),
        _grid(results, corpus, "5", "--overwrite"),  # cannot rerun runs outside its grid
        ["run", "--study", "chg", "--results", str(results), "--set", *_corpus_sets(corpus)],
        ["optuna", "--study", "chg", "--results", str(results), "--n-trials", "1",
         "--space", "window=2,3", "--set", *optuna_sets],
    ):  # fmt: skip
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "trained on other contents of corpus" in err, err
        assert f"sha256 {old} then" in err
    assert _fingerprints(results) == before  # nothing was trained, nothing changed
    # the fix the message names: rerun them
    assert main(_grid(results, corpus, "2,3,5", "--overwrite")) == 0
    after = _fingerprints(results)
    assert after.keys() > before.keys() and len(set(after.values())) == 1
    assert set(after.values()).isdisjoint(before.values())
    runs, _ = load_table(results / "chg")
    assert len(runs) == 3 and runs["vocab_size"].nunique() == 1  # one corpus in the table


def test_runs_recorded_before_fingerprints_are_checked_by_their_vocabulary(tmp_path, capsys):
    """Old study folders have no corpus fingerprint: their runs are compared by vocabulary size
    and word count, so an unchanged corpus resumes and a changed one is refused."""
    from study.cli.app import main

    corpus = tmp_path / "c.txt"
    corpus.write_text(ws353_planted_text(seed=0))
    results = tmp_path / "r"
    assert main(_grid(results, corpus, "2,3")) == 0
    for path in (results / "chg" / "runs").glob("*/metrics.json"):  # as an old version wrote it
        record = json.loads(path.read_text())
        del record["corpus_fingerprint"]
        path.write_text(json.dumps(record))
    capsys.readouterr()
    assert main(_grid(results, corpus, "2,3")) == 0
    assert "2 runs: 2 skipped" in capsys.readouterr().out
    corpus.write_text(ws353_planted_text(seed=1, group_size=4))
    assert main(_grid(results, corpus, "2,3")) == 2
    err = capsys.readouterr().err
    assert "trained on other contents of corpus" in err and "words then" in err
    assert main(_grid(results, corpus, "2,3", "--overwrite")) == 0


# -- a shared-grid worker stopped by Ctrl-C or SIGTERM (issue 14, class 11) -------------------
def _shared_argv(tmp_path: Path, corpus: Path, alphas: str, epochs: int) -> list[str]:
    sets = [f"{k}={v}" for k, v in {**FAST, "epochs": epochs, "corpus": corpus}.items()]
    url = f"sqlite:///{tmp_path / 'grid.db'}"
    return ["grid", "--study", "si", "--results", str(tmp_path / "r"), "--grid",
            f"alpha={alphas}", "--storage", url, "--set", *sets]  # fmt: skip


def _wait_for(predicate, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_shared_grid_worker_releases_its_cell(tmp_path, corpus_file, sig):
    """Ctrl-C (or SIGTERM) in a cell left its trial RUNNING: a restarted worker waited out the
    whole heartbeat grace period. Now the cell is failed and queued again at once."""
    import os

    argv = _shared_argv(tmp_path, corpus_file, "0.5,1.0", epochs=40)
    env = {**env_for(tmp_path), "W2V_STUDY_HEARTBEAT": "1,600"}  # a RUNNING leftover: 10 min
    victim = Worker(argv, tmp_path / "victim.txt", env)
    _wait_for(lambda: any(e == "start" for _, e, _ in read_log(tmp_path / "events.log")))
    os.kill(victim.process.pid, sig)
    assert victim.wait(60) == 130, victim.text()
    assert "interrupted" in victim.text() and "Traceback" not in victim.text()
    trials = trial_states(f"sqlite:///{tmp_path / 'grid.db'}", "si")
    states = sorted(t.state.name for t in trials)
    assert "RUNNING" not in states and states.count("FAIL") == 1, states
    failed = next(t for t in trials if t.state.name == "FAIL")
    waiting = [t.user_attrs["run_id"] for t in trials if t.state.name == "WAITING"]
    assert failed.user_attrs["run_id"] in waiting  # queued again
    started = time.monotonic()
    assert run_worker(argv, tmp_path / "restart.txt", env, timeout=300) == 0
    assert time.monotonic() - started < 300  # far below the 600 s grace
    runs, _ = load_table(tmp_path / "r" / "si")
    assert sorted(runs["status"]) == ["done", "done"]
    done = runs_completed(tmp_path / "events.log")
    assert sorted(done) == sorted(set(done)) and len(done) == 2  # each cell finished once


def test_waiting_shared_grid_worker_says_why(tmp_path, corpus_file):
    """A worker that finds only a cell RUNNING elsewhere (its worker was killed) waits for the
    grace period; it now says so instead of waiting silently."""
    argv = _shared_argv(tmp_path, corpus_file, "0.5", epochs=1)
    env = env_for(tmp_path)
    assert run_worker(argv, tmp_path / "victim.txt", env, Fault("claim")) == KILLED
    assert run_worker(argv, tmp_path / "survivor.txt", env, timeout=120) == 0
    text = (tmp_path / "survivor.txt").read_text()
    assert "waiting: 1 cell is running in other workers" in text
    assert "once its heartbeat is 3 s old ($W2V_STUDY_HEARTBEAT)" in text


# -- two grids on one study at once (issue 14, class 12) --------------------------------------
def test_second_local_grid_on_a_study_is_refused_and_each_cell_runs_once(tmp_path, corpus_file):
    """Two `study grid` processes on one study (no --storage) both trained every cell. Now the
    second stops at once with one line; the first runs each cell once."""
    argv = _shared_argv(tmp_path, corpus_file, "0.5,1.0", epochs=20)
    argv = argv[: argv.index("--storage")] + argv[argv.index("--storage") + 2 :]  # local
    env = env_for(tmp_path)
    first = Worker(argv, tmp_path / "first.txt", env)
    _wait_for(lambda: any(e == "start" for _, e, _ in read_log(tmp_path / "events.log")))
    assert run_worker(argv, tmp_path / "second.txt", env) == 2
    second = (tmp_path / "second.txt").read_text()
    [line] = [x for x in second.splitlines() if x.startswith("error:")]
    assert f"another local grid (pid {first.process.pid}) is running study 'si'" in line
    assert "--storage sqlite:///" in line and "Traceback" not in second
    assert first.wait(300) == 0, first.text()
    done = runs_completed(tmp_path / "events.log")
    assert len(done) == 2 and len(set(done)) == 2  # each cell trained once, by the first
    # shared workers and a local grid exclude each other too
    url = f"sqlite:///{tmp_path / 'grid.db'}"
    from study.run.runner import grid_lock
    from study.store.results import ResultStore

    store = ResultStore(tmp_path / "r" / "si")
    with grid_lock(store, shared=True):
        assert run_worker(argv, tmp_path / "third.txt", env) == 2
        assert (
            "workers of a shared grid (--storage) are running study 'si'"
            in (tmp_path / "third.txt").read_text()
        )
    with grid_lock(store, shared=False):
        assert run_worker([*argv, "--storage", url], tmp_path / "fourth.txt", env) == 2
        assert "(a shared grid cannot join a local one)" in (tmp_path / "fourth.txt").read_text()
    # the refused commands ran nothing, so study.json does not list them
    info = json.loads((tmp_path / "r" / "si" / "study.json").read_text())
    assert not any("--storage" in c for c in [info["command"], *info.get("earlier_commands", [])])


# -- --overwrite killed part-way: no run folder pairs files of two trainings (class 2) ----------
def _vectors_count(folder: Path) -> int:
    return int((folder / "vectors.bin").read_bytes().split(b"\n", 1)[0].split()[0])


@pytest.mark.parametrize(
    "point", ["epochs.csv", "vectors.bin", "output_vectors.bin", "items.npz", "metrics.json"]
)
def test_overwrite_killed_part_way_never_pairs_files_of_two_trainings(tmp_path, point):
    """`grid --overwrite` killed after the new vectors.bin replaced the old one left the old
    metrics.json beside it: the rerun skipped the run as done, its metrics belonging to other
    vectors. Now the old metrics.json goes first, so the killed run is unfinished and a plain
    rerun trains it."""
    from study.cli.app import main
    from study.store.results import RUN_OUTPUTS

    corpus = tmp_path / "c.txt"
    corpus.write_text(ws353_planted_text(seed=0))
    results = tmp_path / "r"
    assert main(_grid(results, corpus, "2")) == 0
    [run] = (results / "chg" / "runs").iterdir()
    old = json.loads((run / "metrics.json").read_text())
    corpus.write_text(ws353_planted_text(seed=1, group_size=4))  # the new training differs
    argv = _grid(results, corpus, "2", "--overwrite")
    env = env_for(tmp_path)
    started = time.time_ns()
    assert run_worker(argv, tmp_path / "out.txt", env, Fault(point)) == KILLED
    assert not (run / "metrics.json").exists()  # killed before its rename: unfinished
    left = [run / name for name in RUN_OUTPUTS if (run / name).exists()]
    assert all(p.stat().st_mtime_ns >= started for p in left)  # nothing of the old training
    assert run_worker(_grid(results, corpus, "2"), tmp_path / "out2.txt", env) == 0
    new = json.loads((run / "metrics.json").read_text())
    assert new["vocab_size"] == _vectors_count(run) != old["vocab_size"]
    assert new["corpus_fingerprint"] != old["corpus_fingerprint"]


def test_failed_rerun_keeps_no_files_of_the_earlier_training(tmp_path, capsys):
    """A run trained again that then fails (its corpus became too small) used to keep the old
    vectors.bin and epochs.csv beside its new 'failed' metrics.json."""
    from study.cli.app import main

    corpus = tmp_path / "c.txt"
    corpus.write_text(ws353_planted_text(seed=0))
    results = tmp_path / "r"
    assert main(_grid(results, corpus, "2")) == 0
    [run] = (results / "chg" / "runs").iterdir()
    assert (run / "vectors.bin").exists()
    corpus.write_text("\n".join(["solo"] * 50) + "\n")  # one word per line: cannot train
    assert main(_grid(results, corpus, "2", "--overwrite")) == 0
    assert json.loads((run / "metrics.json").read_text())["status"] == "failed"
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "metrics.json"]


@pytest.mark.slow  # real processes, 7-14 s: CI's slow step runs it (default suite < 5 min)
def test_every_result_file_is_fsynced_before_its_rename_in_a_real_process(tmp_path):
    """strace of a real `python -m study run`: each file of the run folder is fsynced under its
    temp name before the rename (vectors.bin was not)."""
    import os
    import re
    import shutil

    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    corpus = tmp_path / "c.txt"
    corpus.write_text(ws353_planted_text(seed=0))
    trace = tmp_path / "trace.txt"
    argv = ["run", "--study", "s", "--results", str(tmp_path / "r"), "--set",
            *_corpus_sets(corpus)]  # fmt: skip
    env = {**os.environ, "W2V_STUDY_DATA": str(tmp_path / "data")}
    result = subprocess.run(
        ["strace", "-f", "-y", "-qq", "-e", "trace=fsync,rename,renameat,renameat2", "-o",
         str(trace), sys.executable, "-m", "study", *argv],
        cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    if result.returncode != 0 and "ptrace" in result.stderr:
        pytest.skip("ptrace is not permitted here")
    assert result.returncode == 0, result.stderr
    synced: set[str] = set()
    renamed: dict[str, bool] = {}
    run_folder = next((tmp_path / "r" / "s" / "runs").iterdir())
    for line in trace.read_text().splitlines():
        if m := re.search(r"fsync\(\d+<([^>]+)>\)", line):
            synced.add(m.group(1))
        elif m := re.search(r'rename(?:at2?)?\(.*?"([^"]+)".*?"([^"]+)"', line):
            src, dst = m.groups()
            src = src if src.startswith("/") else str(run_folder / src)
            renamed[Path(dst).name if str(run_folder) in dst else dst] = src in synced
    for path in run_folder.iterdir():
        assert renamed.get(path.name), f"{path.name} was not fsynced before its rename"


def test_a_run_finished_by_another_worker_meanwhile_is_kept(tmp_path, corpus_file):
    """A shared-grid worker that claimed a duplicate entry while the cell was unfinished must
    not remove the record another worker has written since (it would count as unfinished,
    and a kill of this worker could lose the cell): replace=False keeps it, trains nothing."""
    config = grid_cells(corpus_file)[0]
    store = ResultStore(tmp_path / "s")
    first = execute_run(config, store, CorpusCache(str(tmp_path / "data")))
    before = {p.name: p.stat().st_mtime_ns for p in store.run_dir(config.run_id).iterdir()}
    again = execute_run(config, store, CorpusCache(str(tmp_path / "data")), replace=False)
    assert again["status"] == "done" and again["run_id"] == config.run_id
    assert again["metrics"]["ws353_spearman"] == first["metrics"]["ws353_spearman"]
    after = {p.name: p.stat().st_mtime_ns for p in store.run_dir(config.run_id).iterdir()}
    assert after == before  # nothing removed or rewritten
    execute_run(config, store, CorpusCache(str(tmp_path / "data")), replace=True)
    assert store.status(config.run_id) == "done"
