"""Our answers to lesson 17's checked exercises (`tlcourse.exercises.check`)."""

import torch

from tlcourse.assets.models import build_model, count_parameters


def float32_megabytes() -> float:
    """17.1"""
    return count_parameters(build_model("efficientnet_lite0")) * 4 / 1e6


def soften(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """17.2"""
    return torch.softmax(logits / temperature, dim=-1)


ANSWERS = {"17.1": float32_megabytes, "17.2": lambda: soften}
