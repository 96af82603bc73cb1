"""Four grid workers on one PostgreSQL-backed Optuna study (a real server on loopback)."""

import os
import subprocess
import sys

import optuna
import pytest
from pg_server import postgres_bin, postgres_server

from study.run.shared_grid import SKIPPED_ATTR
from study.store.results import load_table

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def postgres_url():
    if postgres_bin() is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's postgresql package for the postgres tests")
        pytest.skip("PostgreSQL server binaries not installed")
    with postgres_server() as url:
        yield url


def test_four_workers_share_one_postgres_grid(tmp_path, planted_corpus_file, postgres_url):
    results = tmp_path / "results"
    sets = [
        "dim=16",
        "epochs=2",
        "min_count=2",
        "workers=1",
        "probe_pairs=256",
        "device=cpu",
        f"corpus={planted_corpus_file}",
    ]
    command = [
        sys.executable,
        "-m",
        "study",
        "grid",
        "--study",
        "pg",
        "--results",
        str(results),
        "--grid",
        "alpha=0.0,0.5,0.75,1.0",
        "window=2,3",
        "--trainers",
        "torch,gensim",
        "--storage",
        postgres_url,
        "--set",
        *sets,
    ]
    env = {**os.environ, "W2V_STUDY_HEARTBEAT": "1,10"}
    workers = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=900)
        assert worker.returncode == 0, err
    runs, epochs = load_table(results / "pg")
    assert len(runs) == 16 and runs["run_id"].is_unique and set(runs["status"]) == {"done"}
    assert len(epochs) == 16 * 2
    trials = optuna.load_study(study_name="pg", storage=postgres_url).get_trials()
    # every cell trained by exactly one trial (duplicate queue entries are closed untrained)
    trained = [t.user_attrs["run_id"] for t in trials if SKIPPED_ATTR not in t.user_attrs]
    assert sorted(trained) == sorted(runs["run_id"])
    assert {t.state.name for t in trials} == {"COMPLETE"}
