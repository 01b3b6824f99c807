"""Lesson 06 (`06_the_advantages_measured`): pretrained vs scratch over training-set sizes, with FLOPs."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from tlcourse.assets.models import get_model_spec
from tlcourse.data import image_dataloaders
from tlcourse.profiles import Profile, active_profile
from tlcourse.train import Result, fine_tune, train_from_scratch


LONGER_SCRATCH = 2  # scratch's epochs on all the data, in multiples of the profile's, for the time to a target


@dataclass
class Advantages:
    """Lesson 06: pretrained and scratch runs over training-set sizes (same epochs), scratch trained longer on all
    the data (so it can reach a target at all), and the FLOPs of one training step."""

    runs: list[Result]  # both starts, every size and seed
    sizes: list[int | None]  # images per class; None = all
    longer_scratch: list[Result]  # scratch on all the data with LONGER_SCRATCH times the epochs, per seed
    step_flops: dict[str, float]  # one training step with the body "frozen" and with "everything" training
    steps_per_epoch: int  # on all the data
    freeze_epochs: int  # the ImageNet start's head-only epochs

    def accuracy(self, pretrained: bool, size: int | None) -> list[float]:
        return [r.accuracy for r in self._at(pretrained, size)]

    def _at(self, pretrained: bool, size: int | None) -> list[Result]:
        return [r for r in self.runs if r.pretrained == pretrained and r.images_per_class == size]

    def _to_target(self, pretrained: bool) -> list[Result]:
        return self._at(True, None) if pretrained else self.longer_scratch

    def epoch_flops(self, pretrained: bool, epoch: int) -> float:
        """FLOPs of training epoch `epoch` (1 = the first) on all the data."""
        frozen = pretrained and epoch <= self.freeze_epochs
        return self.steps_per_epoch * self.step_flops["frozen" if frozen else "everything"]

    def flops(self, pretrained: bool, epochs: int) -> float:
        """FLOPs of the first `epochs` training epochs on all the data."""
        return sum(self.epoch_flops(pretrained, e) for e in range(1, epochs + 1))

    def flops_to_reach(self, pretrained: bool, target: float) -> float:
        """Median training FLOPs until validation accuracy first reached `target` (inf if a run never did)."""
        def one(run: Result) -> float:
            epoch = next((e for e, a in enumerate(run.history, 1) if a >= target), None)
            return float("inf") if epoch is None else self.flops(pretrained, epoch)
        return statistics.median(one(r) for r in self._to_target(pretrained))

    def seconds_to_reach(self, pretrained: bool, target: float) -> float:
        """Median training seconds to the target accuracy on all the data (inf if a run never got there)."""
        return statistics.median(r.seconds_to_reach(target) for r in self._to_target(pretrained))


def advantages(dataset: str = "photos5", model: str = "efficientnet_lite0",
               sizes: tuple[int | None, ...] = (1, 2, 5, 10, 20, None), profile: Profile | None = None) -> Advantages:
    """Lesson 06: fine-tune vs scratch at each training-set size, same epochs; scratch again on all the data
    for LONGER_SCRATCH times the epochs; FLOPs of a training step counted."""
    from tlcourse.cost import training_step_flops
    from tlcourse.train import transfer_model
    profile = profile or active_profile()
    runs, longer = [], []
    freeze_epochs = profile.epochs * 2 // 3
    for seed in profile.seeds[:profile.sweep_seeds]:
        for size in sizes:
            dls = image_dataloaders(dataset, profile.sweep_image_size, profile.batch_size, size, seed=seed,
                                    stats=get_model_spec(model).stats)
            for result in (fine_tune(dls, model, profile.epochs, freeze_epochs=freeze_epochs, seed=seed),
                           train_from_scratch(dls, model, profile.epochs, seed=seed)):
                result.images_per_class = size
                runs.append(result)
            print(f"seed {seed}, {size or 'all'} per class: ImageNet {runs[-2].accuracy:.2f}, "
                  f"scratch {runs[-1].accuracy:.2f}")
            if size is None:
                longer.append(train_from_scratch(dls, model, LONGER_SCRATCH * profile.epochs, seed=seed))
                print(f"seed {seed}, all, scratch for {LONGER_SCRATCH * profile.epochs} epochs: "
                      f"{longer[-1].accuracy:.2f}")
    net = transfer_model(model, len(dls.vocab), pretrained=False)
    step_flops = {name: training_step_flops(net, profile.sweep_image_size, profile.batch_size, frozen_body=frozen)
                  for name, frozen in (("frozen", True), ("everything", False))}
    return Advantages(runs, list(sizes), longer, step_flops, len(dls.train), freeze_epochs)
