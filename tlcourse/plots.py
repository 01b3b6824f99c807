"""Matplotlib figures used by the lessons."""

from __future__ import annotations

import matplotlib.pyplot as plt

from tlcourse.experiments import Comparison

COLOURS = {True: "tab:blue", False: "tab:orange"}
LABELS = {True: "ImageNet start", False: "from scratch"}


def plot_comparison(comparison: Comparison):
    """Left: validation accuracy per epoch (one faint line per seed). Right: training seconds per run."""
    fig, (curves, times) = plt.subplots(1, 2, figsize=(11, 4))
    for pretrained, runs in ((True, comparison.pretrained), (False, comparison.scratch)):
        for i, run in enumerate(runs):
            curves.plot(range(1, len(run.history) + 1), run.history, color=COLOURS[pretrained], alpha=0.5,
                        marker="o", label=LABELS[pretrained] if i == 0 else None)
        seconds = [r.seconds for r in runs]
        times.bar(LABELS[pretrained], sum(seconds) / len(seconds), color=COLOURS[pretrained], alpha=0.6)
        times.scatter([LABELS[pretrained]] * len(seconds), seconds, color="black", zorder=3, s=12)
    chance = 1 / 5 if comparison.dataset == "photos5" else None
    if chance:
        curves.axhline(chance, color="grey", linestyle=":", label="chance")
    curves.set(xlabel="epoch", ylabel="validation accuracy", ylim=(0, 1),
               title=f"{comparison.model} on {comparison.dataset}, {comparison.images_per_class} images per class")
    curves.legend()
    times.set(ylabel="training seconds", title="time for the same number of epochs")
    fig.tight_layout()
    return fig


def plot_top_k(image, predictions: list[tuple[str, float]], title: str = ""):
    """An image beside a bar chart of the model's top-k classes."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3), gridspec_kw={"width_ratios": [1, 1.4]})
    left.imshow(image)
    left.axis("off")
    labels, probs = zip(*reversed(predictions))
    right.barh(labels, probs, color="tab:blue")
    right.set(xlim=(0, 1), xlabel="probability", title=title)
    fig.tight_layout()
    return fig
