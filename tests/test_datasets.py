import ast
import collections
import dataclasses
from pathlib import Path

import pytest

import tlcourse
from tlcourse.assets import network, prepare
from tlcourse.assets.datasets import DATASETS, get_dataset_spec, offline_names
from tlcourse.data import dataset_path
from tlcourse.errors import DownloadError, MissingAsset


def test_every_row_has_a_source_a_licence_and_a_citation():
    for spec in DATASETS.values():
        assert spec.sources and spec.licence and spec.citation
        assert all(s.kind in ("debian", "pypi", "sdist", "wheel", "fastai") for s in spec.sources)
    assert (offline_names() == ["photos5", "digits", "clipart5", "sentiment", "solar_cells", "workbench", "translation", "spoken_digits", "read_speech"]
            == list(prepare.BUILDERS))


def test_offline_sources_are_pinned_and_single_files_checksummed():
    for name in offline_names():
        for source in get_dataset_spec(name).sources:
            assert source.path and source.version
            if Path(source.path).suffix:  # one file, not a folder of them (whose manifest checks each file)
                assert len(source.sha256) == 64, (name, source)


def test_packaged_files_match_their_records(needs_debian):
    digits = get_dataset_spec("digits")
    assert network.sha256_of(prepare._pypi_path("digits")) == digits.source("pypi").sha256
    sdist = prepare._sentiment_sdist()
    assert sdist.name == "vaderSentiment-3.3.2.tar.gz"
    needs_debian("opencv-doc")  # the rest checks the Debian package's file
    assert network.sha256_of(prepare._debian_path("digits")) == digits.source("debian").sha256


def test_digits_are_never_flipped_while_photos_may_be():
    assert not get_dataset_spec("digits").augmentation.do_flip
    assert get_dataset_spec("photos5").augmentation.do_flip and get_dataset_spec("clipart5").augmentation.do_flip


def test_photos5_is_prepared_exactly_as_the_manifest_says():
    folder = dataset_path("photos5")
    rows = prepare.read_manifest("photos5")
    assert all((folder / r["file"]).exists() for r in rows)
    counts = collections.Counter((r["class"], r["split"]) for r in rows)
    assert {c for c, _ in counts} == set(prepare.PHOTOS5_CLASSES)
    assert all(counts[(c, "valid")] == 8 and counts[(c, "train")] >= 10 for c in prepare.PHOTOS5_CLASSES)
    assert 150 <= len(rows) <= 180


def test_manifest_matches_what_the_packages_give_today(needs_debian):
    needs_debian("tuxpaint-stamps-default")
    assert prepare.photos5_rows() == prepare.read_manifest("photos5")


def test_digits_has_two_domains_of_the_same_ten_classes():
    folder = dataset_path("digits")
    for domain in get_dataset_spec("digits").domains:
        train = sorted(p.name for p in (folder / domain / "train").iterdir())
        assert train == [str(d) for d in range(10)]
        assert sum(1 for _ in (folder / domain / "valid").rglob("*.png")) == 1000


def test_online_data_set_offline_fails_fast_naming_the_offline_ones(monkeypatch, tmp_path):
    monkeypatch.setenv("TLCOURSE_DATA", str(tmp_path))
    monkeypatch.setattr(network, "is_online", lambda host: False)
    with pytest.raises(DownloadError, match="pets.*offline.*photos5, digits, clipart5, sentiment"):
        dataset_path("pets")


def _with_source(monkeypatch, name: str, kind: str, **changes) -> None:
    """Swap one source of a registry row for the length of a test."""
    spec = get_dataset_spec(name)
    sources = tuple(dataclasses.replace(s, **changes) if s.kind == kind else s for s in spec.sources)
    monkeypatch.setitem(DATASETS, name, dataclasses.replace(spec, sources=sources))


def test_a_debian_package_that_cannot_be_fetched_names_its_file_and_the_fix(monkeypatch, tmp_path):
    from tlcourse.assets import debian_archive
    monkeypatch.setenv("TLCOURSE_DATA", str(tmp_path))
    monkeypatch.setenv(debian_archive.ARCHIVE_VARIABLE, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setattr(debian_archive, "_apt_download", lambda package, dest: False)
    with pytest.raises(DownloadError, match="tuxpaint-stamps-default_2022.06.04-1_all.deb \\(160.9 MB\\): run `make "
                                            "data` again when online, or put that file in"):
        dataset_path("photos5")


def test_a_changed_packaged_file_is_refused(monkeypatch, tmp_path, needs_debian):
    needs_debian("opencv-doc")
    _with_source(monkeypatch, "digits", "debian", sha256="0" * 64)
    with pytest.raises(MissingAsset, match="digits.png differs.*opencv-doc 4.6.0.*unpack opencv-doc again"):
        prepare.BUILDERS["digits"].write(prepare.read_manifest("digits")[:1], tmp_path)


def test_unknown_data_set_lists_the_registry():
    with pytest.raises(KeyError, match="photos5"):
        get_dataset_spec("imagenet22k")


def test_clipart5_is_a_second_domain_of_the_photos5_classes(needs_debian):
    folder = dataset_path("clipart5")
    rows = prepare.read_manifest("clipart5")
    assert all((folder / r["file"]).exists() for r in rows)
    assert {r["class"] for r in rows} == set(prepare.PHOTOS5_CLASSES)
    assert len({r["sha256"] for r in rows}) == len(rows)  # each drawing once
    assert not any(word in r["source"].lower() for r in rows for word in prepare.CLIPART5_SKIP)
    needs_debian("openclipart-svg")  # the rest rebuilds the manifest from the package
    assert prepare.clipart5_rows() == rows


def test_solar_cells_keep_every_cell_once_with_a_quarter_of_each_kind_held_out():
    rows = prepare.read_manifest("solar_cells")
    assert len(rows) == 2624 and len({r["source"] for r in rows}) == 2624  # no cell in both splits
    counts = collections.Counter(r["class"] for r in rows)
    assert counts == {"functional": 1508, "probably_functional": 295, "probably_defective": 106, "defective": 715}
    for kind in ("mono", "poly"):
        for label in counts:
            group = [r for r in rows if r["class"] == label and r["file"].split("/")[-1].startswith(kind)]
            held_out = sum(r["split"] == "valid" for r in group) / len(group)
            assert abs(held_out - 0.25) < 0.02, (kind, label, held_out)
    folder = dataset_path("solar_cells")
    assert all((folder / r["file"]).exists() for r in rows)
    assert prepare.solar_cells_rows() == rows


def test_a_changed_solar_cell_is_refused_with_the_reinstall_command(tmp_path):
    row = {**prepare.read_manifest("solar_cells")[0], "sha256": "0" * 64}
    with pytest.raises(MissingAsset, match="reinstall elpv-dataset==1.0.0.post1 with `make install`"):
        prepare.BUILDERS["solar_cells"].write([row], tmp_path)


def test_a_non_commercial_data_set_says_so_once_when_loaded(capsys, monkeypatch):
    from tlcourse import data
    monkeypatch.setattr(data, "_NOTICES_SHOWN", set())
    dataset_path("solar_cells")
    dataset_path("solar_cells")
    dataset_path("photos5")
    assert capsys.readouterr().out.count("non-commercial") == 1


def test_workbench_tests_on_pictures_it_never_trains_on(needs_debian):
    rows = prepare.read_manifest("workbench")
    objects = [r for r in rows if r["split"] == "both"]
    assert sorted(r["class"] for r in objects) == sorted(prepare.WORKBENCH_OBJECTS)
    for kind in ("background", "distractor"):
        train = {r["sha256"] for r in rows if r["class"] == kind and r["split"] == "train"}
        valid = {r["sha256"] for r in rows if r["class"] == kind and r["split"] == "valid"}
        assert train and valid and not train & valid, kind  # no picture on both sides
    distractors = {r["sha256"] for r in rows if r["class"] == "distractor"}
    assert not distractors & {r["sha256"] for r in objects}  # an object is never pasted as clutter
    for package in ("tuxpaint-stamps-default", "opencv-doc"):  # the rest rebuilds the manifest from the packages
        needs_debian(package)
    assert prepare.workbench_rows() == rows


def test_workbench_scenes_have_their_counts_and_boxes_inside_them():
    import csv

    from PIL import Image

    from tlcourse.assets.scenes import SCENE_SIDE
    folder = dataset_path("workbench")
    with open(folder / "boxes.csv", newline="") as handle:
        boxes = list(csv.DictReader(handle))
    for split, count in prepare.WORKBENCH_SCENES.items():
        files = sorted((folder / split).glob("*.png"))
        assert len(files) == count and {b["file"] for b in boxes if b["split"] == split} == {
            f"{split}/{f.name}" for f in files}  # every scene has at least one object
    assert Image.open(files[0]).size == (SCENE_SIDE, SCENE_SIDE)
    assert all(0 <= int(b["x0"]) < int(b["x1"]) <= SCENE_SIDE and 0 <= int(b["y0"]) < int(b["y1"]) <= SCENE_SIDE
               for b in boxes)


def test_a_changed_workbench_picture_is_refused(tmp_path):
    row = {**prepare.read_manifest("workbench")[0], "sha256": "0" * 64}
    with pytest.raises(MissingAsset, match="differs from the manifest"):
        prepare.BUILDERS["workbench"].write([row], tmp_path)


def test_sentiment_keeps_clear_ratings_binarised_by_sign():
    rows = prepare.read_manifest("sentiment")
    assert all(abs(float(r["source"])) >= prepare.SENTIMENT_THRESHOLD for r in rows)
    assert all((float(r["source"]) > 0) == (r["class"] == "positive") for r in rows)
    domains = collections.Counter(r["file"].split("/")[0] for r in rows)
    assert set(domains) == set(get_dataset_spec("sentiment").domains) and min(domains.values()) > 1000
    folder = dataset_path("sentiment")
    assert sum(len(open(folder / f"{d}.csv", encoding="utf-8").readlines()) - 1 for d in domains) >= len(rows)


def test_missing_sentiment_sdist_offline_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("TLCOURSE_DATA", str(tmp_path))
    _with_source(monkeypatch, "sentiment", "sdist", version="0.0.0.does.not.exist")
    with pytest.raises(MissingAsset, match="Could not fetch.*make data"):
        dataset_path("sentiment")


PACKAGE = Path(tlcourse.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Each tlcourse module -> the tlcourse modules it imports, at the top or inside functions.

    A module's own parent packages are left out: Python imports them before the module in any case.
    """
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from . import x, from ..assets import y
                    parts = package.split(".")
                    base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base
                           for alias in node.names]
            else:
                continue
            imported |= {t for t in targets if t in files and not (name + ".").startswith(t + ".")}
        graph[name] = imported
    return graph


def _cycle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A chain of imports from `start` back to itself, if there is one."""
    stack, seen = [[start, n] for n in sorted(graph[start])], set()
    while stack:
        trail = stack.pop()
        if trail[-1] == start:
            return trail
        if trail[-1] not in seen:
            seen.add(trail[-1])
            stack += [trail + [n] for n in sorted(graph[trail[-1]])]
    return None


def test_the_import_graph_has_no_cycles():
    graph = _import_graph()
    assert graph["tlcourse.assets.datasets"] == set()  # the registry is data only
    assert "tlcourse.profiles" in graph["tlcourse.data"]  # imported inside image_dataloaders: lazy ones count
    cycles = [" -> ".join(c) for name in sorted(graph) if (c := _cycle_through(graph, name))]
    assert not cycles, f"import cycles: {cycles}"


def test_the_sentiment_sdist_is_hash_checked_before_pip_builds_anything(monkeypatch, tmp_path):
    import io
    import tarfile
    marker = tmp_path / "setup_py_ran"
    links = tmp_path / "links"
    links.mkdir()
    setup = f"open({str(marker)!r}, 'w').close()\nfrom setuptools import setup\nsetup(name='fakesdist', version='1.0')\n"
    with tarfile.open(links / "fakesdist-1.0.tar.gz", "w:gz") as archive:
        for name, text in (("fakesdist-1.0/setup.py", setup), ("fakesdist-1.0/PKG-INFO", "Name: fakesdist\n")):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    monkeypatch.setenv("TLCOURSE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    monkeypatch.setenv("PIP_NO_BUILD_ISOLATION", "0")  # pip's spelling for "off": setup.py can run without a network
    _with_source(monkeypatch, "sentiment", "sdist", package="fakesdist", version="1.0", sha256="0" * 64)
    with pytest.raises(MissingAsset, match="not the one the course was built with.*hash check failed"):
        prepare._sentiment_sdist()
    assert not marker.exists(), "pip ran the archive's setup.py before checking its hash"
    assert not list((tmp_path / "data" / "downloads").glob("*.tar.gz"))
    right = network.sha256_of(links / "fakesdist-1.0.tar.gz")
    _with_source(monkeypatch, "sentiment", "sdist", package="fakesdist", version="1.0", sha256=right)
    assert prepare._sentiment_sdist().name == "fakesdist-1.0.tar.gz"
    assert marker.exists()  # the control: with the right archive pip does run it
