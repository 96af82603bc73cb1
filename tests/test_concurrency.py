"""Concurrency: four worker processes on one SQLite grid, two writers of the same run id, atomic
writes under concurrent writers and a reader. (Four workers on PostgreSQL: test_postgres.py.)"""

from __future__ import annotations

import json
import os
import stat
from collections import Counter
from pathlib import Path

import optuna
import pytest
from fault_inject import (
    Fault,
    Worker,
    assert_same_results,
    assert_store_consistent,
    hammer,
    read_log,
    runs_completed,
    start_process,
    ws353_planted_text,
)
from tiny_run import FAST as TINY

from study.core.atomic import FILE_MODE
from study.core.config import RunConfig
from study.run.grid import GridSpec
from study.run.runner import CorpusCache, execute_run
from study.run.shared_grid import SKIPPED_ATTR
from study.store.results import ResultStore, load_table

FAST = {k: v for k, v in TINY.items() if k != "window"}  # the grids here sweep window


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "ws353_planted.txt"
    path.write_text(ws353_planted_text())
    return path


def shared_grid_argv(results: Path, corpus: Path, url: str) -> list[str]:
    sets = [f"{k}={v}" for k, v in {**FAST, "corpus": corpus}.items()]
    return [
        "grid",
        "--study",
        "four",
        "--results",
        str(results),
        "--grid",
        "alpha=0.25,0.75",
        "window=2,3",
        "--trainers",
        "torch,gensim",
        "--storage",
        url,
        "--set",
        *sets,
    ]


@pytest.mark.slow  # real processes, 7-14 s: CI's slow step runs it (default suite < 5 min)
def test_four_workers_on_one_sqlite_grid_run_each_cell_once(tmp_path, corpus_file):
    url = f"sqlite:///{tmp_path / 'grid.db'}"
    argv = shared_grid_argv(tmp_path / "results", corpus_file, url)
    env = {
        "W2V_STUDY_DATA": str(tmp_path / "data"),
        "W2V_STUDY_HEARTBEAT": "1,10",
        "W2V_FAULT_LOG": str(tmp_path / "events.log"),
    }
    workers = [Worker(argv, tmp_path / f"w{i}.txt", env) for i in range(4)]
    for worker in workers:
        assert worker.wait(300) == 0, worker.text()

    spec = GridSpec(
        axes={"alpha": [0.25, 0.75], "window": [2, 3]},
        trainers=["torch", "gensim"],
        fixed={**FAST, "corpus": str(corpus_file)},
    )
    cells = {c.run_id for c in spec.cells()}
    assert len(cells) == 8
    study = tmp_path / "results" / "four"
    assert assert_store_consistent(study, cells) == cells
    completed = runs_completed(tmp_path / "events.log")
    assert sorted(completed) == sorted(cells)  # no cell lost, none trained twice
    runners = Counter(pid for pid, event, _ in read_log(tmp_path / "events.log") if event == "end")
    assert len(runners) >= 2, runners  # the work was shared
    trials = optuna.load_study(study_name="four", storage=url).get_trials()
    assert {t.state.name for t in trials} == {"COMPLETE"}
    # each cell trained by exactly one trial (duplicate queue entries are closed untrained)
    trained = [t.user_attrs["run_id"] for t in trials if SKIPPED_ATTR not in t.user_attrs]
    assert sorted(trained) == sorted(cells)
    runs, epochs = load_table(study, save=False)
    assert set(runs["status"]) == {"done"} and len(epochs) == 8 * FAST["epochs"]


def test_two_writers_of_the_same_run_id(tmp_path, corpus_file):
    """Two processes run the same config into one store at the same time, three times over:
    both succeed, the files are whole, and the result equals a single writer's."""
    sets = [f"{k}={v}" for k, v in {**FAST, "corpus": corpus_file}.items()]
    env = {"W2V_STUDY_DATA": str(tmp_path / "data")}
    config = RunConfig().with_overrides({**FAST, "corpus": str(corpus_file)})
    single = ResultStore(tmp_path / "single" / "scratch")
    execute_run(config, single, CorpusCache(str(tmp_path / "data")))
    for trainer in ("torch", "gensim", "torch"):
        argv = ["run", "--results", str(tmp_path / "shared"), "--trainer", trainer, "--set", *sets]
        writers = [Worker(argv, tmp_path / f"w{i}.txt", env) for i in range(2)]
        for writer in writers:
            assert writer.wait(120) == 0, writer.text()
    study = tmp_path / "shared" / "scratch"
    gensim_id = config.with_overrides({"trainer": "gensim"}).run_id
    assert assert_store_consistent(study, {config.run_id, gensim_id}) == {config.run_id, gensim_id}
    leftovers = [p.name for p in study.rglob(".*")]
    assert leftovers == []  # writers that finish remove their temp files
    (study / "runs" / gensim_id).rename(tmp_path / "gensim")  # compare the torch run alone
    assert_same_results(study, single.root)


def test_atomic_writes_with_two_writers_and_a_reader(tmp_path):
    """A reader never sees a torn or mixed file while two processes replace it 150 times each."""
    path = tmp_path / "metrics.json"
    writers = [start_process(hammer, str(path), tag, 150) for tag in (1, 2)]
    seen: Counter[int] = Counter()
    while any(w.is_alive() for w in writers) or not seen:
        try:
            text = path.read_text()
        except FileNotFoundError:
            continue
        payload = json.loads(text)  # a partial file would fail here
        assert len(payload["pad"]) == 20_000 + 1_000 * payload["tag"]
        seen[payload["tag"]] += 1
    for writer in writers:
        writer.join()
        assert writer.exitcode == 0
    assert json.loads(path.read_text())["i"] == 149
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temp file left
    assert sum(seen.values()) > 10


def test_result_files_are_readable_by_other_users(tmp_path, corpus_file):
    """Temp files are created 0600; the renamed result files get the umask's usual mode."""
    config = RunConfig().with_overrides({**FAST, "corpus": str(corpus_file), "trainer": "gensim"})
    store = ResultStore(tmp_path / "s")
    execute_run(config, store, CorpusCache(str(tmp_path / "data")))
    load_table(store)
    files = [p for p in store.root.rglob("*") if p.is_file()]
    assert len(files) == 7  # runs.csv and epochs.csv of the study, the run's five files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == FILE_MODE, path


@pytest.mark.postgres
def test_killed_worker_on_postgres_is_retried(tmp_path, corpus_file):
    """The kill-and-retry path on a real PostgreSQL server (row locks instead of a file lock)."""
    from pg_server import postgres_bin, postgres_server

    if postgres_bin() is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's postgresql package for the postgres tests")
        pytest.skip("PostgreSQL server binaries not installed")
    with postgres_server() as url:
        argv = shared_grid_argv(tmp_path / "results", corpus_file, url)
        env = {
            "W2V_STUDY_DATA": str(tmp_path / "data"),
            "W2V_STUDY_HEARTBEAT": "1,3",
            "W2V_FAULT_LOG": str(tmp_path / "events.log"),
        }
        # Victims first and alone, each killed at its first claim (deterministic: started
        # together with the survivors, a victim could find every cell already taken).
        victims = [Worker(argv, tmp_path / f"v{i}.txt", env, Fault("claim", 1)) for i in range(2)]
        for victim in victims:
            assert victim.wait(300) == -9, victim.text()
        survivors = [Worker(argv, tmp_path / f"s{i}.txt", env) for i in range(2)]
        for survivor in survivors:
            assert survivor.wait(300) == 0, survivor.text()
        trials = optuna.load_study(study_name="four", storage=url).get_trials()
    states = Counter(t.state.name for t in trials)
    assert states == {"COMPLETE": 8, "FAIL": 2}, states
    complete = [t.user_attrs["run_id"] for t in trials if t.state.name == "COMPLETE"]
    assert len(set(complete)) == 8
    assert sorted(runs_completed(tmp_path / "events.log")) == sorted(complete)
    assert assert_store_consistent(tmp_path / "results" / "four", set(complete)) == set(complete)
