"""Our answers to lesson 12's checked exercises (`tlcourse.exercises.check`)."""

from tlcourse.data import dataset_path


def defective_training_cells() -> int:
    """12.1"""
    return sum(1 for _ in (dataset_path("solar_cells") / "train" / "defective").iterdir())


def anomaly_auc(good_scores: list[float], defect_scores: list[float]) -> float:
    """12.2: compare every (good, defect) pair."""
    wins = sum(1.0 if d > g else 0.5 if d == g else 0.0 for g in good_scores for d in defect_scores)
    return wins / (len(good_scores) * len(defect_scores))


ANSWERS = {"12.1": defective_training_cells, "12.2": lambda: anomaly_auc}
