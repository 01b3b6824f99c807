"""Lesson 05 (`05_feature_extraction_vs_fine_tuning`): feature extraction, fine-tuning and LP-FT, and the
feature cache against fastai's frozen fit (also `make bench`, in `benchmarks/feature_cache.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from tlcourse.assets.models import get_model_spec
from tlcourse.data import image_dataloaders
from tlcourse.profiles import Profile, active_profile, seed_everything
from tlcourse.train import Result


RECIPES = ("feature extraction", "fine-tuning", "LP-FT")


def three_recipes(dataset: str = "digits", model: str = "efficientnet_lite0", images_per_class: int = 30,
                  domain: str | None = "mnist", image_size: int = 48, valid_per_class: int = 20,
                  profile: Profile | None = None) -> dict[str, list[Result]]:
    """Lesson 05: feature extraction, fastai fine_tune, and LP-FT (linear probe, then fine-tune) on the same data,
    each with the same budget: `profile.epochs` epochs of optimiser steps over the training images.

    Feature extraction trains the head for all of them; fine-tuning trains the head for one, then everything;
    LP-FT trains the head (on cached features) for half of them, then everything for the other half.
    """
    from tlcourse.features import cached_head, extract_features
    from tlcourse.train import fine_tune, fit_logged, make_learner
    profile = profile or active_profile()
    epochs, probe_epochs = profile.epochs, profile.epochs // 2
    results: dict[str, list[Result]] = {recipe: [] for recipe in RECIPES}
    for seed in profile.seeds[:profile.sweep_seeds]:
        dls = image_dataloaders(dataset, image_size, 16, images_per_class, seed=seed, augment=False, domain=domain,
                                stats=get_model_spec(model).stats, valid_per_class=valid_per_class)
        features = extract_features(dls, model)
        seed_everything(seed, dls)
        # the learner's own head (after pooling) trains on the cache: features are pooled the same way
        results["feature extraction"].append(
            cached_head(features, epochs, batch_size=dls.bs, seed=seed, head=make_learner(dls, model).model[1][2:]))
        results["fine-tuning"].append(fine_tune(dls, model, epochs, freeze_epochs=1, seed=seed))
        seed_everything(seed, dls)
        learn = make_learner(dls, model)
        probe = cached_head(features, probe_epochs, batch_size=dls.bs, seed=seed, head=learn.model[1][2:])
        learn.unfreeze()
        log = fit_logged(learn, lambda learn: learn.fit_one_cycle(epochs - probe_epochs, slice(1e-5, 1e-3)))
        results["LP-FT"].append(Result(model, True, log.history[-1], log.elapsed + probe.seconds, epochs,
                                       len(dls.train_ds), seed, probe.history + log.history))
        print(f"seed {seed}: " + ", ".join(f"{name} {runs[-1].accuracy:.3f}" for name, runs in results.items()))
    return results


@dataclass
class CacheBenchmark:
    """The same head and epochs trained on cached features and by fastai on images through a frozen body."""

    cached: Result
    uncached: Result
    feature_seconds: float

    @property
    def cached_seconds(self) -> float:
        return self.feature_seconds + self.cached.seconds

    @property
    def speedup(self) -> float:
        return self.uncached.seconds / self.cached_seconds


def cache_benchmark(dataset: str = "photos5", model: str = "efficientnet_lite0", images_per_class: int | None = None,
                    epochs: int = 10, image_size: int = 128, domain: str | None = None, seed: int = 0) -> CacheBenchmark:
    """Lesson 05 and `make bench`: feature cache vs fastai's frozen fit (validation included in both timings)."""
    import time

    from tlcourse.features import cached_head, extract_features
    from tlcourse.train import fit_logged, make_learner
    dls = image_dataloaders(dataset, image_size, 8, images_per_class, seed=seed, stats=get_model_spec(model).stats,
                            augment=False, domain=domain)
    features = extract_features(dls, model)
    start = time.perf_counter()
    cached = cached_head(features, epochs, seed=seed)
    cached.seconds = time.perf_counter() - start
    seed_everything(seed, dls)
    learn = make_learner(dls, model)
    learn.freeze()
    start = time.perf_counter()
    log = fit_logged(learn, lambda learn: learn.fit_one_cycle(epochs, 1e-2))
    uncached = Result(model, True, log.history[-1], time.perf_counter() - start, epochs, len(dls.train_ds), seed,
                      log.history)
    return CacheBenchmark(cached, uncached, features.seconds)
