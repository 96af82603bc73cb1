"""Per-epoch training loss vs the probe's float64 loss, and gensim's loss-tally limits.

Two parts, on wiki8 ($W2V_WIKI8, else `../shared/data/wiki8.xz`) unless `--corpus` names
another corpus:

    python benchmarks/bench_loss.py tally [--epochs 1]
        gensim with its stock tally (`tally="stock"`: one float32 running sum, shared without a
        lock by the worker threads) and with the per-job tally (the trainer's default), each with
        workers=1 and workers=2, all with the probe. Shows the float32 stall (stock loss far
        below the probe loss even with one worker) and the lost updates between workers.

    python benchmarks/bench_loss.py alpha [--trainers gensim torch] [--alphas 0.5 1.0]
                                          [--epochs 5] [--torch-epochs N]
        dim 100, window 5, negative 5, sample 1e-3, min_count 5: one run per (trainer, α) with
        the probe; per-epoch training loss, probe losses, gradient norms and the probe's cost as
        a share of the epoch.

    python benchmarks/bench_loss.py probe [--repeats 30]
        the probe's own cost on a wiki8-sized problem: `probe_metrics` on random (vocab × 100)
        float32 tables with 4096 pairs × 5 negatives, NumPy and torch inputs, min and median
        over repeats, plus the one-time sample draw; compare with an epoch's seconds.

Writes results/bench/loss_<part>_<host>.json (machine, versions, config, rows) and prints a
table. Timings are of the machine it runs on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import gensim
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import WIKI8  # noqa: E402

from study.core.atomic import atomic_write_text  # noqa: E402
from study.core.config import RunConfig  # noqa: E402
from study.data.vocab import load_corpus  # noqa: E402
from study.train.probes import GradientProbe  # noqa: E402
from study.train.trainers import get_trainer  # noqa: E402
from study.train.trainers.gensim_sgns import GensimTrainer  # noqa: E402

SHOWN = ["epoch", "loss", "probe_loss", "probe_loss_ref", "grad_v_norm", "grad_c_norm",
         "grad_n_norm", "seconds", "probe_seconds"]  # fmt: skip


def machine() -> dict[str, Any]:
    return {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "gensim": gensim.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def print_rows(label: str, rows: list[dict[str, float]]) -> None:
    print(f"\n{label}")
    print("  ".join(f"{c:>14}" for c in SHOWN + ["probe_%"]))
    for row in rows:
        cells = [f"{row[c]:14.5g}" for c in SHOWN]
        cells.append(f"{100 * row['probe_seconds'] / row['seconds']:14.3f}")
        print("  ".join(cells))
    sys.stdout.flush()


def run(corpus: Any, config: RunConfig, trainer: Any, label: str) -> dict[str, Any]:
    probe = GradientProbe()
    start = time.perf_counter()
    result = trainer.fit(corpus, config, [probe])
    seconds = time.perf_counter() - start
    print_rows(f"{label}  ({seconds:.0f} s, probe sample drawn in {probe.sample_seconds:.2f} s)",
               result.epochs)  # fmt: skip
    return {
        "label": label,
        "config": config.to_dict(),
        "seconds": seconds,
        "words_per_sec": result.words_per_sec,
        "probe_sample_seconds": probe.sample_seconds,
        "rows": result.epochs,
    }


def part_tally(corpus: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    runs = []
    for tally in ("stock", "job"):
        for workers in (1, 2):
            config = RunConfig(trainer="gensim", epochs=args.epochs, workers=workers,
                               corpus=args.corpus)  # fmt: skip
            label = f"gensim tally={tally} workers={workers}"
            runs.append(run(corpus, config, GensimTrainer(tally=tally), label) | {"tally": tally})
    return runs


def part_alpha(corpus: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    runs = []
    for name in args.trainers:
        epochs = args.torch_epochs if name == "torch" and args.torch_epochs else args.epochs
        for alpha in args.alphas:
            config = RunConfig(trainer=name, alpha=alpha, epochs=epochs, workers=args.workers,
                               device=args.device, corpus=args.corpus)  # fmt: skip
            runs.append(run(corpus, config, get_trainer(name), f"{name} alpha={alpha}"))
    return runs


def part_probe(corpus: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    from study.train.probes import draw_probe_sample, probe_metrics

    start = time.perf_counter()
    sample = draw_probe_sample(corpus, 4096, 5, 5, alpha=0.5, sample=1e-3, seed=0)
    draw_seconds = time.perf_counter() - start
    rng = np.random.default_rng(0)
    shape = (len(corpus.vocab), 100)
    w_in = rng.normal(scale=0.3, size=shape).astype(np.float32)
    w_out = rng.normal(scale=0.3, size=shape).astype(np.float32)
    runs = []
    inputs = {"numpy": (w_in, w_out), "torch": (torch.from_numpy(w_in), torch.from_numpy(w_out))}
    for kind, (a, b) in inputs.items():
        probe_metrics(a, b, sample)  # warm-up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            probe_metrics(a, b, sample)
            times.append(time.perf_counter() - start)
        stats = {"min_s": min(times), "median_s": float(np.median(times))}
        what = f"{kind} {shape[0]:,}x{shape[1]}, 4096 pairs x 5 negatives"
        ms = f"min {1e3 * stats['min_s']:.1f} ms, median {1e3 * stats['median_s']:.1f} ms"
        print(f"probe_metrics ({what}): {ms}")
        runs.append({"input": kind, "shape": shape, "draw_seconds": draw_seconds} | stats)
    print(f"sample draw (once per run): {draw_seconds:.2f} s")
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["tally", "alpha", "probe"])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--corpus", default=str(WIKI8))
    parser.add_argument("--epochs", type=int, default=None, help="tally: 1, alpha: 5")
    parser.add_argument("--torch-epochs", type=int, default=None)
    parser.add_argument("--trainers", nargs="+", default=["gensim", "torch"])
    parser.add_argument("--alphas", nargs="+", type=float, default=[0.5, 1.0])
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    args.epochs = args.epochs or (1 if args.part == "tally" else 5)

    corpus = load_corpus(args.corpus)
    print(f"corpus {corpus.name}: {corpus.n_words:,} words, {len(corpus.vocab):,} types")
    parts = {"tally": part_tally, "alpha": part_alpha, "probe": part_probe}
    runs = parts[args.part](corpus, args)
    out = Path(args.out or ROOT / "results" / "bench" / f"loss_{args.part}_{platform.node()}.json")
    payload = {"part": args.part, "corpus": corpus.name, "machine": machine(), "runs": runs}
    atomic_write_text(out, json.dumps(payload, indent=1, default=float))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
