"""Detection scenes made by pasting cut-out photos onto backgrounds ("copy-paste", Ghiasi et al. 2021).

A cut-out's transparent pixels say exactly where it is, so every pasted object's box is exact: no
hand-drawn boxes. Objects to find are pasted with their boxes; distractors (other objects) are pasted
too, without boxes, so that a detector must tell the objects apart from things that are merely there.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

SCENE_SIDE = 160  # pixels, square scenes
OBJECT_SIDES = (36, 80)  # an object's longer side, pixels
MAX_ROTATION = 20  # degrees either way
OBJECTS_PER_SCENE = (1, 3)
DISTRACTORS_PER_SCENE = (0, 2)
MAX_OVERLAP = 0.2  # intersection over union between any two pasted things
BACKGROUND_SHARE = (0.4, 1.0)  # the square cut from a background, as a share of its shorter side


@dataclass
class Scene:
    """One composed image and the boxes (x0, y0, x1, y1, in pixels) and class names of the objects in it."""

    image: object  # PIL.Image
    boxes: list[tuple[int, int, int, int]]
    labels: list[str]


def overlap(a, b) -> float:
    """Intersection over union of two boxes."""
    width = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _transformed(cutout, rng: random.Random):
    """A cut-out mirrored (or not), turned a little, cropped to its visible pixels and scaled."""
    from PIL import Image
    if rng.random() < 0.5:
        cutout = cutout.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    cutout = cutout.rotate(rng.uniform(-MAX_ROTATION, MAX_ROTATION), expand=True, resample=Image.Resampling.BILINEAR)
    cutout = cutout.crop(cutout.getchannel("A").getbbox())
    scale = rng.uniform(*OBJECT_SIDES) / max(cutout.size)
    return cutout.resize((max(1, round(cutout.width * scale)), max(1, round(cutout.height * scale))),
                         Image.Resampling.LANCZOS)


def compose(rng: random.Random, background, objects: dict, distractors: list) -> Scene:
    """A scene: a random square of `background` (RGB), 1-3 of `objects` (name -> RGBA cut-out) with their boxes,
    and 0-2 `distractors` (RGBA cut-outs) without; nothing overlaps anything by more than MAX_OVERLAP."""
    from PIL import Image
    side = round(min(background.size) * rng.uniform(*BACKGROUND_SHARE))
    left, top = rng.randint(0, background.width - side), rng.randint(0, background.height - side)
    image = background.crop((left, top, left + side, top + side)).resize((SCENE_SIDE, SCENE_SIDE),
                                                                         Image.Resampling.BILINEAR)
    names = sorted(objects)
    plan = ([(rng.choice(names), True) for _ in range(rng.randint(*OBJECTS_PER_SCENE))]
            + [(rng.randrange(len(distractors)), False) for _ in range(rng.randint(*DISTRACTORS_PER_SCENE))])
    rng.shuffle(plan)
    scene, taken = Scene(image, [], []), []
    for what, is_object in plan:
        cutout = _transformed(objects[what] if is_object else distractors[what], rng)
        for _ in range(20):  # find a free place; give the thing up if there is none
            x, y = rng.randint(0, SCENE_SIDE - cutout.width), rng.randint(0, SCENE_SIDE - cutout.height)
            box = (x, y, x + cutout.width, y + cutout.height)
            if all(overlap(box, other) <= MAX_OVERLAP for other in taken):
                break
        else:
            continue
        image.paste(cutout, (x, y), cutout)
        taken.append(box)
        if is_object:
            scene.boxes.append(box)
            scene.labels.append(what)
    if not scene.boxes:  # every scene has at least one object
        return compose(rng, background, objects, distractors)
    return scene
