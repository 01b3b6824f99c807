"""Lesson 12 (`12_quality_control`): defective solar cells, found the two ways a factory would.

1. A defect classifier from a few labelled cells of each class: a logistic regression on frozen ImageNet features,
   and the whole network fine-tuned from ImageNet, against the same network trained from scratch and a random
   body's features.
2. Anomaly detection that learns from good cells only: every patch of a good cell goes into a memory bank of
   frozen-body features; a new cell scores as far as its strangest patch is from its nearest neighbour in the
   bank (PatchCore, Roth et al. 2022, with a random draw of the bank's patches where it picks a coreset).
   Scored by AUROC against the same search on a randomly initialised body's features and on raw pixels.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from tlcourse.assets.models import get_model_spec
from tlcourse.data import image_dataloaders
from tlcourse.profiles import Profile, active_profile

GOOD, DEFECTIVE = "functional", "defective"  # the cells the experts were sure of
FEATURE_KINDS = ("ImageNet body", "random body", "raw pixels")
PATCH_STAGES = (2, 3)  # body stages whose outputs describe a patch: fine detail and some context
BANK_CELLS = {"smoke": 100, "cpu": 300, "full": None}  # good training cells in the memory bank (None = all)
BANK_SHARE = {"smoke": 0.25, "cpu": 0.25, "full": 0.1}  # of their patches searched: a random draw (PatchCore: a coreset)
TEST_CELLS_PER_CLASS = {"smoke": 50, "cpu": 150, "full": None}  # held-out cells scored, of each class


def cell_dataloaders(image_size: int, batch_size: int, labelled_per_class: int | None = None,
                     test_per_class: int | None = None, seed: int = 0, augment: bool = True,
                     model: str = "efficientnet_lite0", classes: tuple[str, ...] = (GOOD, DEFECTIVE),
                     device: str | None = None):
    """DataLoaders of solar cells (`classes`: default the functional and the defective ones): at most
    `labelled_per_class` training cells of each class (seeded), `test_per_class` held-out ones (fixed)."""
    return image_dataloaders("solar_cells", image_size, batch_size, labelled_per_class, seed=seed,
                             stats=get_model_spec(model).stats, augment=augment, device=device,
                             valid_per_class=test_per_class, classes=classes)


@dataclass
class FewLabels:
    """Part 1, per seed: logistic regressions on frozen features (ImageNet's body, and a random one as the control),
    and the whole network fine-tuned from ImageNet and trained from scratch (same epochs)."""

    labelled_per_class: int
    accuracy: dict[str, list[float]]  # recipe -> accuracy per seed

    def table(self):
        import pandas as pd
        return pd.DataFrame({"mean accuracy": {k: statistics.mean(v) for k, v in self.accuracy.items()},
                             "per seed": {k: [round(a, 3) for a in v] for k, v in self.accuracy.items()}}).round(3)


FEW_LABEL_RECIPES = ("frozen ImageNet body + logistic regression", "frozen random body + logistic regression",
                     "fine-tuned from ImageNet", "trained from scratch")
FEW_LABEL_EPOCHS = 4  # 5 steps each with 20 cells per class; 6 epochs gave the same picture in our runs


def few_label_classifier(labelled_per_class: int = 20, model: str = "efficientnet_lite0",
                         profile: Profile | None = None) -> FewLabels:
    """Part 1: functional vs defective from `labelled_per_class` cells of each, with each of FEW_LABEL_RECIPES, at
    the profile's sweep image size, on the same cells for every recipe; a new draw of cells per seed."""
    from tlcourse.features import extract_features, linear_probe
    from tlcourse.train import fine_tune, train_from_scratch
    profile = profile or active_profile()
    accuracy: dict[str, list[float]] = {recipe: [] for recipe in FEW_LABEL_RECIPES}
    for seed in profile.seeds[:max(2, profile.sweep_seeds)]:
        dls = cell_dataloaders(profile.sweep_image_size, profile.batch_size, labelled_per_class,
                               TEST_CELLS_PER_CLASS[profile.name], seed, model=model)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            random_features = extract_features(dls, model, pretrained=False)
        found = [linear_probe(extract_features(dls, model)), linear_probe(random_features),
                 fine_tune(dls, model, FEW_LABEL_EPOCHS, freeze_epochs=1, seed=seed).accuracy,
                 train_from_scratch(dls, model, FEW_LABEL_EPOCHS, seed=seed).accuracy]
        for recipe, value in zip(FEW_LABEL_RECIPES, found):
            accuracy[recipe].append(value)
        print(f"seed {seed}: " + ", ".join(f"{recipe} {value:.3f}" for recipe, value in zip(FEW_LABEL_RECIPES, found)))
    return FewLabels(labelled_per_class, accuracy)


@torch.no_grad()
def _patch_maps(body: torch.nn.Sequential, images: torch.Tensor) -> torch.Tensor:
    from tlcourse.train import channels_last
    body = channels_last(body)
    maps, x = [], images
    for index, stage in enumerate(body[:max(PATCH_STAGES) + 1]):
        x = stage(x)
        if index in PATCH_STAGES:
            maps.append(F.avg_pool2d(x, 3, stride=1, padding=1))  # each patch sees its neighbours
    grid = maps[0].shape[-2:]
    return torch.cat([F.interpolate(m, size=grid, mode="bilinear") for m in maps], 1).contiguous()


def patch_features(kind: str, images: torch.Tensor, model: str = "efficientnet_lite0") -> torch.Tensor:
    """(cells, channels, rows, columns): a feature vector for every patch of every cell. `kind` is one of
    FEATURE_KINDS; raw pixels are the grey values of each patch, on the same grid as the body's."""
    from tlcourse.feature_cache import cached, loader_checksum, module_checksum
    from tlcourse.features import frozen_body
    if kind not in FEATURE_KINDS:
        raise ValueError(f"unknown feature kind {kind!r}: choose one of {', '.join(FEATURE_KINDS)}.")
    if kind == "raw pixels":
        grey = images.mean(1, keepdim=True)
        side = 2 ** (PATCH_STAGES[0] + 1)  # body stage k's grid is the image's halved k + 1 times
        rows, columns = grey.shape[-2] // side, grey.shape[-1] // side
        return F.unfold(grey, side, stride=side).view(len(images), side * side, rows, columns)
    with torch.random.fork_rng():
        torch.manual_seed(0)  # the random body is the same in every run
        body = frozen_body(model, pretrained=kind == "ImageNet body")
    key = {"what": "patch maps", "stages": list(PATCH_STAGES), "body": module_checksum(body),
           "images": loader_checksum([(images, torch.zeros(len(images)))]), "layout": "channels last"}
    return cached(key, lambda: {"maps": torch.cat([_patch_maps(body, x) for x in images.split(32)])})["maps"]


def patch_distances(bank: torch.Tensor, maps: torch.Tensor, share: float = 1.0, seed: int = 0) -> torch.Tensor:
    """(cells, rows, columns): each patch's distance to its nearest patch in `bank` (bank cells' maps), of which a
    random `share` of the patches (drawn with `seed`) is kept."""
    memory = bank.permute(0, 2, 3, 1).reshape(-1, bank.shape[1])
    if share < 1:
        kept = torch.randperm(len(memory), generator=torch.Generator().manual_seed(seed))[:round(share * len(memory))]
        memory = memory[kept]
    patches = maps.permute(0, 2, 3, 1).reshape(len(maps), -1, maps.shape[1])
    nearest = torch.stack([torch.cdist(cell, memory).min(1).values for cell in patches])
    return nearest.view(len(maps), *maps.shape[-2:])


@dataclass
class AnomalyDetection:
    """Part 2: AUROC of the anomaly score per feature kind and seed (seeds draw the memory bank), with the last
    seed's scores and the ImageNet body's patch distances, for the figures."""

    auroc: dict[str, list[float]]
    bank_cells: int
    test_labels: np.ndarray  # 1 = defective
    test_images: torch.Tensor  # normalised, as the body saw them
    scores: dict[str, np.ndarray]
    distance_maps: torch.Tensor  # ImageNet body, (cells, rows, columns)

    def table(self):
        import pandas as pd
        return pd.DataFrame({"mean AUROC": {k: statistics.mean(v) for k, v in self.auroc.items()},
                             "per seed": {k: [round(a, 3) for a in v] for k, v in self.auroc.items()}}).round(3)


def anomaly_detection(model: str = "efficientnet_lite0", profile: Profile | None = None) -> AnomalyDetection:
    """Part 2: a memory bank of good training cells (a new draw per seed), scored on held-out good and defective
    cells, with each of FEATURE_KINDS."""
    from sklearn.metrics import roc_auc_score

    from tlcourse.data import DataError
    from tlcourse.features import loader_images, unaugmented
    profile = profile or active_profile()
    test_dls = cell_dataloaders(profile.image_size, 32, 1, TEST_CELLS_PER_CLASS[profile.name], model=model,
                                augment=False, device="cpu")
    test_images, test_classes = loader_images(unaugmented(test_dls, "valid"))
    defective = (test_classes == test_dls.vocab.o2i[DEFECTIVE]).astype(int)
    test_maps = {kind: patch_features(kind, test_images, model) for kind in FEATURE_KINDS}
    auroc: dict[str, list[float]] = {kind: [] for kind in FEATURE_KINDS}
    for seed in profile.seeds[:max(2, profile.sweep_seeds)]:
        bank_dls = cell_dataloaders(profile.image_size, 32, BANK_CELLS[profile.name], 1, seed, model=model,
                                    classes=(GOOD,), augment=False, device="cpu")
        bank_images, _ = loader_images(unaugmented(bank_dls, "train"))
        if len(bank_images) < 2:
            raise DataError("The memory bank needs at least 2 good cells.")
        scores = {}
        for kind in FEATURE_KINDS:
            distances = patch_distances(patch_features(kind, bank_images, model), test_maps[kind],
                                        BANK_SHARE[profile.name], seed)
            scores[kind] = distances.flatten(1).amax(1).numpy()
            auroc[kind].append(float(roc_auc_score(defective, scores[kind])))
            if kind == "ImageNet body":
                distance_maps = distances
        print(f"seed {seed}: " + ", ".join(f"{kind} AUROC {auroc[kind][-1]:.3f}" for kind in FEATURE_KINDS))
    return AnomalyDetection(auroc, len(bank_images), defective, test_images, scores, distance_maps)
