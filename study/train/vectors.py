"""Word vectors on disk: a run's `vectors.bin` (W_in), `output_vectors.bin` (W_out) and
`vocab.txt` (the counts the word2vec format lacks), read back with their counts; w+c
(docs/DESIGN.md, "Result store").
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from study.core.atomic import atomic_path
from study.core.errors import CorpusError, StudyError

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

VECTORS_FILE = "vectors.bin"
OUTPUT_VECTORS_FILE = "output_vectors.bin"
VOCAB_FILE = "vocab.txt"
_PICKLE_MARK = b"\x80"  # first byte of a pickle (protocol >= 2), as KeyedVectors.save writes


def keyed_vectors(words: Sequence[str], vectors: np.ndarray) -> KeyedVectors:
    """gensim KeyedVectors holding `vectors` (float32), row i keyed by words[i]."""
    from gensim.models import KeyedVectors

    # count=0: a non-zero count preallocates `count` unnamed (None) slots that add_vectors
    # would append after.
    kv = KeyedVectors(vector_size=vectors.shape[1], count=0, dtype=np.float32)
    kv.add_vectors(list(words), np.ascontiguousarray(vectors, dtype=np.float32))
    return kv


def save_run_vectors(folder: Path, vectors: Any, output_vectors: np.ndarray | None = None) -> Path:
    """Write vectors.bin and vocab.txt (and output_vectors.bin), each atomically.

    `vectors` are KeyedVectors, with a `count` attribute for vocab.txt (runs attach it:
    `study.run.runner.attach_counts`); `output_vectors` is W_out, row i for word i of `vectors`.
    """
    path = folder / VECTORS_FILE
    if "count" in vectors.expandos:
        with atomic_path(folder / VOCAB_FILE) as vocab_tmp, atomic_path(path) as tmp:
            vectors.save_word2vec_format(str(tmp), fvocab=str(vocab_tmp), binary=True)
    else:
        with atomic_path(path) as tmp:
            vectors.save_word2vec_format(str(tmp), binary=True)
    if output_vectors is not None:
        output = keyed_vectors(vectors.index_to_key, output_vectors)
        if "count" in vectors.expandos:  # same order on disk as vectors.bin
            output.allocate_vecattrs(attrs=["count"], types=[np.int64])
            output.expandos["count"][:] = vectors.expandos["count"]
        with atomic_path(folder / OUTPUT_VECTORS_FILE) as tmp:
            output.save_word2vec_format(str(tmp), binary=True)
    return path


def load_vectors(
    path: str | os.PathLike[str],
    vocab: str | os.PathLike[str] | None = None,
    follow_symlinks: bool = True,
) -> Any:
    """KeyedVectors from a word2vec file (text or binary, detected; .gz/.bz2/.xz work) or a
    gensim `KeyedVectors.save()` pickle (a saved full Word2Vec model is read through its `.wv`).

    Word counts come from `vocab` or, if there is one, the `vocab.txt` beside the file. Every
    file is checked as it is read (header against content, UTF-8 words, no repeated word,
    finite values, vocab.txt against the words): a damaged or hostile file is one error naming
    the file and the place, never garbage vectors, hundreds of warnings or a traceback.
    `follow_symlinks=False` reads a run folder's files: a symbolic link there is refused.
    """
    from study.data.corpus import decompress, read_file_bytes

    path = Path(path)
    try:
        raw = read_file_bytes(path, what="vectors", follow_symlinks=follow_symlinks)
        data = decompress(raw, path) if path.suffix.lower() in _COMPRESSED else raw
    except CorpusError as exc:
        raise StudyError(str(exc).replace("corpus", "vectors", 1)) from None
    if data[:1] == _PICKLE_MARK:
        vectors = _load_pickle(path)
    else:
        words, matrix = parse_word2vec(data, path)
        vectors = keyed_vectors(words, matrix)
        fvocab = Path(vocab) if vocab is not None else path.parent / VOCAB_FILE
        if vocab is not None or os.path.lexists(fvocab):  # a pipe there is an error, not none
            _attach_vocab_counts(vectors, fvocab, follow_symlinks or vocab is not None)
    _check_finite(vectors, path)
    return vectors


_COMPRESSED = {".gz", ".bz2", ".xz"}
_COUNT_MAX = int(np.iinfo(np.int64).max)  # counts are stored as int64
_COUNT_DIGITS = len(str(_COUNT_MAX))
_MAX_WORD_BYTES = 1 << 16


def parse_word2vec(data: bytes, path: Path) -> tuple[list[str], np.ndarray]:
    """(words, float32 matrix) of word2vec text or binary data, strictly: the header's count
    and dim must describe the file exactly."""
    newline = data.find(b"\n")
    header = (data if newline < 0 else data[:newline]).split()
    if len(header) != 2 or not all(h.isdigit() and len(h) < 12 for h in header):
        raise StudyError(f"{path}: not a word2vec file (first line is not 'count dim')")
    count, dim = int(header[0]), int(header[1])
    if count < 1 or dim < 1:
        raise StudyError(f"{path}: the header says {count} vectors of dim {dim}: nothing to read")
    body = b"" if newline < 0 else data[newline + 1 :]
    if _looks_like_text(body):
        return _parse_text(body, count, dim, path)
    return _parse_binary(body, count, dim, path)


def _looks_like_text(body: bytes) -> bool:
    """The first record is 'word f1 f2 ...' text (a binary record's floats are not)."""
    line = body.split(b"\n", 1)[0]
    try:
        fields = _fields(line.decode("utf-8"))
        [float(x) for x in fields[1:]]
    except (UnicodeDecodeError, ValueError):
        return False
    return len(fields) >= 2


def _parse_text(body: bytes, count: int, dim: int, path: Path) -> tuple[list[str], np.ndarray]:
    lines = body.split(b"\n")
    if lines and not lines[-1].strip():
        lines.pop()
    if len(lines) != count:
        raise StudyError(
            f"{path}: the header says {count} vectors, the file has {len(lines)} lines of them"
        )
    words: list[str] = []
    rows = np.empty((count, dim), dtype=np.float32)
    for i, line in enumerate(lines):
        where = f"{path}:{i + 2}"
        try:
            fields = _fields(line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise StudyError(f"{where}: not UTF-8 text ({exc.reason})") from None
        if len(fields) != dim + 1:
            raise StudyError(
                f"{where}: expected a word and {dim} numbers (the header's dim), "
                f"got {len(fields)} fields"
            )
        try:
            rows[i] = [float(x) for x in fields[1:]]
        except ValueError:
            bad = next(x for x in fields[1:] if not _is_float(x))
            raise StudyError(f"{where}: {bad[:20]!r} is not a number") from None
        words.append(fields[0])
    _check_unique(words, path)
    return words, rows


def _fields(line: str) -> list[str]:
    """A text record's fields as gensim splits them: single spaces, trailing blanks dropped
    (a word may hold other whitespace, e.g. a no-break space)."""
    return line.rstrip().split(" ")


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_binary(body: bytes, count: int, dim: int, path: Path) -> tuple[list[str], np.ndarray]:
    size = dim * 4
    if len(body) < count * (size + 2):  # each record: a word, a space, dim float32s
        raise StudyError(
            f"{path}: {len(body):,} bytes cannot hold {count:,} vectors of dim {dim} "
            "(the header does not match the file)"
        )
    words: list[str] = []
    chunks: list[bytes] = []
    pos, end = 0, len(body)
    for i in range(count):
        while pos < end and body[pos] == 0x0A:  # word2vec.c ends each vector with a newline
            pos += 1
        space = body.find(b" ", pos, pos + _MAX_WORD_BYTES)
        where = f"{path}: vector {i + 1} of {count}"
        if space <= pos:
            raise StudyError(
                f"{where}: no word where one should start (byte {pos}); the header's count or "
                f"dim ({count} x {dim}) does not match the file"
            )
        try:
            word = body[pos:space].decode("utf-8")
        except UnicodeDecodeError:
            raise StudyError(
                f"{where}: its word is not UTF-8 ({body[pos : pos + 12]!r}...); the header's "
                f"dim ({dim}) does not match the file, or it is damaged"
            ) from None
        if space + 1 + size > end:
            raise StudyError(f"{where} ({word[:30]!r}): the file ends inside it (truncated?)")
        words.append(word)
        chunks.append(body[space + 1 : space + 1 + size])
        pos = space + 1 + size
    if body[pos:].strip(b"\n"):
        raise StudyError(
            f"{path}: {end - pos:,} bytes follow the last of {count:,} vectors: the header's "
            f"count or dim ({count} x {dim}) does not match the file"
        )
    _check_unique(words, path)
    return words, np.frombuffer(b"".join(chunks), dtype="<f4").reshape(count, dim).astype(
        np.float32
    )


def _check_unique(words: list[str], path: Path) -> None:
    if len(set(words)) != len(words):
        repeated = next(w for w, n in Counter(words).items() if n > 1)
        raise StudyError(f"{path}: the word {repeated[:30]!r} has two vectors")


def _check_finite(vectors: Any, path: Path) -> None:
    matrix = np.asarray(vectors.vectors)
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        raise StudyError(f"{path}: holds no vectors")
    bad = ~np.isfinite(matrix).all(axis=1)
    if bad.any():
        first = vectors.index_to_key[int(np.flatnonzero(bad)[0])]
        raise StudyError(
            f"{path}: {int(bad.sum())} of {len(bad)} vectors hold NaN or infinite values "
            f"(first: {str(first)[:30]!r}); such vectors cannot be scored (a diverged run?)"
        )


def _attach_vocab_counts(vectors: Any, fvocab: Path, follow_symlinks: bool = True) -> None:
    """Counts from a `word count` file (vocab.txt); it must list exactly the vectors' words."""
    from study.data.corpus import read_file_bytes

    try:
        raw = read_file_bytes(fvocab, what="vocabulary", follow_symlinks=follow_symlinks)
        text = raw.decode("utf-8")
    except CorpusError as exc:
        raise StudyError(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise StudyError(f"{fvocab}: not UTF-8 text ({exc.reason})") from None
    # Messages name lines, never their content: vocab.txt may be a link to any file.
    counts: dict[str, int] = {}
    first_line: dict[str, int] = {}
    for i, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        fields = line.rstrip("\r").rsplit(" ", 1)
        if len(fields) != 2 or not fields[1].isascii() or not fields[1].isdigit():
            raise StudyError(f"{fvocab}:{i}: expected 'word count' (a word, a space, a count)")
        if len(fields[1]) > _COUNT_DIGITS or int(fields[1]) > _COUNT_MAX:
            raise StudyError(f"{fvocab}:{i}: the count is too large for a word count")
        if fields[0] in counts:
            raise StudyError(f"{fvocab}:{i}: repeats the word of line {first_line[fields[0]]}")
        counts[fields[0]] = int(fields[1])
        first_line[fields[0]] = i
    words = vectors.index_to_key
    missing = [w for w in words if w not in counts]
    if missing or len(counts) != len(words):
        what = f"lacks {missing[0][:30]!r}" if missing else "lists words without vectors"
        raise StudyError(f"{fvocab}: does not match the vectors beside it: it {what}")
    vectors.allocate_vecattrs(attrs=["count"], types=[np.int64])
    vectors.expandos["count"][:] = [counts[w] for w in words]


def _load_pickle(path: Path) -> Any:
    """A gensim `KeyedVectors.save()` file. (A pickle can run code when loaded: only open
    vectors you trust in this format; word2vec files are plain data.)"""
    from gensim.models import KeyedVectors

    try:
        loaded = KeyedVectors.load(str(path))
    except Exception as exc:  # a damaged pickle fails in many ways (EOF, attribute, import)
        raise StudyError(f"{path}: cannot read vectors ({type(exc).__name__}: {exc})") from None
    vectors = getattr(loaded, "wv", loaded)  # a full Word2Vec model saved with .save()
    if not isinstance(vectors, KeyedVectors):
        raise StudyError(f"{path}: a pickle, but not gensim KeyedVectors")
    return vectors


def matching_output(vectors: Any, output_vectors: Any) -> np.ndarray:
    """The output vectors' matrix, row i for word i of `vectors`; both must come from one run
    (same words in the same order, same dimension, same counts where both have them)."""
    if vectors.vector_size != output_vectors.vector_size:
        raise StudyError(
            f"input and output vectors do not fit together: dim {vectors.vector_size} and "
            f"{output_vectors.vector_size}; not from one run"
        )
    if list(vectors.index_to_key) != list(output_vectors.index_to_key):
        raise StudyError("input and output vectors have different words: not from one run")
    counted = "count" in vectors.expandos and "count" in output_vectors.expandos
    if counted and not np.array_equal(vectors.expandos["count"], output_vectors.expandos["count"]):
        raise StudyError("input and output vectors have different word counts: not from one run")
    return np.asarray(output_vectors.vectors)


def w_plus_c(vectors: Any, output_vectors: Any) -> Any:
    """The w+c embeddings: input plus output vector of each word (`matching_output`)."""
    combined = keyed_vectors(
        vectors.index_to_key, vectors.vectors + matching_output(vectors, output_vectors)
    )
    if "count" in vectors.expandos:
        combined.allocate_vecattrs(attrs=["count"], types=[np.int64])
        combined.expandos["count"][:] = vectors.expandos["count"]
    _check_finite(combined, Path("w+c"))
    return combined
