"""Lesson 19: a classifier for your own photos, end to end, one public function per step.

`check_photos` (photos per class, unreadable files, the same photo twice), `rank_backbones` (lesson 07's LogME
estimate on frozen features, no fine-tuning), `train_photo_classifier` (lesson 05's recipe: fastai's
`fine_tune`), `interpretation` (fastai's confusion matrix and top losses); predicting and exporting use
`tlcourse.predict.predict` and `tlcourse.compression.export_learner`. The same steps, in this order, make a script.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tlcourse.assets.models import get_model_spec
from tlcourse.assets.network import sha256_of
from tlcourse.data import IMAGE_SUFFIXES, image_dataloaders, image_files, resolve_folder
from tlcourse.errors import DataError
from tlcourse.profiles import active_profile

MIN_PER_CLASS = 2  # one to train on, one to check with: the least a class can have
ADVISED_PER_CLASS = 10  # below this, expect a noisy accuracy (lesson 06's curves)


@dataclass
class PhotoCheck:
    """What a folder of photos holds, and what would stop or spoil training on it."""

    folder: Path
    counts: dict[str, int]  # photos per class (sub-folder name)
    unreadable: list[Path] = field(default_factory=list)
    duplicates: list[tuple[Path, Path]] = field(default_factory=list)  # (copy, first seen): the same bytes
    loose: list[Path] = field(default_factory=list)  # images outside any class folder

    def table(self) -> pd.DataFrame:
        """Photos per class."""
        return pd.DataFrame({"photos": self.counts}).rename_axis("class")

    def problems(self) -> list[str]:
        """Each problem with its fix; empty when the folder is ready to train on."""
        found = []
        if len(self.counts) < 2:
            found.append(f"{len(self.counts)} class(es) in {self.folder}: a classifier needs at least two "
                         "sub-folders of photos, one per class.")
        found += [f"class {name!r} has {n} photo(s): add at least {MIN_PER_CLASS - n} more."
                  for name, n in self.counts.items() if n < MIN_PER_CLASS]
        found += [f"{path} is not a readable image: delete it or save it again as JPEG or PNG."
                  for path in self.unreadable]
        found += [f"{copy} is the same photo as {first}: delete one (in two classes, it teaches both labels)."
                  for copy, first in self.duplicates]
        found += [f"{path} is not in a class folder: move it into one." for path in self.loose]
        return found

    def advice(self) -> list[str]:
        """Not errors, but worth fixing: classes with few photos, classes of very different sizes."""
        notes = [f"class {name!r} has only {n} photos; {ADVISED_PER_CLASS} or more give steadier results."
                 for name, n in self.counts.items() if MIN_PER_CLASS <= n < ADVISED_PER_CLASS]
        if self.counts and max(self.counts.values()) > 3 * max(1, min(self.counts.values())):
            notes.append("the largest class has over three times the photos of the smallest: the model will "
                         "lean towards it; add photos to the small classes if you can.")
        return notes


def check_photos(source: str | Path) -> PhotoCheck:
    """Check a folder (one sub-folder of photos per class, optionally inside train/ and valid/) or a course
    data set's name: photos per class, files that are not readable images, and exact duplicates."""
    from fastai.vision.utils import verify_images
    folder = resolve_folder(source)
    files = image_files(folder)
    if not files:
        raise DataError(f"No photos in {folder} (looked for {', '.join(sorted(IMAGE_SUFFIXES))} files): put one "
                        f"sub-folder of photos per class there, e.g. {folder}/cats/1.jpg and {folder}/dogs/1.jpg.")
    splits = {"train", "valid"}
    counts: dict[str, int] = {}
    loose = []
    for path in files:
        parts = path.relative_to(folder).parts
        if parts[0] in splits:
            parts = parts[1:]
        if len(parts) < 2:
            loose.append(path)
        else:
            counts[parts[0]] = counts.get(parts[0], 0) + 1
    unreadable = [Path(p) for p in verify_images(files)]
    seen: dict[str, Path] = {}
    duplicates = []
    for path in files:
        digest = sha256_of(path)
        if digest in seen:
            duplicates.append((path, seen[digest]))
        else:
            seen[digest] = path
    return PhotoCheck(folder, dict(sorted(counts.items())), unreadable, duplicates, loose)


def rank_backbones(source: str | Path, models: list[str], images_per_class: int | None = None,
                   seed: int = 0) -> pd.DataFrame:
    """Lesson 07's estimate for your photos: LogME of each backbone's frozen features on the training photos (no
    fine-tuning; higher predicts a better fine-tuned model), with its size and ImageNet accuracy, best first."""
    from tlcourse.features import extract_features
    from tlcourse.transferability import logme
    profile = active_profile()
    rows = []
    for model in models:
        spec = get_model_spec(model)
        dls = image_dataloaders(source, profile.image_size, profile.batch_size, images_per_class, seed=seed,
                                stats=spec.stats)
        features = extract_features(dls, model)
        rows.append({"backbone": model, "LogME": round(logme(features.train.numpy(),
                                                             features.train_labels.numpy()), 3),
                     "ImageNet top-1": spec.imagenet_top1, "feature seconds": round(features.seconds, 1)})
    return pd.DataFrame(rows).sort_values("LogME", ascending=False).set_index("backbone")


def train_photo_classifier(source: str | Path, model: str, images_per_class: int | None = None,
                           epochs: int | None = None, seed: int = 0):
    """Fine-tune `model` on the photos (lesson 05's recipe: one epoch head only, then all layers) and return the
    training Result, whose `learner` predicts and exports. Checks the folder first and stops on a problem."""
    from tlcourse.train import fine_tune
    profile = active_profile()
    problems = check_photos(source).problems()
    if problems:
        raise DataError("Fix these first:\n  " + "\n  ".join(problems))
    dls = image_dataloaders(source, profile.image_size, profile.batch_size, images_per_class, seed=seed,
                            stats=get_model_spec(model).stats)
    return fine_tune(dls, model, epochs or profile.epochs, seed=seed)


def interpretation(result):
    """fastai's ClassificationInterpretation of a trained Result on its validation photos: `plot_confusion_matrix`,
    `plot_top_losses(k)`, `most_confused()`."""
    from fastai.interpret import ClassificationInterpretation

    from tlcourse.predict import learner_of
    learner = learner_of(result)
    with learner.no_bar():
        return ClassificationInterpretation.from_learner(learner)
