"""The GPU figures, one part at a time; `benchmarks/gpu_check.sh` runs every part, time-boxed.

    python benchmarks/bench_gpu.py throughput|quality|sweep|cpu-scaling
        [--corpus PATH] [--deadline SECONDS] [--out-dir DIR] [--dry-run]

- throughput: corpus words/s of the batched torch step and the Triton kernel (negatives per
  center and per pair) on the GPU, 1 epoch at dim 100/K 5 and dim 300/K 10, beside gensim with
  every CPU core on the same machine (its ratio), peak GPU memory; the kernel's program count
  swept at dim 100.
- quality: 5 epochs at dim 100/K 5 (wiki8's reference settings), WS353 / SimLex / analogy for
  the Triton kernel (both negative draws), the torch step and gensim, seeds 0, 1, 2 where the
  time box allows (most important runs first).
- sweep: the original five-α study (dim 300, window 5, K 10, 10 epochs) with the Triton
  kernel, through `python -m study grid` as a user runs it: wall time and each run's metrics.
- cpu-scaling: words/s of the torch step on the CPU and of gensim at 1, 2, 4, 8, 16 cores.

Each part writes `gpu-<part>.json` after every measurement, so a part stopped by its time box
keeps what it measured; a measurement not started before `--deadline` seconds is listed as
skipped. `--dry-run` runs the same code on the CPU through Triton's interpreter with a tiny
corpus and tiny sizes (minutes), to check the script before a GPU is lent; its figures mean
nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common
import torch

from study.analysis import METRICS
from study.config import RunConfig
from study.evaluate import evaluate
from study.grid import ALPHAS
from study.redact import redact, redact_command
from study.trainers.base import Trainer, TrainResult
from study.trainers.gensim_sgns import GensimTrainer
from study.trainers.torch_sgns import TorchTrainer
from study.vocab import EncodedCorpus, load_corpus

QUALITY = tuple(METRICS)  # the headline metric of every shown benchmark (study.benchmarks)
# Every run: wiki8's reference settings (shared/data/README.md) unless a part overrides them.
BASE = dict(
    model="sg", window=5, alpha=0.75, sample=1e-3, min_count=5, lr_start=0.025, probe_pairs=0
)
# label -> config overrides of the trainer variants; gensim uses every core (workers=0).
VARIANTS: dict[str, dict[str, Any]] = {
    "torch-step": {"trainer": "torch", "kernel": "torch"},
    "triton-center": {"trainer": "torch", "kernel": "triton", "neg_draw": "center"},
    "triton-pair": {"trainer": "torch", "kernel": "triton", "neg_draw": "pair"},
    "gensim": {"trainer": "gensim", "workers": 0},
}


class Part:
    """One part's JSON report, rewritten after every measurement, and its deadline."""

    def __init__(self, name: str, args: argparse.Namespace, device: str, config: dict[str, Any]):
        self.args, self.device = args, device
        self.started = time.perf_counter()
        self.path = Path(args.out_dir) / f"gpu-{name}{args.tag}.json"
        self.report = _common.report_header(f"gpu-{name}", device, config)
        self.report["dry_run"] = args.dry_run
        self.report["results"] = []
        self.report["skipped"] = []

    def time_left(self) -> float:
        return self.args.deadline - (time.perf_counter() - self.started)

    def measure(self, label: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        """Run one measurement unless the deadline has passed (or --only leaves it out)."""
        if self.args.only and not any(label.startswith(x) for x in self.args.only.split(",")):
            return None
        if self.time_left() <= 0:
            self.report["skipped"].append(label)
            print(f"[{label}] skipped: deadline", flush=True)
            self.save()
            return None
        start = time.perf_counter()
        try:
            entry = {"label": label, **fn()}
        except Exception as exc:  # a failed measurement is a result too; the part goes on
            entry = {"label": label, "error": f"{type(exc).__name__}: {exc}"}
        entry["seconds_with_setup"] = round(time.perf_counter() - start, 2)
        self.report["results"].append(entry)
        print(f"[{label}] {json.dumps(_common._clean(entry))}", flush=True)
        self.save()
        return entry

    def save(self) -> None:
        self.report["part_seconds"] = round(time.perf_counter() - self.started, 1)
        _common.write_report(self.report, self.path)


def fit(trainer: Trainer, corpus: EncodedCorpus, config: RunConfig, device: str) -> TrainResult:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    result, _, _ = _common.timed(lambda: trainer.fit(corpus, config), device)
    return result


def speed(result: TrainResult, device: str, config: RunConfig) -> dict[str, Any]:
    pairs = sum(float(row["pairs"]) for row in result.epochs)
    gpu = device == "cuda" and config.trainer == "torch"
    return {
        "words": result.words,
        "train_seconds": result.train_seconds,
        "words_per_sec": result.words / result.train_seconds,
        "pairs_per_sec": pairs / result.train_seconds,
        "loss_last_epoch": result.epochs[-1]["loss"],
        "peak_gpu_memory_mib": torch.cuda.max_memory_allocated() / 2**20 if gpu else None,
        "trainer_info": result.info,
    }


def fit_speed(config: RunConfig, corpus: EncodedCorpus, device: str) -> dict[str, Any]:
    return speed(fit(trainer_for(config), corpus, config, device), device, config)


def trainer_for(config: RunConfig) -> Trainer:
    if config.trainer == "gensim":
        return GensimTrainer()
    return TorchTrainer(progress=False)


def make_config(device: str, **fields: Any) -> RunConfig:
    values = {**BASE, "device": device if fields.get("trainer") == "torch" else "cpu", **fields}
    return RunConfig(**values)


# -- parts ---------------------------------------------------------------------------------
def throughput(args: argparse.Namespace, corpus: EncodedCorpus, device: str) -> None:
    # (dim, K, words gensim trains on: its dim-300 epoch would take most of the time box)
    sizes = [(16, 3, None)] if args.dry_run else [(100, 5, None), (300, 10, args.gensim_words_300)]
    part = Part("throughput", args, device, {"sizes": sizes, "epochs": 1, **BASE})
    part.report["corpus"] = {"name": corpus.name, "words": corpus.n_words}
    warm = _common.truncated(corpus, min(corpus.n_words, 200_000 if not args.dry_run else 200))
    for dim, negative, gensim_words in sizes:
        gensim_rate = None
        for label, fields in VARIANTS.items():
            config = make_config(device, dim=dim, negative=negative, epochs=1, **fields)
            is_gensim = config.trainer == "gensim"
            data = _common.truncated(corpus, gensim_words) if is_gensim else corpus

            def run(config: RunConfig = config, data: EncodedCorpus = data) -> dict[str, Any]:
                if config.trainer == "torch":  # compile kernels, warm the allocator
                    fit(trainer_for(config), warm, config, device)
                return fit_speed(config, data, device)

            entry = part.measure(f"{label} dim={dim} K={negative}", run)
            if entry and "words_per_sec" in entry:
                entry.update(dim=dim, negative=negative, variant=label)
                if is_gensim:
                    gensim_rate = entry["words_per_sec"]
        for entry in part.report["results"]:
            if entry.get("dim") == dim and gensim_rate and "words_per_sec" in entry:
                entry["ratio_to_gensim_all_cores"] = entry["words_per_sec"] / gensim_rate
        part.save()
    # Hogwild's program count: the default fills the GPU; fewer programs race less.
    dim, negative, _ = sizes[0]
    base = make_config(device, dim=dim, negative=negative, epochs=1, **VARIANTS["triton-center"])
    resident = TorchTrainer(progress=False).fit(warm, base).info.get("programs", 4)
    for share in (4, 2):
        config = make_config(
            device, dim=dim, negative=negative, epochs=1, programs=max(1, resident // share),
            **VARIANTS["triton-center"],
        )  # fmt: skip
        part.measure(
            f"triton-center dim={dim} K={negative} programs={config.programs}",
            lambda config=config: fit_speed(config, corpus, device),
        )


def quality(args: argparse.Namespace, corpus: EncodedCorpus, device: str) -> None:
    dim, negative, epochs = (16, 3, 1) if args.dry_run else (100, 5, 5)
    part = Part(
        "quality", args, device, {"dim": dim, "negative": negative, "epochs": epochs, **BASE}
    )
    part.report["corpus"] = {"name": corpus.name, "words": corpus.n_words}
    # Most important first; gensim's 5 epochs take most of the box, so its seeds come last.
    order = [("triton-center", 0), ("triton-pair", 0), ("gensim", 0)]
    order += [(label, seed) for label in ("triton-center", "triton-pair") for seed in (1, 2)]
    order += [("torch-step", 0), ("gensim", 1), ("gensim", 2)]
    for label, seed in order:
        config = make_config(
            device, dim=dim, negative=negative, epochs=epochs, seed=seed, **VARIANTS[label]
        )

        def run(config: RunConfig = config) -> dict[str, Any]:
            result = fit(trainer_for(config), corpus, config, device)
            metrics = evaluate(result.vectors)
            return {**speed(result, device, config), **{k: metrics.get(k) for k in QUALITY}}

        entry = part.measure(f"{label} seed={seed}", run)
        if entry:
            entry.update(variant=label, seed=seed)
    summary: dict[str, Any] = {}
    for label in VARIANTS:
        rows = [r for r in part.report["results"] if r.get("variant") == label and QUALITY[0] in r]
        if rows:
            summary[label] = {"seeds": [r["seed"] for r in rows]} | {
                key: sum(r[key] for r in rows) / len(rows) for key in QUALITY
            }
    part.report["mean_over_seeds"] = summary
    part.save()


def sweep(args: argparse.Namespace, corpus_path: str, device: str) -> None:
    """The five-α study as a user runs it (`python -m study grid`), Triton kernel."""
    alphas = ALPHAS[:2] if args.dry_run else ALPHAS
    fixed = {"dim": 16, "negative": 3, "epochs": 1, "min_count": 1} if args.dry_run else {}
    part = Part("sweep", args, device, {"alphas": alphas, "preset": "alpha-study", **fixed})
    part.report["set"] = [redact(value) for value in args.set]
    results = Path(args.out_dir) / "sweep-results"
    command = [
        sys.executable, "-m", "study", "grid", "--preset", "alpha-study", "--trainers", "torch",
        "--grid", "alpha=" + ",".join(str(a) for a in alphas), "--study", "gpu-alpha-sweep",
        "--results", str(results), "--overwrite",
        "--set", f"corpus={corpus_path}", f"device={device}", "kernel=triton",
        *[f"{k}={v}" for k, v in fixed.items()], *args.set,
    ]  # fmt: skip
    part.report["command"] = redact_command(command[3:], " ".join(command[:3]))

    def run() -> dict[str, Any]:
        start = time.perf_counter()
        try:
            out = subprocess.run(command, capture_output=True, text=True, timeout=part.time_left())
            returncode, stdout, stderr = out.returncode, out.stdout, out.stderr
        except subprocess.TimeoutExpired as exc:  # keep the runs that finished
            returncode, stdout, stderr = "timeout", str(exc.stdout or ""), str(exc.stderr or "")
        wall = time.perf_counter() - start
        runs = []
        for metrics_file in sorted((results / "gpu-alpha-sweep" / "runs").glob("*/metrics.json")):
            metrics = json.loads(metrics_file.read_text())
            config = json.loads((metrics_file.parent / "config.json").read_text())
            runs.append(
                {
                    "alpha": config["alpha"],
                    "status": metrics.get("status"),
                    "train_seconds": metrics.get("train_seconds"),
                    "seconds": metrics.get("seconds"),
                    "words_per_sec": metrics.get("words_per_sec"),
                    **{k: (metrics.get("metrics") or {}).get(k) for k in QUALITY},
                    "trainer": (metrics.get("provenance") or {}).get("trainer"),
                }
            )
        return {
            "returncode": returncode,
            "wall_seconds": wall,
            "runs_done": len(runs),
            "runs": runs,
            "stdout_tail": stdout[-1500:],
            "stderr_tail": stderr[-1500:],
        }

    part.measure("alpha-study triton", run)


def cpu_scaling(args: argparse.Namespace, corpus: EncodedCorpus, device: str) -> None:
    cores = os.cpu_count() or 1
    counts = [c for c in (1, 2, 4, 8, 16) if c <= cores]
    words = min(corpus.n_words, args.cpu_max_words)
    data = _common.truncated(corpus, words)
    dim, negative = (16, 3) if args.dry_run else (100, 5)
    part = Part("cpu-scaling", args, "cpu", {"cores": counts, "dim": dim, "negative": negative})
    part.report["corpus"] = {"name": data.name, "words": data.n_words}
    for n in counts:
        for label in ("torch-step", "gensim"):
            fields = dict(VARIANTS[label], workers=n)
            config = make_config("cpu", dim=dim, negative=negative, epochs=1, **fields)
            entry = part.measure(
                f"{label} cores={n}",
                lambda config=config: fit_speed(config, data, "cpu"),
            )
            if entry and "words_per_sec" in entry:
                entry.update(
                    cores=n, variant=label, words_per_sec_per_core=entry["words_per_sec"] / n
                )
    for n in counts:
        rows = {
            r["variant"]: r
            for r in part.report["results"]
            if r.get("cores") == n and "words_per_sec" in r
        }
        if len(rows) == 2:
            rows["torch-step"]["ratio_to_gensim_same_cores"] = (
                rows["torch-step"]["words_per_sec"] / rows["gensim"]["words_per_sec"]
            )
    part.save()


def tiny_corpus_file(corpus: EncodedCorpus, args: argparse.Namespace) -> str:
    """The dry run's corpus as a text file, for the CLI."""
    path = Path(args.out_dir) / "dry-run-corpus.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(" ".join(corpus.vocab.words[i] for i in corpus.ids) + "\n")
    return str(path)


# Kernel variants the parts and the gpu tests launch: (model, dim, K, window, per_pair).
PRECOMPILE = [
    (model, dim, k, window, per_pair)
    for dim, k, window in [(100, 5, 5), (300, 10, 5), (50, 5, 5), (16, 3, 2)]
    for model, per_pair in [("sg", False), ("sg", True), ("cbow", False)]
]


def _compile_variant(variant: tuple[str, int, int, int, bool]) -> str:
    """Launch one variant once on tiny tensors: fills Triton's disk cache for the parts."""
    from study.trainers.triton_sgns import Slices, launch

    model, dim, k, window, per_pair = variant
    start = time.perf_counter()
    w_in = torch.zeros(8, dim, device="cuda")
    w_out = torch.zeros(8, dim, device="cuda")
    ints = torch.zeros(16, dtype=torch.int32, device="cuda")
    shape = (1, 2, 2 * window, k) if per_pair else (1, 2, k)
    negatives = torch.zeros(shape, dtype=torch.int32, device="cuda")
    reach = torch.ones(1, 2, dtype=torch.int32, device="cuda")
    launch(model, w_in, w_out, ints, ints, reach, negatives, Slices(1, 16, 2), 0, 0.01, 0.0,
           window, per_pair)  # fmt: skip
    torch.cuda.synchronize()
    return f"{variant}: {time.perf_counter() - start:.1f}s"


def precompile() -> None:
    """Compile every kernel variant in parallel processes (one compile takes seconds)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=8, mp_context=context) as pool:
        for line in pool.map(_compile_variant, PRECOMPILE):
            print("compiled", line, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "part", choices=["precompile", "throughput", "quality", "sweep", "cpu-scaling"]
    )
    parser.add_argument("--corpus", default=str(_common.WIKI8))
    parser.add_argument("--deadline", type=float, default=300, help="seconds for this part")
    parser.add_argument("--out-dir", default=str(_common.BENCH_DIR))
    parser.add_argument(
        "--gensim-words-300", type=int, default=4_000_000, help="gensim's prefix at dim 300"
    )
    parser.add_argument("--cpu-max-words", type=int, default=1_000_000)
    parser.add_argument("--dry-run", action="store_true", help="CPU + interpreter, tiny sizes")
    parser.add_argument("--only", default="", help="comma-separated label prefixes to run")
    parser.add_argument("--tag", default="", help="suffix of the JSON file name")
    parser.add_argument("--set", nargs="*", default=[], help="sweep: extra key=value fields")
    args = parser.parse_args(argv)
    if args.dry_run:
        os.environ.setdefault("TRITON_INTERPRET", "1")
    device = "cpu" if args.dry_run else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device: use --dry-run to check the script on the CPU")
    if args.part == "precompile":
        if not args.dry_run:
            precompile()
        return
    corpus = load_corpus(args.corpus)
    if args.dry_run:
        corpus = _common.truncated(corpus, 300)
    if args.part == "sweep":
        sweep(args, tiny_corpus_file(corpus, args) if args.dry_run else args.corpus, device)
        return
    {"throughput": throughput, "quality": quality, "cpu-scaling": cpu_scaling}[args.part](
        args, corpus, device
    )


if __name__ == "__main__":
    main()
