"""Our answers to lesson 07's checked exercises (`tlcourse.exercises.check`)."""

from itertools import combinations

from tlcourse.assets.models import build_model, count_parameters, model_names


def pair_agreement(estimates: list[float], accuracies: list[float]) -> float:
    """07.1: Kendall's idea, as a fraction of pairs."""
    pairs = list(combinations(range(len(estimates)), 2))
    same = sum((estimates[i] - estimates[j]) * (accuracies[i] - accuracies[j]) > 0 for i, j in pairs)
    return same / len(pairs)


def fewest_weights() -> str:
    """07.2"""
    return min(model_names(offline_only=True), key=lambda name: count_parameters(build_model(name)))


ANSWERS = {"07.1": lambda: pair_agreement, "07.2": fewest_weights}
