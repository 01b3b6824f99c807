"""Our answers to lesson 19's checked exercises (`tlcourse.exercises.check`)."""

import hashlib
from collections import Counter
from pathlib import Path


def find_copies(folder) -> list[list[Path]]:
    """19.1: group the files by a hash of their bytes."""
    groups: dict[str, list[Path]] = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            groups.setdefault(hashlib.sha256(path.read_bytes()).hexdigest(), []).append(path)
    return [paths for paths in groups.values() if len(paths) > 1]


def class_counts(paths: list[str]) -> dict[str, int]:
    """19.2"""
    return dict(Counter(Path(path).parent.name for path in paths))


ANSWERS = {"19.1": lambda: find_copies, "19.2": lambda: class_counts}
