"""The typed run record (metrics.json): what writers may write and what readers accept."""

from __future__ import annotations

import json

import pytest

from study.core.config import RunConfig
from study.store.results import (
    SCHEMA_VERSION,
    STATUS_DONE,
    STATUS_FAILED,
    STATUSES,
    ResultStore,
    RunResult,
    load_table,
)


def test_finish_run_adds_id_and_schema_and_reads_back(tmp_path):
    store = ResultStore(tmp_path)
    config = RunConfig(epochs=1)
    store.start_run(config)
    result: RunResult = {"status": STATUS_DONE, "metrics": {"ws353_spearman": 0.5}, "seconds": 2.0}
    store.finish_run(config, result)
    back = store.read_metrics(config.run_id)
    assert back == {**result, "run_id": config.run_id, "schema_version": SCHEMA_VERSION}
    assert store.status(config.run_id) == STATUS_DONE
    [record] = store.finished_runs()
    assert record.status == STATUS_DONE and record.config == config
    runs, _ = load_table(store, save=False)
    assert runs.loc[0, "ws353_spearman"] == 0.5 and runs.loc[0, "seconds"] == 2.0


def test_statuses_are_the_three_documented_ones():
    assert STATUSES == ("done", "failed", "pruned")


def test_finish_run_rejects_an_unknown_status(tmp_path):
    with pytest.raises(ValueError, match="bad run status"):
        ResultStore(tmp_path).finish_run(RunConfig(), {"status": "finished"})  # type: ignore[typeddict-item]


@pytest.mark.parametrize("content", ['{"status": "finished"}', "[1, 2]", "{not json"])
def test_a_damaged_metrics_file_is_one_warning_and_the_run_unfinished(tmp_path, caplog, content):
    store = ResultStore(tmp_path)
    config = RunConfig()
    store.start_run(config)
    (store.run_dir(config.run_id) / "metrics.json").write_text(content)
    with caplog.at_level("WARNING", logger="study.store.results"):
        assert store.read_metrics(config.run_id) is None
        assert store.status(config.run_id) is None
    [message] = [r.getMessage() for r in caplog.records]  # once, however often it is read
    assert "damaged study file" in message and "metrics.json" in message
    assert "counts as not finished" in message


def test_an_unfinished_run_has_no_status(tmp_path):
    store = ResultStore(tmp_path)
    config = RunConfig()
    store.start_run(config)
    assert store.status(config.run_id) is None
    store.finish_run(config, {"status": STATUS_FAILED, "error": "DivergenceError: nan"})
    assert json.loads((store.run_dir(config.run_id) / "metrics.json").read_text())["error"]


def test_a_run_folder_from_before_float_normalisation_keeps_its_run(tmp_path):
    """alpha=-0.0 had its own run id; now it is alpha=0.0's. Its folder still reads as that
    finished run (under its old id), and a folder of the new id supersedes it in tables."""
    import json

    store = ResultStore(tmp_path)
    config = RunConfig(alpha=0.0)
    raw = {**config.to_dict(), "alpha": -0.0}
    from study.store.run_files import legacy_run_id

    old_id = legacy_run_id(raw)
    assert old_id != config.run_id
    folder = store.run_dir(old_id)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(raw))
    (folder / "metrics.json").write_text(json.dumps({"status": "done", "run_id": old_id}))
    assert [r.run_id for r in store.finished_runs()] == [old_id]
    store.start_run(config)
    store.finish_run(config, {"status": "done"})
    assert [r.run_id for r in store.finished_runs()] == [config.run_id]


def test_a_study_grown_by_several_commands_keeps_them_all(tmp_path):
    """A second grid into the same study replaced the first one's command in study.json, so
    the report could no longer say how the first runs were made."""
    store = ResultStore(tmp_path / "s")
    assert store.study_commands() == []
    first, second = "python -m study grid --grid workers=1,2", "python -m study grid --set b=512"
    for command in (first, first, second, second):  # a rerun of one command adds nothing
        store.write_study_info({"name": "s", "command": command})
    assert store.study_commands() == [first, second]
    assert store.read_study_info()["command"] == second
    store.write_study_info({"name": "s", "command": first})  # first again: one entry each
    assert store.study_commands() == [second, first]


def test_the_report_shows_every_command_of_the_study(tmp_path):
    from synthetic_store import build_store

    from study.analyze.report import build_report

    store = build_store(tmp_path, seeds=2, trainers=("torch",))
    store.write_study_info({"name": "synthetic", "command": "python -m study grid --seeds 2"})
    markdown = build_report(store.root, tmp_path / "out").markdown_path.read_text()
    assert "(synthetic test study)\npython -m study grid --seeds 2\n" in markdown
