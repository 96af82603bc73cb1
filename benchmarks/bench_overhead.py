"""What a grid run costs besides training, piece by piece, on one corpus (wiki8 by default):
the pieces `study.run.runner.execute_run` adds around `fit` (evaluation of w and w+c on every
registered benchmark), each timed on its own (median of
`--repeats`, the first probe setup apart: later runs reuse its pairs).

    python benchmarks/bench_overhead.py [--corpus PATH] [--dim 100] [--repeats 3]
        [--device cpu|cuda] [--out PATH]

At GPU speed training wiki8 for 5 epochs takes seconds, so these pieces decide how long a
135-run grid takes. Writes results/bench/overhead_<device>.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common
import numpy as np
import torch

from study.core.config import RunConfig
from study.data.sampling import AliasSampler
from study.data.vocab import load_corpus
from study.evaluate.items import write_items
from study.evaluate.score import run_evaluation
from study.run.runner import attach_counts
from study.train.probes import GradientProbe
from study.train.trainers.base import TrainState
from study.train.vectors import keyed_vectors, save_run_vectors


def seconds(fn: Callable[[], Any], device: str) -> float:
    return _common.timed(fn, device)[1]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--corpus", default=str(_common.WIKI8))
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    device = _common.resolve_device(args.device)
    config = {"corpus": args.corpus, "dim": args.dim, "repeats": args.repeats}
    report = _common.report_header("overhead", device, config)

    start = time.perf_counter()
    corpus = load_corpus(args.corpus)
    figures: dict[str, Any] = {"corpus_load_seconds": time.perf_counter() - start}
    report["corpus"] = {"words": corpus.n_words, "vocabulary": len(corpus.vocab)}
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(corpus.vocab), args.dim)).astype(np.float32)
    kv = keyed_vectors(corpus.vocab.words, vectors)
    attach_counts(kv, corpus)
    table = torch.as_tensor(vectors, device=device)
    run_config = RunConfig(corpus=args.corpus, dim=args.dim, device=device)

    def probe_setup(alpha: float) -> float:
        state = TrainState(
            config=run_config.with_overrides({"alpha": alpha}), corpus=corpus, epochs=5,
            w_in=table, w_out=table,
        )  # fmt: skip
        return seconds(lambda: GradientProbe().on_train_begin(state), device)

    figures["probe_setup_first_seconds"] = probe_setup(0.5)
    pieces: dict[str, Callable[[], Any]] = {
        "probe_setup_again": lambda: probe_setup(1.0),
        "alias_table": lambda: AliasSampler(corpus.vocab.counts, 0.75, device),
        "evaluation": lambda: run_evaluation(kv, device=device, output_vectors=vectors),
    }
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder)
        evaluation = run_evaluation(kv, device=device, output_vectors=vectors)
        pieces["vectors_bin"] = lambda: save_run_vectors(run_dir, kv, None)
        pieces["vectors_and_output_vectors_bin"] = lambda: save_run_vectors(run_dir, kv, vectors)
        pieces["items_npz"] = lambda: write_items(run_dir / "items.npz", evaluation.items)
        for name, piece in pieces.items():
            times = [seconds(piece, device) for _ in range(args.repeats)]
            figures[f"{name}_seconds"] = statistics.median(times)
            print(f"{name}: {statistics.median(times):.3f} s (median of {args.repeats})")
    report["figures"] = figures
    _common.write_report(report, args.out)
    return report


if __name__ == "__main__":
    main()
