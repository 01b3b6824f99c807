"""Lesson 18: the same fine-tuning on several processes (data-parallel, with Accelerate), and runs that survive
being stopped.

Each process holds a copy of the model and trains on its own slice of every batch; after each backward pass
PyTorch's DistributedDataParallel averages the gradients across processes (gloo on CPUs, NCCL on GPUs), so every
copy takes the same step. fastai's `DistributedTrainer` (an Accelerate `Accelerator` inside a callback) does the
wrapping. This module is also the training script the lesson launches: `python -m tlcourse.distributed --help`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

GLOBAL_BATCH = 8  # images per optimiser step, whatever the number of processes
STOPPED = 3  # exit status of a run stopped on purpose after a checkpoint (`--stop-after`)


@dataclass
class DistributedRun:
    """What one launch gave: final validation accuracy (gathered over all processes), seconds, and how it ended."""

    processes: int
    seed: int
    accuracy: float | None
    seconds: float  # the launch's share: starting Python and loading the data included
    per_process_batch: int
    epochs_done: int
    train_seconds: float | None = None  # training and validation only
    copies_agree: bool | None = None  # every process ended with the same weights (data parallelism's promise)
    weights_fingerprint: float | None = None  # sum of |w| over every weight: equal runs give equal sums
    stopped: bool = False


def _fastai_distributed():
    """fastai's distributed pieces, with its batch-order broadcast made to work on CPU processes too."""
    import torch
    from fastai.distributed import DistributedDL, DistributedTrainer

    class AnyDeviceDistributedDL(DistributedDL):
        """fastai broadcasts rank 0's batch order as a CUDA tensor (NCCL needs one); gloo, the CPU backend, needs
        it on the CPU."""

        def _broadcast(self, t, rank):
            device = "cuda" if torch.distributed.get_backend() == "nccl" else "cpu"
            t = torch.tensor(t, dtype=torch.long, device=device)
            torch.distributed.broadcast(t, rank)
            return t.cpu().tolist()

    class AnyDeviceDistributedTrainer(DistributedTrainer):
        def _wrap_dl(self, dl):
            return dl if isinstance(dl, AnyDeviceDistributedDL) else AnyDeviceDistributedDL(dl, device=self.learn.model.device)

    return AnyDeviceDistributedTrainer


def _loaders(learn) -> list:
    """The learner's own DataLoaders (inside fastai's distributed wrappers while a fit runs)."""
    return [getattr(dl, "dl", dl) for dl in learn.dls.loaders]


def _random_states(learn) -> dict:
    import numpy as np
    import torch
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "loaders": [dl.rng.getstate() for dl in _loaders(learn)]}


def _restore_random_states(learn, states: dict) -> None:
    import numpy as np
    import torch
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if states["cuda"]:
        torch.cuda.set_rng_state_all(states["cuda"])
    for dl, state in zip(_loaders(learn), states["loaders"]):
        dl.rng.setstate(state)


def checkpoints_callback(folder: Path, first_epoch: int, stop_after: int | None = None, run: dict | None = None):
    """A fastai callback that saves, after every epoch, the weights and optimiser state (rank 0) and each process's
    random-number states, so a run can resume exactly where it stopped. `stop_after` ends the process after that
    epoch's checkpoint, as a crash or a preempted cloud machine would. `run` (the run's settings) is saved with the
    progress, so that a resume with other settings can be refused."""
    import torch
    from fastai.callback.core import Callback
    from fastai.torch_core import distrib_barrier, rank_distrib

    class Checkpoints(Callback):
        order = 90  # after the recorder

        def __init__(self):
            self.skipped_to = None

        def before_fit(self):
            self.skipped_to = getattr(self.learn, "resume_epoch", 0)

        def after_epoch(self):
            epoch = first_epoch + self.epoch
            if self.epoch < self.skipped_to:  # an epoch skipped on resume: nothing new to save
                return
            if rank_distrib() == 0:
                self.learn.save(folder / "model", with_opt=True)
                (folder / "progress.json").write_text(json.dumps({"epochs_done": epoch + 1, "run": run or {}}))
            torch.save(_random_states(self.learn), folder / f"random_states_{rank_distrib()}.pt")
            distrib_barrier()
            if stop_after is not None and epoch + 1 >= stop_after:
                sys.stdout.flush()
                os._exit(STOPPED)

    return Checkpoints()


def epochs_done(folder: Path) -> int:
    """Epochs finished by the run whose checkpoints are in `folder` (0 if none)."""
    progress = Path(folder) / "progress.json"
    return json.loads(progress.read_text())["epochs_done"] if progress.exists() else 0


def train(dataset: str = "digits", model: str = "efficientnet_lite0", image_size: int = 48,
          images_per_class: int | None = 10, epochs: int = 4, seed: int = 0, lr: float = 2e-3,
          checkpoints: Path | None = None, stop_after: int | None = None, resume: bool = False,
          domain: str | None = "mnist", valid_per_class: int | None = 50) -> dict:
    """Lesson 05's recipe (fastai's `fine_tune`: one epoch head only, then everything with discriminative rates) in
    this process, which is one of several when started by `torchrun`/`accelerate launch`. Returns rank 0's result."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from fastai.torch_core import num_distrib, rank_distrib

    from tlcourse.assets.models import get_model_spec
    from tlcourse.data import image_dataloaders
    from tlcourse.profiles import seed_everything
    from tlcourse.train import SkipValidation, make_learner

    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    processes = max(1, num_distrib())
    if GLOBAL_BATCH % processes:
        raise ValueError(f"{processes} processes cannot share a batch of {GLOBAL_BATCH} images evenly: use 1, 2, 4 or 8.")
    per_process = GLOBAL_BATCH // processes
    dls = image_dataloaders(dataset, image_size, per_process, images_per_class, seed, get_model_spec(model).stats,
                            domain, device=str(accelerator.device), valid_per_class=valid_per_class)
    seed_everything(seed, dls)
    learn = make_learner(dls, model)
    learn.add_cb(SkipValidation())  # scored once, at the end
    if processes > 1:
        learn.add_cb(_fastai_distributed()(sync_bn=False, cpu=accelerator.device.type == "cpu"))
    # Same weights everywhere (set above), but from here on each process draws its own augmentations and dropout:
    # with one seed for all, both halves of every batch got the same random changes, and 2 processes averaged
    # 2-3 points lower (seeds 0 and 1).
    set_seed(seed, device_specific=True)
    run = {"dataset": dataset, "model": model, "image_size": image_size, "images_per_class": images_per_class,
           "epochs": epochs, "seed": seed, "lr": lr, "domain": domain, "valid_per_class": valid_per_class,
           "processes": processes}
    done = epochs_done(checkpoints) if resume and checkpoints else 0
    if done:
        saved = json.loads((Path(checkpoints) / "progress.json").read_text()).get("run", {})
        changed = {name: (saved.get(name), value) for name, value in run.items() if saved.get(name) != value}
        if changed:
            raise ValueError("The checkpoints in " + str(checkpoints) + " belong to another run; resume with its "
                             "settings, or start afresh in a new folder. Differs (saved, now): " +
                             ", ".join(f"{name} {old!r} -> {new!r}" for name, (old, new) in changed.items()))
    start = time.perf_counter()
    with learn.no_bar(), learn.no_logging():
        if done == 0:
            learn.freeze()
            cbs = [checkpoints_callback(checkpoints, 0, stop_after, run)] if checkpoints else []
            learn.fit_one_cycle(1, slice(lr), pct_start=0.99, cbs=cbs)
        learn.unfreeze()
        if done:
            learn.load(Path(checkpoints) / "model", with_opt=True)
            _restore_random_states(learn, torch.load(Path(checkpoints) / f"random_states_{rank_distrib()}.pt",
                                                     weights_only=False))
        learn.resume_epoch = max(0, done - 1)
        cbs = [checkpoints_callback(checkpoints, 1, stop_after, run)] if checkpoints else []
        learn.fit_one_cycle(epochs - 1, slice(lr / 2 / 100, lr / 2), pct_start=0.3, div=5.0, cbs=cbs,
                            start_epoch=learn.resume_epoch)
        learn.remove_cbs(learn.cbs.filter(lambda cb: isinstance(cb, SkipValidation)))
        accuracy = float(learn.validate()[1])  # gathered from every process
    fingerprint = float(sum(p.detach().double().abs().sum() for p in learn.model.parameters()))
    everyone = accelerator.gather(torch.tensor([fingerprint], dtype=torch.float64, device=accelerator.device))
    return {"copies_agree": bool((everyone == everyone[0]).all()),"processes": processes, "seed": seed, "accuracy": accuracy, "train_seconds": time.perf_counter() - start,
            "per_process_batch": per_process, "epochs_done": epochs, "weights_fingerprint": fingerprint}


def extract_features_split(dataset: str = "digits", model: str = "efficientnet_lite0", image_size: int = 48,
                           images_per_class: int | None = 50, domain: str | None = "mnist",
                           output: Path | None = None, cpu: bool | None = None) -> dict:
    """The frozen body's pooled features of every training image, in this process, which is one of several when
    started by `torchrun`: `split_between_processes` gives each process its share of the images, `gather_object`
    brings the shares to every process, and rank 0 alone writes the features to the feature cache (once) and to
    `output`; when the cache holds them already, no process extracts anything. `cpu` (default: unless there is a
    GPU) keeps the work on the CPU. Returns rank 0's summary."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import gather_object
    from fastai.vision.augment import RandTransform

    from tlcourse.assets.models import get_model_spec
    from tlcourse.data import image_dataloaders
    from tlcourse.feature_cache import cached, entry_path, loader_checksum, module_checksum
    from tlcourse.features import frozen_body, pool

    accelerator = Accelerator(cpu=not torch.cuda.is_available() if cpu is None else cpu)
    dls = image_dataloaders(dataset, image_size, 64, images_per_class, 0, get_model_spec(model).stats, domain,
                            augment=False, device=str(accelerator.device))
    items = list(dls.train_ds.items)
    if len(items) < accelerator.num_processes:
        raise ValueError(f"{len(items)} images cannot be shared by {accelerator.num_processes} processes: use more "
                         "images or fewer processes.")
    fixed = [t for t in dls.valid.after_batch.fs if not isinstance(t, RandTransform)]
    body = frozen_body(model).to(accelerator.device)
    key = {"what": "pooled body features, split across processes", "body": module_checksum(body),
           "images": loader_checksum(dls.test_dl(items, with_labels=True, after_batch=fixed)),
           "device": accelerator.device.type}
    path = entry_path(key)
    if path is not None and path.exists():  # the same on every process: all skip the work
        if accelerator.is_main_process and output:
            torch.save(cached(key, lambda: {})["features"], output)
        return {"processes": accelerator.num_processes, "images": len(items), "seconds": 0.0, "per_process": [],
                "cache_entries_written": 0, "every_image_once": True} if accelerator.is_main_process else {}
    start = time.perf_counter()
    with accelerator.split_between_processes(list(range(len(items)))) as mine:
        loader = dls.test_dl([items[i] for i in mine], with_labels=True, bs=64, after_batch=fixed)
        with torch.no_grad():
            features = torch.cat([pool(body(x)).float().cpu().as_subclass(torch.Tensor) for x, _ in loader])
    shares = gather_object([(mine, features)])
    seconds = time.perf_counter() - start
    if not accelerator.is_main_process:
        return {}
    order = [i for indices, _ in shares for i in indices]
    everything = torch.cat([share for _, share in shares])[torch.argsort(torch.tensor(order))]
    cached(key, lambda: {"features": everything})  # rank 0 only: one entry, written once
    written = int(path is not None and path.exists())
    if output:
        torch.save(everything, output)
    return {"processes": accelerator.num_processes, "images": len(items), "seconds": seconds,
            "per_process": [len(indices) for indices, _ in shares], "cache_entries_written": written,
            "every_image_once": sorted(order) == list(range(len(items)))}


def gpus_for(processes: int) -> bool:
    """Whether this machine has a GPU for each of `processes` processes (NCCL cannot put two on one GPU)."""
    import torch
    return torch.cuda.device_count() >= processes


def _program(processes: int, cpu: bool | None) -> tuple[list[str], dict]:
    """How to start this module on `processes` processes (`torchrun` when more than one), and its environment:
    one thread per process unless set, and no GPU when `cpu` (default: unless there is a GPU per process)."""
    runner = [sys.executable] if processes == 1 else \
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    environment = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    if cpu if cpu is not None else not gpus_for(processes):
        environment["CUDA_VISIBLE_DEVICES"] = ""
    return runner, environment


def _run(command: list[str], environment: dict, timeout: float, processes: int) -> subprocess.CompletedProcess:
    """Run `command` in its own process group; past `timeout` seconds, or when interrupted, stop the whole group
    (torchrun's workers too)."""
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
                          start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except BaseException as error:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.communicate()
            if isinstance(error, subprocess.TimeoutExpired):
                raise RuntimeError(f"The {processes}-process run did not finish within {timeout:.0f} s and was "
                                   f"stopped: give it a larger `timeout`, or less work (seeds, epochs, images).") \
                    from None
            raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@dataclass
class FeatureRun:
    """What one launch of the split feature extraction gave."""

    processes: int
    images: int
    per_process: list  # images each process extracted
    every_image_once: bool
    cache_entries_written: int
    seconds: float  # the extraction itself, split and gathered
    features: object  # the features in the images' order (a tensor)


def launch_features(processes: int = 1, cpu: bool | None = None, timeout: float = 300,
                    images_per_class: int | None = 50, cache: Path | None = None) -> FeatureRun:
    """Run `extract_features_split` on `processes` processes of this machine (`torchrun` when more than one),
    with the feature cache in `cache` (default: the course's)."""
    import torch
    with tempfile.TemporaryDirectory(prefix="tlcourse-features-") as scratch:
        result, output = Path(scratch) / "result.json", Path(scratch) / "features.pt"
        arguments = ["-m", "tlcourse.distributed", "--features", "--result", str(result), "--features-file",
                     str(output), "--images-per-class", str(images_per_class or 0)]
        runner, environment = _program(processes, cpu)
        if cache:
            environment["TLCOURSE_CACHE"] = str(cache)
        finished = _run(runner + arguments, environment, timeout, processes)
        if finished.returncode or not result.exists():
            raise RuntimeError(f"The {processes}-process feature extraction failed (exit status "
                               f"{finished.returncode}): {_worker_error(finished.stderr)}")
        return FeatureRun(**json.loads(result.read_text()), features=torch.load(output))


TRAIN_OPTIONS = {"dataset", "model", "image_size", "images_per_class", "epochs", "lr", "checkpoints", "stop_after",
                 "resume", "domain", "valid_per_class"}  # what `launch` passes on to `train`


def launch(processes: int = 1, seeds=(0,), cpu: bool | None = None, timeout: float = 300,
           **options) -> list[DistributedRun]:
    """Run `train(seed=..., **options)` for each seed on `processes` processes of this machine, as one separate
    program (`torchrun` when more than one process), and return the results; a run stopped by `stop_after` comes
    back with stopped=True. `cpu` (default: unless there is a GPU per process) hides the GPUs from the runs."""
    if processes < 1 or GLOBAL_BATCH % processes:
        raise ValueError(f"{processes} processes cannot share a batch of {GLOBAL_BATCH} images evenly: use 1, 2, 4 or 8.")
    unknown = set(options) - TRAIN_OPTIONS
    if unknown:
        raise ValueError(f"`launch` does not know {', '.join(sorted(unknown))}: its options are "
                         f"{', '.join(sorted(TRAIN_OPTIONS))}.")
    checkpoints = options.get("checkpoints")
    if checkpoints and len(seeds) != 1:
        raise ValueError("Checkpoints are kept for one run at a time: give one seed.")
    if (options.get("stop_after") is not None or options.get("resume")) and not checkpoints:
        raise ValueError("`stop_after` and `resume` need a `checkpoints` folder to write to and read from.")
    if options.get("stop_after") is not None and options["stop_after"] < 1:
        raise ValueError(f"stop_after must be at least 1 (epochs done before stopping), not {options['stop_after']}.")
    with tempfile.TemporaryDirectory(prefix="tlcourse-run-") as scratch:
        result = Path(scratch) / "result.json"
        arguments = ["-m", "tlcourse.distributed", "--result", str(result), "--seeds", *map(str, seeds)]
        for name in ("images_per_class", "valid_per_class", "domain"):
            if name in options and options[name] is None:
                options[name] = 0 if name != "domain" else ""  # the script's words for "all" and "none"
        for name, value in options.items():
            if value is True:
                arguments.append(f"--{name.replace('_', '-')}")
            elif value is not None and value is not False:
                arguments += [f"--{name.replace('_', '-')}", str(value)]
        runner, environment = _program(processes, cpu)
        start = time.perf_counter()
        finished = _run(runner + arguments, environment, timeout, processes)
        seconds = time.perf_counter() - start
        if finished.returncode == 0 and result.exists():
            return [DistributedRun(**run, seconds=seconds / len(seeds)) for run in json.loads(result.read_text())]
        if options.get("stop_after") and finished.returncode and epochs_done(checkpoints) == options["stop_after"]:
            return [DistributedRun(processes, seeds[0], None, seconds, GLOBAL_BATCH // processes, epochs_done(checkpoints),
                                   stopped=True)]
        raise RuntimeError(f"The {processes}-process run failed (exit status {finished.returncode}): "
                           f"{_worker_error(finished.stderr)}")


def _worker_error(stderr: str) -> str:
    """The line of a failed run's output that says why: a worker's own error before torchrun's signals."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"\w(Error|Exception): ", line) and "ChildFailedError" not in line]
    crashes = [line for line in lines if re.search(r"terminate called|Signal \d+", line)]
    return (errors or crashes or lines or ["no output"])[-1].strip()


def main(argv: list[str] | None = None) -> None:
    """The command line: `python -m tlcourse.distributed --help`."""
    parser = argparse.ArgumentParser(description="Fine-tune a registry model on a registry data set in this process "
                                     "(start it with torchrun or `accelerate launch` to use several).")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--domain", default="mnist", help="the data set's domain, if it has several ('' for all)")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--image-size", type=int, default=48)
    parser.add_argument("--images-per-class", type=int, default=10, help="0 for all")
    parser.add_argument("--valid-per-class", type=int, default=50, help="0 for the whole validation split")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="one run after the other per seed")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--checkpoints", type=Path, help="folder for a checkpoint after every epoch")
    parser.add_argument("--stop-after", type=int, help="stop the run after this many epochs (a simulated crash)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoints' last epoch")
    parser.add_argument("--result", type=Path, help="write rank 0's result here as JSON")
    parser.add_argument("--features", action="store_true",
                        help="instead of training, extract the frozen body's features, split across the processes")
    parser.add_argument("--features-file", type=Path, help="with --features: save the features here (rank 0)")
    args = parser.parse_args(argv)
    if args.features:
        summary = extract_features_split(args.dataset, args.model, args.image_size, args.images_per_class or None,
                                         args.domain or None, args.features_file)
        _finish(summary, args.result)
        return
    if args.checkpoints:
        args.checkpoints.mkdir(parents=True, exist_ok=True)
    results = [train(args.dataset, args.model, args.image_size, args.images_per_class or None, args.epochs, seed, args.lr,
                     args.checkpoints, args.stop_after, args.resume, args.domain or None, args.valid_per_class or None)
               for seed in args.seeds]
    _finish(results, args.result)


def _finish(results, path: Path | None) -> None:
    """Rank 0 prints the results and writes them to `path`; every process leaves the process group."""
    import torch.distributed
    from fastai.torch_core import rank_distrib
    if rank_distrib() == 0:
        print(json.dumps(results))
        if path:
            path.write_text(json.dumps(results))
    if torch.distributed.is_initialized():  # leave the process group before exiting: gloo's threads abort otherwise
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
