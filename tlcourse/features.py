"""Frozen-body features: computed once (kept by `feature_cache`), then reused to train heads and probes in
seconds."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastai.metrics import accuracy
from fastai.vision.learner import create_head
from torch import nn

from tlcourse.assets.models import body_of, build_model
from tlcourse.profiles import seed_everything
from tlcourse.train import Result, channels_last, fit_logged


@dataclass
class FeatureSet:
    """Pooled body features and labels for a training and a validation split."""

    model: str
    stage: int  # features after this body stage (4 = the whole body)
    train: torch.Tensor
    train_labels: torch.Tensor
    valid: torch.Tensor
    valid_labels: torch.Tensor
    seconds: float  # time the body took to compute them (when they were computed, if they come from the cache)

    @property
    def n_classes(self) -> int:
        return int(max(self.train_labels.max(), self.valid_labels.max())) + 1


def pool(activations: torch.Tensor) -> torch.Tensor:
    """Average- and max-pool each channel and concatenate, as fastai's AdaptiveConcatPool2d does."""
    return torch.cat([activations.amax(dim=(2, 3)), activations.mean(dim=(2, 3))], dim=1)


class StageOutputs(NamedTuple):
    """Pooled features after every stage, the labels, and the seconds the body took to compute them
    (recorded when they were computed: the feature cache does not make the body look faster)."""

    features: list[torch.Tensor]
    labels: torch.Tensor
    seconds: float


@torch.no_grad()
def _compute_stage_outputs(body: nn.Sequential, loader) -> dict:
    start = time.perf_counter()
    per_stage, labels = [[] for _ in body], []
    for x, y in loader:
        for stage, features in zip(body, per_stage):
            x = stage(x)
            features.append(pool(x).float().cpu().as_subclass(torch.Tensor))  # plain tensors, not fastai's types
        labels.append(y.cpu().as_subclass(torch.Tensor))
    return {"features": [torch.cat(f) for f in per_stage], "labels": torch.cat(labels),
            "seconds": time.perf_counter() - start}


def stage_outputs(body: nn.Sequential, loader) -> StageOutputs:
    """Pooled features after every stage of `body` over `loader` (a fastai loader, or a list of (images, labels)
    batches), from the feature cache when the same body has seen the same images before."""
    from tlcourse.feature_cache import cached, loader_checksum, module_checksum
    device = next(body.parameters()).device.type
    key = {"what": "pooled stage outputs", "body": module_checksum(body), "images": loader_checksum(loader),
           "device": device, "layout": "channels last"}
    return StageOutputs(**cached(key, lambda: _compute_stage_outputs(channels_last(body), loader)))


def frozen_body(name: str, pretrained: bool = True, body_weights: dict | None = None) -> nn.Sequential:
    """The registry model's body in evaluation mode: ImageNet weights, random ones, or `body_weights`."""
    body = body_of(build_model(name, pretrained=pretrained and body_weights is None), name)
    if body_weights is not None:
        body.load_state_dict(body_weights)
    return body.eval()


def unaugmented(dls, split: str = "train"):
    """A loader over one split's images in order, with the validation transforms: no augmentation, no random
    crop, so two passes (and `augment=True` or not) give the same images."""
    from fastai.vision.augment import RandTransform
    dataset = {"train": dls.train_ds, "valid": dls.valid_ds}[split]
    # drop the random transforms: switched off for validation, fastai's warp still resamples the images a little
    fixed = [t for t in dls.valid.after_batch.fs if not isinstance(t, RandTransform)]
    return dls.test_dl(dataset.items, with_labels=True, bs=dls.valid.bs, after_batch=fixed)


def loader_images(*loaders) -> tuple[torch.Tensor, np.ndarray]:
    """All images (plain tensors on the CPU, as the loaders transform them) and labels of `loaders`, in order."""
    images, labels = [], []
    for loader in loaders:
        for x, y in loader:
            images.append(x.cpu().as_subclass(torch.Tensor))
            labels.append(y.cpu().as_subclass(torch.Tensor))
    return torch.cat(images), torch.cat(labels).numpy()


def extract_stage_features(dls, name: str, stages: int = 5, pretrained: bool = True,
                           body: nn.Sequential | None = None) -> list[FeatureSet]:
    """One pass of the frozen body over un-augmented images, keeping features after each of the first `stages`."""
    body = (frozen_body(name, pretrained) if body is None else body.eval())[:stages].to(dls.device)
    train, train_labels, train_seconds = stage_outputs(body, unaugmented(dls, "train"))
    valid, valid_labels, valid_seconds = stage_outputs(body, unaugmented(dls, "valid"))
    seconds = train_seconds + valid_seconds
    return [FeatureSet(name, stage, t, train_labels, v, valid_labels, seconds)
            for stage, (t, v) in enumerate(zip(train, valid))]


def extract_features(dls, name: str, pretrained: bool = True, body: nn.Sequential | None = None) -> FeatureSet:
    """Features of the whole frozen body (the registry's, or `body`), computed once."""
    return extract_stage_features(dls, name, pretrained=pretrained, body=body)[-1]


@torch.no_grad()
def stage_activations(name: str, image, image_size: int = 224) -> list[tuple[int, torch.Tensor]]:
    """Activations (channels, height, width) after each body stage for one PIL image."""
    from tlcourse.assets.models import imagenet_transform
    body = body_of(build_model(name), name).eval()
    x = imagenet_transform(name)(image.convert("RGB")).unsqueeze(0)
    outputs = []
    for index, stage in enumerate(body):
        x = stage(x)
        outputs.append((index, x[0].clone()))
    return outputs


def cached_head(features: FeatureSet, epochs: int, lr: float = 1e-2, batch_size: int = 8, seed: int = 0,
                head: nn.Module | None = None) -> Result:
    """Train the same head `train.transfer_model` uses (or `head`, in place) on cached features: no images, no body."""
    seed_everything(seed)
    if head is None:
        head = create_head(features.train.shape[1], features.n_classes, lin_ftrs=[], ps=0.25, first_bn=False,
                           pool=False)
    train = list(zip(features.train, features.train_labels))
    valid = list(zip(features.valid, features.valid_labels))
    batch_size = min(batch_size, len(train))  # a last short batch is dropped: never all of them
    dls = DataLoaders(DataLoader(train, bs=batch_size, shuffle=True, drop_last=True),
                      DataLoader(valid, bs=64))
    learn = Learner(dls, head, loss_func=CrossEntropyLossFlat(), metrics=accuracy)
    log = fit_logged(learn, lambda learn: learn.fit_one_cycle(epochs, lr))
    return Result(features.model, True, log.history[-1], log.elapsed, epochs, len(train), seed, log.history)


def linear_probe(features: FeatureSet) -> float:
    """Validation accuracy of a logistic regression on the features (standardised, L2-regularised)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1))
    probe.fit(features.train.numpy(), features.train_labels.numpy())
    return float(probe.score(features.valid.numpy(), features.valid_labels.numpy()))
