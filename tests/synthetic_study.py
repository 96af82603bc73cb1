"""Small synthetic run and epoch tables with known values, for the analysis and figure-data tests.

The metric of a run is a planted function of its cell plus a known per-seed offset, so every
mean, spread and best cell below can be worked out by hand.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

ALPHAS = [0.5, 0.75, 1.0]
WINDOWS = [2, 5]
SEEDS = [0, 1]
SEED_OFFSET = {0: -0.01, 1: 0.01}  # mean over the two seeds: 0; std (ddof=0): 0.01
SPEED = {"torch": 1000.0, "gensim": 3000.0}


def planted_ws353(trainer: str, alpha: float, window: int) -> float:
    """Best at alpha=0.75, window=5 for both trainers; gensim 0.02 above torch."""
    base = 0.5 - abs(alpha - 0.75) + (0.1 if window == 5 else 0.0)
    return round(base + (0.02 if trainer == "gensim" else 0.0), 6)


def planted_analogy(trainer: str, alpha: float, window: int) -> float:
    """Rises with alpha (best at the highest alpha tried: an edge optimum)."""
    return round(0.2 * alpha + 0.01 * window + (0.0 if trainer == "torch" else -0.01), 6)


def runs_table(failed: bool = True) -> pd.DataFrame:
    """Both trainers × 3 α × 2 windows × 2 seeds, done; plus (with `failed`) one failed
    torch run at α=1, window=5, seed 2 and one pruned gensim run."""
    rows: list[dict[str, Any]] = []
    for trainer in ["gensim", "torch"]:  # not report order: tables must sort torch first
        for alpha in ALPHAS:
            for window in WINDOWS:
                for seed in SEEDS:
                    rows.append(
                        {
                            "run_id": f"{trainer}-{alpha}-{window}-{seed}",
                            "status": "done",
                            "error": None,
                            "trainer": trainer,
                            "alpha": alpha,
                            "window": window,
                            "negative": 5,
                            "seed": seed,
                            "device": "cpu",
                            "ws353_spearman": planted_ws353(trainer, alpha, window)
                            + SEED_OFFSET[seed],
                            "analogy_acc": planted_analogy(trainer, alpha, window),
                            "simlex_spearman": float("nan"),  # no done run has it
                            "words_per_sec": SPEED[trainer] + 100.0 * seed,
                        }
                    )
    if failed:
        rows.append(
            {"run_id": "torch-failed", "status": "failed", "error": "DivergenceError: nan",
             "trainer": "torch", "alpha": 1.0, "window": 5, "negative": 5, "seed": 2,
             "device": "cpu"}
        )  # fmt: skip
        rows.append(
            {"run_id": "gensim-pruned", "status": "pruned", "error": "pruned at epoch 1",
             "trainer": "gensim", "alpha": 0.5, "window": 2, "negative": 5, "seed": 3,
             "device": "cpu"}
        )  # fmt: skip
    return pd.DataFrame(rows)


def epochs_table(runs: pd.DataFrame, n_epochs: int = 3) -> pd.DataFrame:
    """Per done run and epoch: loss = 1/epoch + alpha + 0.1·seed (a known mean and spread)."""
    rows = []
    for run in runs[runs["status"] == "done"].itertuples():
        for epoch in range(1, n_epochs + 1):
            rows.append(
                {"run_id": run.run_id, "trainer": run.trainer, "alpha": run.alpha,
                 "window": run.window, "negative": run.negative, "seed": run.seed,
                 "epoch": epoch, "loss": 1 / epoch + run.alpha + 0.1 * run.seed}
            )  # fmt: skip
    return pd.DataFrame(rows)


def with_cores(runs: pd.DataFrame) -> pd.DataFrame:
    """`runs` with the CPU cores each run used: gensim 2; torch 2 at seed 0, 1 at seed 1
    (so torch: 1,000 words/s on 2 cores, 1,100 on 1 core; gensim 3,050 on 2 cores)."""
    out = runs.copy()
    out["cores"] = 2.0
    out.loc[(out["trainer"] == "torch") & (out["seed"] == 1), "cores"] = 1.0
    return out
