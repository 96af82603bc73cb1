"""A study folder written directly (no training): runs with planted per-item results, so the
inference, compare and report tests know the truth and run in seconds.

Cells: trainer × alpha ∈ {0.5, 1.0} × seeds. Word pairs: the model's cosine is the gold score
plus noise whose size depends on the cell (quality), so Spearman is higher in better cells.
Analogies: each question is answered right with a probability set by the cell. gensim's
per-item results are torch's, copied (same items, same answers): the two trainers are
equivalent by construction, and alpha=0.5 is clearly better than alpha=1.0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from study.core.config import RunConfig
from study.evaluate.items import AnalogyItems, PairItems, RunItems
from study.evaluate.stats import item_statistic
from study.store.results import STATUS_DONE, ResultStore

N_PAIRS, N_QUESTIONS = 300, 2000
NOISE = {0.5: 0.6, 1.0: 1.6}  # pair-score noise per alpha: lower is better
ACCURACY = {0.5: 0.45, 1.0: 0.30}


def run_items(alpha: float, seed: int) -> RunItems:
    items_rng = np.random.default_rng(12345)  # the benchmark: the same items for every run
    gold = np.round(items_rng.uniform(0, 10, N_PAIRS), 2)
    difficulty = items_rng.normal(0, 1, N_QUESTIONS)
    rng = np.random.default_rng([seed, int(alpha * 100)])
    predicted = gold + rng.normal(0, NOISE[alpha] * 3, N_PAIRS) + rng.normal(0, 0.3)
    predicted[:10] = np.nan  # ten pairs out of the vocabulary
    p = ACCURACY[alpha] + 0.15 * np.tanh(difficulty) + rng.normal(0, 0.004)
    correct = rng.random(N_QUESTIONS) < p
    covered = np.ones(N_QUESTIONS, dtype=bool)
    covered[-50:] = False
    sections = ["capital-common-countries", "gram1-adjective-to-adverb"]
    section_ids = (np.arange(N_QUESTIONS) >= N_QUESTIONS // 2).astype(np.int64)
    analogy = AnalogyItems(sections, section_ids, covered, correct & covered, correct & covered)
    return RunItems({"ws353": PairItems(gold, predicted)}, {"analogy": analogy})


def metrics_of(items: RunItems) -> dict[str, float]:
    from study.evaluate.items import metric_scores

    out = {}
    for metric in ["ws353_spearman", "analogy_acc", "analogy_3cosmul_acc"]:
        scores = metric_scores(items, metric)
        assert scores is not None
        out[metric] = float(item_statistic(scores, *scores.arrays))
    return out


def build_store(root: Path, seeds: int = 3, trainers: tuple[str, ...] = ("torch", "gensim"),
                with_items: bool = True, swept: tuple[str, dict[float, Any]] | None = None,
                ) -> ResultStore:  # fmt: skip
    """`swept` ("max_vocab", {0.5: None, 1.0: 300}): the two cells differ in that field (its
    value per planted quality) instead of alpha."""
    store = ResultStore(root / "synthetic")
    store.write_study_info({"name": "synthetic", "command": "(synthetic test study)"})
    for trainer in trainers:
        for alpha in NOISE:
            for seed in range(seeds):
                cell = {"alpha": alpha} if swept is None else {swept[0]: swept[1][alpha]}
                config = RunConfig().with_overrides(
                    {"trainer": trainer, **cell, "seed": seed, "epochs": 1}
                )
                store.start_run(config)
                items = run_items(alpha, seed)
                if with_items:
                    store.write_items(config.run_id, items)
                metrics = metrics_of(items)
                store.finish_run(
                    config,
                    {"status": STATUS_DONE, "metrics": metrics, "seconds": 1.0,
                     "words_per_sec": 1000.0},
                )  # fmt: skip
    return store
