"""Lesson 13's pieces: scenes with exact boxes, torchvision's FCOS on frozen maps, and the mAP we score with."""

import random

import pytest
import torch
from PIL import Image

from tlcourse import detection
from tlcourse.assets import scenes
from tlcourse.assets.scenes import SCENE_SIDE, compose


EDGE = 3  # pixels: turning and scaling blend a cut-out's edge with the background


def _square(colour, side=50):
    cutout = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    cutout.paste(Image.new("RGBA", (side - 10, side - 20), colour), (5, 10))  # a transparent margin around it
    return cutout


def test_a_pasted_object_s_box_is_exactly_where_its_visible_pixels_are(monkeypatch):
    monkeypatch.setattr(scenes, "DISTRACTORS_PER_SCENE", (0, 0))  # a distractor may cover part of an object
    background = Image.new("RGB", (300, 300), (0, 0, 255))
    for seed in range(5):
        scene = compose(random.Random(seed), background, {"red": _square((255, 0, 0, 255))}, [_square((0, 255, 0, 255))])
        pixels = torch.tensor(list(scene.image.getdata())).view(SCENE_SIDE, SCENE_SIDE, 3)
        red = (pixels[..., 0] > 128).nonzero()
        for box in scene.boxes:  # the red pixels inside each box reach its four sides (but for a blended edge)
            inside = red[(red[:, 1] >= box[0]) & (red[:, 1] < box[2]) & (red[:, 0] >= box[1]) & (red[:, 0] < box[3])]
            assert inside[:, 1].min() <= box[0] + EDGE and inside[:, 1].max() >= box[2] - 1 - EDGE, (seed, box)
            assert inside[:, 0].min() <= box[1] + EDGE and inside[:, 0].max() >= box[3] - 1 - EDGE, (seed, box)
        assert scene.labels and set(scene.labels) == {"red"}
        assert len(red) <= sum((b[2] - b[0]) * (b[3] - b[1]) for b in scene.boxes)  # no red outside a box


def test_perfect_detections_score_one_and_boxes_off_by_half_score_zero():
    targets = [{"boxes": torch.tensor([[10.0, 10, 50, 50], [60, 60, 100, 120]]), "labels": torch.tensor([1, 2])}]
    perfect = [{**targets[0], "scores": torch.tensor([0.9, 0.8])}]
    shifted = [{"boxes": targets[0]["boxes"] + 25, "labels": targets[0]["labels"], "scores": torch.tensor([0.9, 0.8])}]
    wrong_class = [{**perfect[0], "labels": torch.tensor([2, 1])}]
    assert detection.mean_average_precision(perfect, targets) == (pytest.approx(1.0), {1: 1.0, 2: 1.0})
    assert detection.mean_average_precision(shifted, targets)[0] == pytest.approx(0.0)
    assert detection.mean_average_precision(wrong_class, targets)[0] == pytest.approx(0.0)


def test_the_background_label_is_never_reported_as_a_detection():
    training = detection.load_scenes("train", limit=8)
    maps, _ = detection.feature_maps(detection.body("random body"), training)
    detector, _ = detection.train_detector(maps, training.targets, 4, steps=1)
    with torch.no_grad():
        detector.head.classification_head.cls_logits.bias[:2] = torch.tensor([6.0, 5.0])  # background, then label 1
        raw = detection._run(detector, maps)  # FCOS's own output: the background column scores like a class
    assert any(bool((d["labels"] == 0).any()) for d in raw)
    found = detection.detect(detector, maps)
    assert all(bool((d["labels"] == 1).all()) and len(d["labels"]) for d in found)


def test_scenes_load_with_the_boxes_of_their_file_and_the_body_s_normalisation():
    loaded = detection.load_scenes("valid", limit=4)
    assert loaded.images.shape == (4, 3, SCENE_SIDE, SCENE_SIDE) and len(loaded.targets) == 4
    assert loaded.classes == ["camera", "mug", "rubber_duck", "tape_measure"]
    assert -1.01 <= float(loaded.images.min()) and float(loaded.images.max()) <= 1.01  # Lite0: (x - 0.5) / 0.5
    for target in loaded.targets:
        assert target["boxes"].shape[1] == 4 and len(target["boxes"]) == len(target["labels"]) >= 1
        assert 1 <= int(target["labels"].min()) and int(target["labels"].max()) <= 4


def test_training_on_frozen_maps_learns_the_training_scenes():
    training = detection.load_scenes("train", limit=24)
    maps, _ = detection.feature_maps(detection.body("ImageNet body"), training)
    assert [tuple(m.shape[1:]) for m in maps] == [(112, 10, 10), (1280, 5, 5)]
    untrained, _ = detection.train_detector(maps, training.targets, 4, steps=1)
    trained, _ = detection.train_detector(maps, training.targets, 4, steps=120)
    before = detection.mean_average_precision(detection.detect(untrained, maps), training.targets)[0]
    after = detection.mean_average_precision(detection.detect(trained, maps), training.targets)[0]
    assert after > before + 0.3, (before, after)


def test_a_frozen_body_step_needs_far_fewer_flops():
    assert detection.step_flops(frozen_body=True) * 5 < detection.step_flops(frozen_body=False)


def test_bad_names_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="'train' or 'valid'"):
        detection.load_scenes("test")
    with pytest.raises(ValueError, match="ImageNet body, random body"):
        detection.body("zero body")


def test_the_ready_made_detector_finds_the_astronaut_s_face_and_none_on_the_mandrill(needs_debian):
    needs_debian("opencv-doc")
    from skimage import data as skimage_data
    mandrill = detection.opencv_sample("baboon.jpg")
    (boxes, probabilities), (none, _) = detection.find_faces([Image.fromarray(skimage_data.astronaut()), mandrill])
    assert len(boxes) == 1 and probabilities[0] > 0.99 and len(none) == 0
    x0, y0, x1, y1 = boxes[0]
    assert 150 < x0 < x1 < 300 and 30 < y0 < y1 < 200  # her face, not the flag or the helmet


def test_a_missing_face_detector_names_the_install_command(monkeypatch):
    from tlcourse.assets import models
    from tlcourse.errors import MissingAsset
    monkeypatch.setattr(models, "_package_dir", lambda package: None)
    with pytest.raises(MissingAsset, match="pip install --no-deps facenet-pytorch==2.6.0"):
        detection.face_detector()
