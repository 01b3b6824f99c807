import collections

import pytest

from tlcourse.assets import datasets, prepare
from tlcourse.assets.datasets import DATASETS, dataset_path, get_dataset_spec
from tlcourse.assets.models import MissingAsset
from tlcourse.assets.network import DownloadError


def test_every_row_has_a_source_a_licence_and_a_citation():
    for spec in DATASETS.values():
        assert spec.sources and spec.licence and spec.citation
    assert [n for n, d in DATASETS.items() if d.offline] == ["photos5", "digits", "clipart5", "sentiment"]


def test_photos5_is_prepared_exactly_as_the_manifest_says():
    folder = dataset_path("photos5")
    rows = prepare.read_manifest("photos5")
    assert all((folder / r["file"]).exists() for r in rows)
    counts = collections.Counter((r["class"], r["split"]) for r in rows)
    assert {c for c, _ in counts} == set(prepare.PHOTOS5_CLASSES)
    assert all(counts[(c, "valid")] == 8 and counts[(c, "train")] >= 10 for c in prepare.PHOTOS5_CLASSES)
    assert 150 <= len(rows) <= 180


def test_manifest_matches_what_the_packages_give_today():
    assert prepare.photos5_rows() == prepare.read_manifest("photos5")


def test_digits_has_two_domains_of_the_same_ten_classes():
    folder = dataset_path("digits")
    for domain in get_dataset_spec("digits").domains:
        train = sorted(p.name for p in (folder / domain / "train").iterdir())
        assert train == [str(d) for d in range(10)]
        assert sum(1 for _ in (folder / domain / "valid").rglob("*.png")) == 1000


def test_online_data_set_offline_fails_fast_naming_the_offline_ones(monkeypatch, tmp_path):
    monkeypatch.setenv("TLCOURSE_DATA", str(tmp_path))
    monkeypatch.setattr(datasets, "is_online", lambda host: False)
    with pytest.raises(DownloadError, match="offline.*photos5, digits, clipart5, sentiment"):
        dataset_path("pets")


def test_missing_debian_package_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("TLCOURSE_DATA", str(tmp_path))
    monkeypatch.setattr(prepare, "PHOTOS5_ROOT", tmp_path / "nowhere")
    with pytest.raises(MissingAsset, match="apt-get install tuxpaint-stamps-default"):
        dataset_path("photos5")


def test_unknown_data_set_lists_the_registry():
    with pytest.raises(KeyError, match="photos5"):
        get_dataset_spec("imagenet22k")


def test_clipart5_is_a_second_domain_of_the_photos5_classes():
    folder = dataset_path("clipart5")
    rows = prepare.read_manifest("clipart5")
    assert all((folder / r["file"]).exists() for r in rows)
    assert {r["class"] for r in rows} == set(prepare.PHOTOS5_CLASSES)
    assert len({r["sha256"] for r in rows}) == len(rows)  # each drawing once
    assert not any(word in r["source"].lower() for r in rows for word in prepare.CLIPART5_SKIP)
    assert prepare.clipart5_rows() == rows


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
    monkeypatch.setattr(prepare, "SENTIMENT_SDIST", "vaderSentiment==0.0.0.does.not.exist")
    with pytest.raises(MissingAsset, match="Could not fetch.*make data"):
        dataset_path("sentiment")
