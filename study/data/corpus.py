"""Corpus sources: `enwiki-sample` (ships inside gensim), `text8` (found or downloaded and
verified, `study.data.text8`), any path (plain, .gz, .bz2, .xz, one-member .zip): one document per
line, whitespace-separated tokens; or `sentences:<name>-<hash>`, sentences given in memory
(`corpus_from_sentences`) kept in the data dir's `corpora/`, so grid workers in other processes
read them too; plus the text8 cleaner that makes Wikipedia text look alike.
"""

from __future__ import annotations

import bz2
import errno
import functools
import gzip
import hashlib
import io
import logging
import lzma
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from study.core.config import show
from study.core.errors import CorpusError
from study.core.files import FileProblem, kind_of, read_regular

log = logging.getLogger(__name__)

DATA_DIR_ENV = "W2V_STUDY_DATA"
DEFAULT_CORPUS_NAME = "enwiki-sample"
SENTENCES_PREFIX = "sentences:"
# used with fullmatch: `$` also matches before a final newline ("abc\n" passed)
_CORPUS_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", re.ASCII)
_SENTENCES_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}-([0-9a-f]{12})", re.ASCII)
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
def read_file_bytes(
    path: str | os.PathLike[str], what: str = "corpus", follow_symlinks: bool = True
) -> bytes:
    """The bytes of a regular file, read once, with one clear error for every way it can fail.

    Pipes, devices and sockets (`/dev/stdin`, `<(zcat ...)`, `/dev/zero`) are refused: they can
    be read only once, or never end, and a run id names the path, which they do not identify.
    O_NONBLOCK keeps the open of a FIFO from waiting for a writer. `follow_symlinks=False`
    (files of a study folder) refuses a symbolic link too (`study.core.files`).
    """
    path = Path(path)
    nofollow = 0 if follow_symlinks else os.O_NOFOLLOW
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | nofollow)
    except FileNotFoundError:
        raise CorpusError(f"{what} file not found: {path}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            raise CorpusError(
                f"{what} {path} is a symbolic link; a study folder holds its own files"
            ) from None
        raise CorpusError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # a NUL in the name
        raise CorpusError(f"cannot read {what} {path}: {exc}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise CorpusError(f"{what} path is a directory, not a file: {path}")
        raise CorpusError(
            f"{what} {path} is not a regular file ({kind_of(mode)}): it can be read "
            "only once or never ends; save it to a file and give that path"
        )
    with os.fdopen(fd, "rb") as handle:
        try:
            return handle.read()
        except OSError as exc:
            raise CorpusError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def decompress(data: bytes, path: Path) -> bytes:
    """The content of a possibly compressed corpus file, by suffix."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".gz":
            return gzip.decompress(data)
        if suffix == ".bz2":
            return bz2.decompress(data)
        if suffix == ".xz":
            return lzma.decompress(data)
        if suffix == ".zip":
            return _zip_member(data, path)
    except CorpusError:
        raise
    except MemoryError:
        raise CorpusError(
            f"cannot read corpus {path}: its content does not fit in memory"
        ) from None
    except (OSError, EOFError, ValueError, RuntimeError, NotImplementedError, zlib.error,
            lzma.LZMAError, zipfile.BadZipFile) as exc:  # fmt: skip
        raise CorpusError(f"cannot read corpus {path}: corrupt or truncated file ({exc})") from exc
    return data


def _zip_member(data: bytes, path: Path) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) != 1:
            names = ", ".join(m.filename for m in members) or "none"
            raise CorpusError(f"{path}: a corpus .zip must hold exactly one file, found {names}")
        return archive.read(members[0])


def decode_text(data: bytes, path: Path) -> str:
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


def read_text(path: str | os.PathLike[str]) -> str:
    """A whole corpus file (plain or compressed) as UTF-8 text."""
    path = Path(path)
    return decode_text(decompress(read_file_bytes(path), path), path)


# -- named sources ------------------------------------------------------------------------
@dataclass(frozen=True)
class CorpusSource:
    """A resolved corpus: a display name, the file it comes from and how to read documents."""

    name: str
    path: Path
    reader: str  # "text": one document per line; "wiki": gensim's dump sample, text8-cleaned
    description: str
    sha256_prefix: str | None = None  # content-named files (sentences:<name>-<hash>)

    def load(self) -> CorpusContent:
        """Read the file once: its content, fingerprint and documents all come from these bytes
        (reading twice let a pipe look empty and a file change in between). A content-named
        file must still hold that content."""
        data = decompress(read_file_bytes(self.path), self.path)
        if self.sha256_prefix is not None:
            actual = hashlib.sha256(data).hexdigest()[:12]
            if actual != self.sha256_prefix:
                raise CorpusError(
                    f"corpus {self.name}: {self.path} was changed since it was made (sha256 "
                    f"{actual}…, its name says {self.sha256_prefix}…); make it again with "
                    "study.corpus_from_sentences"
                )
        return CorpusContent(self, data)


@dataclass(frozen=True)
class CorpusContent:
    """The bytes of a corpus as read once, and what they identify."""

    source: CorpusSource
    data: bytes  # decompressed

    @functools.cached_property
    def fingerprint(self) -> str:
        """The corpus identity: sha256 of the content (not the path: one file named two ways
        is one corpus) and how it is read. Keys the cache; recorded in every run."""
        return fingerprint_of(self.data, self.source.reader)

    def documents(self) -> list[str]:
        if self.source.reader == "wiki":
            return list(_wiki_articles(self.data))
        return decode_text(self.data, self.source.path).splitlines()


def fingerprint_of(data: bytes, reader: str = "text") -> str:
    tag = f"wiki-{CLEANER_VERSION}" if reader == "wiki" else reader
    return f"{tag}:sha256:{hashlib.sha256(data).hexdigest()}"


def resolve(spec: str, data_root: Path | None = None) -> CorpusSource:
    """Turn a `corpus` config value into a source: a known name or a file path."""
    root = data_dir(data_root)
    if spec == DEFAULT_CORPUS_NAME:
        return CorpusSource(
            name=spec,
            path=enwiki_sample_path(),
            reader="wiki",
            description="~200 English Wikipedia articles shipped with gensim, text8-cleaned",
        )
    if spec == "text8":
        from study.data.text8 import ensure_text8

        return CorpusSource(
            name=spec,
            path=ensure_text8(root),
            reader="text",
            description="text8 (first 10^8 bytes of English Wikipedia, Matt Mahoney)",
        )
    if spec.startswith(SENTENCES_PREFIX):
        return _sentences_source(spec, root)
    path = Path(spec).expanduser()
    if path.is_dir():
        raise CorpusError(f"corpus path is a directory, not a file: {path}")
    if not path.exists():
        raise CorpusError(
            f"corpus {show(spec)} is neither a known name ({DEFAULT_CORPUS_NAME}, text8) "
            f"nor an existing file"
        )
    return CorpusSource(name=str(path), path=path, reader="text", description=f"file {path}")


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
    from study.core.atomic import atomic_write_bytes

    if isinstance(sentences, str):
        raise CorpusError("sentences must be a list of sentences, not one string")
    if not isinstance(name, str) or not _CORPUS_NAME.fullmatch(name):
        raise CorpusError(
            f"corpus name {show(name)} must be 1-64 letters, digits, '_', '-' or '.' "
            "(starting with a letter or digit)"
        )
    lines = [_sentence_line(i, sentence) for i, sentence in enumerate(sentences)]
    if not any(lines):
        raise CorpusError("sentences hold no tokens")
    data = b"\n".join(lines) + b"\n"
    key = f"{name}-{hashlib.sha256(data).hexdigest()[:12]}"
    path = data_dir(data_root) / "corpora" / f"{key}.txt"
    try:
        kept = read_regular(path, follow_symlinks=False)
    except FileProblem:
        kept = None
    if kept != data:  # missing, or changed since: what trains must be these sentences
        if kept is not None or os.path.lexists(path):
            log.warning("corpus file %s does not hold these sentences; writing them again", path)
        atomic_write_bytes(path, data)
    return SENTENCES_PREFIX + key


def _sentence_line(i: int, sentence: str | Sequence[str]) -> bytes:
    if isinstance(sentence, str):
        line = " ".join(sentence.split())
    else:
        tokens = list(sentence)
        for token in tokens:
            if not isinstance(token, str) or not token or token != "".join(token.split()):
                raise CorpusError(
                    f"sentence {i}: tokens must be non-empty strings without whitespace, "
                    f"got {show(token)}"
                )
        line = " ".join(tokens)
    try:
        return line.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate (e.g. bytes decoded with surrogateescape)
        bad = exc.object[exc.start : exc.end]
        raise CorpusError(
            f"sentence {i} is not valid Unicode text: it holds {bad!r} (a lone surrogate), "
            "which has no UTF-8 form; decode your text with errors='replace' or fix it"
        ) from None


def _sentences_source(spec: str, root: Path) -> CorpusSource:
    key = spec.removeprefix(SENTENCES_PREFIX)
    path = root / "corpora" / f"{key}.txt"
    named = _SENTENCES_KEY.fullmatch(key)
    if not named or not path.is_file():
        raise CorpusError(
            f"corpus {show(spec)} is not in {root / 'corpora'}: make it in this data dir with "
            "study.corpus_from_sentences"
        )
    return CorpusSource(
        name=spec,
        path=path,
        reader="text",
        description=f"sentences given in memory, kept in {path}",
        sha256_prefix=named.group(1),
    )


def enwiki_sample_path() -> Path:
    import gensim

    path = Path(gensim.__file__).parent / "test" / "test_data" / _ENWIKI_SAMPLE_FILE
    if not path.exists():
        raise CorpusError(f"gensim's Wikipedia sample is missing from this install: {path}")
    return path


def _wiki_articles(xml: bytes) -> Iterator[str]:
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    with io.BytesIO(xml) as dump:
        for _title, markup, _page_id in extract_pages(dump):
            if not markup or markup.lstrip().lower().startswith("#redirect"):
                continue
            cleaned = clean_text8(filter_wiki(markup))
            if cleaned:
                yield cleaned
