"""text8: found in the data dir or downloaded once and verified (text8.zip is 31,344,016 bytes;
its one member `text8` is 100,000,000 bytes with sha256 TEXT8_SHA256), never leaving a half file.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from tqdm.auto import tqdm

from study.core.atomic import atomic_path
from study.core.errors import CorpusError

TEXT8_URL = "http://mattmahoney.net/dc/text8.zip"
TEXT8_ZIP_BYTES = 31_344_016
TEXT8_BYTES = 100_000_000
TEXT8_SHA256 = "6e890197040d37d85beb962ae1f041ff1d9a9ca8d20c7d99c85027eebf51dca7"
URL_ENV = "W2V_STUDY_TEXT8_URL"  # lets a mirror (or a test server) stand in for the canonical URL


def ensure_text8(root: Path) -> Path:
    """Path to text8 (`text8` or `text8.zip`) in `root`; downloaded and verified if absent."""
    for candidate, size in ((root / "text8", TEXT8_BYTES), (root / "text8.zip", TEXT8_ZIP_BYTES)):
        if candidate.exists():
            if candidate.stat().st_size != size:
                raise CorpusError(
                    f"{candidate} is {candidate.stat().st_size:,} bytes, expected {size:,}: "
                    "a partial or different file; delete it to download text8 again"
                )
            return candidate
    url = os.environ.get(URL_ENV, TEXT8_URL)
    return download_verified(url, root / "text8.zip", TEXT8_ZIP_BYTES, TEXT8_SHA256)


def download_verified(
    url: str, dest: Path, expected_bytes: int | None, member_sha256: str, timeout: float = 30.0
) -> Path:
    """Download `url` to `dest` through a `.part` file; keep it only if size and checksum match.

    `member_sha256` is the sha256 of the single file inside the zip (the unzipped text), which
    is what a public reproduction publishes.
    """
    with atomic_path(dest, suffix=".part") as part:  # removed unless every check passes
        _fetch(url, part, timeout)
        size = part.stat().st_size
        if expected_bytes is not None and size != expected_bytes:
            raise CorpusError(
                f"download of {url} is {size:,} bytes, expected {expected_bytes:,}: "
                "interrupted or wrong file; nothing was kept"
            )
        actual = zip_member_sha256(part)
        if actual != member_sha256:
            raise CorpusError(
                f"checksum mismatch for {url}: sha256 of its content is {actual[:16]}…, "
                f"expected {member_sha256[:16]}…; nothing was kept"
            )
    return dest


def _fetch(url: str, part: Path, timeout: float) -> None:
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except (urllib.error.URLError, OSError) as exc:
        raise CorpusError(
            f"cannot download {url} ({getattr(exc, 'reason', exc)}). Without internet, put "
            f"text8.zip (from {TEXT8_URL}) or the unzipped text8 into {part.parent}/ "
            f"(or point $W2V_STUDY_DATA / --data-dir at the folder that has it)"
        ) from exc
    total = int(response.headers.get("Content-Length") or 0) or None
    try:
        with (
            response,
            open(part, "wb") as out,
            tqdm(
                total=total, unit="B", unit_scale=True, desc=f"downloading {url.rsplit('/', 1)[-1]}"
            ) as bar,
        ):
            while block := response.read(1 << 16):
                out.write(block)
                bar.update(len(block))
    except (urllib.error.URLError, OSError) as exc:
        raise CorpusError(f"download of {url} was interrupted ({exc}); nothing was kept") from exc


def zip_member_sha256(path: Path) -> str:
    """sha256 of the single member of a zip archive, streamed."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1:
                raise CorpusError(f"{path} should hold exactly one file, found {len(members)}")
            digest = hashlib.sha256()
            with archive.open(members[0]) as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
            return digest.hexdigest()
    except zipfile.BadZipFile as exc:
        raise CorpusError(f"downloaded file is not a valid zip archive ({exc})") from exc
