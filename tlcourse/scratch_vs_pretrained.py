"""Lesson 01 (`01_what_is_transfer_learning`): an ImageNet start against training from scratch."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from tlcourse.assets.models import get_model_spec
from tlcourse.data import image_dataloaders
from tlcourse.profiles import Profile, active_profile
from tlcourse.train import Result, fine_tune, train_from_scratch


@dataclass
class Comparison:
    """Pretrained-and-fine-tuned runs next to from-scratch runs of the same architecture and budget."""

    model: str
    dataset: str
    images_per_class: int
    profile: str
    pretrained: list[Result]
    scratch: list[Result]

    @property
    def pretrained_accuracy(self) -> float:
        return statistics.mean(r.accuracy for r in self.pretrained)

    @property
    def scratch_accuracy(self) -> float:
        return statistics.mean(r.accuracy for r in self.scratch)

    @property
    def gap(self) -> float:
        """Mean accuracy of pretrained minus scratch, in accuracy units (0.2 = 20 points)."""
        return self.pretrained_accuracy - self.scratch_accuracy

    def table(self):
        """One row per run: start, seed, accuracy, seconds."""
        import pandas as pd
        return pd.DataFrame([{"start": "ImageNet" if r.pretrained else "scratch", "seed": r.seed,
                              "accuracy": round(r.accuracy, 3), "seconds": round(r.seconds, 1)}
                             for r in self.pretrained + self.scratch])


def pretrained_vs_scratch(dataset: str = "photos5", model: str = "efficientnet_lite0", images_per_class: int = 10,
                          profile: Profile | None = None) -> Comparison:
    """Lesson 01: fine-tune an ImageNet model and train the same one from scratch, per seed, same epochs."""
    profile = profile or active_profile()
    runs: dict[bool, list[Result]] = {True: [], False: []}
    for seed in profile.seeds:
        dls = image_dataloaders(dataset, profile.image_size, profile.batch_size, images_per_class, seed=seed,
                                stats=get_model_spec(model).stats)
        runs[True].append(fine_tune(dls, model, profile.epochs, freeze_epochs=profile.epochs * 2 // 3, seed=seed))
        runs[False].append(train_from_scratch(dls, model, profile.epochs, seed=seed))
        for r in (runs[True][-1], runs[False][-1]):
            print(f"seed {seed} {'ImageNet' if r.pretrained else 'scratch '}: "
                  f"accuracy {r.accuracy:.2f} in {r.seconds:.1f} s")
    return Comparison(model, dataset, images_per_class, profile.name, runs[True], runs[False])

