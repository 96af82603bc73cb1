"""A cell is one algorithm: the step each run used (kernel, negatives, device, CPU path) is in
the runs table, old records get what can be inferred, cells never pool two steps, and folders
stored under ids of fields a trainer ignores keep loading as their run."""

from __future__ import annotations

import json

import pytest
from synthetic_store import build_store

from study.analyze import inference
from study.analyze.analysis import cell_fields, cell_table
from study.cli.app import main
from study.core.config import RunConfig
from study.core.steps import step_label
from study.store.results import STATUS_DONE, ResultStore, load_table
from study.store.run_files import legacy_run_id


def done(trainer: dict | None = None, device: str | None = None) -> dict:
    provenance: dict = {}
    if trainer is not None:
        provenance["trainer"] = trainer
    if device is not None:
        provenance["device"] = device
    return {"status": "done", "provenance": provenance}


@pytest.mark.parametrize(
    ("config", "record", "label"),
    [
        (RunConfig(trainer="gensim"), done({"workers": 2}), "gensim/pair/cpu"),
        (RunConfig(trainer="gensim", model="cbow"), done(), "gensim/center/cpu"),
        (RunConfig(), done({"kernel": "torch", "device": "cpu", "neg_draw": "center",
                            "cpu_path": "threads"}), "torch/center/cpu/threads"),
        (RunConfig(neg_draw="pair"), done({"kernel": "triton", "device": "cuda",
                                           "neg_draw": "pair", "programs": 9}),
         "triton/pair/cuda"),
        (RunConfig(), done({"kernel": "torch", "device": "cpu", "neg_draw": "center",
                            "cpu_path": "processes", "worker_row_cap": 0.875}),
         "torch/center/cpu/processes"),
        # worker processes that split the step evenly (no row cap recorded): another algorithm
        (RunConfig(), done({"kernel": "torch", "device": "cpu", "neg_draw": "center",
                            "cpu_path": "processes", "worker_batch_size": 512}),
         "torch/center/cpu/processes-split"),
        (RunConfig(objective="softmax"), done({"kernel": "torch", "device": "cuda"}),
         "torch/softmax/cuda"),
        # before the worker processes, every torch run on the CPU took the threads path
        (RunConfig(), done({"kernel": "torch", "device": "cpu", "neg_draw": "center"}),
         "torch/center/cpu/threads"),
        # recorded before neg_draw and device were: from the kernel and provenance.device
        (RunConfig(neg_draw="pair"), done({"kernel": "triton", "programs": 4},
                                          "cuda: NVIDIA H200"), "triton/pair/cuda"),
        (RunConfig(model="cbow"), done({"kernel": "triton"}, "cuda: NVIDIA H200"),
         "triton/center/cuda"),
        # before the Triton kernels existed every torch run took the torch step
        (RunConfig(), done({"cpu_threads": 2}, "cpu: x86_64 (2 cores)"),
         "torch/center/cpu/threads"),
        (RunConfig(), done(), "torch/center/unknown"),
        (RunConfig(), {"status": "failed"}, "unknown/unknown/unknown"),
        (RunConfig(), done({"kernel": 7, "device": "gpu\n"}), "torch/center/unknown"),
    ],
)  # fmt: skip
def test_step_labels(config, record, label):
    assert step_label(config, record) == label


def set_trainer_info(store: ResultStore, run_id: str, info: dict) -> None:
    path = store.run_dir(run_id) / "metrics.json"
    record = json.loads(path.read_text())
    record.setdefault("provenance", {})["trainer"] = info
    path.write_text(json.dumps(record))


CPU = {
    "kernel": "torch",
    "device": "cpu",
    "neg_draw": "center",
    "cpu_path": "processes",
    "worker_row_cap": 0.875,
}
GPU = {"kernel": "triton", "device": "cuda", "neg_draw": "center"}


@pytest.fixture
def mixed(tmp_path):
    """torch seeds 0, 1 on a CPU (the torch step), seed 2 on a GPU (kernel=auto took Triton):
    one config, two algorithms."""
    store = build_store(tmp_path, seeds=3)
    runs, _ = load_table(store, save=False)
    for row in runs.itertuples():
        info = {"kernel": "gensim"} if row.trainer == "gensim" else (GPU if row.seed == 2 else CPU)
        set_trainer_info(store, row.run_id, info)
    return store


def test_runs_of_two_steps_never_share_a_cell(mixed):
    runs, _ = load_table(mixed, save=False)
    assert set(runs["step"]) == {
        "torch/center/cpu/processes",
        "triton/center/cuda",
        "gensim/pair/cpu",
    }
    assert cell_fields(runs) == ["trainer", "step", "alpha"]
    table = cell_table(runs, ["analogy_acc"])
    torch_cells = table[table["trainer"] == "torch"]
    assert len(torch_cells) == 4 and set(torch_cells["n"]) == {2, 1}
    items = inference.StudyItems(mixed, runs, n_resamples=200)
    best, _, others = inference.best_and_ties(items, runs, "analogy_acc", "torch")
    assert best["step"] == "torch/center/cpu/processes" and len(others) == 3
    # each torch cell is compared with gensim's one cell at its alpha
    pairs = inference.trainer_comparison(items, runs, ["analogy_acc"])
    assert sorted((p.cell["step"], p.difference.n_seeds) for p in pairs) == [
        ("torch/center/cpu/processes", 2), ("torch/center/cpu/processes", 2),
        ("triton/center/cuda", 1), ("triton/center/cuda", 1)]  # fmt: skip
    assert {p.outcome for p in pairs if p.cell["step"].startswith("triton")} == {
        "inconclusive — one seed"
    }


def test_the_threads_and_processes_cpu_paths_never_share_a_cell(tmp_path):
    """Both are the torch step on the CPU, but Hogwild workers and one process's batched steps
    are two algorithms: a study resumed after the worker processes came keeps them apart."""
    store = build_store(tmp_path, seeds=2, trainers=("torch",))
    runs, _ = load_table(store, save=False)
    threads = {**CPU, "cpu_path": "threads"}
    for row in runs.itertuples():
        set_trainer_info(store, row.run_id, threads if row.seed == 0 else CPU)
    runs, _ = load_table(store, save=False)
    assert set(runs["step"]) == {"torch/center/cpu/threads", "torch/center/cpu/processes"}
    table = cell_table(runs, ["analogy_acc"])
    assert len(table) == 4 and set(table["n"]) == {1}


def test_compare_selects_a_step(mixed, capsys):
    root = str(mixed.root)
    cpu, gpu = "step=torch/center/cpu/processes", "step=triton/center/cuda"
    assert main(["compare", root, "--where", "trainer=torch", "--a", "alpha=0.5",
                 "--b", "alpha=1"]) == 2  # fmt: skip
    assert "pin the others with --where" in capsys.readouterr().err  # two steps per side
    assert main(["compare", root, "--where", "trainer=torch", cpu, "--a", "alpha=0.5",
                 "--b", "alpha=1"]) == 0  # fmt: skip
    assert "over the seeds both finished: 0, 1;" in capsys.readouterr().out
    assert main(["compare", root, "--where", "trainer=torch", "alpha=0.5", "--a", cpu,
                 "--b", gpu]) == 2  # fmt: skip
    assert "A and B have no seed in common" in capsys.readouterr().err


def test_one_step_per_trainer_adds_no_cell_field(tmp_path):
    store = build_store(tmp_path, seeds=2)
    runs, _ = load_table(store, save=False)
    assert "step" in runs and cell_fields(runs) == ["trainer", "alpha"]
    assert set(runs.loc[runs["trainer"] == "gensim", "neg_draw"]) == {"pair"}


def test_folders_of_ignored_field_values_keep_loading_as_one_run(tmp_path):
    """Before this, gensim with programs=4 (or kernel=torch) was another run id for the same
    training. Such folders load under their old ids, and one config is one run."""
    store = ResultStore(tmp_path / "old")
    base = RunConfig(trainer="gensim", epochs=1)
    old_values = [{**base.to_dict(), "programs": 4, "neg_draw": "center"},
                  {**base.to_dict(), "kernel": "torch", "neg_draw": "center"}]  # fmt: skip
    for values in old_values:
        run_id = legacy_run_id(values)  # what the folder was called
        assert run_id != base.run_id
        folder = store.run_dir(run_id)
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps(values))
        record = {"status": STATUS_DONE, "run_id": run_id, "metrics": {"analogy_acc": 0.3}}
        (folder / "metrics.json").write_text(json.dumps(record))
    runs, _ = load_table(store, save=False)
    assert len(runs) == 1 and runs["run_id"].iloc[0] in {legacy_run_id(v) for v in old_values}
    assert runs["neg_draw"].iloc[0] == "pair" and runs["programs"].iloc[0] == 0
    assert store.read_run(legacy_run_id(old_values[0])) is not None  # its folder still reads
    # the current id, once trained, is the one the table keeps
    store.start_run(base)
    store.finish_run(base, {"status": STATUS_DONE, "metrics": {"analogy_acc": 0.31}})
    runs, _ = load_table(store, save=False)
    assert list(runs["run_id"]) == [base.run_id]
