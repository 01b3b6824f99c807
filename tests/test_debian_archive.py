"""Pinned Debian package files: fetched over HTTP from an archive (here a local server), checked, unpacked in
Python; the records of the real packages; the real packages give the committed manifests (tests/test_datasets.py)."""

import functools
import hashlib
import http.server
import io
import tarfile
import threading

import pytest

from tlcourse.assets import debian_archive
from tlcourse.assets.datasets import DATASETS
from tlcourse.errors import DownloadError, MissingAsset


def _ar_member(name: str, data: bytes) -> bytes:
    header = f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode()
    return header + data + (b"\n" if len(data) % 2 else b"")


def _deb(files: dict[str, bytes], links: dict[str, str]) -> bytes:
    """A .deb as dpkg-deb builds it: an ar archive of debian-binary, control.tar.xz and data.tar.xz."""
    def tar(entries: dict[str, bytes], symlinks: dict[str, str] = {}) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:xz") as archive:
            for name, data in entries.items():
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o755 if "/bin/" in name else 0o644
                archive.addfile(info, io.BytesIO(data))
            for name, target in symlinks.items():
                info = tarfile.TarInfo(name)
                info.type, info.linkname = tarfile.SYMTYPE, target
                archive.addfile(info)
        return buffer.getvalue()
    return (b"!<arch>\n" + _ar_member("debian-binary", b"2.0\n")
            + _ar_member("control.tar.xz", tar({"./control": b"Package: demo\n"}))
            + _ar_member("data.tar.xz", tar(files, links)))


@pytest.fixture
def archive(tmp_path, monkeypatch):
    """A local Debian archive serving one package, `demo`, recorded with its checksum; the data folder in tmp_path;
    no apt (as on macOS, Windows, or where apt does not know the version)."""
    deb = _deb({"./usr/share/demo/hello.txt": b"hello\n", "./usr/bin/demo": b"#!/bin/sh\necho demo\n"},
               {"./usr/share/demo/outside": "/usr/share/javascript/jquery.js"})
    served = tmp_path / "served" / "pool" / "main" / "d" / "demo"
    served.mkdir(parents=True)
    (served / "demo_1.0-1_all.deb").write_bytes(deb)
    record = debian_archive.DebianPackage("demo", "1.0-1", "pool/main/d/demo/demo_1.0-1_all.deb",
                                          hashlib.sha256(deb).hexdigest(), len(deb))
    monkeypatch.setattr(debian_archive, "packages", lambda: {"demo": record})
    monkeypatch.setattr(debian_archive, "_apt_download", lambda package, dest: False)
    monkeypatch.setenv("TLCOURSE_DATA", str(tmp_path / "data"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "served"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(debian_archive.ARCHIVE_VARIABLE, f"http://127.0.0.1:{server.server_port}")
    yield served / "demo_1.0-1_all.deb"
    server.shutdown()


def test_a_package_is_fetched_checked_and_unpacked_without_root_or_apt(archive):
    hello = debian_archive.installed_path("demo", "/usr/share/demo/hello.txt")
    assert hello.read_text() == "hello\n" and hello.is_relative_to(debian_archive.downloads())
    assert not (hello.parent / "outside").exists()  # a link out of the tree is left out
    assert debian_archive.is_fetched("demo")
    archive.unlink()  # fetched once: the archive is not asked again
    assert debian_archive.installed_path("demo", "/usr/bin/demo").stat().st_mode & 0o100


def test_a_package_file_the_archive_changed_is_refused_and_not_kept(archive):
    archive.write_bytes(archive.read_bytes()[:-1] + b"!")
    with pytest.raises(DownloadError, match="demo_1.0-1_all.deb .*has SHA-256 .*damaged"):
        debian_archive.fetch("demo")
    assert not debian_archive.is_fetched("demo")


def test_a_version_the_archive_no_longer_has_names_the_file_the_snapshot_and_what_to_do(archive):
    archive.unlink()
    with pytest.raises(DownloadError, match=r"404.*demo_1.0-1_all.deb .*put that file in .*snapshot.debian.org/"
                                            r"package/demo/1.0-1/"):
        debian_archive.fetch("demo")


def test_an_unreachable_archive_says_so_and_how_to_go_on(archive, monkeypatch):
    monkeypatch.setenv(debian_archive.ARCHIVE_VARIABLE, "http://127.0.0.1:9")  # nothing listens on port 9
    with pytest.raises(DownloadError, match="unreachable.*run `make data` again when online, or put that file in"):
        debian_archive.fetch("demo")


def test_a_damaged_package_file_in_the_downloads_is_refused_with_the_fix(archive):
    debian_archive.fetch("demo").write_bytes(b"not a package")
    with pytest.raises(MissingAsset, match="SHA-256 differs.*delete it and run `make data` again"):
        debian_archive.fetch("demo")


def test_every_debian_source_of_the_data_sets_is_a_pinned_package_file():
    records = debian_archive.packages()
    for spec in DATASETS.values():
        for source in spec.sources:
            if source.kind == "debian":
                assert records[source.package].version == source.version, (spec.name, source.package)
    for record in records.values():
        assert len(record.sha256) == 64 and record.size > 0 and record.archive_path.startswith("pool/main/")
        assert record.file_name.startswith(f"{record.package}_") and record.file_name.endswith(".deb")
        assert not record.loaded_by or record.loaded_by in records  # libraries belong to a recorded program


def test_apt_get_download_fetches_the_pinned_file_where_apt_knows_it(tmp_path, monkeypatch):
    import shutil
    if shutil.which("apt-get") is None:
        pytest.skip("no apt on this machine")
    monkeypatch.setenv("TLCOURSE_DATA", str(tmp_path))
    record = debian_archive.get_package("libsonic0")  # 11 kB
    dest = tmp_path / record.file_name
    if not debian_archive._apt_download(record, dest):
        pytest.skip("apt-get could not fetch libsonic0 here (offline, or apt's lists lack that version)")
    assert debian_archive.has_sha256(dest, record.sha256)
