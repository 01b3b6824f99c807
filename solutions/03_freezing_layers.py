"""Our answers to lesson 03's checked exercises (`tlcourse.exercises.check`)."""

from torch import nn

from tlcourse.assets.models import count_parameters
from tlcourse.train import transfer_model


def trainable_fraction(model: nn.Module) -> float:
    """03.1"""
    return count_parameters(model, trainable_only=True) / count_parameters(model)


def head_only_weights() -> int:
    """03.2: freeze every parameter, unfreeze the last Linear layer, count what trains."""
    model = transfer_model("efficientnet_lite0", 5)
    model.requires_grad_(False)
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    last.requires_grad_(True)
    return count_parameters(model, trainable_only=True)


ANSWERS = {"03.1": lambda: trainable_fraction, "03.2": head_only_weights}
