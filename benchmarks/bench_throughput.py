"""Training throughput: torch trainer vs gensim on the same CPU cores, same run, same corpus.

For each (dim, negative) pair and each core count n of `--cores`: the torch trainer with
`workers=n` (one process with one thread for n = 1, `torch-cpu-1t`; n Hogwild worker processes
for n > 1, `torch-cpu-<n>p`; with `--threads-too` also the previous path, n intra-op threads in
one process, `torch-cpu-<n>t`) and gensim with n worker threads, on CPU (on CUDA: the torch
trainer on the GPU, beside gensim at each core count). `--busy N` runs N busy processes (one
core each) beside the whole measurement: a shared machine in one command. Corpus words/s and
pairs/s of every variant, their ratios to gensim measured in this same process (same cores,
and per core), peak GPU memory (CUDA), and the quality of the vectors (WS353, SimLex, Google
analogies via `study.evaluate.score`) next to the speed.

    python benchmarks/bench_throughput.py [--corpus enwiki-sample | ../shared/data/wiki8.xz]
        [--max-words N] [--dims 100,300] [--negatives 5,10] [--epochs 1] [--window 5]
        [--model sg] [--device auto] [--cores 0,1] [--repeats 1] [--busy 0] [--threads-too]
        [--out PATH]

Defaults: dims 100,300 × negatives 5,10 on CUDA; dim 100 × negative 5 on the CPU; cores
0 (all) and 1. Timing: each torch variant is first warmed up on the corpus' first
`--warmup-words` words (CUDA context, kernels, allocator, the worker processes' forkserver),
then each fit is timed between `torch.cuda.synchronize()` calls; words/s = corpus words /
training seconds (the trainers' own per-epoch times: setup, starting the worker processes and
evaluation excluded). gensim reports no pair count: its pairs are its retained words × the
expected contexts per retained word (see `study.train.trainers.gensim_sgns`). Repeats are
interleaved (every variant once, then again), so a burst of load from other jobs hits all
variants alike; the fastest repeat is kept and the median reported beside it, with the load
average at each fit. Process CPU seconds are recorded too (torch's worker processes report
theirs): they are less disturbed than wall time when other jobs load the machine. The torch
vectors' SHA-256 shows whether the same seed gives identical vectors across repeats and thread
counts (Hogwild worker processes do not).

Writes results/bench/throughput_<device>.json (with the busy processes, the load averages,
the commit and the machine's cores).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import _common
import torch

from study.core.config import RunConfig
from study.data.vocab import EncodedCorpus, load_corpus
from study.evaluate.benchmarks import shown_metrics
from study.evaluate.score import evaluate
from study.train.trainers.base import Trainer
from study.train.trainers.gensim_sgns import GensimTrainer
from study.train.trainers.torch_sgns import TorchTrainer

QUALITY = tuple(shown_metrics())  # the headline metric of every shown benchmark
OPENMP_ENV = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


Variant = tuple[Callable[[], Trainer], dict[str, Any]]


def variants(args: argparse.Namespace, device: str) -> dict[str, Variant]:
    """label -> (trainer factory, config overrides): per core count n, torch with `workers=n`
    (and n threads in one process with --threads-too; on CUDA: once, on the GPU) and gensim
    with n workers."""
    table: dict[str, Variant] = {}
    if device == "cuda":
        table["torch-cuda"] = (torch_trainer, {"trainer": "torch", "device": "cuda"})
    for n in core_counts(args.cores):
        if device == "cpu":
            cpu = {"trainer": "torch", "device": "cpu", "workers": n}
            table[torch_label(n)] = (torch_trainer, cpu)
            if n > 1 and args.threads_too:
                table[f"torch-cpu-{n}t"] = (threads_trainer, cpu)
        table[f"gensim-{n}w"] = (GensimTrainer, {"trainer": "gensim", "workers": n})
    return table


def torch_label(n: int) -> str:
    """The default CPU path's label: one thread in-process, or n worker processes."""
    return "torch-cpu-1t" if n == 1 else f"torch-cpu-{n}p"


def torch_trainer() -> Trainer:
    return TorchTrainer(progress=False)  # the path and its cores from config.workers


def threads_trainer() -> Trainer:
    return TorchTrainer(progress=False, cpu_path="threads")


@contextlib.contextmanager
def busy_processes(n: int) -> Iterator[list[int]]:
    """n processes that each keep one core busy (a pure Python loop) until the block ends;
    each also stops on its own when this process dies, so none is left spinning."""
    loop = (
        "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n"
        "    for _ in range(1_000_000): pass\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", loop]) for _ in range(n)]
    try:
        yield [p.pid for p in procs]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()


def core_counts(cores: list[int]) -> list[int]:
    """--cores with 0 resolved to all cores, duplicates dropped, in order."""
    return list(dict.fromkeys(n or os.cpu_count() or 1 for n in cores))


def fit_once(
    trainer_factory: Callable[[], Trainer], corpus: EncodedCorpus, config: RunConfig, device: str
) -> tuple[dict[str, Any], Any]:
    """One timed fit: (its figures, its vectors)."""
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    load = _common.load_average()[0]
    result, wall, cpu = _common.timed(
        lambda: trainer_factory().fit(corpus, config), _common.resolve_device(config.device)
    )
    pairs = sum(float(row["pairs"]) for row in result.epochs)
    cpu += result.info.get("worker_cpu_seconds", 0.0)  # torch's worker processes
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
        "trainer_info": result.info,
        "load_average_1min_before": load,
        "peak_gpu_memory_mib": torch.cuda.max_memory_allocated() / 2**20
        if device == "cuda" and config.trainer == "torch"
        else None,
    }
    if config.trainer == "torch":
        run["vectors_sha256"] = hashlib.sha256(result.vectors.vectors.tobytes()).hexdigest()
    return run, result.vectors


def summarize(fits: list[tuple[dict[str, Any], Any]]) -> dict[str, Any]:
    """The fastest repeat's figures, the median words/s, every repeat, and the kept vectors'
    quality."""
    best, vectors = min(fits, key=lambda fit: fit[0]["train_seconds"])
    out = dict(best)
    out["words_per_sec_median"] = statistics.median(f["words_per_sec"] for f, _ in fits)
    per_cpu = [f["words_per_cpu_sec"] for f, _ in fits if f["words_per_cpu_sec"]]
    out["words_per_cpu_sec_best"] = max(per_cpu) if per_cpu else None
    out["repeats"] = len(fits)
    out["each_repeat"] = [
        {k: f[k] for k in ("words_per_sec", "words_per_cpu_sec", "load_average_1min_before")}
        for f, _ in fits
    ]
    hashes = {f.get("vectors_sha256") for f, _ in fits}
    if None not in hashes:
        out["identical_across_repeats"] = len(hashes) == 1
    metrics = evaluate(vectors)
    out["quality"] = {key: metrics.get(key) for key in QUALITY}
    return out


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
    parser.add_argument(
        "--cores",
        type=_common.parse_ints,
        default=[0, 1],
        help="CPU core counts: workers of torch and of gensim (0 = all cores)",
    )
    parser.add_argument("--warmup-words", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--busy", type=int, default=0, help="busy processes (one core each) beside the measurement"
    )
    parser.add_argument(
        "--threads-too",
        action="store_true",
        help="also time the previous CPU path: torch with n intra-op threads in one process",
    )
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
    # OpenMP's wait policy decides how torch's threads fare beside other jobs (docs/guide/cpu.md)
    report["environment"] = {k: os.environ.get(k) for k in OPENMP_ENV}
    table = variants(args, device)
    with busy_processes(args.busy) as busy:
        report["busy_processes"] = {"count": args.busy, "pids": busy}
        print(f"{args.busy} busy processes beside the measurement; load {_common.load_average()}")
        report["cases"] = measure(args, table, base, corpus, warmup, device)
    print()
    for case in report["cases"]:
        for row in case["same_cores"]:
            print(
                f"dim {case['dim']} K {case['negative']} {row['cores']} cores: {row['torch']} / "
                f"{row['gensim']} {row['ratio']:.2f}x (median {row['ratio_median']:.2f}x)"
            )
    _common.write_report(report, args.out)
    return report


def measure(
    args: argparse.Namespace,
    table: dict[str, Variant],
    base: RunConfig,
    corpus: EncodedCorpus,
    warmup: EncodedCorpus,
    device: str,
) -> list[dict[str, Any]]:
    """Every (dim, negative) case: warm-up, interleaved repeats, summaries and ratios."""
    cases = []
    for dim in args.dims:
        for negative in args.negatives:
            configs = {
                label: base.with_overrides({"dim": dim, "negative": negative, **overrides})
                for label, (_, overrides) in table.items()
            }
            for label, cfg in configs.items():
                if cfg.trainer == "torch":
                    table[label][0]().fit(warmup, cfg.with_overrides({"epochs": 1}))
            fits: dict[str, list[tuple[dict[str, Any], Any]]] = {label: [] for label in table}
            for _ in range(args.repeats):  # interleaved: load bursts hit every variant
                for label, (factory, _) in table.items():
                    fits[label].append(fit_once(factory, corpus, configs[label], device))
            runs = {label: summarize(fits[label]) for label in table}
            for label, run in runs.items():
                print(
                    f"dim {dim:>4} K {negative:>3}  {label:<14} "
                    f"{run['words_per_sec'] / 1e6:7.3f} M words/s (median "
                    f"{run['words_per_sec_median'] / 1e6:.3f})  "
                    f"{run['pairs_per_sec'] / 1e6:7.2f} M pairs/s  quality {run['quality']}"
                )
                sys.stdout.flush()
            case = {"dim": dim, "negative": negative, "runs": runs, "ratios": ratios(runs)}
            case["same_cores"] = same_core_ratios(runs)
            threads = [r["vectors_sha256"] for k, r in runs.items() if k.startswith("torch-cpu")
                       and k.endswith("t")]  # fmt: skip
            if len(threads) > 1:
                case["torch_identical_across_threads"] = len(set(threads)) == 1
            cases.append(case)
    return cases


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


def same_core_ratios(runs: dict[str, Any]) -> list[dict[str, Any]]:
    """Each torch CPU variant on n cores over gensim with n workers, for every n both ran (CPU
    only): fastest repeats, medians, and words per process CPU second (best repeats; only
    where the torch variant trains in this process)."""
    rows = []
    for label, g in runs.items():
        n = g["trainer_info"].get("workers") if label.startswith("gensim") else None
        for mine in (torch_label(n), f"torch-cpu-{n}t") if n is not None else ():
            m = runs.get(mine)
            if m is None or any(row["torch"] == mine for row in rows):
                continue
            rows.append(_same_cores_row(n, mine, m, label, g))
    return sorted(rows, key=lambda row: (row["cores"], row["torch"]))


def _same_cores_row(
    n: int, mine: str, m: dict[str, Any], theirs: str, g: dict[str, Any]
) -> dict[str, Any]:
    per_cpu = None
    if m["words_per_cpu_sec_best"] and g["words_per_cpu_sec_best"]:
        per_cpu = m["words_per_cpu_sec_best"] / g["words_per_cpu_sec_best"]
    return {
        "cores": n,
        "torch": mine,
        "cpu_path": m["trainer_info"].get("cpu_path"),
        "gensim": theirs,
        "ratio": m["words_per_sec"] / g["words_per_sec"],
        "ratio_median": m["words_per_sec_median"] / g["words_per_sec_median"],
        "ratio_per_cpu_second": per_cpu,
    }


if __name__ == "__main__":
    main()
