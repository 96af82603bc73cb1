"""The GPU figures, one part at a time; `benchmarks/gpu_check.sh` runs the parts, time-boxed.

    python benchmarks/bench_gpu.py PART [--corpus PATH] [--deadline SECONDS] [--out-dir DIR]
        [--dry-run] [--only PREFIXES] [--tag SUFFIX]

- kernels: every kernel variant the parts launch, compiled for this GPU's architecture (sm_90
  without one): registers, spills, launch shape, programs per SM, SASS figures.
- throughput: corpus words/s of the batched torch step and the Triton kernel (negatives per
  center and per pair) on the GPU, 1 epoch at dim 100/K 5 and dim 300/K 10, beside gensim with
  every CPU core on the same machine (its ratio), peak GPU memory (MiB); the kernel's program
  count swept at dim 100.
- tune: each benchmarked launch shape's alternatives (1, 2, 4, 8 warps under the registers
  each compiles to), 1 epoch each: words/s and loss; prints TUNED_SHAPES lines for the best.
- quality: per centre and per pair (Triton) against gensim with every core, 5 seeds each, dim
  100/K 5, 5 epochs, as one study (`python -m study grid`), verdicts by `python -m study
  compare`.
- sweep: the original five-α study (dim 300, window 5, K 10, 10 epochs) with the Triton
  kernel, through `python -m study grid` as a user runs it: wall time and each run's metrics.
- grid: the 135-run grid (`--preset alpha-window-negative`: α × window × negative × 3 seeds,
  dim 100, 5 epochs) and its report, end to end: wall time, each run's overhead (seconds
  outside training), the report's files.
- levy: `--preset levy2015` at full scale (dim 500) and its report, when the preset exists.
- cpu-scaling: words/s of the torch step on the CPU (`workers=n`: one process for n = 1,
  n Hogwild worker processes above; `trainer_info.cpu_path`) and of gensim at 1, 2, 4, 8, 16
  cores, with their same-core ratio.

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
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common
import torch

from study.core.config import RunConfig
from study.core.redact import redact, redact_command
from study.data.vocab import EncodedCorpus, load_corpus
from study.evaluate.benchmarks import shown_metrics
from study.run.grid import ALPHAS, PRESETS
from study.train.trainers.base import Trainer, TrainResult
from study.train.trainers.gensim_sgns import GensimTrainer
from study.train.trainers.torch_sgns import TorchTrainer

QUALITY = tuple(shown_metrics())  # the headline metric of every shown benchmark
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
# Kernel variants the parts and the gpu tests launch, as triton_aot specs.
KERNELS = [
    *[f"{m}:100:5:5{p}" for m, p in [("sg", ""), ("sg", ":pair"), ("cbow", "")]],
    *[f"{m}:300:10:5{p}" for m, p in [("sg", ""), ("sg", ":pair"), ("cbow", "")]],
    *[f"sg:100:{k}:{w}" for k in (5, 10, 15) for w in (2, 5, 10) if (k, w) != (5, 5)],
    *[f"sg:500:{k}:{w}" for k in (1, 5, 15) for w in (2, 5, 10)],
    "sg:50:5:5", "sg:50:5:5:pair", "cbow:50:5:5",
]  # fmt: skip
REPORT_SECONDS = 60  # of the grid parts' boxes, kept for `study report` (or `study compare`)
# (dim, K, per pair) of the shapes `tune` times
TUNE = [(100, 5, False), (100, 5, True), (300, 10, False), (300, 10, True)]


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


def run_study(command: list[str], part: Part, reserve: float = 0.0) -> dict[str, Any]:
    """One `python -m study ...` command within the part's time left but `reserve` seconds:
    its exit status, wall time and output tails (a command stopped by the time box keeps its
    finished runs)."""
    start = time.perf_counter()
    try:
        out = subprocess.run(
            command, capture_output=True, text=True, timeout=max(1.0, part.time_left() - reserve)
        )
        returncode, stdout, stderr = out.returncode, out.stdout, out.stderr
    except subprocess.TimeoutExpired as exc:
        returncode, stdout, stderr = "timeout", _text(exc.stdout), _text(exc.stderr)
    return {
        "command": redact_command(command[3:], " ".join(command[:3])),
        "returncode": returncode,
        "wall_seconds": round(time.perf_counter() - start, 2),
        "stdout_tail": stdout[-3000:],
        "stderr_tail": stderr[-1500:],
    }


def _text(value: str | bytes | None) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else (value or "")


def study_runs(folder: Path) -> list[dict[str, Any]]:
    """Each finished or failed run of a study folder: config fields that vary, status, times,
    metrics, trainer provenance."""
    runs = []
    for metrics_file in sorted((folder / "runs").glob("*/metrics.json")):
        metrics = json.loads(metrics_file.read_text())
        config = json.loads((metrics_file.parent / "config.json").read_text())
        seconds, train = metrics.get("seconds"), metrics.get("train_seconds")
        runs.append(
            {
                **{k: config.get(k) for k in ("trainer", "alpha", "window", "negative", "seed")},
                "neg_draw": config.get("neg_draw"),
                "status": metrics.get("status"),
                "train_seconds": train,
                "seconds": seconds,
                "overhead_seconds": seconds - train if seconds and train else None,
                "words_per_sec": metrics.get("words_per_sec"),
                **{k: (metrics.get("metrics") or {}).get(k) for k in QUALITY},
                "trainer": (metrics.get("provenance") or {}).get("trainer"),
            }
        )
    return runs


def corpus_arg(args: argparse.Namespace, corpus: EncodedCorpus) -> str:
    """The corpus as the CLI takes it: the dry run's tiny corpus as a text file."""
    return tiny_corpus_file(corpus, args) if args.dry_run else args.corpus


# -- parts ---------------------------------------------------------------------------------
def kernels(args: argparse.Namespace, corpus: EncodedCorpus, device: str) -> None:
    """sm_XX compiles of every kernel variant at its launch shape."""
    sms = torch.cuda.get_device_properties(0).multi_processor_count if device == "cuda" else None
    arch = gpu_arch()
    part = Part("kernels", args, device, {"arch": f"sm_{arch}", "variants": KERNELS})
    part.report["multiprocessors"] = sms

    specs = KERNELS[:3] if args.dry_run else KERNELS  # a dry run checks the plumbing

    def compile_all() -> dict[str, Any]:
        found = aot(specs, 0, part)
        for entry in found:
            if sms:
                entry["default_programs_before_data_cap"] = sms * entry["programs_per_sm"]
        return {"variants": found}

    part.measure("compile", compile_all)


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
    default = TorchTrainer(progress=False).fit(corpus, base).info.get("programs", 4)
    for share in (4, 2):
        config = make_config(
            device, dim=dim, negative=negative, epochs=1, programs=max(1, default // share),
            **VARIANTS["triton-center"],
        )  # fmt: skip
        part.measure(
            f"triton-center dim={dim} K={negative} programs={config.programs}",
            lambda config=config: fit_speed(config, corpus, device),
        )


def tune(args: argparse.Namespace, corpus: EncodedCorpus, device: str) -> None:
    """Each benchmarked shape at 1, 2, 4, 8 warps, its cap the registers that warp count
    compiles to (skipped where it spills): 1 epoch, words/s and loss."""
    shapes = [(16, 3, False), (16, 3, True)] if args.dry_run else TUNE
    words = min(corpus.n_words, args.tune_words)
    data = _common.truncated(corpus, words)
    part = Part("tune", args, device, {"shapes": shapes, "words": words, **BASE})
    best: dict[str, tuple[float, str]] = {}
    for dim, negative, per_pair in shapes:
        label = f"dim={dim} K={negative} pair={per_pair}"
        for warps in (1, 2, 4, 8):
            shape = (dim, negative, per_pair, warps)
            entry = part.measure(
                f"{label} warps={warps}", lambda shape=shape: time_shape(data, device, *shape, part)
            )
            if entry and "words_per_sec" in entry:
                if entry["words_per_sec"] > best.get(label, (0.0, ""))[0]:
                    best[label] = (entry["words_per_sec"], entry["shape_line"])
    part.report["fastest"] = {label: line for label, (_, line) in best.items()}
    part.save()
    for label, (rate, line) in best.items():
        print(f"fastest {label}: {rate / 1e6:.1f} M words/s  {line}")


def time_shape(
    data: EncodedCorpus, device: str, dim: int, negative: int, per_pair: bool, warps: int,
    part: Part,
) -> dict[str, Any]:  # fmt: skip
    """One epoch of skip-gram at `warps` warps per program under the registers it compiles to
    (the TUNED_SHAPES entry replaced for the run, then restored)."""
    from study.train.trainers import triton_kernels as tk

    variant = tk.Variant("sg", dim, negative, 5, per_pair)
    (compiled,) = aot([spec_of(variant)], warps, part)
    if compiled["stack_bytes"] or compiled["local_bytes"]:
        return {"spills": True, **compiled}
    cap = min(tk.MAX_REGISTERS, -(-compiled["registers"] // 8) * 8)
    key = ("sg", per_pair, variant.row, variant.constexprs()["KP"])
    saved = tk.TUNED_SHAPES.get(key)
    tk.TUNED_SHAPES[key] = shape = tk.LaunchShape(warps, cap)
    try:
        draw = "pair" if per_pair else "center"
        config = make_config(device, dim=dim, negative=negative, epochs=1,
                             **VARIANTS[f"triton-{draw}"])  # fmt: skip
        found = fit_speed(config, data, device)
    finally:
        if saved is None:
            del tk.TUNED_SHAPES[key]
        else:
            tk.TUNED_SHAPES[key] = saved
    line = f"{key}: LaunchShape({warps}, {cap}),  # {shape.programs_per_sm} programs/SM"
    return {"shape_line": line, "registers": compiled["registers"], **found}


def gpu_arch() -> int:
    """This GPU's compute capability as 90 for sm_90 (90 without a GPU)."""
    if not torch.cuda.is_available():
        return 90
    major, minor = torch.cuda.get_device_capability()
    return 10 * major + minor


def aot(specs: list[str], warps: int, part: Part) -> list[dict[str, Any]]:
    """The variants (triton_aot specs) compiled for this GPU, at their launch shapes or at
    `warps` under the hardware register cap: in fresh processes (a dry run's interpreter cannot
    compile), one per core at most, in the order given."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    command = [sys.executable, "-m", "study.train.trainers.triton_aot", "--arch", str(gpu_arch()),
               *(["--warps", str(warps)] if warps else [])]  # fmt: skip
    workers = max(1, min(len(specs), (os.cpu_count() or 1) // 2))
    chunks = [specs[i::workers] for i in range(workers)]
    running = [
        subprocess.Popen(
            [*command, *chunk], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )  # fmt: skip
        for chunk in chunks
    ]
    found: dict[str, dict[str, Any]] = {}
    try:
        for process in running:
            stdout, stderr = process.communicate(timeout=max(1.0, part.time_left()))
            if process.returncode != 0:
                raise RuntimeError((stderr.strip().splitlines() or ["triton_aot failed"])[-1])
            for line in stdout.splitlines():
                if line.startswith("{"):
                    entry = json.loads(line)
                    found[entry["variant"]] = entry
    finally:
        for process in running:
            process.kill()
    from study.train.trainers.triton_aot import parse_variant

    return [found[parse_variant(spec).label()] for spec in specs]


def spec_of(variant: Any) -> str:
    pair = ":pair" if variant.per_pair else ""
    return f"{variant.model}:{variant.dim}:{variant.negative}:{variant.window}{pair}"


def quality(args: argparse.Namespace, corpus: EncodedCorpus, device: str) -> None:
    """Triton per centre and per pair against gensim (every core), as one study, 5 seeds each
    (the Triton runs first: gensim's take most of the time), then `study compare`."""
    dim, negative, epochs = (16, 3, 1) if args.dry_run else (100, 5, 5)
    seeds = "0,1" if args.dry_run else "0,1,2,3,4"
    fixed = {"dim": dim, "negative": negative, "epochs": epochs, "window": 5, "alpha": 0.75,
             "sample": 1e-3, "min_count": 1 if args.dry_run else 5}  # fmt: skip
    part = Part("quality", args, device, {"seeds": seeds, **fixed})
    results = Path(args.out_dir) / "quality-results"
    name = "gpu-quality"
    common = [sys.executable, "-m", "study", "grid", "--study", name, "--results", str(results),
              "--seeds", seeds, "--no-output-vectors",
              "--set", f"corpus={corpus_arg(args, corpus)}",
              *[f"{k}={v}" for k, v in fixed.items()]]  # fmt: skip
    triton = [*common, "kernel=triton", f"device={device}", "--trainers", "torch",
              "--grid", "neg_draw=center,pair"]  # fmt: skip
    gensim = [*common, "workers=0", "--trainers", "gensim"]
    part.measure("triton grid", lambda: run_study(triton, part, reserve=REPORT_SECONDS))
    part.measure("gensim grid", lambda: run_study(gensim, part, reserve=REPORT_SECONDS / 2))
    for draw in ("center", "pair"):
        compare = [sys.executable, "-m", "study", "compare", name, "--results", str(results),
                   "--a", "trainer=torch", f"neg_draw={draw}", "--b", "trainer=gensim"]  # fmt: skip
        part.measure(f"compare triton-{draw} vs gensim", lambda c=compare: run_study(c, part))
    part.report["runs"] = study_runs(results / name)
    part.save()


def sweep(args: argparse.Namespace, corpus: EncodedCorpus, device: str) -> None:
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
        "--set", f"corpus={corpus_arg(args, corpus)}", f"device={device}", "kernel=triton",
        *[f"{k}={v}" for k, v in fixed.items()], *args.set,
    ]  # fmt: skip

    def run() -> dict[str, Any]:
        found = run_study(command, part)
        found["runs"] = study_runs(results / "gpu-alpha-sweep")
        found["runs_done"] = len(found["runs"])
        return found

    part.measure("alpha-study triton", run)


def grid_and_report(
    args: argparse.Namespace, corpus: EncodedCorpus, device: str, name: str,
    preset: str, fixed: dict[str, Any], dry_axes: list[str],
) -> None:  # fmt: skip
    """A preset's grid with the Triton kernel and its report, end to end, as a user runs them;
    the report's Markdown and the runs table are copied beside the JSON."""
    part = Part(name, args, device, {"preset": preset, **fixed})
    results = Path(args.out_dir) / f"{name}-results"
    study = f"gpu-{name}"
    grid = [sys.executable, "-m", "study", "grid", "--preset", preset, "--study", study,
            "--results", str(results), "--no-output-vectors",
            "--set", f"corpus={corpus_arg(args, corpus)}", f"device={device}", "kernel=triton",
            *[f"{k}={v}" for k, v in fixed.items()], *args.set]  # fmt: skip
    if args.dry_run:  # one cell, the seeds the preset needs at least
        grid += ["--seeds", "0,1,2" if preset == "levy2015" else "0", "--grid", *dry_axes]
    report = [sys.executable, "-m", "study", "report", study, "--results", str(results)]
    # The report gets the box's last REPORT_SECONDS even when the grid is cut short.
    part.measure("grid", lambda: run_study(grid, part, reserve=REPORT_SECONDS))
    part.measure("report", lambda: run_study(report, part))
    runs = study_runs(results / study)
    part.report["runs"] = runs
    done = [r for r in runs if r["status"] == "done"]
    if done:
        overhead = sorted(r["overhead_seconds"] for r in done if r["overhead_seconds"])
        train = sorted(r["train_seconds"] for r in done)
        part.report["summary"] = {
            "runs_done": len(done),
            "runs_failed": len(runs) - len(done),
            "train_seconds_total": sum(train),
            "overhead_seconds_total": sum(overhead),
            "overhead_seconds_median": overhead[len(overhead) // 2] if overhead else None,
            "train_seconds_median": train[len(train) // 2],
        }
    for produced in ("report.md", "runs.csv"):
        found = sorted((results / study).rglob(produced))
        if found:
            shutil.copy(found[0], Path(args.out_dir) / f"gpu-{name}-{produced}")
    part.save()


def grid(args: argparse.Namespace, corpus: EncodedCorpus, device: str) -> None:
    fixed = {"dim": 16, "epochs": 1, "min_count": 1} if args.dry_run else {"dim": 100}
    dry_axes = ["alpha=0.75,1.0", "window=2", "negative=3"]
    grid_and_report(args, corpus, device, "grid", "alpha-window-negative", fixed, dry_axes)


def levy(args: argparse.Namespace, corpus: EncodedCorpus, device: str) -> None:
    if "levy2015" not in PRESETS:
        part = Part("levy", args, device, {})
        part.report["skipped"].append("--preset levy2015 is not in this tree (issue 21)")
        part.save()
        return
    fixed = {"dim": 16, "epochs": 1, "min_count": 1} if args.dry_run else {"dim": 500}
    dry_axes = ["alpha=0.75", "window=2", "negative=1"]
    grid_and_report(args, corpus, device, "levy", "levy2015", fixed, dry_axes)


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


def _compile_variant(spec: str) -> str:
    """Launch one variant once on tiny tensors: fills Triton's disk cache for the parts."""
    from study.train.trainers import triton_aot
    from study.train.trainers.triton_sgns import EpochLaunch, Slices, launch

    variant = triton_aot.parse_variant(spec)
    start = time.perf_counter()
    w_in = torch.zeros(8, variant.row, device="cuda")
    w_out = torch.zeros(8, variant.row, device="cuda")
    ints = torch.zeros(16, dtype=torch.int32, device="cuda")
    table = torch.zeros(8, dtype=torch.int64, device="cuda")
    launch(
        EpochLaunch(variant, w_in, w_out, ints, ints, table, Slices(1, 16, 2), 1, 0, 0.01, 0.0), 0
    )
    torch.cuda.synchronize()
    return f"{spec}: {time.perf_counter() - start:.1f}s"


def precompile() -> None:
    """Compile every kernel variant in parallel processes (one compile takes seconds)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=8, mp_context=context) as pool:
        for line in pool.map(_compile_variant, KERNELS):
            print("compiled", line, flush=True)


PARTS: dict[str, Callable[[argparse.Namespace, EncodedCorpus, str], None]] = {
    "kernels": kernels,
    "throughput": throughput,
    "tune": tune,
    "quality": quality,
    "sweep": sweep,
    "grid": grid,
    "levy": levy,
    "cpu-scaling": cpu_scaling,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("part", choices=["precompile", *PARTS])
    parser.add_argument("--corpus", default=str(_common.WIKI8))
    parser.add_argument("--deadline", type=float, default=300, help="seconds for this part")
    parser.add_argument("--out-dir", default=str(_common.BENCH_DIR))
    parser.add_argument(
        "--gensim-words-300", type=int, default=4_000_000, help="gensim's prefix at dim 300"
    )
    parser.add_argument("--cpu-max-words", type=int, default=1_000_000)
    parser.add_argument("--tune-words", type=int, default=8_000_000, help="tune: words per run")
    parser.add_argument("--dry-run", action="store_true", help="CPU + interpreter, tiny sizes")
    parser.add_argument("--only", default="", help="comma-separated label prefixes to run")
    parser.add_argument("--tag", default="", help="suffix of the JSON file name")
    parser.add_argument("--set", nargs="*", default=[], help="grid parts: extra key=value fields")
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
    PARTS[args.part](args, corpus, device)


if __name__ == "__main__":
    main()
