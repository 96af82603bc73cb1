"""`study corpus info`: what a corpus holds after vocabulary building, and where it is cached."""

from __future__ import annotations

import argparse
from typing import Any

from study.cli.args import int_at_least
from study.core.config import DEFAULT_CORPUS
from study.data.corpus import resolve
from study.data.vocab import load_corpus


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("corpus", help="inspect corpora")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    info = actions.add_parser(
        "info",
        help="tokens, vocabulary size, top words and cache location of a corpus",
        description="Read (or load from cache) a corpus and print its statistics.",
    )
    info.add_argument(
        "--corpus",
        default=DEFAULT_CORPUS,
        help=f"'{DEFAULT_CORPUS}' (default, ships with gensim), 'text8', or a file path "
        "(plain, .gz, .bz2, .xz, .zip)",
    )
    info.add_argument(
        "--min-count", type=int_at_least(1), default=5, help="vocabulary threshold (default 5)"
    )
    info.add_argument(
        "--max-vocab", type=int_at_least(1), default=None, help="keep only the N most frequent"
    )
    info.add_argument("--top", type=int_at_least(0), default=10, help="how many top words to show")
    info.set_defaults(func=corpus_info)


def corpus_info(args: argparse.Namespace) -> int:
    source = resolve(args.corpus, args.data_dir)
    corpus = load_corpus(args.corpus, args.min_count, args.max_vocab, args.data_dir)
    vocab = corpus.vocab
    print(f"corpus:        {corpus.name}")
    print(f"description:   {source.description}")
    print(f"file:          {source.path}")
    print(f"tokens:        {corpus.raw_tokens:,}")
    print(
        f"vocabulary:    {len(vocab):,} words with count >= {args.min_count}"
        + (f" (capped at {args.max_vocab:,})" if args.max_vocab else "")
    )
    print(
        f"in-vocab:      {corpus.n_words:,} tokens in {len(corpus.sentence_starts) - 1:,} sentences"
    )
    top = ", ".join(
        f"{w} ({c:,})" for w, c in zip(vocab.words[: args.top], vocab.counts, strict=False)
    )
    print(f"top words:     {top}")
    print(f"cache:         {corpus.cache_path}")
    return 0
