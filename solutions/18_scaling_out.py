"""Our answers to lesson 18's checked exercises (`tlcourse.exercises.check`)."""


def shard(items: list, rank: int, world_size: int) -> list:
    """18.1: every world_size-th item, starting at the process's rank (as PyTorch's DistributedSampler does, without
    its shuffling and padding)."""
    return items[rank::world_size]


def scaled_learning_rate() -> float:
    """18.2: the total batch grows 4 times, so the rate does too."""
    return 0.001 * (4 * 32) / 32


ANSWERS = {"18.1": lambda: shard, "18.2": scaled_learning_rate}
