import bz2
import gzip
import http.server
import io
import lzma
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from study.core.errors import CorpusError
from study.data import text8
from study.data.corpus import clean_text8, read_text, resolve
from study.data.vocab import MAX_SENTENCE_WORDS, keep_probabilities, load_corpus

TEXT = "the cat sat on the mat\nthe dog sat on the log\n"


def write_all_formats(folder: Path, text: str) -> dict[str, Path]:
    data = text.encode()
    paths = {
        "plain": folder / "c.txt",
        "gz": folder / "c.txt.gz",
        "bz2": folder / "c.txt.bz2",
        "xz": folder / "c.txt.xz",
        "zip": folder / "c.zip",
    }
    paths["plain"].write_bytes(data)
    paths["gz"].write_bytes(gzip.compress(data))
    paths["bz2"].write_bytes(bz2.compress(data))
    paths["xz"].write_bytes(lzma.compress(data))
    with zipfile.ZipFile(paths["zip"], "w") as archive:
        archive.writestr("c", data)
    return paths


@pytest.mark.parametrize("fmt", ["plain", "gz", "bz2", "xz", "zip"])
def test_every_format_reads_the_same_text(tmp_path, fmt):
    path = write_all_formats(tmp_path, TEXT)[fmt]
    assert read_text(path) == TEXT
    corpus = load_corpus(str(path), min_count=1, data_root=tmp_path / "data")
    assert corpus.raw_tokens == 12
    assert corpus.vocab.words[0] == "the" and corpus.vocab.counts[0] == 4
    assert corpus.sentence_starts.tolist() == [0, 6, 12]


def test_cleaner_spells_digits_drops_punctuation_and_lowercases():
    assert clean_text8("In 1984, Orwell's NOVEL!") == "in one nine eight four orwell s novel"
    assert clean_text8("  Café-au-lait 3.14 ") == "caf au lait three one four"
    assert clean_text8("<ref>x</ref>") == "ref x ref"


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "corpus file not found"),
        (b"", "is empty"),
        (b"   \n\n", "is empty"),
        (b"good words \xff\xfe bad", "is not UTF-8 text: byte 11 \\(line 1\\)"),
    ],
)
def test_bad_plain_files(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        read_text(path)


@pytest.mark.parametrize("suffix", [".xz", ".gz", ".bz2", ".zip"])
def test_corrupt_compressed_files(tmp_path, suffix):
    good = write_all_formats(tmp_path, TEXT * 50)
    path = {".xz": good["xz"], ".gz": good["gz"], ".bz2": good["bz2"], ".zip": good["zip"]}[suffix]
    data = path.read_bytes()
    corrupt = tmp_path / f"corrupt{suffix}"
    corrupt.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorpusError, match="corrupt or truncated"):
        read_text(corrupt)


def test_no_word_above_min_count(tmp_path):
    path = tmp_path / "rare.txt"
    path.write_text("alpha beta gamma\n")
    with pytest.raises(CorpusError, match="no word occurs at least min_count=5 times"):
        load_corpus(str(path), min_count=5, data_root=tmp_path)


def test_unknown_corpus_name(tmp_path):
    with pytest.raises(CorpusError, match="neither a known name"):
        resolve("text9", tmp_path)


def test_long_documents_are_split_into_sentences(tmp_path):
    path = tmp_path / "long.txt"
    path.write_text(" ".join(["a", "b"] * MAX_SENTENCE_WORDS) + "\n")
    corpus = load_corpus(str(path), min_count=1, data_root=tmp_path)
    sizes = np.diff(corpus.sentence_starts)
    assert sizes.tolist() == [MAX_SENTENCE_WORDS, MAX_SENTENCE_WORDS]


def test_oov_dropped_and_max_vocab(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("a a a b b c\n")
    corpus = load_corpus(str(path), min_count=2, data_root=tmp_path)
    assert corpus.vocab.words == ["a", "b"] and corpus.n_words == 5 and corpus.raw_tokens == 6
    capped = load_corpus(str(path), min_count=1, max_vocab=1, data_root=tmp_path)
    assert capped.vocab.words == ["a"] and capped.ids.tolist() == [0, 0, 0]


def test_cache_reuse_and_invalidation(tmp_path, monkeypatch):
    path = tmp_path / "c.txt"
    path.write_text(TEXT)
    root = tmp_path / "data"
    first = load_corpus(str(path), min_count=1, data_root=root)
    assert first.cache_path is not None and first.cache_path.exists()

    # second load reads the cache: the documents are not read again
    import study.data.vocab as vocab_module

    def fail(*_args, **_kwargs):
        raise AssertionError("encode_documents called although the cache is valid")

    monkeypatch.setattr(vocab_module, "encode_documents", fail)
    second = load_corpus(str(path), min_count=1, data_root=root)
    assert second.cache_path == first.cache_path
    assert np.array_equal(second.ids, first.ids) and second.vocab.words == first.vocab.words
    monkeypatch.undo()

    # other vocabulary settings → another cache entry
    other = load_corpus(str(path), min_count=2, data_root=root)
    assert other.cache_path != first.cache_path and other.vocab.words == ["the", "sat", "on"]

    # changed content → another cache entry with the new content
    path.write_text(TEXT + "the bird\n")
    changed = load_corpus(str(path), min_count=1, data_root=root)
    assert changed.cache_path != first.cache_path and "bird" in changed.vocab.words

    # a corrupt cache file is rebuilt, not trusted
    changed.cache_path.write_bytes(b"garbage")
    rebuilt = load_corpus(str(path), min_count=1, data_root=root)
    assert rebuilt.vocab.words == changed.vocab.words


def test_keep_probabilities_match_gensim():
    from gensim.models import Word2Vec

    counts = {"the": 5000, "of": 2000, "cat": 30, "dog": 7}
    model = Word2Vec(vector_size=4, min_count=1, sample=1e-2)
    model.build_vocab_from_freq(counts)
    ours = keep_probabilities(np.array(list(counts.values())), 1e-2)
    theirs = np.array([model.wv.get_vecattr(w, "sample_int") / 2**32 for w in counts])
    np.testing.assert_allclose(ours, theirs, atol=1e-9)
    assert keep_probabilities(np.array([5, 6]), 0.0).tolist() == [1.0, 1.0]


def test_default_corpus_is_embedded_and_text8_clean(tmp_path):
    corpus = load_corpus("enwiki-sample", min_count=5, data_root=tmp_path)
    assert 400_000 < corpus.raw_tokens < 700_000
    assert corpus.vocab.words[0] == "the"
    assert all(w.isalpha() and w.islower() and w.isascii() for w in corpus.vocab.words)


# -- text8 download -----------------------------------------------------------------------
class _Server:
    def __init__(self, payload: bytes, truncate_to: int | None = None):
        payload_bytes = payload

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server API
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload_bytes)))
                self.end_headers()
                body = payload_bytes if truncate_to is None else payload_bytes[:truncate_to]
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/text8.zip"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def zipped(text: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("text8", text)
    return buffer.getvalue()


def test_download_verifies_checksum_and_keeps_good_file(tmp_path):
    import hashlib

    content = b" anarchism originated as a term"
    payload = zipped(content)
    server = _Server(payload)
    try:
        dest = tmp_path / "text8.zip"
        text8.download_verified(server.url, dest, len(payload), hashlib.sha256(content).hexdigest())
        assert dest.read_bytes() == payload
        assert list(tmp_path.iterdir()) == [dest]
    finally:
        server.close()


def test_download_checksum_mismatch_leaves_nothing(tmp_path):
    payload = zipped(b"not the real text8")
    server = _Server(payload)
    try:
        with pytest.raises(CorpusError, match="checksum mismatch"):
            text8.download_verified(
                server.url, tmp_path / "text8.zip", len(payload), text8.TEXT8_SHA256
            )
        assert list(tmp_path.iterdir()) == []
    finally:
        server.close()


def test_interrupted_download_leaves_nothing(tmp_path):
    payload = zipped(b"x" * 10_000)
    server = _Server(payload, truncate_to=100)
    try:
        with pytest.raises(CorpusError, match="interrupted|bytes, expected"):
            text8.download_verified(
                server.url, tmp_path / "text8.zip", len(payload), text8.TEXT8_SHA256
            )
        assert list(tmp_path.iterdir()) == []
    finally:
        server.close()


def test_no_network_says_where_to_put_the_file(tmp_path, monkeypatch):
    # port 9 on loopback: nothing listens, the connection is refused at once
    monkeypatch.setenv(text8.URL_ENV, "http://127.0.0.1:9/text8.zip")
    with pytest.raises(CorpusError, match=r"put text8.zip .* into .*data"):
        resolve("text8", tmp_path / "data")
    assert not (tmp_path / "data" / "text8.zip").exists()


def test_text8_found_in_data_dir_is_size_checked(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "text8").write_text("too short")
    with pytest.raises(CorpusError, match="partial or different file"):
        resolve("text8", root)


def test_one_file_named_two_ways_is_one_corpus(tmp_path, monkeypatch):
    """The fingerprint hashes the content, not the path: a relative and an absolute name, a
    symlink and a compressed copy of the same text are one corpus (one cache entry)."""
    paths = write_all_formats(tmp_path, TEXT * 20)
    (tmp_path / "link.txt").symlink_to(paths["plain"])
    monkeypatch.chdir(tmp_path)
    names = ["c.txt", str(paths["plain"]), "./c.txt", "link.txt", str(paths["gz"]), "c.zip"]
    loaded = [load_corpus(n, min_count=1, data_root=tmp_path / "data") for n in names]
    assert len({c.fingerprint for c in loaded}) == 1
    assert len({c.cache_path for c in loaded}) == 1
    other = tmp_path / "other.txt"
    other.write_text(TEXT * 19)
    assert (
        load_corpus(str(other), 1, data_root=tmp_path / "data").fingerprint != loaded[0].fingerprint
    )


@pytest.mark.parametrize("damage", ["truncated", "not-a-zip", "ids-out-of-range", "fingerprint"])
def test_damaged_cache_entry_is_rebuilt_with_a_warning(tmp_path, caplog, damage):
    path = tmp_path / "c.txt"
    path.write_text(TEXT * 20)
    first = load_corpus(str(path), min_count=1, data_root=tmp_path / "data")
    cache = first.cache_path
    assert cache is not None
    if damage == "truncated":
        cache.write_bytes(cache.read_bytes()[:200])
    elif damage == "not-a-zip":
        cache.write_bytes(b"hello")
    else:
        with np.load(cache) as data:
            arrays = dict(data)
        if damage == "ids-out-of-range":
            arrays["ids"] = arrays["ids"] + 1000
        else:
            arrays["fingerprint"] = np.asarray("text:sha256:0")
        np.savez(cache, **arrays)
    with caplog.at_level("WARNING", logger="study.data.vocab"):
        again = load_corpus(str(path), min_count=1, data_root=tmp_path / "data")
    assert "is unreadable" in caplog.text and "rebuilding it" in caplog.text
    assert again.vocab.words == first.vocab.words and np.array_equal(again.ids, first.ids)
    assert load_corpus(str(path), min_count=1, data_root=tmp_path / "data").cache_path == cache
