"""Lesson 08: a loosely related source that makes the target worse than starting from random weights.

Target: OpenCV's handwritten digits, a few dozen per class. Starts for the same architecture:
ImageNet (1.3 M photos, 1,000 classes), a network trained here on photos5 (about 120 photos,
5 classes: a real network from a small, unrelated task, the kind a team may have lying around),
and random weights (the control). Every start gets the same two recipes: a new head on the frozen
body, and fastai's fine_tune of everything.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from tlcourse.assets.models import get_model_spec
from tlcourse.data import image_dataloaders
from tlcourse.profiles import Profile, active_profile, seed_everything
from tlcourse.train import Result

IMAGENET = "ImageNet"
PHOTOS5 = "photos5 (trained here)"
RANDOM = "random weights"


@dataclass
class SourceNetwork:
    """A body trained from scratch on a source data set, ready to transfer."""

    dataset: str
    body_weights: dict
    accuracy: float  # on the source's own validation split
    seconds: float


def train_source(dataset: str = "photos5", model: str = "efficientnet_lite0", image_size: int = 64,
                 epochs: int = 8, seed: int = 0) -> SourceNetwork:
    """Train `model` from scratch on all of `dataset` and keep its body."""
    from tlcourse.train import fit_logged, make_learner
    dls = image_dataloaders(dataset, image_size, 16, seed=seed, stats=get_model_spec(model).stats)
    seed_everything(seed, dls)
    learn = make_learner(dls, model, pretrained=False)
    log = fit_logged(learn, lambda learn: learn.fit_one_cycle(epochs, 3e-3))
    return SourceNetwork(dataset, {k: v.clone() for k, v in learn.model[0].state_dict().items()},
                         log.history[-1], log.elapsed)


@dataclass
class Transfer:
    """Runs from one start on the target, per seed; the frozen-body runs also for each cut of the body."""

    source: str
    logme: list[list[float]] = field(default_factory=list)  # per seed, per stage: frozen features, training images
    frozen: list[list[Result]] = field(default_factory=list)  # per seed, per stage: a new head on frozen stages
    fine_tuned: list[Result] = field(default_factory=list)  # fastai fine_tune: one frozen epoch, then all layers

    def frozen_accuracy(self, stages: int = 5) -> float:
        return statistics.mean(runs[stages - 1].accuracy for runs in self.frozen)

    def fine_tuned_accuracy(self) -> float:
        return statistics.mean(r.accuracy for r in self.fine_tuned)

    def stage_logme(self, stages: int = 5) -> float:
        return statistics.mean(scores[stages - 1] for scores in self.logme)


RECIPES = ("frozen body, new head", "fine-tune everything")


@dataclass
class NegativeTransfer:
    target: str
    images_per_class: int
    source_network: SourceNetwork
    transfers: dict[str, Transfer]  # by start: ImageNet, photos5, random weights

    def accuracy(self, start: str, recipe: str) -> float:
        transfer = self.transfers[start]
        return transfer.frozen_accuracy() if recipe == RECIPES[0] else transfer.fine_tuned_accuracy()

    def gap(self, start: str, recipe: str = RECIPES[0]) -> float:
        """Accuracy from `start` minus accuracy from random weights, same recipe: below zero is negative transfer."""
        return self.accuracy(start, recipe) - self.accuracy(RANDOM, recipe)

    def table(self):
        import pandas as pd
        rows = [{"start": start, "recipe": recipe,
                 "LogME": round(self.transfers[start].stage_logme(), 3) if recipe == RECIPES[0] else None,
                 "accuracy": round(self.accuracy(start, recipe), 3),
                 "gap vs random weights": round(self.gap(start, recipe), 3)}
                for recipe in RECIPES for start in self.transfers]
        return pd.DataFrame(rows).set_index(["recipe", "start"])


def negative_transfer(target: str = "digits", domain: str = "opencv", model: str = "efficientnet_lite0",
                      images_per_class: int = 50, image_size: int = 32, valid_per_class: int = 20,
                      profile: Profile | None = None) -> NegativeTransfer:
    """Each start (ImageNet, photos5 source, random weights) with the same two recipes on the same target
    images: a head on the frozen body (cut after each stage) and fastai's fine_tune."""
    import torch

    from tlcourse.features import cached_head, extract_stage_features, frozen_body
    from tlcourse.train import fine_tune
    from tlcourse.transferability import logme
    profile = profile or active_profile()
    source_network = train_source(model=model, epochs=profile.epochs + 2)
    print(f"Source network: {source_network.dataset} from scratch, validation accuracy "
          f"{source_network.accuracy:.2f} ({source_network.seconds:.0f} s)")
    weights = {IMAGENET: None, PHOTOS5: source_network.body_weights, RANDOM: None}
    transfers = {start: Transfer(start) for start in weights}
    for seed in profile.seeds[:profile.sweep_seeds]:
        dls = image_dataloaders(target, image_size, 32, images_per_class, seed=seed, domain=domain,
                                stats=get_model_spec(model).stats, valid_per_class=valid_per_class)
        for start, body_weights in weights.items():
            transfer, pretrained = transfers[start], start != RANDOM
            torch.manual_seed(seed)  # the random start's weights
            body = frozen_body(model, pretrained=pretrained, body_weights=body_weights)
            stage_features = extract_stage_features(dls, model, body=body)
            transfer.logme.append([logme(f.train.numpy(), f.train_labels.numpy()) for f in stage_features])
            transfer.frozen.append([cached_head(f, 3 * profile.epochs, batch_size=dls.bs, seed=seed)
                                    for f in stage_features])
            transfer.fine_tuned.append(fine_tune(dls, model, profile.epochs, seed=seed, body_weights=body_weights,
                                                 pretrained=pretrained))
        print(f"seed {seed}: " + ", ".join(f"{s} frozen {t.frozen[-1][-1].accuracy:.2f} fine-tuned "
                                           f"{t.fine_tuned[-1].accuracy:.2f}" for s, t in transfers.items()))
    return NegativeTransfer(f"{target}/{domain}", images_per_class, source_network, transfers)
