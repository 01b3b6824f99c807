"""Our answers to lesson 04's checked exercises (`tlcourse.exercises.check`)."""

from torch import nn

from tlcourse.assets.models import build_model, count_parameters


def head_fraction() -> float:
    """04.1: timm's EfficientNet-Lite keeps its head in `classifier`."""
    model = build_model("efficientnet_lite2")
    return count_parameters(model.classifier) / count_parameters(model)


def swap_head(model: nn.Module, n_classes: int) -> nn.Module:
    """04.2: find the last Linear layer by name and put a new one in its place."""
    name, old = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1]
    parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    setattr(parent, name.rpartition(".")[2], nn.Linear(old.in_features, n_classes))
    return model


ANSWERS = {"04.1": head_fraction, "04.2": lambda: swap_head}
