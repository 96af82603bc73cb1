"""Grids: tables, resume after crashes, failed runs, provenance, shared workers on SQLite."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_run import FAST

import study.run.runner as runner
from study.run.grid import GridSpec, build_spec
from study.run.runner import run_grid
from study.run.shared_grid import SKIPPED_ATTR
from study.store.results import ResultStore, load_table


def spec_for(corpus: Path, **fixed) -> GridSpec:
    return GridSpec(
        axes={"alpha": [0.5, 1.0]},
        trainers=["torch", "gensim"],
        seeds=[0],
        fixed={**FAST, "corpus": str(corpus), **fixed},
    )


def test_grid_produces_tables_with_provenance(tmp_path, planted_corpus_file):
    store = ResultStore(tmp_path / "study")
    cells = spec_for(planted_corpus_file).cells()
    assert len(cells) == 4
    counts = run_grid(cells, store, progress=False)
    assert counts == {"skipped": 0, "done": 4, "failed": 0}
    runs, epochs = load_table(store, save=True)  # save: also write the tables
    assert sorted(runs["run_id"]) == sorted(c.run_id for c in cells)
    assert set(runs["status"]) == {"done"} and set(runs["cores"]) == {1.0}
    assert set(runs["trainer"]) == {"torch", "gensim"} and set(runs["alpha"]) == {0.5, 1.0}
    assert len(epochs) == 4 * FAST["epochs"]
    for column in [
        "loss",
        "probe_loss",
        "probe_loss_ref",
        "grad_v_norm",
        "grad_c_norm",
        "grad_n_norm",
        "lr",
        "seconds",
        "words",
    ]:
        assert epochs[column].notna().all(), column
    for name in ("runs.csv", "epochs.csv", "runs.parquet", "epochs.parquet"):
        assert (store.root / name).exists(), name
    for config in cells:
        metrics = json.loads((store.run_dir(config.run_id) / "metrics.json").read_text())
        prov = metrics["provenance"]
        assert prov["git_revision"] is None or len(prov["git_revision"]) == 40
        assert isinstance(prov["git_dirty"], bool | None)
        assert prov["versions"]["torch"] and prov["versions"]["gensim"]
        assert prov["versions"]["numpy"] and prov["python"]
        assert prov["device"].startswith("cpu")
        assert prov["seeds"] == {"seed": config.seed, "probe_seed": config.probe_seed}
        assert prov["date"].startswith("20")
        # the CPU threads it trained with (FAST: workers=1), also the runs table's `cores`
        assert prov["trainer"]["cpu_threads" if config.trainer == "torch" else "workers"] == 1
        assert (store.run_dir(config.run_id) / "vectors.bin").stat().st_size > 0


def test_resume_after_crash_between_runs_and_inside_a_run(
    tmp_path, planted_corpus_file, monkeypatch
):
    store = ResultStore(tmp_path / "study")
    cells = spec_for(planted_corpus_file).cells()
    real = runner.execute_run
    calls = []

    def crash_on_third(config, *args, **kwargs):
        calls.append(config.run_id)
        if len(calls) == 3:
            # die in the middle of the run: the folder and its config exist, no metrics.json
            store.start_run(config)
            store.write_epochs(config.run_id, [{"epoch": 1, "loss": 1.0}])
            raise KeyboardInterrupt
        return real(config, *args, **kwargs)

    monkeypatch.setattr(runner, "execute_run", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        run_grid(cells, store, progress=False)
    finished = {
        r.config.run_id: (store.run_dir(r.config.run_id) / "metrics.json").stat().st_mtime_ns
        for r in store.finished_runs()
    }
    assert len(finished) == 2  # the half-done third run is not read as done
    runs, _ = load_table(store)
    assert len(runs) == 2

    monkeypatch.setattr(runner, "execute_run", real)
    rerun = []
    monkeypatch.setattr(
        runner, "execute_run", lambda c, *a, **k: rerun.append(c.run_id) or real(c, *a, **k)
    )
    counts = run_grid(cells, store, progress=False)
    assert counts["skipped"] == 2 and counts["done"] == 2
    assert set(rerun) == {c.run_id for c in cells} - set(finished)  # nothing finished reruns
    for run_id, mtime in finished.items():
        assert (store.run_dir(run_id) / "metrics.json").stat().st_mtime_ns == mtime
    runs, epochs = load_table(store)
    assert len(runs) == 4 and runs["run_id"].is_unique
    assert len(epochs) == 4 * FAST["epochs"]


def test_diverging_run_is_recorded_failed_and_grid_goes_on(tmp_path, planted_corpus_file):
    store = ResultStore(tmp_path / "study")
    spec = GridSpec(
        axes={"lr_start": [0.025, 1000.0]},
        trainers=["torch"],
        fixed={**FAST, "corpus": str(planted_corpus_file)},
    )
    counts = run_grid(spec.cells(), store, progress=False)
    assert counts == {"skipped": 0, "done": 1, "failed": 1}
    runs, _ = load_table(store)
    failed = runs[runs["status"] == "failed"].iloc[0]
    assert failed["lr_start"] == 1000.0 and "diverged" in failed["error"]
    # failed runs are not rerun by default, only with retry_failed
    assert run_grid(spec.cells(), store, progress=False)["skipped"] == 2
    assert run_grid(spec.cells(), store, retry_failed=True, progress=False)["failed"] == 1


def test_overwrite_reruns_everything(tmp_path, planted_corpus_file):
    store = ResultStore(tmp_path / "study")
    cells = spec_for(planted_corpus_file).cells()[:1]
    run_grid(cells, store, progress=False)
    assert run_grid(cells, store, progress=False)["skipped"] == 1
    assert run_grid(cells, store, overwrite=True, progress=False)["done"] == 1


def test_grid_spec_from_cli_pieces():
    spec = build_spec("alpha-study", ["window=2,5"], "torch", "0,1", {"epochs": 3, "alpha": 0.75})
    cells = spec.cells()
    assert len(cells) == 2 * 2  # alpha fixed by --set, window axis × seeds
    assert {c.window for c in cells} == {2, 5} and {c.alpha for c in cells} == {0.75}
    assert all(c.dim == 300 and c.negative == 10 and c.epochs == 3 for c in cells)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--grid", "alpha="], "empty list"),
        (["--grid", "alpah=0.5"], "unknown config key 'alpah'"),
        (["--grid", "alpha=0.5,3"], "alpha=3.0 is out of range"),
        (["--seeds", ","], "--seeds is an empty list"),
        (["--preset", "nope"], "invalid choice"),
    ],
)
def test_grid_cli_errors(args, message, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "study", "grid", "--results", str(tmp_path), *args],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_two_workers_share_one_sqlite_grid(tmp_path, planted_corpus_file):
    results = tmp_path / "results"
    db = tmp_path / "shared.db"
    fixed = {k: v for k, v in FAST.items() if k != "window"}  # window is a grid axis here
    sets = [f"{k}={v}" for k, v in {**fixed, "corpus": str(planted_corpus_file)}.items()]
    command = [
        sys.executable,
        "-m",
        "study",
        "grid",
        "--study",
        "shared",
        "--results",
        str(results),
        "--grid",
        "alpha=0.25,0.5,0.75,1.0",
        "window=2,3",
        "--trainers",
        "torch",
        "--storage",
        f"sqlite:///{db}",
        "--set",
        *sets,
    ]
    env = {**os.environ, "W2V_STUDY_HEARTBEAT": "1,10"}
    workers = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=600) for w in workers]
    for worker, (_out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    runs, _ = load_table(results / "shared")
    assert len(runs) == 8 and runs["run_id"].is_unique and set(runs["status"]) == {"done"}

    import optuna

    trials = optuna.load_study(study_name="shared", storage=f"sqlite:///{db}").get_trials()
    assert {t.state.name for t in trials} == {"COMPLETE"}
    # Each cell was trained by exactly one trial; a duplicate queue entry (possible when a
    # worker takes a slow enqueuer for a dead one) is closed without training.
    trained = [t.user_attrs["run_id"] for t in trials if SKIPPED_ATTR not in t.user_attrs]
    assert sorted(trained) == sorted(runs["run_id"])
    # what optuna-dashboard lists and shows: the grid's study only (its lock studies are
    # deleted), a named value, and the metrics of each trained cell
    storage = f"sqlite:///{db}"
    assert optuna.get_all_study_names(storage) == ["shared"]
    assert optuna.load_study(study_name="shared", storage=storage).metric_names == ["run_finished"]
    by_id = runs.set_index("run_id")
    for trial in trials:
        if SKIPPED_ATTR not in trial.user_attrs:
            row = by_id.loc[trial.user_attrs["run_id"]]
            assert trial.user_attrs["ws353_coverage"] == pytest.approx(row["ws353_coverage"])
            assert trial.user_attrs["train_seconds"] == pytest.approx(row["train_seconds"])


def test_a_finished_cell_without_a_complete_trial_is_closed_as_skipped(
    tmp_path, planted_corpus_file
):
    """A worker killed after its run finished, once the trial's retries are used up, leaves
    no COMPLETE trial and nothing queues the cell again (the store has it done): the next
    worker records it as a skipped COMPLETE trial, without training it again."""
    import optuna

    from study.cli.app import main

    fixed = {k: v for k, v in FAST.items() if k != "window"}
    sets = [f"{k}={v}" for k, v in {**fixed, "corpus": str(planted_corpus_file)}.items()]
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    argv = ["grid", "--study", "s", "--results", str(tmp_path / "results"), "--grid",
            "window=2,3", "--trainers", "torch", "--storage", url, "--set", *sets]  # fmt: skip
    assert main(argv) == 0
    records = sorted((tmp_path / "results" / "s" / "runs").glob("*/metrics.json"))
    assert len(records) == 2
    before = [r.read_bytes() for r in records]
    (tmp_path / "shared.db").unlink()  # the study no longer knows the cells finished
    assert main(argv) == 0
    trials = optuna.load_study(study_name="s", storage=url).get_trials()
    assert sorted(t.user_attrs["run_id"] for t in trials) == sorted(r.parent.name for r in records)
    assert {t.state.name for t in trials} == {"COMPLETE"}
    assert all(t.user_attrs[SKIPPED_ATTR] for t in trials)
    assert [r.read_bytes() for r in records] == before  # nothing trained again
