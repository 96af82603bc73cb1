"""The one atomic-write helper: whole file or old file, normal mode, fsync before rename,
no temp file left behind, one-line errors."""

from __future__ import annotations

import errno
import os
import stat

import numpy as np
import pytest

import study.core.atomic as atomic
from study.core.atomic import FILE_MODE, atomic_path, atomic_write_bytes, atomic_write_json
from study.core.errors import StudyError


def test_writes_whole_file_with_normal_mode_and_no_temp_left(tmp_path):
    target = tmp_path / "deep" / "er" / "out.json"
    atomic_write_json(target, {"b": np.float32(0.5), "a": [np.int64(3)], "nan": float("nan")})
    assert target.read_text() == '{\n  "a": [\n    3\n  ],\n  "b": 0.5,\n  "nan": NaN\n}\n'
    assert stat.S_IMODE(target.stat().st_mode) == FILE_MODE
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]


def test_fsync_happens_before_the_rename(tmp_path, monkeypatch):
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd)))
    monkeypatch.setattr(
        atomic.os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))
    )
    atomic_write_bytes(tmp_path / "x.bin", b"data")
    assert calls == ["fsync", "replace"]


def test_a_failing_writer_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "vectors.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(target) as tmp:
        tmp.write_bytes(b"half a ne")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["vectors.bin"]


def test_path_writers_get_their_suffix_and_numpy_round_trips(tmp_path):
    target = tmp_path / "cache" / "key.npz"
    with atomic_path(target, suffix=".tmp.npz") as tmp:
        assert tmp.name.endswith(".tmp.npz") and tmp.parent == target.parent
        np.savez(tmp, ids=np.arange(5))
    with np.load(target) as data:
        assert data["ids"].tolist() == [0, 1, 2, 3, 4]
    assert [p.name for p in target.parent.iterdir()] == ["key.npz"]


def test_disk_full_during_the_write_is_one_study_error(tmp_path, monkeypatch):
    def full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(StudyError) as info:
        atomic_write_bytes(tmp_path / "metrics.json", b"{}")
    assert str(info.value) == f"cannot write {tmp_path / 'metrics.json'}: No space left on device"
    assert list(tmp_path.iterdir()) == []


def test_vectors_are_fsynced_too(tmp_path, monkeypatch):
    from study.store.results import ResultStore
    from study.train.vectors import keyed_vectors

    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    store = ResultStore(tmp_path)
    vectors = keyed_vectors(["a", "b"], np.eye(2, dtype=np.float32))
    path = store.write_vectors("r1", vectors)
    assert synced and path.read_bytes().startswith(b"2 2\n")
    assert [p.name for p in path.parent.iterdir()] == ["vectors.bin"]
