"""`study eval VECTORS`: the registry's benchmarks (`study.evaluate.benchmarks`) for saved vectors.

VECTORS is a word2vec file (text or binary, detected; .gz/.bz2 work) or a gensim
`KeyedVectors.save()` file (a pickle; a saved full Word2Vec model is read through its `.wv`).
With `--w-plus-c` the sum of input and output vectors of the same run (output_vectors.bin
beside VECTORS, or `--output-vectors FILE`) is scored too (the w+c trick), as `<name>_wc_...`.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from study.cli.args import add_benchmarks_argument, int_at_least
from study.core.errors import StudyError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate saved vectors on word-pair and analogy benchmarks",
        description="Print Spearman ρ and coverage of every word-pair benchmark (WS353 and its "
        "similarity/relatedness splits, MEN, MTurk-287, Rare Words, SimLex-999), accuracy "
        "(3CosAdd, 3CosMul) and coverage of the Google and MSR analogies with a per-section "
        "table, each with a 95% interval over its items, and nearest neighbours.",
    )
    parser.add_argument("vectors", help="word2vec text/binary file or gensim KeyedVectors (.kv)")
    parser.add_argument(
        "--restrict",
        type=int_at_least(1),
        default=30_000,
        metavar="N",
        help="analogies over the N most frequent words (default 30000, as word2vec.c)",
    )
    # One file per flag: a `nargs="+"` option would swallow the positional VECTORS that follows
    # it (`study eval --pairs f.txt vectors.bin` failed with "required: vectors").
    parser.add_argument(
        "--pairs",
        action="append",
        default=[],
        metavar="FILE",
        help="an extra 'word1 word2 score' file (tab or whitespace, # comments); repeat the flag "
        "for several files",
    )
    parser.add_argument(
        "--analogies",
        default=None,
        metavar="FILE",
        help="analogy file in the Google format, scored as 'analogy' instead of Google's "
        "questions-words.txt",
    )
    add_benchmarks_argument(parser)
    parser.add_argument(
        "--neighbours", default=None, metavar="W1,W2", help="show nearest neighbours of these"
    )
    parser.add_argument(
        "-k", type=int_at_least(1), default=10, help="how many neighbours (default 10)"
    )
    parser.add_argument(
        "--w-plus-c",
        action="store_true",
        help="also score input + output vectors (w+c, as <name>_wc_...; needs the run's "
        "output_vectors.bin)",
    )
    parser.add_argument(
        "--output-vectors",
        default=None,
        metavar="FILE",
        help="output vectors for --w-plus-c (default: output_vectors.bin beside VECTORS)",
    )
    parser.add_argument(
        "--device", default="auto", choices=["auto", "cpu", "cuda"], help="for the analogy search"
    )
    parser.set_defaults(func=eval_command)


def eval_command(args: argparse.Namespace) -> int:
    import pandas as pd

    from study.evaluate.items import metric_scores
    from study.evaluate.score import GOOGLE_ANALOGIES_PATH, nearest_neighbours, run_evaluation
    from study.evaluate.stats import MIN_COUNTED_ITEMS, run_interval
    from study.train.vectors import OUTPUT_VECTORS_FILE, load_vectors, matching_output

    vectors = load_vectors(args.vectors)
    shown = args.vectors
    output_vectors = None
    if args.output_vectors and not args.w_plus_c:
        raise StudyError("--output-vectors is only used with --w-plus-c")
    if args.w_plus_c:
        output = args.output_vectors or str(Path(args.vectors).parent / OUTPUT_VECTORS_FILE)
        if not Path(output).is_file():
            raise StudyError(
                f"--w-plus-c needs the output vectors: {output} not found (runs save them "
                "unless --no-output-vectors; or give --output-vectors FILE)"
            )
        output_vectors = matching_output(vectors, load_vectors(output))
        shown = f"{args.vectors}, and + {output} (w+c)"
    print(f"vectors:  {shown} ({len(vectors.index_to_key):,} words, dim {vectors.vector_size})")
    result = run_evaluation(
        vectors,
        restrict_vocab=args.restrict,
        pairs=args.pairs,
        analogies=args.analogies or GOOGLE_ANALOGIES_PATH,
        device=args.device,
        benchmarks=args.benchmarks,
        output_vectors=output_vectors,
    )
    width = max(len(name) for name in result.metrics)
    print(f"{'metric':<{width}}  value   95% interval (bootstrap over the benchmark's items)")
    for name, value in result.metrics.items():
        shown = f"{value:.0f}" if name.endswith("_questions") else f"{value:.4f}"
        scores = metric_scores(result.items, name)
        interval = ""
        if scores is not None and not math.isnan(value):
            found = run_interval(scores)
            few = f"  (no interval: fewer than {MIN_COUNTED_ITEMS} items counted)"
            interval = f"  [{found.low:.4f}, {found.high:.4f}]" if found.low == found.low else few
        print(f"{name:<{width}}  {'nan' if math.isnan(value) else shown}{interval}")
    print()
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(result.sections.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    if args.neighbours:
        words = [w.strip() for w in args.neighbours.split(",") if w.strip()]
        print()
        for word, neighbours in nearest_neighbours(vectors, words, args.k).items():
            print(f"{word}: " + ", ".join(f"{w} ({s:.3f})" for w, s in neighbours))
    return 0
