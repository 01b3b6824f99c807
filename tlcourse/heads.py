"""Lesson 04 (`04_head_swap`): a new head trained on cached frozen-body features."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from tlcourse.assets.models import get_model_spec
from tlcourse.data import image_dataloaders
from tlcourse.profiles import Profile, active_profile
from tlcourse.train import Result


@dataclass
class HeadOnly:
    """A new head trained on cached frozen-body features, per seed, and the same head on a randomly
    initialised body's features (the control: what the architecture and pooling give without ImageNet)."""

    runs: list[Result]
    control: list[Result]
    feature_seconds: list[float]

    @property
    def accuracy(self) -> float:
        return statistics.mean(r.accuracy for r in self.runs)

    @property
    def control_accuracy(self) -> float:
        return statistics.mean(r.accuracy for r in self.control)

    @property
    def slowest_seconds(self) -> float:
        """The longest features-plus-head time of any seed."""
        return max(f + r.seconds for f, r in zip(self.feature_seconds, self.runs))


def head_on_frozen_features(dataset: str = "photos5", model: str = "efficientnet_lite0", images_per_class: int = 10,
                            epochs: int = 20, profile: Profile | None = None) -> HeadOnly:
    """Lesson 04: compute the frozen body's features once, then train only a new head on them; the same for
    a random body as the control."""
    import torch

    from tlcourse.features import cached_head, extract_features
    profile = profile or active_profile()
    runs, control, seconds = [], [], []
    for seed in profile.seeds:
        dls = image_dataloaders(dataset, profile.image_size, profile.batch_size, images_per_class, seed=seed,
                                stats=get_model_spec(model).stats, augment=False)
        features = extract_features(dls, model)
        runs.append(cached_head(features, epochs, seed=seed))
        seconds.append(features.seconds)
        torch.manual_seed(seed)
        control.append(cached_head(extract_features(dls, model, pretrained=False), epochs, seed=seed))
        print(f"seed {seed}: features {features.seconds:.1f} s, head {runs[-1].seconds:.1f} s, "
              f"accuracy {runs[-1].accuracy:.2f} (random body: {control[-1].accuracy:.2f})")
    return HeadOnly(runs, control, seconds)
