"""Shared fixtures: an isolated data dir per test session, tiny generated corpora."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# One fixed Hypothesis profile for every run (CI and local): the same examples each time
# (derandomize, no example database), a bounded number per test, no per-example deadline on a
# loaded 2-core machine. W2V_HYPOTHESIS_PROFILE=thorough searches 20x longer, randomly.
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    max_examples=60,
    deadline=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", max_examples=1200, deadline=None, database=None)
settings.load_profile(os.environ.get("W2V_HYPOTHESIS_PROFILE", "ci"))


def _has_nvidia_gpu() -> bool:
    return Path("/dev/nvidiactl").exists()


# Without a GPU, Triton kernels run on CPU tensors through Triton's interpreter. Triton reads
# the switch when its functions are wrapped, at import, so it is set before anything imports it.
if not _has_nvidia_gpu():
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Caches and downloads go to a temporary folder, never the user's ./data."""
    root = tmp_path_factory.getbasetemp() / "data"
    root.mkdir(exist_ok=True)
    monkeypatch.setenv("W2V_STUDY_DATA", str(root))
    yield root


def planted_groups_text(
    n_groups: int = 6, group_size: int = 5, n_sentences: int = 600, length: int = 20, seed: int = 0
) -> str:
    """A corpus where each sentence uses words of one group only (plus shared filler words).

    Words of a group co-occur and never co-occur with other groups, so a trainer that learns
    puts each word's group members among its nearest neighbours.
    """
    rng = np.random.default_rng(seed)
    groups = [[f"g{g}w{i}" for i in range(group_size)] for g in range(n_groups)]
    fillers = ["the", "of", "and"]
    lines = []
    for _ in range(n_sentences):
        group = groups[rng.integers(n_groups)]
        words = [
            fillers[rng.integers(len(fillers))]
            if rng.random() < 0.15
            else group[rng.integers(group_size)]
            for _ in range(length)
        ]
        lines.append(" ".join(words))
    return "\n".join(lines) + "\n"


@pytest.fixture
def planted_corpus_file(tmp_path: Path) -> Path:
    path = tmp_path / "planted.txt"
    path.write_text(planted_groups_text())
    return path


def pytest_report_header() -> str:
    return f"W2V_STUDY_DATA isolated per session (was {os.environ.get('W2V_STUDY_DATA', 'unset')})"
