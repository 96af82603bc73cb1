"""Places the project cannot write (issue 24, classes 3 and 17): a file where a run's TensorBoard
folder should be, a full disk (a file-size limit) while TensorBoard writes and while the tables
are written. Each is one line; in a grid the run fails and the grid goes on; the tables stay one
consistent set. (The report's own folder: `test_report_safety.py`.)
"""

from __future__ import annotations

import errno
import json

import pandas as pd
import pytest
from conftest import planted_groups_text
from fault_inject import run_worker
from tiny_run import FAST_SETS, fast_sets

from study.cli.app import main
from study.core.config import RunConfig
from study.core.errors import StudyError
from study.store.results import ResultStore, save_tables, save_tables_or_warn


def test_a_file_where_a_runs_tensorboard_folder_should_be_fails_that_run_only(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text(planted_groups_text(n_sentences=200))
    sets = [*FAST_SETS, f"corpus={corpus}"]
    blocked = (
        RunConfig().with_overrides({**dict(s.split("=", 1) for s in sets), "window": "2"}).run_id
    )
    run_dir = tmp_path / "r" / "tb" / "runs" / blocked
    run_dir.mkdir(parents=True)
    (run_dir / "tensorboard").write_text("not a folder")
    argv = ["grid", "--results", str(tmp_path / "r"), "--study", "tb", "--grid", "window=2,3",
            "--tensorboard", "--set", *sets]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "2 runs: 0 skipped, 1 done, 1 failed" in captured.out
    error = json.loads((run_dir / "metrics.json").read_text())["error"]
    assert (
        error.startswith("StudyError: cannot write TensorBoard logs in") and "File exists" in error
    )


@pytest.mark.slow
def test_a_full_disk_during_tensorboard_and_the_tables_is_a_failed_run_and_whole_tables(tmp_path):
    """A real process under a 12 kB file-size limit: TensorBoard's projector file (23 kB) fails
    its run with one line, the grid goes on; runs.parquet (26 kB) cannot be written, so the
    tables stay the previous set (runs.csv used to be new, the Parquet tables and epochs stale)
    and the grid, whose runs all finished, exits 0 with a warning (it exited 2)."""
    corpus = tmp_path / "c.txt"
    corpus.write_text(planted_groups_text(n_sentences=200))
    common = ["grid", "--results", str(tmp_path / "r"), "--study", "full",
              "--set", *fast_sets("dim=64"), f"corpus={corpus}"]  # fmt: skip
    assert run_worker([*common, "--grid", "window=2"], tmp_path / "first.txt") == 0
    study = tmp_path / "r" / "full"
    tables = ["runs.csv", "runs.parquet", "epochs.csv", "epochs.parquet"]
    before = {name: (study / name).read_bytes() for name in tables}
    code = run_worker([*common, "--grid", "window=2,3", "--tensorboard"], tmp_path / "out.txt",
                      fsize_limit=12_000)  # fmt: skip
    text = (tmp_path / "out.txt").read_text()
    assert code == 0, text
    assert "Traceback" not in text and "2 runs: 1 skipped, 0 done, 1 failed" in text
    assert "cannot write TensorBoard logs in" in text and "File too large" in text
    assert "the previous tables are whole" in text
    assert {name: (study / name).read_bytes() for name in tables} == before
    assert not list(study.rglob(".*.tmp"))


@pytest.mark.parametrize("failing", ["runs.parquet", "epochs.parquet", "epochs.csv"])
def test_tables_are_written_as_one_set_or_not_at_all(tmp_path, monkeypatch, caplog, failing):
    """Under EFBIG save_tables left runs.csv new beside stale Parquet tables and epochs."""
    store = ResultStore(tmp_path / "s")
    old = pd.DataFrame({"run_id": ["a"], "x": [1]})
    save_tables(store, old, old)
    before = {p.name: p.read_bytes() for p in store.root.iterdir()}
    real_csv, real_parquet = pd.DataFrame.to_csv, pd.DataFrame.to_parquet
    target = {"runs.parquet": ("parquet", 0), "epochs.parquet": ("parquet", 1),
              "epochs.csv": ("csv", 1)}[failing]  # fmt: skip
    calls = {"csv": 0, "parquet": 0}

    def writer(kind, real):
        def write(frame, *args, **kwargs):
            calls[kind] += 1
            if (kind, calls[kind] - 1) == target:
                raise OSError(errno.EFBIG, "File too large")
            return real(frame, *args, **kwargs)

        return write

    monkeypatch.setattr(pd.DataFrame, "to_csv", writer("csv", real_csv))
    monkeypatch.setattr(pd.DataFrame, "to_parquet", writer("parquet", real_parquet))
    new = pd.DataFrame({"run_id": ["a", "b"], "x": [1, 2]})
    with pytest.raises(StudyError, match="File too large"):
        save_tables(store, new, new)
    assert {p.name: p.read_bytes() for p in store.root.iterdir()} == before  # no temp file
    calls.update(csv=0, parquet=0)
    assert not save_tables_or_warn(store, new, new)  # a grid: a warning, not exit 2
    assert "the previous tables are whole" in caplog.text
