"""Lesson 03 (`03_freezing_layers`): a sweep over how many body stages are frozen."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from tlcourse.assets.models import get_model_spec
from tlcourse.data import image_dataloaders
from tlcourse.profiles import Profile, active_profile


@dataclass
class SweepPoint:
    """One run of a sweep: the setting, what it trained and what it reached."""

    setting: int
    trainable_parameters: int
    accuracy: float
    seconds: float
    seed: int


@dataclass
class Sweep:
    """Runs over a setting (e.g. frozen stages), with per-setting means."""

    name: str
    points: list[SweepPoint]

    def settings(self) -> list[int]:
        return sorted({p.setting for p in self.points})

    def mean(self, field: str) -> list[float]:
        """Mean of `accuracy`, `seconds` or `trainable_parameters` for each setting."""
        return [statistics.mean(getattr(p, field) for p in self.points if p.setting == s) for s in self.settings()]


def freeze_depth_sweep(dataset: str = "photos5", model: str = "efficientnet_lite0", images_per_class: int = 10,
                       profile: Profile | None = None) -> Sweep:
    """Lesson 03: freeze the first k body stages (k = 0..5), train the rest with discriminative learning rates."""
    from tlcourse.assets.models import count_parameters
    from tlcourse.train import fit_logged, make_learner
    profile = profile or active_profile()
    points = []
    for seed in profile.seeds[:profile.sweep_seeds]:
        dls = image_dataloaders(dataset, profile.image_size, profile.batch_size, images_per_class, seed=seed,
                                stats=get_model_spec(model).stats)
        for k in range(6):
            learn = make_learner(dls, model)
            learn.freeze_to(k)
            log = fit_logged(learn, lambda learn: learn.fit_one_cycle(profile.epochs, slice(3e-5, 3e-3)))
            points.append(SweepPoint(k, count_parameters(learn.model, trainable_only=True), log.history[-1],
                                     log.elapsed, seed))
            print(f"seed {seed}, {k} stages frozen: accuracy {log.history[-1]:.2f} in {log.elapsed:.1f} s")
    return Sweep("stages frozen", points)
