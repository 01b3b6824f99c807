"""Knowledge distillation (Hinton et al. 2015): a small student learns from a big teacher's softened predictions,
also on images nobody labelled. Used by lesson 17."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from fasttransform import Transform  # fastai's transform base class

TEMPERATURE = 2.0  # softens the teacher's probabilities, so the student also learns which wrong classes are close


def soft_targets(teacher, files: list[Path], temperature: float = TEMPERATURE) -> torch.Tensor:
    """The teacher's class probabilities at `temperature` for each file (validation transforms: no augmentation);
    `teacher` is a training Result or a fastai Learner."""
    from fastcore.basics import noop

    from tlcourse.predict import images_loader, learner_of
    learner = learner_of(teacher)
    with learner.no_bar():
        logits, _ = learner.get_preds(dl=images_loader(learner, files), act=noop)  # noop: logits, not probabilities
    return F.softmax(logits / temperature, dim=1)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """Hinton's distillation loss: cross-entropy of the student's softened probabilities against soft targets,
    times temperature squared (so its gradients keep the size of an ordinary cross-entropy's)."""
    return -(targets * F.log_softmax(logits / temperature, dim=1)).sum(dim=1).mean() * temperature ** 2


def soft_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Accuracy against the most likely class of each target (a one-hot target: its label)."""
    return (logits.argmax(dim=1) == targets.argmax(dim=1)).float().mean()


class SoftTargets(Transform):
    """The y-pipeline step of a distillation DataBlock: passes each soft target through and carries the class
    names where fastai looks for them (`dls.vocab`), so they survive `learn.export`."""

    def __init__(self, vocab: list[str]):
        super().__init__()
        self.vocab = vocab

    def encodes(self, target):
        return target


def distil(teacher, student: str, labelled: list[tuple[Path, str]], unlabelled: list[Path],
           valid: list[tuple[Path, str]], image_size: int, batch_size: int, epochs: int, freeze_epochs: int,
           seed: int = 0, augmentation=None):
    """Fine-tune the registry model `student` (ImageNet start, fastai's fine_tune schedule) on the teacher's soft
    targets for the labelled and the unlabelled files; validated on `valid`'s true labels. Returns a Result."""
    from dataclasses import asdict

    from fastai.data.block import DataBlock, TransformBlock
    from fastai.data.transforms import IndexSplitter, ItemGetter, Normalize
    from fastai.vision.augment import Resize, aug_transforms
    from fastai.vision.data import ImageBlock

    from tlcourse.assets.models import get_model_spec
    from tlcourse.profiles import detect_device, seed_everything
    from tlcourse.train import run_training

    files = [path for path, _ in labelled] + list(unlabelled)
    classes = sorted({label for _, label in labelled})
    targets = soft_targets(teacher, files)
    one_hot = torch.eye(len(classes))
    items = ([(path, target) for path, target in zip(files, targets)]
             + [(path, one_hot[classes.index(label)]) for path, label in valid])
    augmentations = aug_transforms(**asdict(augmentation)) if augmentation is not None else []
    block = DataBlock(blocks=(ImageBlock, TransformBlock(type_tfms=SoftTargets(classes))),
                      get_x=ItemGetter(0), get_y=ItemGetter(1),
                      splitter=IndexSplitter(range(len(files), len(items))), item_tfms=Resize(image_size),
                      batch_tfms=[*augmentations, Normalize.from_stats(*get_model_spec(student).stats)])
    seed_everything(seed)
    dls = block.dataloaders(items, bs=min(batch_size, len(files)), num_workers=0,
                            device=torch.device(detect_device()))
    return run_training(dls, student, True, seed, epochs,
                lambda learn: learn.fine_tune(epochs - freeze_epochs, freeze_epochs=freeze_epochs),
                loss_func=soft_cross_entropy, metric=soft_accuracy)
