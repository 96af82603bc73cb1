"""Time the full Google analogy evaluation: study.evaluate.score vs gensim, same vectors, same run.

Vectors: random Gaussian (seed 0), dim 100, for the 30,000 most frequent words of wiki8
($W2V_WIKI8, else `../shared/data/wiki8.xz`; without it, the Google question words padded with
filler words to 30,000), with offsets planted in three sections so that some answers are right
and the correct counts of the two implementations can be compared. The work is the same as
for trained vectors: every covered question scores the whole restricted vocabulary.

    python benchmarks/bench_eval.py [--words 30000] [--dim 100] [--repeats 3] [--device auto]

Writes results/bench/eval_<device>.json (machine, versions, timings, ratio) and prints the ratio
gensim seconds / our seconds. Our timing is a full `evaluate_analogies` call (file parsing,
lookups, 3CosAdd and 3CosMul), after one warm-up call; gensim's `evaluate_word_analogies` does
3CosAdd only.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import gensim
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import WIKI8, machine  # noqa: E402

from study.core.atomic import atomic_write_text  # noqa: E402
from study.evaluate.score import GOOGLE_ANALOGIES_PATH, evaluate_analogies, read_analogies  # noqa: E402
from study.train.vectors import keyed_vectors  # noqa: E402

PLANTED = ("family", "gram3-comparative", "gram8-plural")


def vocabulary(n: int) -> tuple[list[str], str]:
    if WIKI8.exists():
        from study.data.vocab import load_corpus

        words = load_corpus(str(WIKI8), min_count=5, max_vocab=n).vocab.words[:n]
        return list(words), f"the {len(words):,} most frequent words of wiki8"
    seen = dict.fromkeys(w.lower() for q in read_analogies().questions for w in q)
    words = list(seen)[:n] + [f"filler{i}" for i in range(max(0, n - len(seen)))]
    return words, "Google question words padded with filler words (wiki8 not found)"


def planted_vectors(words: list[str], dim: int) -> np.ndarray:
    """Random vectors; three sections get planted offsets so part of them is answered right."""
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(len(words), dim))
    index = {w: i for i, w in enumerate(words)}
    analogies = read_analogies()
    for section in PLANTED:
        offset = rng.normal(size=dim) * 2.0
        s = analogies.sections.index(section)
        for (a, b, _, _), sid in zip(analogies.questions, analogies.section_ids, strict=True):
            ia, ib = index.get(a.lower()), index.get(b.lower())
            if sid == s and ia is not None and ib is not None:
                vecs[ib] = vecs[ia] + offset + 1.2 * rng.normal(size=dim)
    return vecs.astype(np.float32)


def time_ours(kv, restrict: int, device: str, repeats: int, threads: int) -> tuple[dict, object]:
    def once():
        return evaluate_analogies(kv, restrict_vocab=restrict, device=device, cpu_threads=threads)

    once()  # warm-up
    times, cpu_times, result = [], [], None
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start, cpu_start = time.perf_counter(), time.process_time()
        result = once()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    timing = {
        "seconds_min": min(times),
        "seconds_median": statistics.median(times),
        "seconds_all": times,
        "process_cpu_seconds_all": cpu_times,
    }
    return timing, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=30_000)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--out", default=None, help="JSON path (default results/bench/...)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"

    words, source = vocabulary(args.words)
    vecs = planted_vectors(words, args.dim)
    kv = keyed_vectors(words, vecs)
    restrict = len(words)

    # CPU: the default (1 thread for the batched search) and all cores, then the GPU if any.
    runs = [("cpu", 1)] + ([("cpu", os.cpu_count() or 1)] if (os.cpu_count() or 1) > 1 else [])
    runs += [("cuda", 1)] if device == "cuda" else []
    ours: dict[str, dict] = {}
    results = {}
    load_before = os.getloadavg()
    for dev, threads in runs:
        name = dev if dev == "cuda" else f"cpu_{threads}thread"
        ours[name], results[dev] = time_ours(kv, restrict, dev, args.repeats, threads)
        print(
            f"study.evaluate.score ({name}): {ours[name]['seconds_min']:.3f} s"
            f" (min of {args.repeats})"
        )

    start, cpu_start = time.perf_counter(), time.process_time()
    _, sections = kv.evaluate_word_analogies(str(GOOGLE_ANALOGIES_PATH), restrict_vocab=restrict)
    gensim_s = time.perf_counter() - start
    gensim_cpu_s = time.process_time() - cpu_start
    print(f"gensim evaluate_word_analogies: {gensim_s:.3f} s")

    total = sections[-1]
    gensim_correct = len(total["correct"])
    gensim_counted = gensim_correct + len(total["incorrect"])
    main_result = results[device]
    metrics = main_result.metrics()
    ours_correct = int(main_result.correct_add.sum())
    best = min(v["seconds_min"] for k, v in ours.items() if k.startswith(device))
    ratio = gensim_s / best
    report = {
        "benchmark": "google_analogies",
        "vectors": f"random N(0,1) float32, seed 0, dim {args.dim}, for {source}; offsets "
        f"planted in {', '.join(PLANTED)}",
        "restrict_vocab": restrict,
        "questions_total": len(main_result.covered),
        "questions_counted": int(main_result.covered.sum()),
        "device": device,
        "machine": machine(),
        "load_average_1min_before_after": [load_before[0], os.getloadavg()[0]],
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "gensim": gensim.__version__,
        },
        "ours": ours,
        "gensim_seconds": gensim_s,
        "gensim_process_cpu_seconds": gensim_cpu_s,
        "ratio_gensim_over_ours": ratio,
        # CPU seconds are less disturbed than wall time when other jobs share the cores.
        "ratio_cpu_seconds_gensim_over_ours_1thread": gensim_cpu_s
        / min(ours["cpu_1thread"]["process_cpu_seconds_all"]),
        "agreement": {
            "ours_counted": int(metrics["analogy_questions"]),
            "gensim_counted": gensim_counted,
            "ours_correct_3cosadd": ours_correct,
            "gensim_correct_3cosadd": gensim_correct,
            "ours_correct_3cosmul": int(main_result.correct_mul.sum()),
        },
    }
    out = Path(args.out) if args.out else ROOT / "results" / "bench" / f"eval_{device}.json"
    atomic_write_text(out, json.dumps(report, indent=2) + "\n")
    print(
        f"{report['questions_counted']:,} questions, {restrict:,} words, dim {args.dim}: "
        f"ours ({device}, best) {best:.3f} s, gensim {gensim_s:.1f} s, "
        f"ratio {ratio:.1f}x; correct 3CosAdd ours {ours_correct} / gensim {gensim_correct}"
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
