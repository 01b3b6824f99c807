"""Run profiles (smoke / cpu / full): how big each experiment is, and where it runs."""

from __future__ import annotations

import os
import random
from contextlib import contextmanager
from dataclasses import dataclass, replace

import torch

PROFILE_VARIABLE = "TLCOURSE_PROFILE"
THREADS_VARIABLE = "TLCOURSE_THREADS"
SEED_VARIABLE = "TLCOURSE_SEED"


@dataclass(frozen=True)
class Profile:
    """Sizes that one setting of the course uses; every lesson reads them from here."""

    name: str
    image_size: int
    epochs: int
    batch_size: int
    seeds: tuple[int, ...]
    sweep_seeds: int  # seeds for the costlier sweeps (many runs per seed)
    sweep_image_size: int  # image size for the data-size sweep, the costliest experiment
    description: str


PROFILES = {
    "smoke": Profile("smoke", image_size=128, epochs=6, batch_size=8, seeds=(0, 1), sweep_seeds=1,
                     sweep_image_size=96, description="tiny runs for tests and a first look, about a minute a lesson"),
    "cpu": Profile("cpu", image_size=160, epochs=6, batch_size=8, seeds=(0, 1, 2), sweep_seeds=2,
                   sweep_image_size=128, description="a laptop without a GPU, a few minutes a lesson"),
    "full": Profile("full", image_size=224, epochs=8, batch_size=8, seeds=(0, 1, 2, 3, 4), sweep_seeds=3,
                    sweep_image_size=224, description="a GPU, as in Colab: full-size images, more epochs and seeds"),
}


def detect_device() -> str:
    """Return 'cuda', 'mps' or 'cpu': the best device this machine has."""
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def base_seed() -> int:
    """TLCOURSE_SEED (default 0): every profile's seeds are shifted by it, to check claims on other seeds."""
    value = os.environ.get(SEED_VARIABLE, "").strip() or "0"
    if not value.isdigit():
        raise ValueError(f"{SEED_VARIABLE}={value!r}: set it to a whole number, e.g. 100.")
    return int(value)


def active_profile() -> Profile:
    """The profile named by TLCOURSE_PROFILE, else 'full' on a GPU and 'cpu' without one; seeds shifted by
    TLCOURSE_SEED."""
    name = os.environ.get(PROFILE_VARIABLE, "").strip().lower()
    if not name:
        name = "cpu" if detect_device() == "cpu" else "full"
    if name not in PROFILES:
        raise ValueError(f"{PROFILE_VARIABLE}={name!r} is not a profile: "
                         f"set it to one of {', '.join(PROFILES)}.")
    profile = PROFILES[name]
    return replace(profile, seeds=tuple(seed + base_seed() for seed in profile.seeds))


def threads() -> int:
    """CPU threads torch uses: TLCOURSE_THREADS if set, else torch's own choice."""
    value = os.environ.get(THREADS_VARIABLE)
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{THREADS_VARIABLE}={value!r}: set it to a whole number of threads, e.g. 2.")
        torch.set_num_threads(int(value))
    return torch.get_num_threads()


@contextmanager
def one_thread():
    """Run torch on one thread inside the block: for tiny layers, handing work between threads costs more than
    the work (lesson 09's DANN: 1.3 s on one thread, 3.2 s on two)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int, dls=None) -> None:
    """Seed Python, NumPy and torch (fastai's set_seed, reproducible) and the shuffling of `dls`'s loaders,
    so a run gives the same result whatever ran before it."""
    from fastai.torch_core import set_seed
    set_seed(seed, reproducible=True)
    for loader in getattr(dls, "loaders", ()):
        loader.rng = random.Random(seed)  # fastai seeds each loader once, when it is made


def banner(seed: int | None = None) -> str:
    """Print and return: profile, device, online/offline, seed (default: the base seed) and the feature cache,
    on one line."""
    from tlcourse import __version__
    from tlcourse.assets.network import is_online
    from tlcourse.feature_cache import describe_cache

    profile = active_profile()
    device = detect_device()
    seed = base_seed() if seed is None else seed
    where = f"{device} ({threads()} threads)" if device == "cpu" else device
    line = (f"tlcourse {__version__} | profile {profile.name} | device {where} | "
            f"{'online' if is_online() else 'offline'} | seed {seed} (seeds {', '.join(map(str, profile.seeds))}) | "
            f"{describe_cache()}")
    seed_everything(seed)
    print(line)
    return line
