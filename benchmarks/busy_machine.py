"""`make bench`, busy-machine table: one training epoch alone and beside busy processes, with OpenMP's
default wait policy (threads spin while they wait) and the passive one that tlcourse sets.

OpenMP reads its wait policy once, when torch loads, so every measurement runs in a fresh process;
the settings are interleaved, so a change in the machine's load hits them all alike. The busy
processes are plain Python loops, started and stopped here.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPEATS = 4
BUSY = os.cpu_count() or 2  # as many busy processes as cores: a shared laptop or CI machine
POLICIES = {"default": None, "passive": "PASSIVE"}

# One child: load photos5 (10 per class, 128 px), EfficientNet-Lite0 unfrozen, one warm-up epoch, then
# time one more epoch (wall and this process's CPU seconds).
EPOCH = """
import json, time, warnings
import torch  # before tlcourse on purpose: the wait policy in the environment is the one OpenMP uses
warnings.simplefilter("ignore")
from tlcourse.assets.models import get_model_spec
from tlcourse.data import image_dataloaders
from tlcourse.train import make_learner
dls = image_dataloaders("photos5", 128, 8, 10, seed=0, stats=get_model_spec("efficientnet_lite0").stats)
learn = make_learner(dls, "efficientnet_lite0")
learn.unfreeze()
with learn.no_bar(), learn.no_logging():
    learn.fit(1, 1e-3)
    wall, cpu = time.perf_counter(), time.process_time()
    learn.fit(1, 1e-3)
print(json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}))
"""


def one_epoch(policy: str | None) -> dict:
    """Seconds of one epoch in a fresh process with the given OMP_WAIT_POLICY (None: OpenMP's default)."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    out = subprocess.run([sys.executable, "-c", EPOCH], env=env, capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(repeats: int = REPEATS, busy: int = BUSY) -> dict[tuple[str, str], list[dict]]:
    """Epoch timings per (policy, load), interleaved: each repeat runs every setting once."""
    runs: dict[tuple[str, str], list[dict]] = {}
    for repeat in range(repeats):
        for load in ("quiet", "busy"):
            hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                    for _ in range(busy if load == "busy" else 0)]
            try:
                order = list(POLICIES) if repeat % 2 == 0 else list(reversed(POLICIES))
                for policy in order:
                    run = one_epoch(POLICIES[policy])
                    runs.setdefault((policy, load), []).append(run)
                    print(f"  repeat {repeat}, {load:<5}, {policy:<7}: {run['wall']:6.1f} s wall, "
                          f"{run['cpu']:6.1f} s CPU", flush=True)
            finally:
                for hog in hogs:
                    hog.kill()
                    hog.wait()
    return runs


def report(runs: dict[tuple[str, str], list[dict]], busy: int = BUSY) -> None:
    """Median and worst epoch per setting, and the ratios the busy-machine claim is about."""
    walls = {key: [r["wall"] for r in value] for key, value in runs.items()}
    print(f"\n{'policy':<8} {'quiet median s':>14} {'busy median s':>14} {'busy worst s':>13} "
          f"{'worst / quiet':>13}   (beside {busy} busy processes, {len(walls['default', 'quiet'])} runs each)")
    for policy in POLICIES:
        quiet, loaded = walls[policy, "quiet"], walls[policy, "busy"]
        print(f"{policy:<8} {statistics.median(quiet):>14.2f} {statistics.median(loaded):>14.2f} "
              f"{max(loaded):>13.2f} {max(loaded) / statistics.median(quiet):>12.1f}x")
    ratio = statistics.median(walls["passive", "quiet"]) / statistics.median(walls["default", "quiet"])
    print(f"quiet epoch, passive / default: {ratio:.2f}")


if __name__ == "__main__":
    from tlcourse.profiles import banner
    banner()
    print(f"One epoch of efficientnet_lite0 on photos5 (10 per class, 128 px), {REPEATS} interleaved repeats:")
    report(measure())
