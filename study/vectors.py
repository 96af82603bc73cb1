"""Word vectors on disk: a run's `vectors.bin` (W_in), `output_vectors.bin` (W_out) and
`vocab.txt` (the counts the word2vec format lacks), read back with their counts; w+c
(docs/DESIGN.md, "Result store").
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from study.atomic import atomic_path
from study.errors import StudyError

VECTORS_FILE = "vectors.bin"
OUTPUT_VECTORS_FILE = "output_vectors.bin"
VOCAB_FILE = "vocab.txt"
_PICKLE_MARK = b"\x80"  # first byte of a pickle (protocol >= 2), as KeyedVectors.save writes


def save_run_vectors(folder: Path, vectors: Any, output_vectors: np.ndarray | None = None) -> Path:
    """Write vectors.bin and vocab.txt (and output_vectors.bin), each atomically.

    `vectors` are KeyedVectors, with a `count` attribute for vocab.txt (runs attach it:
    `study.runner.attach_counts`); `output_vectors` is W_out, row i for word i of `vectors`.
    """
    path = folder / VECTORS_FILE
    if "count" in vectors.expandos:
        with atomic_path(folder / VOCAB_FILE) as vocab_tmp, atomic_path(path) as tmp:
            vectors.save_word2vec_format(str(tmp), fvocab=str(vocab_tmp), binary=True)
    else:
        with atomic_path(path) as tmp:
            vectors.save_word2vec_format(str(tmp), binary=True)
    if output_vectors is not None:
        from study.trainers.base import keyed_vectors

        output = keyed_vectors(vectors.index_to_key, output_vectors)
        if "count" in vectors.expandos:  # same order on disk as vectors.bin
            output.allocate_vecattrs(attrs=["count"], types=[np.int64])
            output.expandos["count"][:] = vectors.expandos["count"]
        with atomic_path(folder / OUTPUT_VECTORS_FILE) as tmp:
            output.save_word2vec_format(str(tmp), binary=True)
    return path


def load_vectors(path: str | os.PathLike[str], vocab: str | os.PathLike[str] | None = None) -> Any:
    """KeyedVectors from a word2vec file (text or binary, detected; .gz/.bz2 work) or a gensim
    `KeyedVectors.save()` pickle (a saved full Word2Vec model is read through its `.wv`).

    Word counts come from `vocab` or, if there is one, the `vocab.txt` beside the file.
    """
    from gensim.models import KeyedVectors
    from gensim.utils import open as smart_open

    path = Path(path)
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
        fvocab = Path(vocab) if vocab is not None else path.parent / VOCAB_FILE
        if vocab is not None and not fvocab.is_file():
            raise StudyError(f"vocabulary file not found: {fvocab}")
        return KeyedVectors.load_word2vec_format(
            str(path), binary=binary, fvocab=str(fvocab) if fvocab.is_file() else None
        )
    except StudyError:
        raise
    except (OSError, ValueError, EOFError, UnicodeDecodeError, pickle.UnpicklingError) as exc:
        raise StudyError(f"{path}: cannot read vectors ({exc})") from None


def w_plus_c(vectors: Any, output_vectors: Any) -> Any:
    """The w+c embeddings: input plus output vector of each word (same words required)."""
    from study.trainers.base import keyed_vectors

    if list(vectors.index_to_key) != list(output_vectors.index_to_key):
        raise StudyError("input and output vectors have different words: not from one run")
    combined = keyed_vectors(vectors.index_to_key, vectors.vectors + output_vectors.vectors)
    if "count" in vectors.expandos:
        combined.allocate_vecattrs(attrs=["count"], types=[np.int64])
        combined.expandos["count"][:] = vectors.expandos["count"]
    return combined


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
