"""What the benchmarks share: machine and version info, load average, device timing, JSON out,
and derived corpora (a truncated or repeated copy of an `EncodedCorpus`).

Every benchmark writes `results/bench/<bench>_<device>.json` with the same top-level keys
`benchmark`, `device`, `machine`, `versions`, `load_average_before_after`, `config`, plus its
own figures, so two machines' files can be compared field by field.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import gensim
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from study.core.atomic import atomic_write_text  # noqa: E402
from study.data.vocab import EncodedCorpus  # noqa: E402

# The benchmark corpus: $W2V_WIKI8, else wiki8 in the shared data folder next to the checkout.
WIKI8 = Path(os.environ.get("W2V_WIKI8") or ROOT.parent / "shared" / "data" / "wiki8.xz")
BENCH_DIR = ROOT / "results" / "bench"
T = TypeVar("T")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine() -> dict[str, Any]:
    """Host, CPU model and cores, torch threads, GPU name and memory (if any)."""
    info: dict[str, Any] = {
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "affinity_cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        "torch_threads": torch.get_num_threads(),
        "gpu": None,
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = props.name
        info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
    return info


def versions() -> dict[str, str]:
    found = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": str(torch.version.cuda),  # the CUDA torch was built with ("None": a CPU build)
        "numpy": np.__version__,
        "gensim": gensim.__version__,
    }
    try:
        import triton

        found["triton"] = triton.__version__
    except ImportError:
        found["triton"] = "not installed"
    if torch.cuda.is_available():
        try:
            driver = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=30, check=False,
            ).stdout.split()  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            driver = []
        found["nvidia_driver"] = driver[0] if driver else "?"
    return found


def git_commit() -> str | None:
    """The checkout's commit, "+dirty" when tracked files differ from it; in a copy of the tree
    without .git (a GPU machine), the commit passed in as $W2V_COMMIT; else None."""
    passed = os.environ.get("W2V_COMMIT", "").strip() or None
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10)  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, capture_output=True, text=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return passed
    if head.returncode != 0:
        return passed
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages (other jobs on the cores disturb wall-clock timings)."""
    return [round(x, 2) for x in os.getloadavg()]


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], T], device: str) -> tuple[T, float, float]:
    """(fn(), wall seconds, process CPU seconds), timed between device synchronizations.

    Process CPU seconds count every thread of this process (gensim's workers included) and are
    less disturbed than wall time when other jobs share the cores."""
    synchronize(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    value = fn()
    synchronize(device)
    return value, time.perf_counter() - start, time.process_time() - cpu_start


def report_header(benchmark: str, device: str, config: dict[str, Any]) -> dict[str, Any]:
    """The keys every benchmark JSON starts with; the load average is closed by `write_report`."""
    return {
        "benchmark": benchmark,
        "device": device,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": git_commit(),
        "machine": machine(),
        "versions": versions(),
        "load_average_before_after": {"before": load_average()},
        "config": config,
    }


def _clean(value: Any) -> Any:
    """NaN/inf → None (strict JSON), NumPy scalars → Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_report(report: dict[str, Any], out: str | os.PathLike[str] | None) -> Path:
    """Record the load average after the run and write the JSON (default results/bench/)."""
    report["load_average_before_after"]["after"] = load_average()
    path = Path(out) if out else BENCH_DIR / f"{report['benchmark']}_{report['device']}.json"
    atomic_write_text(path, json.dumps(_clean(report), indent=2, allow_nan=False) + "\n")
    print(f"wrote {path}")
    return path


def truncated(corpus: EncodedCorpus, max_words: int | None) -> EncodedCorpus:
    """The first `max_words` words of the encoded stream (sentences cut at that point).

    The vocabulary and its counts stay those of the whole corpus, so subsampling and the noise
    distribution are unchanged and both trainers see the same vocabulary."""
    if max_words is None or max_words >= corpus.n_words:
        return corpus
    starts = corpus.sentence_starts[corpus.sentence_starts < max_words]
    starts = np.append(starts, max_words).astype(np.int64)
    return replace(
        corpus,
        name=f"{corpus.name}[:{max_words}]",
        ids=corpus.ids[:max_words].copy(),
        sentence_starts=starts,
        raw_tokens=max_words,
        fingerprint=f"{corpus.fingerprint}:first{max_words}",
        cache_path=None,
    )


def repeated(corpus: EncodedCorpus, times: int) -> EncodedCorpus:
    """The encoded stream repeated `times` times (sentence boundaries repeated with it).

    Counts are left as they are: subsampling and noise depend only on relative counts, which
    repetition does not change."""
    if times == 1:
        return corpus
    n = corpus.n_words
    starts = [corpus.sentence_starts[:-1] + i * n for i in range(times)] + [[n * times]]
    return replace(
        corpus,
        name=f"{corpus.name}x{times}",
        ids=np.tile(corpus.ids, times),
        sentence_starts=np.concatenate(starts).astype(np.int64),
        raw_tokens=corpus.raw_tokens * times,
        fingerprint=f"{corpus.fingerprint}:x{times}",
        cache_path=None,
    )


def parse_ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]
