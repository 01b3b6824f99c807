"""Our answers to lesson 09's checked exercises (`tlcourse.exercises.check`)."""

import numpy as np

from tlcourse.data import dataset_path


def standardise(rows: np.ndarray) -> np.ndarray:
    """09.1"""
    rows = np.asarray(rows, dtype=float)
    return (rows - rows.mean(axis=0)) / rows.std(axis=0)


def points_per_drawing() -> float:
    """09.2: 100 points shared by every drawing (both splits: the lesson scores all of them)."""
    return 100 / sum(1 for _ in dataset_path("clipart5").rglob("*.png"))


ANSWERS = {"09.1": lambda: standardise, "09.2": points_per_drawing}
