"""`make bench`: the feature cache against fastai's frozen fit, same head, same epochs, no augmentation.

Both timings include everything each needs: the cached side computes the features once and trains the head;
the uncached side runs the frozen body on every training and validation image in every epoch.
"""

import statistics

from tlcourse.recipes import cache_benchmark
from tlcourse.profiles import banner

CASES = [  # data set, domain, images per class, image size
    ("photos5", None, None, 128),
    ("digits", "mnist", 20, 64),
]
EPOCHS = 20
SEEDS = (0, 1, 2)  # heads differ by shuffling and dropout noise: compare means

if __name__ == "__main__":
    banner()
    print(f"mean of seeds {SEEDS}, {EPOCHS} epochs; seconds and speed-up are medians")
    print(f"{'data':<14} {'cached acc':>10} {'fastai acc':>10} {'cached s':>8} {'fastai s':>8} {'speed-up':>8}")
    for dataset, domain, per_class, size in CASES:
        runs = [cache_benchmark(dataset, images_per_class=per_class, epochs=EPOCHS, image_size=size, domain=domain,
                                seed=seed) for seed in SEEDS]
        name = f"{dataset}/{domain}" if domain else dataset
        print(f"{name:<14} {statistics.mean(b.cached.accuracy for b in runs):>10.3f} "
              f"{statistics.mean(b.uncached.accuracy for b in runs):>10.3f} "
              f"{statistics.median(b.cached_seconds for b in runs):>8.1f} "
              f"{statistics.median(b.uncached.seconds for b in runs):>8.1f} "
              f"{statistics.median(b.speedup for b in runs):>7.1f}x", flush=True)
