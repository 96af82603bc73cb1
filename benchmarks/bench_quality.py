"""Quality parity: the torch trainer vs gensim on the same corpus, config and seeds.

Trains both trainers with every seed, evaluates (WS353, SimLex, Google analogies 3CosAdd with
the 30,000 most frequent words) and reports the means and torch − gensim deltas, plus words/s
of each run (a ratio against gensim measured in the same process run).

    python benchmarks/bench_quality.py --corpus ../shared/data/wiki8.xz --epochs 5 --seeds 0
"""

from __future__ import annotations

import argparse
from typing import Any

import _common

from study.core.config import RunConfig
from study.data.vocab import load_corpus
from study.evaluate.benchmarks import shown_metrics
from study.evaluate.score import evaluate
from study.train.trainers import get_trainer

METRICS = shown_metrics()  # the headline metric of every shown benchmark


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="enwiki-sample")
    parser.add_argument("--max-words", type=int, default=None, help="truncate the stream")
    parser.add_argument("--model", choices=["sg", "cbow"], default="sg")
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--negative", type=int, default=5)
    parser.add_argument("--alpha", type=float, default=0.75)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", default="0", help="comma-separated")
    parser.add_argument("--gensim-workers", type=int, default=0, help="0 = all cores")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    device = _common.resolve_device(args.device)
    corpus = _common.truncated(load_corpus(args.corpus, 5), args.max_words)
    base = RunConfig(
        model=args.model, dim=args.dim, window=args.window, negative=args.negative,
        alpha=args.alpha, epochs=args.epochs, device=device, corpus=args.corpus,
        workers=args.gensim_workers, probe_pairs=0,
    )  # fmt: skip
    report = _common.report_header(
        "quality", device, {**base.to_dict(), "seeds": args.seeds, "corpus_words": corpus.n_words}
    )
    runs = []
    for seed in _common.parse_ints(args.seeds):
        for trainer in ("torch", "gensim"):
            config = base.with_overrides({"trainer": trainer, "seed": seed})
            result, wall, cpu = _common.timed(
                lambda c=config: get_trainer(c.trainer).fit(corpus, c), device
            )
            metrics = evaluate(result.vectors)
            row = {"trainer": trainer, "seed": seed, "seconds": wall, "cpu_seconds": cpu,
                   "words_per_sec": result.words_per_sec,
                   **{m: metrics.get(m) for m in METRICS}}  # fmt: skip
            print(row)
            runs.append(row)
    means = {
        trainer: {
            key: _mean([r[key] for r in runs if r["trainer"] == trainer])
            for key in [*METRICS, "words_per_sec"]
        }  # fmt: skip
        for trainer in ("torch", "gensim")
    }
    report["runs"] = runs
    report["mean"] = means
    report["torch_minus_gensim"] = {m: means["torch"][m] - means["gensim"][m] for m in METRICS}
    report["torch_over_gensim_words_per_sec"] = (
        means["torch"]["words_per_sec"] / means["gensim"]["words_per_sec"]
    )
    print("mean:", means)
    print("torch - gensim:", report["torch_minus_gensim"])
    print(f"torch / gensim words/s: {report['torch_over_gensim_words_per_sec']:.2f}")
    _common.write_report(report, args.out)
    return report


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


if __name__ == "__main__":
    main()
