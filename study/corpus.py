"""Corpus sources: `enwiki-sample` (ships inside gensim), `text8` (found or downloaded and
verified, `study.text8`), any path (plain, .gz, .bz2, .xz, one-member .zip): one document per
line, whitespace-separated tokens; or `sentences:<name>-<hash>`, sentences given in memory
(`corpus_from_sentences`) kept in the data dir's `corpora/`, so grid workers in other processes
read them too; plus the text8 cleaner that makes Wikipedia text look alike.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import os
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from study.errors import CorpusError

DATA_DIR_ENV = "W2V_STUDY_DATA"
DEFAULT_CORPUS_NAME = "enwiki-sample"
SENTENCES_PREFIX = "sentences:"
_CORPUS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SENTENCES_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}-[0-9a-f]{12}$")  # name-hash
_ENWIKI_SAMPLE_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
CLEANER_VERSION = "text8-v1"  # bump when clean_text8 changes: it keys the caches


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Where text8 and the vocabulary caches live: the flag, else $W2V_STUDY_DATA, else ./data."""
    if override is not None:
        return Path(override)
    return Path(os.environ.get(DATA_DIR_ENV, "data"))


# -- text8-style cleaning -----------------------------------------------------------------
_DIGIT_WORDS = {
    "0": " zero ",
    "1": " one ",
    "2": " two ",
    "3": " three ",
    "4": " four ",
    "5": " five ",
    "6": " six ",
    "7": " seven ",
    "8": " eight ",
    "9": " nine ",
}
_DIGITS = re.compile(r"[0-9]")
_NON_LETTERS = re.compile(r"[^a-z]+")


def clean_text8(text: str) -> str:
    """Clean like text8's wikifil.pl: lowercase, digits spelled out, only a-z words.

    >>> clean_text8("In 1984, Orwell's NOVEL!")
    'in one nine eight four orwell s novel'
    """
    text = _DIGITS.sub(lambda m: _DIGIT_WORDS[m.group()], text.lower())
    return _NON_LETTERS.sub(" ", text).strip()


# -- reading files ------------------------------------------------------------------------
def open_binary(path: Path) -> IO[bytes]:
    """Open a possibly compressed file for binary reading, by suffix."""
    openers: dict[str, Callable[[Path], object]] = {
        ".gz": lambda p: gzip.open(p, "rb"),
        ".bz2": lambda p: bz2.open(p, "rb"),
        ".xz": lambda p: lzma.open(p, "rb"),
        ".zip": _open_zip_member,
    }
    opener = openers.get(path.suffix.lower(), lambda p: open(p, "rb"))
    return cast(IO[bytes], opener(path))


def _open_zip_member(path: Path) -> IO[bytes]:
    archive = zipfile.ZipFile(path)
    members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) != 1:
        names = ", ".join(m.filename for m in members) or "none"
        raise CorpusError(f"{path}: a corpus .zip must hold exactly one file, found {names}")
    return archive.open(members[0])


def read_text(path: str | os.PathLike[str]) -> str:
    """Read a whole corpus file as UTF-8 text, with one clear error for every way it can fail."""
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"corpus file not found: {path}")
    if path.is_dir():
        raise CorpusError(f"corpus path is a directory, not a file: {path}")
    try:
        with open_binary(path) as handle:
            data = handle.read()
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile, zlib.error) as exc:
        raise CorpusError(f"cannot read corpus {path}: corrupt or truncated file ({exc})") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CorpusError(
            f"corpus {path} is not UTF-8 text: byte {exc.start} (line {line}) is "
            f"{data[exc.start : exc.start + 1]!r}"
        ) from exc
    if not text.strip():
        raise CorpusError(f"corpus {path} is empty")
    return text


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


# -- named sources ------------------------------------------------------------------------
@dataclass(frozen=True)
class CorpusSource:
    """A resolved corpus: a display name, the file it comes from and how to read documents."""

    name: str
    path: Path
    read_documents: Callable[[], list[str]]
    description: str

    def fingerprint(self) -> str:
        """Identifies the content (file bytes + how they are read); keys the vocabulary cache."""
        try:
            digest = file_sha256(self.path)
        except OSError as exc:
            raise CorpusError(f"cannot read corpus {self.path}: {exc.strerror or exc}") from exc
        return f"{self.name}:{digest}:{CLEANER_VERSION}"


def resolve(spec: str, data_root: Path | None = None) -> CorpusSource:
    """Turn a `corpus` config value into a source: a known name or a file path."""
    root = data_dir(data_root)
    if spec == DEFAULT_CORPUS_NAME:
        path = enwiki_sample_path()
        return CorpusSource(
            name=spec,
            path=path,
            read_documents=lambda: enwiki_sample_documents(path),
            description="~200 English Wikipedia articles shipped with gensim, text8-cleaned",
        )
    if spec == "text8":
        from study.text8 import ensure_text8

        path = ensure_text8(root)
        return CorpusSource(
            name=spec,
            path=path,
            read_documents=lambda: read_text(path).splitlines(),
            description="text8 (first 10^8 bytes of English Wikipedia, Matt Mahoney)",
        )
    if spec.startswith(SENTENCES_PREFIX):
        return _sentences_source(spec, root)
    path = Path(spec).expanduser()
    if path.is_dir():
        raise CorpusError(f"corpus path is a directory, not a file: {path}")
    if not path.exists():
        raise CorpusError(
            f"corpus {spec!r} is neither a known name ({DEFAULT_CORPUS_NAME}, text8) "
            f"nor an existing file"
        )
    return CorpusSource(
        name=str(path),
        path=path,
        read_documents=lambda: read_text(path).splitlines(),
        description=f"file {path}",
    )


def corpus_from_sentences(
    sentences: Iterable[str | Sequence[str]],
    name: str = "sentences",
    data_root: str | os.PathLike[str] | None = None,
) -> str:
    """Keep sentences given in memory as a corpus; returns the `corpus` config value for them.

    Each sentence is a string of whitespace-separated tokens or a sequence of tokens. The text
    is stored once per content in `<data dir>/corpora/<name>-<hash>.txt` (one sentence a line),
    so runs in other processes (shared grids) read it too. E.g.
    `corpus_from_sentences([["a", "cat"], "a dog"], name="pets")` → `"sentences:pets-<hash>"`.
    """
    from study.atomic import atomic_write_bytes

    if isinstance(sentences, str):
        raise CorpusError("sentences must be a list of sentences, not one string")
    if not _CORPUS_NAME.match(name):
        raise CorpusError(
            f"corpus name {name!r} must be 1-64 letters, digits, '_', '-' or '.' "
            "(starting with a letter or digit)"
        )
    lines = [_sentence_line(i, sentence) for i, sentence in enumerate(sentences)]
    if not any(lines):
        raise CorpusError("sentences hold no tokens")
    data = ("\n".join(lines) + "\n").encode()
    key = f"{name}-{hashlib.sha256(data).hexdigest()[:12]}"
    path = data_dir(data_root) / "corpora" / f"{key}.txt"
    if not path.exists():
        atomic_write_bytes(path, data)
    return SENTENCES_PREFIX + key


def _sentence_line(i: int, sentence: str | Sequence[str]) -> str:
    if isinstance(sentence, str):
        return " ".join(sentence.split())
    tokens = list(sentence)
    for token in tokens:
        if not isinstance(token, str) or not token or token != "".join(token.split()):
            raise CorpusError(
                f"sentence {i}: tokens must be non-empty strings without whitespace, got {token!r}"
            )
    return " ".join(tokens)


def _sentences_source(spec: str, root: Path) -> CorpusSource:
    key = spec.removeprefix(SENTENCES_PREFIX)
    path = root / "corpora" / f"{key}.txt"
    if not _SENTENCES_KEY.match(key) or not path.is_file():
        raise CorpusError(
            f"corpus {spec!r} is not in {root / 'corpora'}: make it in this data dir with "
            "study.corpus_from_sentences"
        )
    return CorpusSource(
        name=spec,
        path=path,
        read_documents=lambda: read_text(path).splitlines(),
        description=f"sentences given in memory, kept in {path}",
    )


def enwiki_sample_path() -> Path:
    import gensim

    path = Path(gensim.__file__).parent / "test" / "test_data" / _ENWIKI_SAMPLE_FILE
    if not path.exists():
        raise CorpusError(f"gensim's Wikipedia sample is missing from this install: {path}")
    return path


def enwiki_sample_documents(path: Path) -> list[str]:
    """One text8-cleaned line per article of gensim's Wikipedia dump sample (redirects skipped)."""
    return list(_wiki_articles(path))


def _wiki_articles(path: Path) -> Iterator[str]:
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    with bz2.open(path, "rb") as dump:
        for _title, markup, _page_id in extract_pages(dump):
            if not markup or markup.lstrip().lower().startswith("#redirect"):
                continue
            cleaned = clean_text8(filter_wiki(markup))
            if cleaned:
                yield cleaned
