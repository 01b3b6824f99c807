"""Lesson 08: a loosely related source that makes the target worse than training from scratch.

Target: OpenCV's handwritten digits, a few dozen per class. Sources for the same architecture:
ImageNet (1.3 M photos, 1,000 classes) and a network trained here on photos5 (about 120 photos,
5 classes): a real network from a small, unrelated task, the kind a team may have lying around.
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
    seed_everything(seed)
    learn = make_learner(dls, model, pretrained=False)
    log = fit_logged(learn, lambda learn: learn.fit_one_cycle(epochs, 3e-3))
    return SourceNetwork(dataset, {k: v.clone() for k, v in learn.model[0].state_dict().items()},
                         log.history[-1], log.elapsed)


@dataclass
class Transfer:
    """Runs from one source on the target, per seed; the frozen-body runs also for each cut of the body."""

    source: str
    logme: list[list[float]] = field(default_factory=list)  # per seed, per stage: frozen features, training images
    frozen: list[list[Result]] = field(default_factory=list)  # per seed, per stage: a new head on frozen stages
    unfrozen: list[Result] = field(default_factory=list)  # fastai fine_tune: one frozen epoch, then all layers

    def frozen_accuracy(self, stages: int = 5) -> float:
        return statistics.mean(runs[stages - 1].accuracy for runs in self.frozen)

    def stage_logme(self, stages: int = 5) -> float:
        return statistics.mean(scores[stages - 1] for scores in self.logme)


@dataclass
class NegativeTransfer:
    target: str
    images_per_class: int
    source_network: SourceNetwork
    scratch: list[Result]
    transfers: dict[str, Transfer]

    @property
    def scratch_accuracy(self) -> float:
        return statistics.mean(r.accuracy for r in self.scratch)

    def gap(self, source: str, stages: int = 5) -> float:
        """Accuracy of a head on the source's frozen body (first `stages`) minus scratch: below zero is
        negative transfer."""
        return self.transfers[source].frozen_accuracy(stages) - self.scratch_accuracy

    def unfrozen_gap(self, source: str) -> float:
        runs = self.transfers[source].unfrozen
        return statistics.mean(r.accuracy for r in runs) - self.scratch_accuracy

    def table(self):
        import pandas as pd
        rows = [{"start": "random (scratch)", "recipe": "train everything", "LogME": None,
                 "accuracy": round(self.scratch_accuracy, 3), "gap vs scratch": 0.0}]
        for source, transfer in self.transfers.items():
            rows.append({"start": source, "recipe": "frozen body, new head", "LogME": round(transfer.stage_logme(), 3),
                         "accuracy": round(transfer.frozen_accuracy(), 3), "gap vs scratch": round(self.gap(source), 3)})
            if transfer.unfrozen:
                rows.append({"start": source, "recipe": "fine-tune everything", "LogME": None,
                             "accuracy": round(statistics.mean(r.accuracy for r in transfer.unfrozen), 3),
                             "gap vs scratch": round(self.unfrozen_gap(source), 3)})
        return pd.DataFrame(rows).set_index(["start", "recipe"])


def negative_transfer(target: str = "digits", domain: str = "opencv", model: str = "efficientnet_lite0",
                      images_per_class: int = 50, image_size: int = 32, valid_per_class: int = 20,
                      unfreeze: tuple[str, ...] = (PHOTOS5,), profile: Profile | None = None) -> NegativeTransfer:
    """Scratch vs each source's frozen body (cut after each stage), on the same target images; sources in
    `unfreeze` are also fine-tuned end to end."""
    from tlcourse.features import cached_head, extract_stage_features, frozen_body
    from tlcourse.train import fine_tune, train_from_scratch
    from tlcourse.transferability import logme
    profile = profile or active_profile()
    source_network = train_source(model=model, epochs=profile.epochs + 2)
    print(f"Source network: {source_network.dataset} from scratch, validation accuracy "
          f"{source_network.accuracy:.2f} ({source_network.seconds:.0f} s)")
    weights = {IMAGENET: None, PHOTOS5: source_network.body_weights}
    transfers = {source: Transfer(source) for source in weights}
    scratch = []
    for seed in profile.seeds[:profile.sweep_seeds]:
        dls = image_dataloaders(target, image_size, 32, images_per_class, seed=seed, domain=domain,
                                stats=get_model_spec(model).stats, valid_per_class=valid_per_class)
        scratch.append(train_from_scratch(dls, model, profile.epochs, lr=1e-2, seed=seed))
        for source, body_weights in weights.items():
            transfer = transfers[source]
            stage_features = extract_stage_features(dls, model, body=frozen_body(model, body_weights=body_weights))
            transfer.logme.append([logme(f.train.numpy(), f.train_labels.numpy()) for f in stage_features])
            transfer.frozen.append([cached_head(f, 3 * profile.epochs, seed=seed) for f in stage_features])
            if source in unfreeze:
                transfer.unfrozen.append(fine_tune(dls, model, profile.epochs, seed=seed, body_weights=body_weights))
        print(f"seed {seed}: scratch {scratch[-1].accuracy:.2f}, " + ", ".join(
            f"{s} frozen {t.frozen[-1][-1].accuracy:.2f}" for s, t in transfers.items()))
    return NegativeTransfer(f"{target}/{domain}", images_per_class, source_network, scratch, transfers)
