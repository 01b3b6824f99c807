"""The lessons' experiments, built from `data` and `train`; each returns a small result object."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from tlcourse.assets.models import get_model_spec
from tlcourse.data import image_dataloaders
from tlcourse.profiles import Profile, active_profile, seed_everything
from tlcourse.train import Result, fine_tune, train_from_scratch


@dataclass
class Comparison:
    """Pretrained-and-fine-tuned runs next to from-scratch runs of the same architecture and budget."""

    model: str
    dataset: str
    images_per_class: int
    profile: str
    pretrained: list[Result]
    scratch: list[Result]

    @property
    def pretrained_accuracy(self) -> float:
        return statistics.mean(r.accuracy for r in self.pretrained)

    @property
    def scratch_accuracy(self) -> float:
        return statistics.mean(r.accuracy for r in self.scratch)

    @property
    def gap(self) -> float:
        """Mean accuracy of pretrained minus scratch, in accuracy units (0.2 = 20 points)."""
        return self.pretrained_accuracy - self.scratch_accuracy

    def table(self):
        """One row per run: start, seed, accuracy, seconds."""
        import pandas as pd
        return pd.DataFrame([{"start": "ImageNet" if r.pretrained else "scratch", "seed": r.seed,
                              "accuracy": round(r.accuracy, 3), "seconds": round(r.seconds, 1)}
                             for r in self.pretrained + self.scratch])


def pretrained_vs_scratch(dataset: str = "photos5", model: str = "efficientnet_lite0", images_per_class: int = 10,
                          profile: Profile | None = None) -> Comparison:
    """Lesson 01: fine-tune an ImageNet model and train the same one from scratch, per seed, same epochs."""
    profile = profile or active_profile()
    runs: dict[bool, list[Result]] = {True: [], False: []}
    for seed in profile.seeds:
        dls = image_dataloaders(dataset, profile.image_size, profile.batch_size, images_per_class, seed=seed,
                                stats=get_model_spec(model).stats)
        runs[True].append(fine_tune(dls, model, profile.epochs, freeze_epochs=profile.epochs * 2 // 3, seed=seed))
        runs[False].append(train_from_scratch(dls, model, profile.epochs, seed=seed))
        for r in (runs[True][-1], runs[False][-1]):
            print(f"seed {seed} {'ImageNet' if r.pretrained else 'scratch '}: "
                  f"accuracy {r.accuracy:.2f} in {r.seconds:.1f} s")
    return Comparison(model, dataset, images_per_class, profile.name, runs[True], runs[False])


def main() -> None:
    """`make gpu-check`: lesson 01's experiment in the active profile, as a short table."""
    import time

    from tlcourse.profiles import banner, detect_device
    banner()
    if detect_device() == "cpu":
        print("No GPU found: this runs the same experiment on the CPU, which takes several minutes.")
    start = time.perf_counter()
    comparison = pretrained_vs_scratch()
    print(comparison.table().to_string(index=False))
    print(f"mean accuracy: ImageNet {comparison.pretrained_accuracy:.3f}, scratch {comparison.scratch_accuracy:.3f}, "
          f"gap {comparison.gap:+.3f}; total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()


@dataclass
class DepthProbe:
    """Linear-probe accuracy on features taken after each body stage, one row per seed."""

    model: str
    accuracies: list[list[float]]  # [seed][stage]

    @property
    def mean_by_stage(self) -> list[float]:
        return [statistics.mean(column) for column in zip(*self.accuracies)]


def depth_probe(dataset: str = "photos5", model: str = "efficientnet_lite0", images_per_class: int = 10,
                profile: Profile | None = None, domain: str | None = None) -> DepthProbe:
    """Lesson 02: how well a linear classifier separates the classes using each stage's features."""
    from tlcourse.features import extract_stage_features, linear_probe
    profile = profile or active_profile()
    rows = []
    for seed in profile.seeds:
        dls = image_dataloaders(dataset, profile.image_size, profile.batch_size, images_per_class, seed=seed,
                                stats=get_model_spec(model).stats, augment=False, domain=domain)
        rows.append([linear_probe(features) for features in extract_stage_features(dls, model)])
    return DepthProbe(model, rows)


def cpu_latency_ms(model, input_size: int, repeats: int = 5) -> float:
    """Median milliseconds for one image through the model on the CPU (after one warm-up)."""
    import time

    import torch
    model = model.eval().cpu()
    x = torch.zeros(1, 3, input_size, input_size)
    times = []
    with torch.inference_mode():
        for _ in range(repeats + 1):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times[1:])


def model_zoo(names: list[str] | None = None):
    """Lesson 02: parameters, input size, ImageNet top-1 and measured CPU latency of the models on disk."""
    import pandas as pd

    from tlcourse.assets.models import build_model, count_parameters, is_available, model_names
    rows = []
    for name in names or [n for n in model_names() if is_available(n)]:
        spec, model = get_model_spec(name), build_model(name)
        rows.append({"model": name, "parameters (M)": round(count_parameters(model) / 1e6, 1),
                     "input": spec.input_size, "ImageNet top-1 %": spec.imagenet_top1,
                     "CPU ms / image": round(cpu_latency_ms(model, spec.input_size), 1)})
    return pd.DataFrame(rows).set_index("model")


@dataclass
class HeadOnly:
    """A new head trained on cached frozen-body features, per seed."""

    runs: list[Result]
    feature_seconds: list[float]

    @property
    def accuracy(self) -> float:
        return statistics.mean(r.accuracy for r in self.runs)

    @property
    def slowest_seconds(self) -> float:
        """The longest features-plus-head time of any seed."""
        return max(f + r.seconds for f, r in zip(self.feature_seconds, self.runs))


def head_on_frozen_features(dataset: str = "photos5", model: str = "efficientnet_lite0", images_per_class: int = 10,
                            epochs: int = 20, profile: Profile | None = None) -> HeadOnly:
    """Lesson 04: compute the frozen body's features once, then train only a new head on them."""
    from tlcourse.features import cached_head, extract_features
    profile = profile or active_profile()
    runs, seconds = [], []
    for seed in profile.seeds:
        dls = image_dataloaders(dataset, profile.image_size, profile.batch_size, images_per_class, seed=seed,
                                stats=get_model_spec(model).stats, augment=False)
        features = extract_features(dls, model)
        runs.append(cached_head(features, epochs, seed=seed))
        seconds.append(features.seconds)
        print(f"seed {seed}: features {features.seconds:.1f} s, head {runs[-1].seconds:.1f} s, "
              f"accuracy {runs[-1].accuracy:.2f}")
    return HeadOnly(runs, seconds)


@dataclass
class SweepPoint:
    """One run of a sweep: the setting, what it trained and what it reached."""

    setting: int
    trainable_parameters: int
    accuracy: float
    seconds: float
    seed: int


@dataclass
class Sweep:
    """Runs over a setting (e.g. frozen stages), with per-setting means."""

    name: str
    points: list[SweepPoint]

    def settings(self) -> list[int]:
        return sorted({p.setting for p in self.points})

    def mean(self, field: str) -> list[float]:
        """Mean of `accuracy`, `seconds` or `trainable_parameters` for each setting."""
        return [statistics.mean(getattr(p, field) for p in self.points if p.setting == s) for s in self.settings()]


def freeze_depth_sweep(dataset: str = "photos5", model: str = "efficientnet_lite0", images_per_class: int = 10,
                       profile: Profile | None = None) -> Sweep:
    """Lesson 03: freeze the first k body stages (k = 0..5), train the rest with discriminative learning rates."""
    from tlcourse.assets.models import count_parameters
    from tlcourse.train import fit_logged, make_learner
    profile = profile or active_profile()
    points = []
    for seed in profile.seeds[:profile.sweep_seeds]:
        dls = image_dataloaders(dataset, profile.image_size, profile.batch_size, images_per_class, seed=seed,
                                stats=get_model_spec(model).stats)
        for k in range(6):
            learn = make_learner(dls, model)
            learn.freeze_to(k)
            log = fit_logged(learn, lambda learn: learn.fit_one_cycle(profile.epochs, slice(3e-5, 3e-3)))
            points.append(SweepPoint(k, count_parameters(learn.model, trainable_only=True), log.history[-1],
                                     log.elapsed, seed))
            print(f"seed {seed}, {k} stages frozen: accuracy {log.history[-1]:.2f} in {log.elapsed:.1f} s")
    return Sweep("stages frozen", points)


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
    seed_everything(seed)
    learn = make_learner(dls, model)
    learn.freeze()
    start = time.perf_counter()
    log = fit_logged(learn, lambda learn: learn.fit_one_cycle(epochs, 1e-2))
    uncached = Result(model, True, log.history[-1], time.perf_counter() - start, epochs, len(dls.train_ds), seed,
                      log.history)
    return CacheBenchmark(cached, uncached, features.seconds)


RECIPES = ("feature extraction", "fine-tuning", "LP-FT")


def three_recipes(dataset: str = "digits", model: str = "efficientnet_lite0", images_per_class: int = 30,
                  domain: str | None = "mnist", image_size: int = 48, valid_per_class: int = 20,
                  profile: Profile | None = None) -> dict[str, list[Result]]:
    """Lesson 05: feature extraction, fastai fine_tune, and LP-FT (linear probe, then fine-tune), same data."""
    from tlcourse.features import cached_head, extract_features
    from tlcourse.train import fine_tune, fit_logged, make_learner
    profile = profile or active_profile()
    results: dict[str, list[Result]] = {recipe: [] for recipe in RECIPES}
    for seed in profile.seeds[:profile.sweep_seeds]:
        dls = image_dataloaders(dataset, image_size, 16, images_per_class, seed=seed, augment=False, domain=domain,
                                stats=get_model_spec(model).stats, valid_per_class=valid_per_class)
        # Feature extraction is the linear probe of LP-FT: train the learner's own head (after pooling) on the cache.
        seed_everything(seed)
        learn = make_learner(dls, model)
        probe = cached_head(extract_features(dls, model), 3 * profile.epochs, seed=seed, head=learn.model[1][2:])
        results["feature extraction"].append(probe)
        results["fine-tuning"].append(fine_tune(dls, model, profile.epochs, freeze_epochs=1, seed=seed))
        learn.unfreeze()
        log = fit_logged(learn, lambda learn: learn.fit_one_cycle(profile.epochs - 1, slice(1e-5, 1e-3)))
        results["LP-FT"].append(Result(model, True, log.history[-1], log.elapsed + probe.seconds, profile.epochs,
                                       len(dls.train_ds), seed, log.history))
        print(f"seed {seed}: " + ", ".join(f"{name} {runs[-1].accuracy:.3f}" for name, runs in results.items()))
    return results


@dataclass
class Advantages:
    """Lesson 06: pretrained and scratch runs over training-set sizes, plus FLOPs per training run."""

    runs: list[Result]  # both starts, every size and seed
    sizes: list[int | None]  # images per class; None = all
    flops: dict[bool, float]  # training FLOPs of one run on all the data, by pretrained

    def accuracy(self, pretrained: bool, size: int | None) -> list[float]:
        return [r.accuracy for r in self._at(pretrained, size)]

    def _at(self, pretrained: bool, size: int | None) -> list[Result]:
        return [r for r in self.runs if r.pretrained == pretrained and r.images_per_class == size]

    def seconds_to_reach(self, pretrained: bool, target: float) -> float:
        """Median training seconds to the target accuracy on all the data (inf if a run never got there)."""
        return statistics.median(r.seconds_to_reach(target) for r in self._at(pretrained, None))


def advantages(dataset: str = "photos5", model: str = "efficientnet_lite0",
               sizes: tuple[int | None, ...] = (1, 2, 5, 10, 20, None), profile: Profile | None = None) -> Advantages:
    """Lesson 06: fine-tune vs scratch at each training-set size, same epochs; FLOPs counted for the full set."""
    from tlcourse.cost import training_step_flops
    from tlcourse.train import transfer_model
    profile = profile or active_profile()
    runs = []
    freeze_epochs = profile.epochs * 2 // 3
    for seed in profile.seeds[:profile.sweep_seeds]:
        for size in sizes:
            dls = image_dataloaders(dataset, profile.sweep_image_size, profile.batch_size, size, seed=seed,
                                    stats=get_model_spec(model).stats)
            for result in (fine_tune(dls, model, profile.epochs, freeze_epochs=freeze_epochs, seed=seed),
                           train_from_scratch(dls, model, profile.epochs, seed=seed)):
                result.images_per_class = size
                runs.append(result)
            print(f"seed {seed}, {size or 'all'} per class: ImageNet {runs[-2].accuracy:.2f}, scratch {runs[-1].accuracy:.2f}")
    steps = len(dls.train)  # batches per epoch on the last (largest) training set
    net = transfer_model(model, len(dls.vocab), pretrained=False)
    frozen, full = (training_step_flops(net, profile.sweep_image_size, profile.batch_size, frozen_body=f)
                    for f in (True, False))
    flops = {True: steps * (freeze_epochs * frozen + (profile.epochs - freeze_epochs) * full),
             False: steps * profile.epochs * full}
    return Advantages(runs, list(sizes), flops)
