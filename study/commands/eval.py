"""`study eval VECTORS`: benchmarks (WS353, SimLex-999, Google analogies) for saved vectors.

VECTORS is a word2vec file (text or binary, detected; .gz/.bz2 work) or a gensim
`KeyedVectors.save()` file (a pickle; a saved full Word2Vec model is read through its `.wv`).
"""

from __future__ import annotations

import argparse
import math
import pickle
from pathlib import Path
from typing import Any

from study.commands.args import int_at_least
from study.errors import StudyError

_PICKLE_MARK = b"\x80"  # first byte of a pickle (protocol >= 2), as KeyedVectors.save writes


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate saved vectors on word-pair and analogy benchmarks",
        description="Print WordSim-353 / SimLex-999 Spearman and coverage, Google analogy "
        "accuracy (3CosAdd, 3CosMul) with its per-section table, and nearest neighbours.",
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
        help="analogy file in the Google format (default: gensim's questions-words.txt)",
    )
    parser.add_argument(
        "--neighbours", default=None, metavar="W1,W2", help="show nearest neighbours of these"
    )
    parser.add_argument(
        "-k", type=int_at_least(1), default=10, help="how many neighbours (default 10)"
    )
    parser.add_argument(
        "--device", default="auto", choices=["auto", "cpu", "cuda"], help="for the analogy search"
    )
    parser.set_defaults(func=eval_command)


def eval_command(args: argparse.Namespace) -> int:
    import pandas as pd

    from study.evaluate import GOOGLE_ANALOGIES_PATH, nearest_neighbours, run_evaluation

    vectors = load_vectors(args.vectors)
    print(
        f"vectors:  {args.vectors} ({len(vectors.index_to_key):,} words, dim {vectors.vector_size})"
    )
    result = run_evaluation(
        vectors,
        restrict_vocab=args.restrict,
        pairs=args.pairs,
        analogies=args.analogies or GOOGLE_ANALOGIES_PATH,
        device=args.device,
    )
    width = max(len(name) for name in result.metrics)
    for name, value in result.metrics.items():
        shown = f"{value:.0f}" if name.endswith("_questions") else f"{value:.4f}"
        print(f"{name:<{width}}  {'nan' if math.isnan(value) else shown}")
    print()
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(result.sections.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    if args.neighbours:
        words = [w.strip() for w in args.neighbours.split(",") if w.strip()]
        print()
        for word, neighbours in nearest_neighbours(vectors, words, args.k).items():
            print(f"{word}: " + ", ".join(f"{w} ({s:.3f})" for w, s in neighbours))
    return 0


def load_vectors(path_str: str) -> Any:
    """KeyedVectors from a gensim pickle or a word2vec file, format detected from the bytes."""
    from gensim.models import KeyedVectors
    from gensim.utils import open as smart_open

    path = Path(path_str)
    if not path.is_file():
        raise StudyError(f"vectors file not found: {path}")
    try:
        with smart_open(str(path), "rb") as fin:
            head = fin.read(1)
        if head == _PICKLE_MARK:
            loaded = KeyedVectors.load(str(path))
            vectors = getattr(loaded, "wv", loaded)  # a full Word2Vec model saved with .save()
            if not isinstance(vectors, KeyedVectors):
                raise StudyError(f"{path}: a pickle, but not gensim KeyedVectors")
            return vectors
        binary = _is_binary_word2vec(path)
        return KeyedVectors.load_word2vec_format(str(path), binary=binary)
    except StudyError:
        raise
    except (OSError, ValueError, EOFError, UnicodeDecodeError, pickle.UnpicklingError) as exc:
        raise StudyError(f"{path}: cannot read vectors ({exc})") from None


def _is_binary_word2vec(path: Path) -> bool:
    """Text if the first record after the 'count dim' header is 'word f1 ... f_dim' text."""
    from gensim.utils import open as smart_open

    with smart_open(str(path), "rb") as fin:
        header = fin.readline().split()
        if len(header) != 2 or not all(h.isdigit() for h in header):
            raise StudyError(f"{path}: not a word2vec file (first line is not 'count dim')")
        dim = int(header[1])
        record = fin.readline(1 << 20)
    try:
        fields = record.decode("utf-8").split()
        [float(x) for x in fields[1:]]
    except (UnicodeDecodeError, ValueError):
        return True
    return len(fields) != dim + 1
