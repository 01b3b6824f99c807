"""Lesson 13: object detection. Teach a detector four specific objects, on a frozen pretrained body.

The detector is torchvision's FCOS (Tian et al. 2019): for every cell of a feature map it scores each
class and regresses the distances to the four sides of a box. Its head reads two maps of the frozen
EfficientNet-Lite0 body (stride 16 and 32) through a small trainable neck. With the body frozen, its
maps are computed once per scene (and kept by the feature cache), so training touches only the neck
and the head: that is what makes it affordable on a CPU. Scored with mAP@0.5 (torchmetrics) on test
scenes whose backgrounds and distractors the detector never saw.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

MODEL = "efficientnet_lite0"
MAP_STAGES = (3, 4)  # body stages whose maps the head reads: stride 16 and stride 32
NECK_CHANNELS = 64
# FCOS sends a box to the map whose cells' sizes fit it: up to 32 px from a cell's centre to the box's furthest side
# on the stride-16 map, more on the stride-32 map (torchvision's rule: between 4 and 8 cell sizes)
CELL_SIZES = ((4,), (8,))
TRAINING = {"smoke": {"scenes": 200, "steps": 300}, "cpu": {"scenes": 400, "steps": 500},
            "full": {"scenes": 400, "steps": 1000}}
BATCH_SIZE = 16
LEARNING_RATE = 3e-3
BODIES = ("ImageNet body", "random body")


# A ready-made detector: MTCNN (Zhang et al. 2016), three small networks trained to find human faces, as
# converted to PyTorch by facenet-pytorch (MIT), whose wheel ships the weights
FACE_DETECTOR_WEIGHTS = {"pnet.pt": "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
                         "rnet.pt": "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
                         "onet.pt": "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d"}


def face_detector():
    """facenet-pytorch's MTCNN on the CPU, keeping every face it finds; its weight files checked first."""
    from tlcourse.assets.models import _checked, _package_dir
    from tlcourse.errors import MissingAsset
    folder = _package_dir("facenet_pytorch")
    if folder is None:
        raise MissingAsset("The face detector ships in the PyPI package facenet-pytorch, which is not installed: "
                           "run `make install`, or `pip install --no-deps facenet-pytorch==2.6.0`.")
    for name, sha256 in FACE_DETECTOR_WEIGHTS.items():
        _checked(folder / "data" / name, sha256)
    from facenet_pytorch import MTCNN
    return MTCNN(keep_all=True, device="cpu")



def opencv_sample(file: str):
    """One of OpenCV's sample photos ("messi5.jpg", "baboon.jpg") from Debian's opencv-doc, the package file the
    workbench data set is built from (fetched and unpacked by `make data`)."""
    from PIL import Image

    from tlcourse.assets.prepare import _package_file
    return Image.open(_package_file("workbench", "opencv-doc", file))

def find_faces(pictures: list) -> list[tuple[np.ndarray, np.ndarray]]:
    """Boxes (x0, y0, x1, y1) and probabilities of the faces MTCNN finds in each PIL picture (none: empty)."""
    detector = face_detector()
    found = []
    for picture in pictures:
        boxes, probabilities = detector.detect(picture.convert("RGB"))
        found.append((np.zeros((0, 4)), np.zeros(0)) if boxes is None
                     else (np.asarray(boxes, dtype=float), np.asarray(probabilities, dtype=float)))
    return found


@dataclass
class Scenes:
    """Scenes of the workbench data set: images (normalised for the body) and their boxes and labels."""

    images: torch.Tensor  # (scenes, 3, side, side)
    targets: list[dict]  # per scene: "boxes" (n, 4) x0 y0 x1 y1 in pixels, "labels" (n,) 1..classes
    classes: list[str]  # label k is classes[k - 1]; 0 is background

    def __len__(self) -> int:
        return len(self.images)


def load_scenes(split: str, limit: int | None = None) -> Scenes:
    """The first `limit` (default all) scenes of the "train" or "valid" split, normalised as the body expects."""
    from PIL import Image

    from tlcourse.assets.models import get_model_spec
    from tlcourse.data import dataset_path
    if split not in ("train", "valid"):
        raise ValueError(f"split {split!r}: choose 'train' or 'valid'.")
    folder = dataset_path("workbench")
    with open(folder / "boxes.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["split"] == split]
    classes = sorted({row["class"] for row in rows})
    files = sorted({row["file"] for row in rows})[:limit]
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in get_model_spec(MODEL).stats)
    images, targets = [], []
    for file in files:
        pixels = np.asarray(Image.open(folder / file).convert("RGB"), dtype=np.float32) / 255
        images.append((torch.from_numpy(pixels).permute(2, 0, 1) - mean) / std)
        mine = [row for row in rows if row["file"] == file]
        targets.append({"boxes": torch.tensor([[float(row[k]) for k in ("x0", "y0", "x1", "y1")] for row in mine]),
                        "labels": torch.tensor([classes.index(row["class"]) + 1 for row in mine])})
    return Scenes(torch.stack(images), targets, classes)


def body(kind: str) -> nn.Sequential:
    """The frozen body: "ImageNet body" or "random body" (the same random weights in every run)."""
    from tlcourse.features import frozen_body
    if kind not in BODIES:
        raise ValueError(f"unknown body {kind!r}: choose one of {', '.join(BODIES)}.")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return frozen_body(MODEL, pretrained=kind == "ImageNet body")


def _stage_maps(network: nn.Sequential, images: torch.Tensor) -> list[torch.Tensor]:
    """The network's outputs after the stages in MAP_STAGES."""
    maps, x = [], images
    for index, stage in enumerate(network):
        x = stage(x)
        if index in MAP_STAGES:
            maps.append(x)
    return maps


@torch.no_grad()
def _maps(frozen: nn.Sequential, images: torch.Tensor) -> dict:
    from tlcourse.train import channels_last
    frozen = channels_last(frozen)
    start = time.perf_counter()
    batches = [_stage_maps(frozen, x) for x in images.split(32)]
    return {"maps": [torch.cat([b[level].contiguous() for b in batches]) for level in range(len(MAP_STAGES))],
            "seconds": time.perf_counter() - start}


def feature_maps(frozen: nn.Sequential, scenes: Scenes) -> tuple[list[torch.Tensor], float]:
    """The body's maps at MAP_STAGES for every scene (from the feature cache when seen before), and the seconds
    the body took when they were computed."""
    from tlcourse.feature_cache import cached, loader_checksum, module_checksum
    key = {"what": "detection maps", "stages": list(MAP_STAGES), "body": module_checksum(frozen),
           "images": loader_checksum([(scenes.images, torch.zeros(len(scenes)))]), "layout": "channels last"}
    result = cached(key, lambda: _maps(frozen, scenes.images))
    return result["maps"], result["seconds"]


class Neck(nn.Module):
    """1x1 convolutions that bring each body map to NECK_CHANNELS channels: the only layers before the head
    that train."""

    def __init__(self, channels: tuple[int, ...]):
        super().__init__()
        self.project = nn.ModuleList(nn.Conv2d(c, NECK_CHANNELS, 1) for c in channels)
        self.out_channels = NECK_CHANNELS  # what torchvision's detectors read

    def forward(self, maps: list[torch.Tensor]) -> list[torch.Tensor]:
        return [project(m) for project, m in zip(self.project, maps)]


def make_detector(map_channels: tuple[int, ...], n_classes: int):
    """torchvision's FCOS with our neck as its backbone and a light head (two convolutions per branch)."""
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.fcos import FCOSHead

    from tlcourse.assets.scenes import SCENE_SIDE
    return FCOS(Neck(map_channels), n_classes + 1, min_size=SCENE_SIDE, max_size=SCENE_SIDE,
                anchor_generator=AnchorGenerator(CELL_SIZES, ((1.0,),) * len(CELL_SIZES)),
                head=FCOSHead(NECK_CHANNELS, 1, n_classes + 1, num_convs=2), score_thresh=0.05)


def _run(detector, maps: list[torch.Tensor], targets: list[dict] | None = None):
    """FCOS's own forward pass from the neck on, on maps instead of images: the losses given targets, else the
    detections (as FCOS.forward, minus resizing images and running the body)."""
    from torchvision.models.detection.image_list import ImageList

    from tlcourse.assets.scenes import SCENE_SIDE
    features = detector.backbone(maps)
    outputs = detector.head(features)
    scenes = len(maps[0])
    images = ImageList(torch.zeros(1, 1, 1, 1).expand(scenes, 3, SCENE_SIDE, SCENE_SIDE),
                       [(SCENE_SIDE, SCENE_SIDE)] * scenes)
    anchors = detector.anchor_generator(images, features)
    cells = [f.shape[2] * f.shape[3] for f in features]
    if targets is not None:
        return detector.compute_loss(targets, outputs, anchors, cells)
    per_level = {name: list(value.split(cells, dim=1)) for name, value in outputs.items()}
    return detector.postprocess_detections(per_level, [list(a.split(cells)) for a in anchors], images.image_sizes)


def train_detector(maps: list[torch.Tensor], targets: list[dict], n_classes: int, steps: int, seed: int = 0):
    """Train neck and head on the frozen maps for `steps` batches of BATCH_SIZE scenes (AdamW, one-cycle schedule);
    returns the detector in evaluation mode and the seconds training took."""
    from tlcourse.profiles import one_thread
    torch.manual_seed(seed)
    detector = make_detector(tuple(m.shape[1] for m in maps), n_classes).train()
    optimiser = torch.optim.AdamW(detector.parameters(), LEARNING_RATE / 10, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, LEARNING_RATE, total_steps=steps)
    batches = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    with one_thread():  # small layers: one thread was many times faster than two
        for _ in range(steps):
            rows = torch.randint(len(targets), (BATCH_SIZE,), generator=batches)
            losses = _run(detector, [m[rows] for m in maps], [targets[i] for i in rows.tolist()])
            optimiser.zero_grad()
            sum(losses.values()).backward()
            optimiser.step()
            schedule.step()
    return detector.eval(), time.perf_counter() - start


@torch.no_grad()
def detect(detector, maps: list[torch.Tensor]) -> list[dict]:
    """Boxes, scores and labels (1..classes) the detector finds in every scene."""
    found = [d for rows in torch.arange(len(maps[0])).split(64) for d in _run(detector, [m[rows] for m in maps])]
    # label 0 stands for the background (torchvision's convention); it is never trained as a class, but FCOS
    # scores it like one and can return it
    return [{name: value[d["labels"] > 0] for name, value in d.items()} for d in found]


def mean_average_precision(detections: list[dict], targets: list[dict]) -> tuple[float, dict[int, float]]:
    """mAP at IoU 0.5 (torchmetrics, COCO's definition), and the AP of each label that has true boxes."""
    from torchmetrics.detection import MeanAveragePrecision
    metric = MeanAveragePrecision(iou_thresholds=[0.5], class_metrics=True)
    metric.update(detections, targets)
    result = metric.compute()
    per_label = dict(zip(result["classes"].reshape(-1).tolist(), result["map_per_class"].reshape(-1).tolist()))
    return float(result["map"]), {label: ap for label, ap in per_label.items() if ap >= 0}  # -1: no true boxes


@dataclass
class DetectorRun:
    """One body's detector: its mAP@0.5 on the test scenes, per class AP, and the seconds body and training took."""

    body: str
    map50: float
    per_class: dict[str, float]
    body_seconds: float
    training_seconds: float
    detections: list[dict]


def compare_bodies(seed: int | None = None, bodies: tuple[str, ...] = BODIES) -> tuple[list[DetectorRun], Scenes]:
    """Train one detector per frozen body on the profile's training scenes, score each on every test scene;
    returns the runs and the test scenes."""
    from tlcourse.profiles import active_profile
    profile = active_profile()
    sizes = TRAINING[profile.name]
    seed = profile.seeds[0] if seed is None else seed
    train, test = load_scenes("train", sizes["scenes"]), load_scenes("valid")
    runs = []
    for kind in bodies:
        frozen = body(kind)
        train_maps, train_seconds = feature_maps(frozen, train)
        test_maps, test_seconds = feature_maps(frozen, test)
        detector, seconds = train_detector(train_maps, train.targets, len(train.classes), sizes["steps"], seed)
        detections = detect(detector, test_maps)
        map50, per_class = mean_average_precision(detections, test.targets)
        by_class = {name: per_class[label] for label, name in enumerate(test.classes, start=1)}
        runs.append(DetectorRun(kind, map50, by_class, train_seconds + test_seconds, seconds, detections))
        print(f"{kind}: mAP@0.5 {map50:.3f} ({sizes['steps']} steps on {len(train)} scenes, {seconds:.0f} s)")
    return runs, test


def table(runs: list[DetectorRun]):
    """mAP@0.5, each class's AP and the seconds of each run, one row per body."""
    import pandas as pd
    return pd.DataFrame([{"mAP@0.5": r.map50, **{f"AP {name}": ap for name, ap in r.per_class.items()},
                          "body seconds": r.body_seconds, "training seconds": r.training_seconds} for r in runs],
                        index=[r.body for r in runs]).round(3)


def step_flops(frozen_body: bool) -> int:
    """FLOPs of one training step on a batch of BATCH_SIZE scenes: with the body frozen (its maps cached: neck and
    head only, forward and backward), or with the whole network training (the body's forward and backward too)."""
    from tlcourse.assets.scenes import SCENE_SIDE
    from tlcourse.cost import BACKWARD_PER_FORWARD, forward_flops
    network = body("ImageNet body")
    body_flops, maps = forward_flops(lambda x: _stage_maps(network, x), torch.zeros(BATCH_SIZE, 3, SCENE_SIDE,
                                                                                    SCENE_SIDE))
    detector = make_detector(tuple(m.shape[1] for m in maps), 4).eval()
    head_flops, _ = forward_flops(lambda m: detector.head(detector.backbone(m)), maps)
    trained = head_flops * (1 + BACKWARD_PER_FORWARD)
    return trained if frozen_body else trained + body_flops * (1 + BACKWARD_PER_FORWARD)


def step_seconds(scenes: Scenes, repeats: int = 3) -> dict[str, float]:
    """Median seconds of one training step on BATCH_SIZE scenes, body frozen (its maps cached) and whole network
    training, measured in turns (one of each per repeat, after a warm-up of each) on one thread, as the detectors
    train, so that the machine's load hits both alike."""
    import statistics

    from tlcourse.profiles import one_thread
    from tlcourse.train import channels_last
    network = channels_last(body("ImageNet body")).train()
    for parameter in network.parameters():
        parameter.requires_grad_(True)
    images, targets = scenes.images[:BATCH_SIZE], scenes.targets[:BATCH_SIZE]
    cached = [m.detach() for m in _stage_maps(network.eval(), images)]
    network.train()
    detector = make_detector(tuple(m.shape[1] for m in cached), len(scenes.classes)).train()
    optimiser = torch.optim.AdamW([*detector.parameters(), *network.parameters()], 1e-4)

    def step(maps_of):
        start = time.perf_counter()
        losses = _run(detector, maps_of(), targets)
        optimiser.zero_grad()
        sum(losses.values()).backward()
        optimiser.step()
        return time.perf_counter() - start
    kinds = {"body frozen (maps cached)": lambda: cached, "whole network": lambda: _stage_maps(network, images)}
    seconds: dict[str, list[float]] = {kind: [] for kind in kinds}
    with one_thread():
        for repeat in range(repeats + 1):
            for kind, maps_of in kinds.items():
                elapsed = step(maps_of)
                if repeat:  # the first round warms up
                    seconds[kind].append(elapsed)
    return {kind: statistics.median(values) for kind, values in seconds.items()}
