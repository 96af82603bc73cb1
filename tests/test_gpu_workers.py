"""One shared-grid worker per GPU (`study grid --gpus`), tested on the CPU: the device
assignment from fake device lists (`CUDA_VISIBLE_DEVICES`), the launcher's children, their
output and exit codes, and (slow) a whole grid split over two "GPUs", killed and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from test_cpu_processes import descendants

from study.cli.app import main
from study.core.errors import ConfigError
from study.run.gpu_workers import assign_gpus, run_per_gpu, visible_gpus, worker_argv
from study.run.shared_grid import SKIPPED_ATTR


def test_visible_gpus_follow_cuda_visible_devices() -> None:
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2, 3"}) == ["2", "3"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "GPU-8f1e,GPU-77aa"}) == ["GPU-8f1e", "GPU-77aa"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == []


def test_assign_gpus_all_or_numbers_as_torch_counts_them() -> None:
    visible = ["4", "5", "6", "7"]
    assert assign_gpus("all", visible) == visible
    assert assign_gpus("0,1,3", visible) == ["4", "5", "7"]  # cuda:N → the Nth visible GPU
    assert assign_gpus(" 2 ", visible) == ["6"]
    for spec, message in [
        ("4", r"no GPU 4 \(visible: 4 GPUs, 4, 5, 6, 7\)"),
        ("1,1", "twice"),
        ("0,x", "'all' or device numbers"),
        ("", "'all' or device numbers"),
    ]:
        with pytest.raises(ConfigError, match=message):
            assign_gpus(spec, visible)
    with pytest.raises(ConfigError, match="no GPU is visible"):
        assign_gpus("all", [])


def test_worker_argv_drops_gpus_and_adds_the_storage() -> None:
    argv = ["--data-dir", "d", "grid", "--gpus", "all", "--seeds", "0,1", "--gpus=0"]
    assert worker_argv(argv, "sqlite:///s.db") == [
        "--data-dir", "d", "grid", "--seeds", "0,1", "--storage", "sqlite:///s.db",
    ]  # fmt: skip
    given = ["grid", "--storage", "postgresql://h/db", "--gpus", "0,1"]
    assert worker_argv(given, "sqlite:///s.db") == ["grid", "--storage", "postgresql://h/db"]


def test_each_child_sees_only_its_device_and_its_output_is_labelled(capsys) -> None:  # noqa: ANN001
    child = (
        "import os, sys\n"
        "device = os.environ['CUDA_VISIBLE_DEVICES']\n"
        "print('training on', device, flush=True)\n"
        "sys.stdout.write('bar 10%\\rbar 100%\\n')\n"
        "sys.exit(3 if device == 'GPU-b' else 0)\n"
    )
    code = run_per_gpu([sys.executable, "-c", child], ["0", "GPU-b"])
    out = capsys.readouterr().out.splitlines()
    assert code == 3  # the failing child's code
    assert sorted(out) == sorted([
        "[gpu 0] training on 0", "[gpu 0] bar 10%", "[gpu 0] bar 100%",
        "[gpu GPU-b] training on GPU-b", "[gpu GPU-b] bar 10%", "[gpu GPU-b] bar 100%",
    ])  # fmt: skip
    assert run_per_gpu([sys.executable, "-c", "pass"], ["1", "2"]) == 0


def test_grid_gpus_errors_are_one_line(tmp_path: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    base = ["grid", "--results", str(tmp_path), "--grid", "alpha=0.5,1.0"]
    assert main([*base, "--gpus", "5"]) == 2
    assert capsys.readouterr().err == "error: --gpus 5: no GPU 5 (visible: 2 GPUs, 0, 1)\n"
    assert main([*base, "--gpus", "all", "--set", "device=cpu"]) == 2
    assert "every cell trains on the CPU" in capsys.readouterr().err
    assert not (tmp_path / "grid").exists()  # refused before anything was written


# -- a whole grid over two fake GPUs (slow: three interpreters) -----------------------------------
def grid_command(results: Path, corpus: Path) -> list[str]:
    # 600 epochs of the planted corpus: a cell trains for seconds, longer than the launcher's
    # grace after SIGTERM (GRACE_SECONDS), so the stop always lands inside the grid (with 3
    # epochs a worker finished the whole grid within the grace on a fast CI machine).
    return [sys.executable, "-m", "study", "grid", "--study", "gpus", "--results", str(results),
            "--gpus", "all", "--grid", "alpha=0.5,1.0", "window=2,3", "--set",
            f"corpus={corpus}", "dim=16", "epochs=600", "min_count=1", "workers=1",
            "probe_pairs=256"]  # fmt: skip


def run_ids_by_device(study: Path) -> dict[str, str]:
    out = {}
    for metrics in study.glob("runs/*/metrics.json"):
        record = json.loads(metrics.read_text())
        if record["status"] == "done":
            out[metrics.parent.name] = record["provenance"]["cuda_visible_devices"]
    return out


@pytest.mark.slow
def test_two_gpu_workers_share_a_grid_and_resume_after_sigterm(
    tmp_path: Path, planted_corpus_file: Path
) -> None:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "0,1", "W2V_STUDY_DATA": str(tmp_path / "d"),
           "W2V_STUDY_HEARTBEAT": "1,5"}  # fmt: skip
    command = grid_command(tmp_path / "results", planted_corpus_file)
    study = tmp_path / "results" / "gpus"
    launcher = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not run_ids_by_device(study) and time.monotonic() < deadline:
        assert launcher.poll() is None, launcher.communicate()
        time.sleep(0.2)
    children = [pid for pid, depth in descendants(launcher.pid).items() if depth == 1]
    assert len(children) == 2
    launcher.send_signal(signal.SIGTERM)  # as a batch system stops a job
    out, err = launcher.communicate(timeout=120)
    assert launcher.returncode == 130, (out, err)
    for pid in children:
        assert not Path(f"/proc/{pid}").exists(), "a GPU worker outlived the launcher"
    first = run_ids_by_device(study)
    assert 0 < len(first) < 4
    records = {rid: (study / "runs" / rid / "metrics.json").read_bytes() for rid in first}

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr + rerun.stdout
    assert "4 runs: 4 done" in rerun.stdout
    devices = run_ids_by_device(study)
    assert len(devices) == 4 and set(devices.values()) <= {"0", "1"}
    assert {line.split("]")[0] for line in rerun.stdout.splitlines() if line.startswith("[gpu")} \
        == {"[gpu 0", "[gpu 1"}  # fmt: skip
    info = json.loads((study / "study.json").read_text())  # the user's command, once
    assert "--gpus all" in info["command"] and "earlier_commands" not in info, info
    for rid, record in records.items():  # runs finished before the stop are kept, not redone
        assert (study / "runs" / rid / "metrics.json").read_bytes() == record
    trials = optuna.load_study(study_name="gpus", storage=f"sqlite:///{study / 'optuna.db'}")
    complete = [t for t in trials.get_trials() if t.state.name == "COMPLETE"]
    assert {t.user_attrs["run_id"] for t in complete} == set(devices)
    trained = Counter(t.user_attrs["run_id"] for t in complete if SKIPPED_ATTR not in t.user_attrs)
    assert set(trained.values()) == {1}  # a trial stopped after its run finished is skipped later
