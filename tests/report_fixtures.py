"""A small real study (both trainers, 2 α × 2 windows × 2 seeds) for the plot and report tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from study.core.config import RunConfig
from study.run.grid import GridSpec
from study.run.runner import run_grid
from study.store.results import STATUS_FAILED, ResultStore

# Seed words of the PCA overlays in co-occurring groups; "river" and "mountain" are left out on
# purpose (the overlay must skip them with a warning).
GROUPS = [
    ["king", "queen", "man", "woman", "prince", "princess"],
    ["london", "paris", "france", "england", "city", "country"],
    ["computer", "software", "data", "science", "program", "code"],
    ["music", "art", "song", "painting", "dance", "poem"],
]
# Words beyond the seed words so that the runs count at least stats.MIN_COUNTED_ITEMS WS353
# pairs (26) and Google analogy questions (capital-common-countries: 6 pairs, 30 questions):
# with fewer, cells get no interval and comparisons no verdict.
MORE_GROUPS = [
    ["psychology", "psychiatry", "anxiety", "fear", "depression", "clinic", "freud", "mind"],
    ["doctor", "nurse", "professor", "student", "smart", "stupid", "health", "discipline"],
    ["keyboard", "internet", "cabbage", "rook", "cucumber", "potato", "cognition", "science"],
    ["athens", "greece", "berlin", "germany", "madrid", "spain", "rome", "italy"],
]
ABSENT_SEED_WORDS = ["river", "mountain"]
COMMAND = "python -m study grid --grid alpha=0.5,1.0 window=2,4 --trainers torch,gensim"
FAILED_ERROR = "DivergenceError: loss became nan at epoch 1"


def seed_word_text(n_sentences: int = 300, length: int = 20, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    fillers = ["the", "of", "and", "a"]
    lines = []
    for _ in range(n_sentences):
        groups = GROUPS + MORE_GROUPS
        group = groups[rng.integers(len(groups))]
        words = [
            fillers[rng.integers(len(fillers))]
            if rng.random() < 0.2
            else group[rng.integers(len(group))]
            for _ in range(length)
        ]
        lines.append(" ".join(words))
    return "\n".join(lines) + "\n"


def build_small_study(root: Path) -> ResultStore:
    """Run the grid for real (~10 s on 2 cores), then record one failed run beside it."""
    corpus = root / "seed_words.txt"
    corpus.write_text(seed_word_text())
    fixed = {
        "corpus": str(corpus),
        "dim": 16,
        "epochs": 2,
        "min_count": 2,
        "workers": 1,
        "probe_pairs": 128,
        "device": "cpu",
    }
    spec = GridSpec(
        axes={"alpha": [0.5, 1.0], "window": [2, 4]},
        trainers=["torch", "gensim"],
        seeds=[0, 1],
        fixed=fixed,
    )
    store = ResultStore(root / "small-study")
    store.write_study_info({"name": "small-study", "command": COMMAND, "grid": spec.to_dict()})
    counts = run_grid(spec.cells(), store, progress=False, data_root=str(root / "data"))
    assert counts["done"] == 16, counts
    failed = RunConfig().with_overrides({**fixed, "alpha": 0.5, "window": 2, "seed": 7})
    store.start_run(failed)
    store.finish_run(failed, {"status": STATUS_FAILED, "error": FAILED_ERROR, "epochs_done": 0})
    return store
