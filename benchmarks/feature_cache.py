"""`make bench`: the feature cache against fastai's frozen fit, same head, same epochs, no augmentation.

Both timings include everything each needs: the cached side computes the features once and trains the head;
the uncached side runs the frozen body on every training and validation image in every epoch.
"""

from tlcourse.experiments import cache_benchmark
from tlcourse.profiles import banner

CASES = [  # data set, domain, images per class, image size
    ("photos5", None, None, 128),
    ("digits", "mnist", 20, 64),
]
EPOCHS = 20

if __name__ == "__main__":
    banner()
    print(f"{'data':<14} {'epochs':>6} {'cached acc':>10} {'fastai acc':>10} {'cached s':>8} {'fastai s':>8} {'speed-up':>8}")
    for dataset, domain, per_class, size in CASES:
        b = cache_benchmark(dataset, images_per_class=per_class, epochs=EPOCHS, image_size=size, domain=domain)
        name = f"{dataset}/{domain}" if domain else dataset
        print(f"{name:<14} {EPOCHS:>6} {b.cached.accuracy:>10.3f} {b.uncached.accuracy:>10.3f} "
              f"{b.cached_seconds:>8.1f} {b.uncached.seconds:>8.1f} {b.speedup:>7.1f}x", flush=True)
