"""Vocabulary, encoding to int32 ids, a content-keyed cache, and subsampling probabilities.

`load_corpus` is the one entry point trainers use: it resolves a corpus spec, builds the
vocabulary (min_count, optional max_vocab, most frequent first) and the encoded id stream, and
caches both under `<data dir>/cache/` keyed by corpus content + vocabulary settings, so a second
run with the same corpus starts at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from study.core.atomic import atomic_path
from study.core.errors import CorpusError, StudyError
from study.data.corpus import CorpusSource, data_dir, resolve

log = logging.getLogger(__name__)
CACHE_VERSION = 2  # 2: words as UTF-8 bytes + lengths; content fingerprints
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
    """Resolve, read, build vocabulary and encode a corpus, through the cache.

    The cache only saves time: an entry that cannot be read is rebuilt, and one that cannot be
    written (read-only or full data dir, file-size limit) is skipped with a warning.
    """
    root = data_dir(data_root)
    source = resolve(spec, root)
    content = source.load()
    fingerprint = content.fingerprint
    key = cache_key(fingerprint, min_count, max_vocab)
    path = root / "cache" / f"{key}.npz"
    if use_cache:
        cached = _read_cache(path, source, fingerprint)
        if cached is not None:
            return cached
    vocab, ids, starts, raw_tokens = encode_documents(content.documents(), min_count, max_vocab)
    corpus = EncodedCorpus(source.name, ids, starts, vocab, raw_tokens, fingerprint)
    if use_cache:
        try:
            _write_cache(path, corpus)
        except StudyError as exc:  # the run does not need the cache
            log.warning("corpus cache not written, going on without it: %s", exc)
        else:
            corpus = EncodedCorpus(**{**corpus.__dict__, "cache_path": path})
    return corpus


def cache_key(fingerprint: str, min_count: int, max_vocab: int | None) -> str:
    text = json.dumps([CACHE_VERSION, fingerprint, min_count, max_vocab])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _write_cache(path: Path, corpus: EncodedCorpus) -> None:
    lengths, blob = _pack_words(corpus.vocab.words)
    with atomic_path(path, suffix=".tmp.npz") as tmp:  # np.savez appends .npz to other names
        np.savez(
            tmp,
            ids=corpus.ids,
            sentence_starts=corpus.sentence_starts,
            word_bytes=blob,
            word_lengths=lengths,
            counts=corpus.vocab.counts,
            raw_tokens=np.int64(corpus.raw_tokens),
            fingerprint=np.asarray(corpus.fingerprint),
            created=np.float64(time.time()),
        )


# Words are stored as their UTF-8 bytes plus lengths: a NumPy str array drops trailing NULs
# ('a\x00' came back as 'a', two words became one) and pads every word to the longest one.
def _pack_words(words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    encoded = [w.encode("utf-8", "surrogatepass") for w in words]
    lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
    return lengths, np.frombuffer(b"".join(encoded), dtype=np.uint8)


def _unpack_words(lengths: np.ndarray, blob: np.ndarray) -> list[str]:
    data = blob.tobytes()
    if lengths.ndim != 1 or (lengths < 0).any() or int(lengths.sum()) != len(data):
        raise ValueError("word lengths do not match the word bytes")
    ends = np.cumsum(lengths).tolist()
    starts = [0, *ends[:-1]]
    return [data[a:b].decode("utf-8", "surrogatepass") for a, b in zip(starts, ends, strict=True)]


def _read_cache(path: Path, source: CorpusSource, fingerprint: str) -> EncodedCorpus | None:
    """The cached corpus, or None when there is none or it is unreadable or inconsistent (then
    it is removed where possible and rebuilt: a cache entry is never trusted blindly)."""
    try:
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as data:
            if str(data["fingerprint"]) != fingerprint:
                raise ValueError("cache fingerprint mismatch")
            words = _unpack_words(data["word_lengths"], data["word_bytes"])
            corpus = EncodedCorpus(
                name=source.name,
                ids=data["ids"].astype(np.int32, copy=False),
                sentence_starts=data["sentence_starts"].astype(np.int64, copy=False),
                vocab=Vocab(words, data["counts"].astype(np.int64)),
                raw_tokens=int(data["raw_tokens"]),
                fingerprint=fingerprint,
                cache_path=path,
            )
        _check_consistent(corpus)
        return corpus
    except Exception as exc:  # zip, npy, key, decode and shape errors alike: rebuild
        log.warning("corpus cache %s is unreadable (%s); rebuilding it", path, exc)
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
        return None


def _check_consistent(corpus: EncodedCorpus) -> None:
    ids, starts, n = corpus.ids, corpus.sentence_starts, len(corpus.vocab)
    if len(corpus.vocab.counts) != n or len(set(corpus.vocab.words)) != n:
        raise ValueError("vocabulary and counts differ in length, or a word repeats")
    if ids.ndim != 1 or (len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= n)):
        raise ValueError("word ids outside the vocabulary")
    if starts.ndim != 1 or len(starts) < 1 or starts[0] != 0 or starts[-1] != len(ids):
        raise ValueError("sentence starts do not cover the ids")
    if (np.diff(starts) < 0).any():
        raise ValueError("sentence starts are not increasing")


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


def retained_stream(
    corpus: EncodedCorpus, sample: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One draw of frequent-word subsampling: kept ids and the sentence index of each."""
    ids = corpus.ids
    if sample > 0:  # float32 draws: half the time of float64 on 17M words, precision ample
        keep = keep_probabilities(corpus.vocab.counts, sample).astype(np.float32)
        mask = rng.random(ids.shape[0], dtype=np.float32) < keep[ids]
    else:
        mask = np.ones(ids.shape[0], dtype=bool)
    lengths = np.diff(corpus.sentence_starts)
    sentence_of = np.repeat(np.arange(lengths.shape[0], dtype=np.int32), lengths)
    return ids[mask].astype(np.int64), sentence_of[mask]
