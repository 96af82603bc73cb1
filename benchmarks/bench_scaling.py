"""Scaling: torch trainer words/s as the corpus grows (repetition) and as the vocabulary grows.

Corpus axis: the encoded stream (first `--max-words` words) repeated 1×, 2×, 4× (`--repeats`).
Vocabulary axis: the corpus loaded with `max_vocab` caps (`--vocab-caps`, 0 = no cap; a low
`--min-count` gives a larger uncapped vocabulary), each stream truncated to the same number of
words so every run does the same amount of work. Linear cost means seconds per word stays flat:
each row reports its seconds per word relative to the axis' first row (1.0 = linear in words,
independent of the vocabulary).

    python benchmarks/bench_scaling.py [--corpus enwiki-sample] [--max-words 200000]
        [--repeats 1,2,4] [--vocab-caps 1000,3000,0] [--dim 100] [--negative 5] [--epochs 1]
        [--trainers torch] [--device auto] [--out PATH]

On a GPU, use wiki8 (`--corpus ../shared/data/wiki8.xz --max-words 0` keeps the whole stream)
and larger caps (e.g. 10000,30000,100000,0 with --min-count 1). `--trainers torch gensim` adds
gensim (all cores) as a reference. Writes results/bench/scaling_<device>.json.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import _common
import torch

from study.core.config import RunConfig
from study.data.vocab import EncodedCorpus, load_corpus
from study.train.trainers import get_trainer
from study.train.trainers.torch_sgns import TorchTrainer


def fit_speed(corpus: EncodedCorpus, config: RunConfig, device: str, trials: int) -> dict[str, Any]:
    """The fastest of `trials` fits (other jobs on the machine only ever slow a fit down)."""
    trainer = TorchTrainer(progress=False) if config.trainer == "torch" else get_trainer("gensim")
    fits = [_common.timed(lambda: trainer.fit(corpus, config), device) for _ in range(trials)]
    result = min((fit[0] for fit in fits), key=lambda r: r.train_seconds)
    cpu = min(fit[2] for fit in fits)  # best of the trials, like the wall time
    pairs = sum(float(row["pairs"]) for row in result.epochs)
    return {
        "words": result.words,
        "vocab": len(corpus.vocab),
        "train_seconds": result.train_seconds,
        "process_cpu_seconds": cpu,
        "words_per_sec": result.words / result.train_seconds,
        "seconds_per_word": result.train_seconds / result.words,
        "pairs": pairs,
        "seconds_per_pair": result.train_seconds / pairs,
        "trials": trials,
    }


def relative(rows: list[dict[str, Any]]) -> None:
    """seconds per word (wall and CPU) and per pair relative to the first row."""
    first = rows[0]
    for row in rows:
        row["seconds_per_word_ratio"] = row["seconds_per_word"] / first["seconds_per_word"]
        row["seconds_per_pair_ratio"] = row["seconds_per_pair"] / first["seconds_per_pair"]
        row["cpu_seconds_per_word_ratio"] = (row["process_cpu_seconds"] / row["words"]) / (
            first["process_cpu_seconds"] / first["words"]
        )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="enwiki-sample")
    parser.add_argument("--max-words", type=int, default=200_000, help="0 = the whole stream")
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--repeats", type=_common.parse_ints, default=[1, 2, 4])
    parser.add_argument("--vocab-caps", type=_common.parse_ints, default=[1000, 3000, 0])
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--negative", type=int, default=5)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--trainers", nargs="+", default=["torch"], choices=["torch", "gensim"])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--trials", type=int, default=2, help="fits per point, fastest kept")
    parser.add_argument("--warmup-words", type=int, default=50_000)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    device = _common.resolve_device(args.device)
    max_words = args.max_words or None

    report = _common.report_header(
        "scaling", device, {k: v for k, v in vars(args).items() if k != "out"}
    )
    print(f"device {device}; load {_common.load_average()}")
    full = load_corpus(args.corpus, args.min_count)
    base = _common.truncated(full, max_words)
    configs = {
        name: RunConfig(
            trainer=name,
            dim=args.dim,
            negative=args.negative,
            window=args.window,
            epochs=args.epochs,
            device=args.device,
            min_count=args.min_count,
            corpus=args.corpus,
            probe_pairs=0,
            workers=0,
        )
        for name in args.trainers
    }
    if "torch" in configs:  # warm-up: CUDA context, kernels, allocator
        TorchTrainer(progress=False).fit(
            _common.truncated(base, args.warmup_words), configs["torch"]
        )
    axes: dict[str, dict[str, list[dict[str, Any]]]] = {"corpus_size": {}, "vocabulary": {}}
    for name, config in configs.items():
        rows = []
        for times in args.repeats:
            row = {"repeat": times} | fit_speed(
                _common.repeated(base, times), config, device, args.trials
            )
            rows.append(row)
            print(
                f"{name} corpus ×{times}: {row['words']:>10,} words "
                f"{row['words_per_sec'] / 1e6:.3f} M words/s"
            )
            sys.stdout.flush()
        relative(rows)
        axes["corpus_size"][name] = rows
        rows = []
        # Same number of words for every cap: the smallest capped stream's length.
        capped = {
            cap: load_corpus(args.corpus, args.min_count, cap or None) for cap in args.vocab_caps
        }
        n = min([c.n_words for c in capped.values()] + [max_words or full.n_words])
        for cap, corpus in capped.items():
            row = {"max_vocab": cap or None} | fit_speed(
                _common.truncated(corpus, n), config, device, args.trials
            )
            rows.append(row)
            print(
                f"{name} vocab {row['vocab']:>8,}: {row['words']:>10,} words "
                f"{row['words_per_sec'] / 1e6:.3f} M words/s"
            )
            sys.stdout.flush()
        relative(rows)
        axes["vocabulary"][name] = rows
    report["axes"] = axes
    if device == "cuda":
        report["peak_gpu_memory_mib"] = torch.cuda.max_memory_allocated() / 2**20
    for axis, by_trainer in axes.items():
        for name, rows in by_trainer.items():
            wall = ", ".join(f"{r['seconds_per_word_ratio']:.2f}" for r in rows)
            cpu = ", ".join(f"{r['cpu_seconds_per_word_ratio']:.2f}" for r in rows)
            pair = ", ".join(f"{r['seconds_per_pair_ratio']:.2f}" for r in rows)
            print(
                f"{axis} ({name}) seconds/word relative to the first: {wall} "
                f"(CPU seconds/word: {cpu}; seconds/pair: {pair})"
            )
    _common.write_report(report, args.out)
    return report


if __name__ == "__main__":
    main()
