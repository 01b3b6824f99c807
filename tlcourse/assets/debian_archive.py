"""Pinned Debian 12 packages as files: fetched, checked and unpacked in Python, with no root and no apt-get install.

Several offline data sets are made from files that Debian packages ship (Tux Paint's stamps, OpenCV's samples, Open
Clip Art, espeak-ng's voices, LibriVox recordings). Each package file the course uses is one row of
`manifests/debian_packages.csv`: name, version, path in the Debian archive, SHA-256 and size. `make data` gets each
file once into the data folder's downloads: with `apt-get download` where apt exists (no root needed), else over
HTTP(S) from the Debian archive ($TLCOURSE_DEBIAN_ARCHIVE, default https://deb.debian.org/debian). It checks the
SHA-256, then unpacks the parts the data sets read (a .deb is an `ar` archive holding a tar) into a folder of its
own, so that the data sets are built from the same bytes on Debian, Ubuntu, Colab, macOS and Windows.
"""

from __future__ import annotations

import csv
import functools
import io
import os
import platform
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from tlcourse.assets.datasets import DATASETS, data_root
from tlcourse.assets.network import download, has_sha256
from tlcourse.errors import DownloadError, MissingAsset

ARCHIVE_VARIABLE = "TLCOURSE_DEBIAN_ARCHIVE"
DEFAULT_ARCHIVE = "https://deb.debian.org/debian"
TIMEOUT_SECONDS = 30
RECORDS = Path(__file__).resolve().parent / "manifests" / "debian_packages.csv"


def _lzma(data: bytes) -> bytes:
    import lzma
    return lzma.decompress(data)


def _gzip(data: bytes) -> bytes:
    import gzip
    return gzip.decompress(data)


DECOMPRESSORS = {".xz": _lzma, ".gz": _gzip}  # Debian 12's packages use xz; a few old ones gzip


@dataclass(frozen=True)
class DebianPackage:
    """One pinned package file of Debian 12 ("bookworm")."""

    package: str
    version: str
    archive_path: str  # below the archive's root, e.g. pool/main/o/opencv/opencv-doc_4.6.0+dfsg-12_all.deb
    sha256: str  # of the .deb file
    size: int  # bytes
    loaded_by: str = ""  # for a shared library (or a program's data): the program that loads it

    @property
    def file_name(self) -> str:
        return Path(self.archive_path).name


@functools.lru_cache(maxsize=1)
def packages() -> dict[str, DebianPackage]:
    """Every pinned package by name, from the committed records."""
    with open(RECORDS, newline="") as handle:
        return {row["package"]: DebianPackage(**{**row, "size": int(row["size"])}) for row in csv.DictReader(handle)}


def get_package(name: str) -> DebianPackage:
    try:
        return packages()[name]
    except KeyError:
        raise KeyError(f"No Debian package {name!r} in {RECORDS.name}: choose one of {', '.join(packages())}.") from None


def downloads() -> Path:
    return data_root() / "downloads" / "debian"


def is_fetched(name: str) -> bool:
    """Whether the package's file is in the downloads folder already (checked when used)."""
    return (downloads() / get_package(name).file_name).is_file()


def fetch(name: str) -> Path:
    """The package's .deb file in the downloads folder: fetched once, checked against its SHA-256 every time."""
    package = get_package(name)
    dest = downloads() / package.file_name
    if dest.exists():
        if not has_sha256(dest, package.sha256):
            raise MissingAsset(f"{dest} is not the {name} {package.version} package file the course was built from "
                               f"(its SHA-256 differs): delete it and run `make data` again.")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not _apt_download(package, dest):
        archive = os.environ.get(ARCHIVE_VARIABLE, DEFAULT_ARCHIVE).rstrip("/")
        url = f"{archive}/{package.archive_path}"
        source = package.archive_path.split("/")[3]  # pool/main/<letter>/<source package>/<file>
        try:
            download(url, dest, sha256=package.sha256, timeout=TIMEOUT_SECONDS)
        except DownloadError as error:
            raise DownloadError(
                f"{error} The data sets need {package.file_name} ({package.size / 1e6:.1f} MB): run `make data` "
                f"again when online, or put that file in {dest.parent}. If the Debian archive no longer has this "
                f"version, find it on https://snapshot.debian.org/package/{source}/{package.version}/, "
                f"or set {ARCHIVE_VARIABLE} to a Debian mirror that has it.") from None
    return dest


def _apt_download(package: DebianPackage, dest: Path) -> bool:
    """Fetch the exact version with `apt-get download` (no root needed) where apt knows it; False where it can't."""
    if shutil.which("apt-get") is None:
        return False
    print(f"Fetching {package.package} {package.version} ({package.size / 1e6:.1f} MB) with apt-get download ...")
    try:
        fetched = subprocess.run(["apt-get", "download", "-q", "-o", "Acquire::Retries=0", "-o",
                                  f"Acquire::http::Timeout={TIMEOUT_SECONDS}", "-o",
                                  f"Acquire::https::Timeout={TIMEOUT_SECONDS}", f"{package.package}={package.version}"],
                                 cwd=dest.parent, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return False
    # apt names the file after the version with its epoch ("1%3a0.18..."); the archive's name has none
    got = sorted(dest.parent.glob(f"{package.package}_*.deb"))
    if fetched.returncode or len(got) != 1:
        for path in got:
            path.unlink()
        print(f"apt-get could not fetch it ({' '.join(fetched.stderr.split())[-120:] or 'no file'}); "
              f"using the Debian archive instead.")
        return False
    if not has_sha256(got[0], package.sha256):
        got[0].unlink()
        print("apt-get gave another build of it; using the Debian archive instead.")
        return False
    got[0].rename(dest)
    return True


def unpacked_folder(name: str) -> Path:
    """The folder the package is unpacked into (its /usr/share/x is `unpacked_folder(name) / "usr/share/x"`)."""
    return downloads() / "unpacked" / Path(get_package(name).file_name).stem


def unpack(name: str) -> Path:
    """The package's own folder, with the parts the data sets read unpacked there once."""
    folder, parts = unpacked_folder(name), _parts_used(name)
    done = folder / ".complete"  # lists the parts unpacked: a data set reading another part unpacks again
    if done.exists() and done.read_text() == "\n".join(parts):
        return folder
    deb = fetch(name)
    print(f"Unpacking {deb.name} ...")
    if folder.exists():
        shutil.rmtree(folder)  # a half-done earlier try, or other parts
    if not hasattr(tarfile, "data_filter"):
        raise MissingAsset("Unpacking Debian packages safely needs Python 3.11.4 or newer (or 3.10.12 or newer): "
                           "upgrade Python, or copy a prepared data/ folder from a workshop kit.")
    with _data_tar(deb) as tar:
        for member in tar:
            if not member.name.removeprefix("./").startswith(parts):
                continue
            try:
                tar.extract(member, folder, filter="data")
            except tarfile.FilterError:
                pass  # a link out of the package (e.g. to another package's file): nothing the course reads
    folder.mkdir(parents=True, exist_ok=True)
    done.write_text("\n".join(parts))
    return folder


def _parts_used(name: str) -> tuple[str, ...]:
    """The folders and files of a package that the data sets read (for a program's libraries: all of them)."""
    return tuple(source.path.strip("/") for spec in DATASETS.values() for source in spec.sources
                 if source.kind == "debian" and source.package == name) or ("",)


def _data_tar(deb: Path) -> tarfile.TarFile:
    """The tar of files inside a .deb (an `ar` archive of debian-binary, control.tar.* and data.tar.*), decompressed
    in memory: extracting from it never seeks back into compressed data, and a link can be copied where the system
    cannot make links."""
    with open(deb, "rb") as handle:
        if handle.read(8) != b"!<arch>\n":
            raise MissingAsset(f"{deb} is not a Debian package file: delete it and run `make data` again.")
        while header := handle.read(60):
            name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58])
            if name.startswith("data.tar"):
                decompress = DECOMPRESSORS.get(Path(name).suffix)
                if decompress is None:
                    raise MissingAsset(f"{deb}'s {name} is compressed in a way the course does not read: "
                                       f"{RECORDS.name} should name another package file; tell the course's maintainers.")
                try:
                    return tarfile.open(fileobj=io.BytesIO(decompress(handle.read(size))))
                except (ImportError, OSError, EOFError, tarfile.TarError) as error:
                    raise MissingAsset(f"Cannot read {name} in {deb} ({error}): delete the file and run `make data` "
                                       f"again; if that does not help, this Python lacks its {Path(name).suffix[1:]} "
                                       f"module.") from None
            handle.seek(size + size % 2, 1)
    raise MissingAsset(f"{deb} holds no data.tar: delete it and run `make data` again.")


def installed_path(name: str, path: str) -> Path:
    """Where the package's file or folder `path` (as Debian installs it, e.g. /usr/share/tuxpaint/stamps) is."""
    return unpack(name) / path.lstrip("/")


def can_run_programs() -> bool:
    """Whether this machine runs Debian 12's amd64 programs: Linux on x86-64 with glibc 2.34 or newer."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        return False
    library, version = platform.libc_ver()
    return library == "glibc" and tuple(int(part) for part in version.split(".")[:2]) >= (2, 34)


def program(name: str, path: str) -> tuple[list[str], dict[str, str]]:
    """A pinned program from its unpacked package: its command, and an environment that loads the libraries it
    needs from their unpacked packages (only the C library is the system's)."""
    roots = [unpack(package) for package in (name, *(p for p, record in packages().items() if record.loaded_by == name))]
    library_folders = sorted({str(library.parent) for root in roots for top in ("lib", "usr/lib")
                              for library in (root / top).rglob("*.so*")})
    environment = {**os.environ, "LD_LIBRARY_PATH": os.pathsep.join(library_folders)}
    return [str(roots[0] / path.lstrip("/"))], environment
