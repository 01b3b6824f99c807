"""Use a trained model: class names and probabilities for one image, a PIL image, a list of them, or a folder."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tlcourse.errors import DataError


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one image: the most likely class, its probability, and every class's."""

    image: str  # the file, or "image 0", "image 1", ... for images passed in memory
    label: str
    probability: float
    probabilities: dict[str, float]


def learner_of(trained):
    """The fastai Learner of a training Result, or `trained` itself when it is a Learner."""
    from fastai.learner import Learner
    if isinstance(trained, Learner):
        return trained
    learner = getattr(trained, "learner", None)
    if learner is None:
        raise DataError("This result has no trained image model to predict with (it was trained on cached "
                        "features, not on images): pass the Result of `fine_tune` or `train_from_scratch`, "
                        "or a fastai Learner.")
    return learner


def _image_files(folder: Path) -> list[Path]:
    from tlcourse.data import IMAGE_SUFFIXES, image_files
    files = image_files(folder)
    if not files:
        raise DataError(f"No images in {folder} (looked for {', '.join(sorted(IMAGE_SUFFIXES))} files, also in "
                        f"sub-folders): put the photos to classify there, or pass one image's path.")
    return files


def _items(images) -> list:
    """Paths and in-memory images to classify, in order; a folder becomes the images inside it."""
    from PIL import Image
    if isinstance(images, (str, Path, Image.Image)):
        images = [images]
    items = []
    for image in images:
        if isinstance(image, Image.Image):
            items.append(image)
            continue
        path = Path(image).expanduser()
        if path.is_dir():
            items.extend(_image_files(path))
        elif path.is_file():
            items.append(path)
        else:
            raise DataError(f"{path} is neither an image file nor a folder: check the path (relative paths start "
                            f"from {Path.cwd()}).")
    if not items:
        raise DataError("No images given: pass an image's path, a folder of images, or a PIL image.")
    return items


def images_loader(learner, images: list):
    """A fastai loader over files or PIL images (read as RGB) with the learner's validation transforms. The
    course's loaders read (file, label) pairs (their first step is an ItemGetter), so files are wrapped to match."""
    from fastai.data.transforms import ItemGetter
    from PIL import Image
    inputs = [image.convert("RGB") if isinstance(image, Image.Image) else image for image in images]
    if any(isinstance(step, ItemGetter) for step in learner.dls.valid_ds.tls[0].tfms.fs):
        inputs = [(image,) for image in inputs]
    return learner.dls.test_dl(inputs)


def predict(trained, images) -> Prediction | list[Prediction]:
    """Classify `images` with a trained model (a training Result or a fastai Learner).

    `images`: an image file, a folder (every image inside it, sorted), a PIL image, or a list of these. Images
    are resized and normalised as the model's validation images were; any mode (grey, RGBA) is read as RGB.
    Returns one Prediction for one image, else a list in the same order.
    """
    import torch
    from PIL import Image
    learner = learner_of(trained)
    items = _items(images)
    from tlcourse.data import check_readable
    check_readable([item for item in items if isinstance(item, Path)])
    loader = images_loader(learner, items)
    with learner.no_bar():  # softmax: the course's classifiers all end in logits, whatever their loss
        probabilities, _ = learner.get_preds(dl=loader, act=partial(torch.softmax, dim=-1))
    classes = [str(c) for c in learner.dls.vocab]
    predictions = []
    for index, (item, row) in enumerate(zip(items, probabilities.tolist())):
        best = max(range(len(classes)), key=row.__getitem__)
        predictions.append(Prediction(f"image {index}" if isinstance(item, Image.Image) else str(item),
                                      classes[best], row[best], dict(zip(classes, row))))
    one_image = isinstance(images, Image.Image) or (isinstance(images, (str, Path))
                                                    and not Path(images).expanduser().is_dir())
    return predictions[0] if one_image else predictions


def prediction_table(predictions: list[Prediction]):
    """The predictions as a table: one row per image (files named from the folder they share), its predicted
    class and that class's probability."""
    import os

    import pandas as pd
    files = [p.image for p in predictions if Path(p.image).is_file()]
    shared = Path(os.path.commonpath(files)) if len(files) > 1 else None
    def name(image: str) -> str:
        return str(Path(image).relative_to(shared)) if shared and image in files else image
    return pd.DataFrame([{"image": name(p.image), "predicted": p.label, "probability": round(p.probability, 3)}
                         for p in predictions]).set_index("image")
