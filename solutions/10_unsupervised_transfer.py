"""Our answers to lesson 10's checked exercises (`tlcourse.exercises.check`)."""

from collections import Counter

from sklearn.metrics import normalized_mutual_info_score


def nmi() -> float:
    """10.1"""
    return normalized_mutual_info_score([0, 0, 1, 1, 2, 2], [1, 1, 0, 0, 0, 0])


def purity(clusters: list, labels: list) -> float:
    """10.2: in each cluster, count the items with its most common label."""
    by_cluster: dict = {}
    for cluster, label in zip(clusters, labels):
        by_cluster.setdefault(cluster, []).append(label)
    return sum(Counter(members).most_common(1)[0][1] for members in by_cluster.values()) / len(labels)


ANSWERS = {"10.1": nmi, "10.2": lambda: purity}
