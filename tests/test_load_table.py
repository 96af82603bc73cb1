"""Study tables: Parquet beside CSV with the schema's column types, the run facts
(`vocab_size`, `corpus_words`) included, and reading a study never writes to it."""

import os

import pandas as pd
import pytest
from tiny_run import FAST

from study.cli.app import main
from study.core.config import RunConfig
from study.run.runner import CorpusCache, execute_run
from study.store.results import STATUS_FAILED, ResultStore, load_table, save_tables


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    """Two done runs (max_vocab None and 40) and one failed run."""
    from conftest import planted_groups_text

    root = tmp_path_factory.mktemp("tables")
    corpus = root / "planted.txt"
    corpus.write_text(planted_groups_text())
    store = ResultStore(root / "s")
    cache = CorpusCache(str(root / "data"))
    for max_vocab in (None, 20):
        config = RunConfig().with_overrides({**FAST, "corpus": str(corpus), "max_vocab": max_vocab})
        assert execute_run(config, store, cache)["status"] == "done"
    failed = RunConfig().with_overrides({**FAST, "corpus": str(corpus), "seed": 9})
    store.start_run(failed)
    store.finish_run(failed, {"status": STATUS_FAILED, "error": "CorpusError: boom"})
    return store.root


def snapshot(folder):
    return sorted((str(p), p.stat().st_mtime_ns) for p in folder.rglob("*"))


def test_loading_a_study_never_writes_to_it(study_dir):
    before = snapshot(study_dir)
    runs, epochs = load_table(study_dir)
    assert len(runs) == 3 and len(epochs) == 2 * FAST["epochs"]
    assert snapshot(study_dir) == before


def test_runs_table_has_the_run_facts_and_schema_types(study_dir):
    runs, epochs = load_table(study_dir)
    done = runs[runs["status"] == "done"].set_index("max_vocab", drop=False)
    store = ResultStore(study_dir)
    for _, row in done.iterrows():
        stored = store.read_metrics(row["run_id"])
        assert (
            row["vocab_size"] == stored["vocab_size"]
            and row["corpus_words"] == stored["corpus_words"]
        )
    assert done.loc[20, "vocab_size"] == 20  # capped by max_vocab
    types = runs.dtypes.astype(str).to_dict()
    assert types["max_vocab"] == "Int64" and types["dim"] == "int64" and types["alpha"] == "float64"
    assert types["vocab_size"] == types["corpus_words"] == types["words"] == "Int64"
    assert runs["error"].dtype == "str" and runs["trainer"].dtype == "str"
    assert runs["vocab_size"].isna().sum() == 1  # the failed run has none
    assert epochs["epoch"].dtype == "Int64" and epochs["loss"].dtype == "float64"


def test_parquet_keeps_the_types_csv_loses(study_dir, tmp_path):
    import shutil

    copy = tmp_path / "s"
    shutil.copytree(study_dir, copy)
    runs, epochs = load_table(copy)
    paths = save_tables(copy, runs, epochs)
    assert sorted(p.name for p in paths) == [
        "epochs.csv",
        "epochs.parquet",
        "runs.csv",
        "runs.parquet",
    ]
    back = pd.read_parquet(copy / "runs.parquet")
    pd.testing.assert_frame_equal(back, runs)
    pd.testing.assert_frame_equal(pd.read_parquet(copy / "epochs.parquet"), epochs)
    from_csv = pd.read_csv(copy / "runs.csv")
    assert from_csv["max_vocab"].dtype == "float64"  # the drift Parquet avoids


def test_grid_command_writes_csv_and_parquet(tmp_path, planted_corpus_file, capsys):
    sets = [f"{k}={v}" for k, v in {**FAST, "corpus": str(planted_corpus_file)}.items()]
    argv = ["grid", "--results", str(tmp_path), "--study", "g", "--grid", "alpha=0.5", "--set"]
    assert main([*argv, *sets]) == 0
    assert ".parquet beside them" in capsys.readouterr().out
    names = {p.name for p in (tmp_path / "g").iterdir()}
    assert {"runs.csv", "epochs.csv", "runs.parquet", "epochs.parquet"} <= names
    assert os.path.getsize(tmp_path / "g" / "runs.parquet") > 0
