"""Training throughput: torch trainer vs gensim (all cores and 1 worker), same run, same corpus.

For each (dim, negative) pair: corpus words/s and pairs/s of every trainer variant, their
ratios to gensim measured in this same process, peak GPU memory (CUDA), and the quality of the
vectors (WS353, SimLex, Google analogies via `study.evaluate`) next to the speed.

    python benchmarks/bench_throughput.py [--corpus enwiki-sample | ../shared/data/wiki8.xz]
        [--max-words N] [--dims 100,300] [--negatives 5,10] [--epochs 1] [--window 5]
        [--model sg] [--device auto] [--gensim-workers 0,1] [--repeats 1] [--out PATH]

Defaults: dims 100,300 × negatives 5,10 on CUDA; dim 100 × negative 5 on the CPU (a few
minutes on 2 cores). Timing: the torch variant is first warmed up on the corpus' first
`--warmup-words` words (CUDA context, kernels, allocator), then each fit is timed between
`torch.cuda.synchronize()` calls; words/s = corpus words / training seconds (the trainers' own
per-epoch times, setup and evaluation excluded). gensim reports no pair count: its pairs are
its retained words × the expected contexts per retained word (see `study.trainers.gensim_sgns`).
With `--repeats` > 1 the fastest repeat is kept. Process CPU seconds are recorded too: they are
less disturbed than wall time when other jobs load the machine (see the load average).

Writes results/bench/throughput_<device>.json.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

import _common
import torch

from study.config import RunConfig
from study.evaluate import evaluate
from study.trainers.base import Trainer
from study.trainers.gensim_sgns import GensimTrainer
from study.trainers.torch_sgns import TorchTrainer
from study.vocab import EncodedCorpus, load_corpus

QUALITY = ("ws353_spearman", "simlex_spearman", "analogy_acc")


Variant = tuple[Callable[[], Trainer], dict[str, Any]]


def variants(args: argparse.Namespace, device: str) -> dict[str, Variant]:
    """label -> (trainer factory, config overrides). A torch fast path, once it exists, is one
    more entry here (its trainer or its switch), measured against the same gensim runs."""
    cores = os.cpu_count() or 1
    table: dict[str, Variant] = {
        f"torch-{device}": (
            lambda: TorchTrainer(progress=False, cpu_threads=args.torch_threads),
            {"trainer": "torch", "device": device},
        ),
    }
    for workers in args.gensim_workers:
        n = workers or cores
        table[f"gensim-{n}w"] = (GensimTrainer, {"trainer": "gensim", "workers": n})
    return table


def measure(
    trainer_factory: Callable[[], Trainer],
    corpus: EncodedCorpus,
    config: RunConfig,
    device: str,
    repeats: int,
) -> dict[str, Any]:
    """Fit `repeats` times, keep the fastest; speed, peak GPU memory and quality."""
    best: dict[str, Any] | None = None
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        result, wall, cpu = _common.timed(
            lambda: trainer_factory().fit(corpus, config), _common.resolve_device(config.device)
        )
        pairs = sum(float(row["pairs"]) for row in result.epochs)
        run = {
            "train_seconds": result.train_seconds,
            "wall_seconds_with_setup": wall,
            "process_cpu_seconds": cpu,
            "words": result.words,
            "pairs": pairs,
            "words_per_sec": result.words / result.train_seconds,
            "pairs_per_sec": pairs / result.train_seconds,
            "words_per_cpu_sec": result.words / cpu if cpu > 0 else None,
            "loss_last_epoch": result.epochs[-1]["loss"],
            "peak_gpu_memory_mib": torch.cuda.max_memory_allocated() / 2**20
            if device == "cuda" and config.trainer == "torch"
            else None,
        }
        if best is None or run["train_seconds"] < best["train_seconds"]:
            best, vectors = run, result.vectors
    assert best is not None
    metrics = evaluate(vectors)
    best["quality"] = {key: metrics.get(key) for key in QUALITY}
    best["repeats"] = repeats
    return best


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="enwiki-sample")
    parser.add_argument("--max-words", type=int, default=None, help="truncate the stream")
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--dims", type=_common.parse_ints, default=None)
    parser.add_argument("--negatives", type=_common.parse_ints, default=None)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--model", default="sg", choices=["sg", "cbow"])
    parser.add_argument("--sample", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=RunConfig.batch_size)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--torch-threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--gensim-workers", type=_common.parse_ints, default=[0, 1], help="0 = all cores"
    )
    parser.add_argument("--warmup-words", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    device = _common.resolve_device(args.device)
    gpu = device == "cuda"
    args.dims = args.dims or ([100, 300] if gpu else [100])
    args.negatives = args.negatives or ([5, 10] if gpu else [5])

    corpus = _common.truncated(load_corpus(args.corpus, args.min_count), args.max_words)
    warmup = _common.truncated(corpus, args.warmup_words)
    print(
        f"corpus {corpus.name}: {corpus.n_words:,} words, {len(corpus.vocab):,} types; "
        f"device {device}; load {_common.load_average()}"
    )
    base = RunConfig(
        model=args.model,
        window=args.window,
        sample=args.sample,
        min_count=args.min_count,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        corpus=args.corpus,
        probe_pairs=0,
    )
    config = {k: v for k, v in vars(args).items() if k != "out"}
    report = _common.report_header("throughput", device, config)
    report["corpus"] = {"name": corpus.name, "words": corpus.n_words, "vocab": len(corpus.vocab)}
    table = variants(args, device)
    cases = []
    for dim in args.dims:
        for negative in args.negatives:
            runs: dict[str, Any] = {}
            for label, (factory, overrides) in table.items():
                cfg = base.with_overrides({"dim": dim, "negative": negative, **overrides})
                if cfg.trainer == "torch":
                    factory().fit(warmup, cfg.with_overrides({"epochs": 1}))
                runs[label] = measure(factory, corpus, cfg, device, args.repeats)
                print(
                    f"dim {dim:>4} K {negative:>3}  {label:<12} "
                    f"{runs[label]['words_per_sec'] / 1e6:7.3f} M words/s  "
                    f"{runs[label]['pairs_per_sec'] / 1e6:7.2f} M pairs/s  "
                    f"quality {runs[label]['quality']}"
                )
                sys.stdout.flush()
            cases.append({"dim": dim, "negative": negative, "runs": runs, "ratios": ratios(runs)})
    report["cases"] = cases
    print()
    for case in cases:
        shown = ", ".join(f"{k} {v:.2f}x" for k, v in case["ratios"].items())
        print(f"dim {case['dim']} K {case['negative']}: {shown}")
    _common.write_report(report, args.out)
    return report


def ratios(runs: dict[str, Any]) -> dict[str, float]:
    """Each torch variant's words/s over each gensim variant's (and per CPU second)."""
    out = {}
    for mine, m in runs.items():
        if not mine.startswith("torch"):
            continue
        for theirs, g in runs.items():
            if theirs.startswith("gensim"):
                out[f"{mine}/{theirs}"] = m["words_per_sec"] / g["words_per_sec"]
                if m["words_per_cpu_sec"] and g["words_per_cpu_sec"]:
                    out[f"{mine}/{theirs} per cpu-second"] = (
                        m["words_per_cpu_sec"] / g["words_per_cpu_sec"]
                    )
    return out


if __name__ == "__main__":
    main()
