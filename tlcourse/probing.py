"""Lesson 02 (`02_inside_a_pretrained_model`): the model zoo table and linear probes by depth.

Lesson 07 shows the same model zoo table.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from tlcourse.assets.models import get_model_spec
from tlcourse.cost import cpu_latency_ms
from tlcourse.data import image_dataloaders
from tlcourse.profiles import Profile, active_profile


@dataclass
class DepthProbe:
    """Linear-probe accuracy on features taken after each body stage, one row per seed, for the ImageNet
    body and for the same body with random weights (the control: colour and layout statistics alone)."""

    model: str
    accuracies: list[list[float]]  # [seed][stage], ImageNet weights
    random_accuracies: list[list[float]]  # [seed][stage], random weights

    @property
    def mean_by_stage(self) -> list[float]:
        return [statistics.mean(column) for column in zip(*self.accuracies)]

    @property
    def random_mean_by_stage(self) -> list[float]:
        return [statistics.mean(column) for column in zip(*self.random_accuracies)]


def depth_probe(dataset: str = "photos5", model: str = "efficientnet_lite0", images_per_class: int = 10,
                profile: Profile | None = None, domain: str | None = None) -> DepthProbe:
    """Lesson 02: how well a linear classifier separates the classes using each stage's features."""
    import torch

    from tlcourse.features import extract_stage_features, linear_probe
    profile = profile or active_profile()
    rows, random_rows = [], []
    for seed in profile.seeds:
        dls = image_dataloaders(dataset, profile.image_size, profile.batch_size, images_per_class, seed=seed,
                                stats=get_model_spec(model).stats, augment=False, domain=domain)
        rows.append([linear_probe(features) for features in extract_stage_features(dls, model)])
        torch.manual_seed(seed)
        random_rows.append([linear_probe(f) for f in extract_stage_features(dls, model, pretrained=False)])
    return DepthProbe(model, rows, random_rows)


def model_zoo(names: list[str] | None = None):
    """Lesson 02: parameters, input size, ImageNet top-1 and measured CPU latency of the models on disk."""
    import pandas as pd

    from tlcourse.assets.models import build_model, count_parameters, is_available, model_names
    rows = []
    for name in names or [n for n in model_names() if is_available(n)]:
        spec, model = get_model_spec(name), build_model(name)
        rows.append({"model": name, "parameters (M)": round(count_parameters(model) / 1e6, 1),
                     "input": spec.input_size, "ImageNet top-1 %": spec.imagenet_top1,
                     "CPU ms / image": round(cpu_latency_ms(model, spec.input_size), 1)})
    return pd.DataFrame(rows).set_index("model")
