"""Vocabulary, encoding to int32 ids, a content-keyed cache, and subsampling probabilities.

`load_corpus` is the one entry point trainers use: it resolves a corpus spec, builds the
vocabulary (min_count, optional max_vocab, most frequent first) and the encoded id stream, and
caches both under `<data dir>/cache/` keyed by corpus content + vocabulary settings, so a second
run with the same corpus starts at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from study.atomic import atomic_path
from study.corpus import CorpusSource, data_dir, resolve
from study.errors import CorpusError

CACHE_VERSION = 1
MAX_SENTENCE_WORDS = 10_000  # gensim truncates longer sentences; we split at this length instead


@dataclass(frozen=True)
class Vocab:
    """Words in descending frequency order (ties keep first-seen order) and their counts."""

    words: list[str]
    counts: np.ndarray  # int64, aligned with words

    def __len__(self) -> int:
        return len(self.words)

    @property
    def index(self) -> dict[str, int]:
        return {word: i for i, word in enumerate(self.words)}


@dataclass(frozen=True)
class EncodedCorpus:
    """A corpus as ids of in-vocabulary words (out-of-vocabulary tokens dropped, as gensim does).

    Sentence `i` is `ids[sentence_starts[i]:sentence_starts[i + 1]]`; sentences are documents
    split into pieces of at most MAX_SENTENCE_WORDS words. Windows never cross a sentence.
    """

    name: str
    ids: np.ndarray  # int32
    sentence_starts: np.ndarray  # int64, len = n_sentences + 1, last == len(ids)
    vocab: Vocab
    raw_tokens: int  # tokens before dropping out-of-vocabulary words
    fingerprint: str
    cache_path: Path | None = None

    @property
    def n_words(self) -> int:
        return int(self.ids.shape[0])

    def sentences(self) -> list[list[str]]:
        """Sentences as lists of words (for gensim)."""
        words = np.asarray(self.vocab.words, dtype=object)
        starts = self.sentence_starts
        return [list(words[self.ids[a:b]]) for a, b in zip(starts[:-1], starts[1:], strict=True)]


def build_vocab(counter: Counter[str], min_count: int, max_vocab: int | None) -> Vocab:
    kept = [(w, c) for w, c in counter.items() if c >= min_count]
    kept.sort(key=lambda wc: -wc[1])  # stable: ties keep first-seen order
    if max_vocab is not None:
        kept = kept[:max_vocab]
    return Vocab([w for w, _ in kept], np.array([c for _, c in kept], dtype=np.int64))


def encode_documents(
    documents: list[str], min_count: int, max_vocab: int | None
) -> tuple[Vocab, np.ndarray, np.ndarray, int]:
    """Tokenize (whitespace), count, build the vocabulary and encode; returns ids and starts."""
    tokenized = [doc.split() for doc in documents]
    counter: Counter[str] = Counter()
    for tokens in tokenized:
        counter.update(tokens)
    raw_tokens = sum(counter.values())
    if raw_tokens == 0:
        raise CorpusError("corpus has no tokens (it is empty or whitespace only)")
    vocab = build_vocab(counter, min_count, max_vocab)
    if len(vocab) == 0:
        top = max(counter.values())
        raise CorpusError(
            f"no word occurs at least min_count={min_count} times "
            f"(the most frequent occurs {top} times): lower min_count or use a larger corpus"
        )
    index = vocab.index
    pieces: list[np.ndarray] = []
    starts = [0]
    for tokens in tokenized:
        doc = np.fromiter((index.get(t, -1) for t in tokens), dtype=np.int32, count=len(tokens))
        doc = doc[doc >= 0]
        for offset in range(0, len(doc), MAX_SENTENCE_WORDS):
            piece = doc[offset : offset + MAX_SENTENCE_WORDS]
            pieces.append(piece)
            starts.append(starts[-1] + len(piece))
    ids = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32)
    return vocab, ids, np.asarray(starts, dtype=np.int64), raw_tokens


def load_corpus(
    spec: str,
    min_count: int = 5,
    max_vocab: int | None = None,
    data_root: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
) -> EncodedCorpus:
    """Resolve, read, build vocabulary and encode a corpus, through the cache."""
    root = data_dir(data_root)
    source = resolve(spec, root)
    fingerprint = source.fingerprint()
    key = cache_key(fingerprint, min_count, max_vocab)
    path = root / "cache" / f"{key}.npz"
    if use_cache and path.exists():
        try:
            return _read_cache(path, source, fingerprint)
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)  # a corrupt cache entry is rebuilt, never trusted
    vocab, ids, starts, raw_tokens = encode_documents(source.read_documents(), min_count, max_vocab)
    corpus = EncodedCorpus(source.name, ids, starts, vocab, raw_tokens, fingerprint)
    if use_cache:
        _write_cache(path, corpus)
        corpus = EncodedCorpus(**{**corpus.__dict__, "cache_path": path})
    return corpus


def cache_key(fingerprint: str, min_count: int, max_vocab: int | None) -> str:
    text = json.dumps([CACHE_VERSION, fingerprint, min_count, max_vocab])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _write_cache(path: Path, corpus: EncodedCorpus) -> None:
    with atomic_path(path, suffix=".tmp.npz") as tmp:  # np.savez appends .npz to other names
        np.savez(
            tmp,
            ids=corpus.ids,
            sentence_starts=corpus.sentence_starts,
            words=np.asarray(corpus.vocab.words, dtype=str),
            counts=corpus.vocab.counts,
            raw_tokens=np.int64(corpus.raw_tokens),
            fingerprint=np.asarray(corpus.fingerprint),
            created=np.float64(time.time()),
        )


def _read_cache(path: Path, source: CorpusSource, fingerprint: str) -> EncodedCorpus:
    with np.load(path, allow_pickle=False) as data:
        if str(data["fingerprint"]) != fingerprint:
            raise ValueError("cache fingerprint mismatch")
        vocab = Vocab([str(w) for w in data["words"]], data["counts"].astype(np.int64))
        return EncodedCorpus(
            name=source.name,
            ids=data["ids"].astype(np.int32, copy=False),
            sentence_starts=data["sentence_starts"].astype(np.int64, copy=False),
            vocab=vocab,
            raw_tokens=int(data["raw_tokens"]),
            fingerprint=fingerprint,
            cache_path=path,
        )


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """Probability of keeping each occurrence of a word under frequent-word subsampling.

    gensim's definition (word2vec.c's, with `sample` relative to the retained total):
    p = (sqrt(c / t) + 1) * t / c with t = sample * sum(counts), capped at 1; sample=0 keeps all.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0:
        return np.ones_like(counts)
    threshold = sample * counts.sum()
    return np.minimum(1.0, (np.sqrt(counts / threshold) + 1.0) * threshold / counts)
