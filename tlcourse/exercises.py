"""Checked exercises: two or more per lesson, each a number to find or a function to write, and `check` to say
whether an answer is right (every lesson's last cells). Our answers are in `solutions/`, out of the learner's way;
a test runs each of them through `check`, and a wrong answer through it too, which must fail.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Exercise:
    """One checked exercise: what it asks, and a checker returning None when right, else what is wrong."""

    key: str  # "04.2": lesson number, exercise number
    lesson: str  # the notebook's name, e.g. "04_head_swap"
    question: str
    checker: Callable[[Any], str | None]


def _number(expected: Callable[[], float], relative: float = 1e-3) -> Callable[[Any], str | None]:
    """A checker for a number, right within `relative` of the expected value (computed when checked)."""
    def checker(answer: Any) -> str | None:
        try:  # numpy's and torch's numbers too
            number = float(answer) if not isinstance(answer, (str, bytes, bool)) else None
        except (TypeError, ValueError):
            number = None
        if number is None:
            return f"the answer is a number; got {type(answer).__name__}"
        value = expected()
        if not math.isclose(number, value, rel_tol=relative, abs_tol=1e-9):
            return f"{number:g} is {'too high' if number > value else 'too low'}"
        return None
    return checker


def _name(expected: Callable[[], str]) -> Callable[[Any], str | None]:
    def checker(answer: Any) -> str | None:
        return None if answer == expected() else f"{answer!r} is not it"
    return checker


def _function(cases: Callable[[], list[tuple[tuple, Any]]], close: bool = False) -> Callable[[Any], str | None]:
    """A checker calling the learner's function on (arguments, expected result) cases."""
    def checker(answer: Any) -> str | None:
        if not callable(answer):
            return f"the answer is a function; got {type(answer).__name__}"
        for arguments, expected in cases():
            try:
                got = answer(*arguments)
            except Exception as error:  # the learner's code: report any error, do not stop the notebook
                return f"on {_short(arguments)} it raised {type(error).__name__}: {error}"
            if not _same(got, expected, close):
                return f"on {_short(arguments)} it gave {got!r}, expected {expected!r}"
        return None
    return checker


def _same(got: Any, expected: Any, close: bool) -> bool:
    """Equal, or for `close` equal within rounding (numbers, or lists of numbers)."""
    if not close:
        return type(got) is type(expected) and got == expected if isinstance(expected, list) else got == expected
    if isinstance(expected, list):
        try:
            return len(got) == len(expected) and all(_same(g, e, True) for g, e in zip(got, expected))
        except TypeError:
            return False
    try:
        return math.isclose(float(got), expected, rel_tol=1e-6, abs_tol=1e-9)
    except (TypeError, ValueError):
        return False


def _short(arguments: tuple) -> str:
    text = ", ".join(repr(a) for a in arguments)
    return text if len(text) <= 120 else text[:117] + "..."


def _model(name: str):
    from tlcourse.assets.models import build_model
    return build_model(name)


def _weights(module) -> int:
    from tlcourse.assets.models import count_parameters
    return count_parameters(module)


def _last_linear(model):
    from torch import nn
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1]


def _first_conv_filters() -> int:
    from torch import nn
    return next(m for m in _model("efficientnet_lite0").modules() if isinstance(m, nn.Conv2d)).out_channels


def _last_map_side() -> int:
    import torch
    with torch.no_grad():
        return _model("efficientnet_lite0").eval().forward_features(torch.zeros(1, 3, 224, 224)).shape[-1]


def _cached_feature_size() -> int:
    import torch

    from tlcourse.assets.models import body_of
    from tlcourse.features import pool
    with torch.no_grad():
        body = body_of(_model("efficientnet_lite0"), "efficientnet_lite0").eval()
        return pool(body(torch.zeros(1, 3, 64, 64))).shape[-1]


def _offline_model_count() -> int:
    from tlcourse.assets.models import model_names
    return len(model_names(offline_only=True))


def _head_only_weights() -> int:
    from tlcourse.train import transfer_model
    return _weights(_last_linear(transfer_model("efficientnet_lite0", 5)))


def _head_fraction() -> float:
    model = _model("efficientnet_lite2")
    return _weights(_last_linear(model)) / _weights(model)


def _rows(name: str, prefix: str, **fields: str) -> int:
    """How many manifest rows of `name` have a file starting with `prefix` and these fields."""
    from tlcourse.assets.prepare import read_manifest
    return sum(row["file"].startswith(prefix) and all(row[k] == v for k, v in fields.items())
               for row in read_manifest(name))


def _trainable_fraction_cases():
    from torch import nn
    first, second = nn.Linear(10, 10), nn.Linear(10, 2)
    frozen = nn.Sequential(first, second)
    for p in first.parameters():
        p.requires_grad_(False)
    all_frozen = nn.Sequential(nn.Linear(3, 3))
    all_frozen.requires_grad_(False)
    return [((frozen,), 22 / 132), ((nn.Sequential(nn.Linear(4, 4)),), 1.0), ((all_frozen,), 0.0)]


def _swap_head_checker(answer: Any) -> str | None:
    import torch
    if not callable(answer):
        return f"the answer is a function; got {type(answer).__name__}"
    from torch import nn
    model = _model("mobilenet_v2").eval()
    first_conv = next(model.parameters()).detach().clone()
    linear_layers = sum(isinstance(m, nn.Linear) for m in model.modules())
    try:
        swapped = answer(model, 7)
    except Exception as error:
        return f"it raised {type(error).__name__}: {error}"
    if swapped is None:
        return "it returned None: return the model"
    with torch.no_grad():
        out = swapped.eval()(torch.zeros(1, 3, 64, 64))
    if tuple(out.shape) != (1, 7):
        return f"the model now gives {tuple(out.shape)} outputs for one picture, not (1, 7)"
    last = _last_linear(swapped)
    if sum(isinstance(m, nn.Linear) for m in swapped.modules()) != linear_layers or last.in_features != 1280:
        return "replace the last Linear layer (1,280 inputs) instead of adding one"
    if not torch.equal(next(swapped.parameters()), first_conv):
        return "the body's weights changed: only the last Linear layer should be new"
    return None


def _images_needed_cases():
    curve = {40: 0.86, 5: 0.55, 20: 0.80, 10: 0.72}  # in no particular order
    return [((curve, 0.7), 10), ((curve, 0.8), 20), ((curve, 0.5), 5), ((curve, 0.9), None)]


def _pair_agreement_cases():
    return [(([0.1, 0.2, 0.3], [0.5, 0.6, 0.7]), 1.0), (([0.1, 0.2, 0.3], [0.7, 0.6, 0.5]), 0.0),
            (([1, 2, 3], [1, 3, 2]), 2 / 3), (([3, 1, 2, 4], [0.9, 0.2, 0.5, 0.95]), 1.0)]


def _fewest_weights_model() -> str:
    from tlcourse.assets.models import model_names
    return min(model_names(offline_only=True), key=lambda name: _weights(_model(name)))


def _specialised_weights() -> int:
    return _weights(_model("mobilenet_v2").features[-4:])


def _standardise_checker(answer: Any) -> str | None:
    import numpy as np
    if not callable(answer):
        return f"the answer is a function; got {type(answer).__name__}"
    rows = np.random.default_rng(0).normal([3.0, -2.0, 10.0], [1.0, 5.0, 0.1], size=(200, 3))
    try:
        got = np.asarray(answer(rows), dtype=float)
    except Exception as error:
        return f"it raised {type(error).__name__}: {error}"
    if got.shape != rows.shape:
        return f"it gave shape {got.shape}, expected {rows.shape}"
    if not (np.allclose(got.mean(axis=0), 0, atol=1e-6) and np.allclose(got.std(axis=0), 1, atol=1e-2)):
        return "each column should have mean 0 and standard deviation 1 afterwards"
    return None


def _nmi_by_hand() -> float:
    """NMI (arithmetic mean of the entropies) of the exercise's clustering, from the entropies themselves."""
    labels, clusters = [0, 0, 1, 1, 2, 2], [1, 1, 0, 0, 0, 0]
    n = len(labels)

    def entropy(values):
        return -sum(values.count(v) / n * math.log(values.count(v) / n) for v in set(values))
    joint = list(zip(labels, clusters))
    mutual = entropy(labels) + entropy(clusters) - entropy(joint)
    return mutual / ((entropy(labels) + entropy(clusters)) / 2)


def _purity_cases():
    return [(([0, 0, 1, 1], ["a", "a", "b", "b"]), 1.0), (([0, 0, 0, 0], ["a", "a", "b", "b"]), 0.5),
            (([0, 0, 0, 1, 1, 1], ["a", "a", "b", "b", "b", "b"]), 5 / 6)]


def _auc_checker(answer: Any) -> str | None:
    from sklearn.metrics import roc_auc_score
    rng = random.Random(0)
    cases = [([0.1, 0.2], [0.3, 0.4]), ([0.5, 0.2], [0.5, 0.1]),
             ([rng.random() for _ in range(30)], [rng.random() + 0.3 for _ in range(20)])]
    for good, defects in cases:
        expected = roc_auc_score([0] * len(good) + [1] * len(defects), good + defects)
        message = _function(lambda: [((good, defects), expected)], close=True)(answer)
        if message:
            return message
    return None


def _iou_cases():
    return [(((0, 0, 10, 10), (0, 0, 10, 10)), 1.0), (((0, 0, 10, 10), (5, 0, 15, 10)), 50 / 150),
            (((0, 0, 10, 10), (20, 20, 30, 30)), 0.0), (((0, 0, 4, 4), (1, 1, 3, 3)), 4 / 16)]


def _valid_boxes() -> int:
    import csv

    from tlcourse.data import dataset_path
    with open(dataset_path("workbench") / "boxes.csv", newline="") as handle:
        return sum(row["split"] == "valid" for row in csv.DictReader(handle))


def _rates_cases():
    return [((1e-2, 3), [1e-2 / 2.6 ** 2, 1e-2 / 2.6, 1e-2]), ((4e-3, 1), [4e-3])]


def _jaccard_cases():
    return [(({"la", "casa"}, {"la", "casa"}), 1.0), (({"a", "b"}, {"c"}), 0.0),
            (({"el", "gato", "come"}, {"o", "gato", "come"}), 2 / 4)]


def _wer_checker(answer: Any) -> str | None:
    import jiwer
    pairs = [("one two three", "one two three"), ("one two three", "one too three"), ("nine", "nine nine"),
             ("he was not an ill disposed young man", "he was not ill disposed young men")]
    return _function(lambda: [((reference, hypothesis), jiwer.wer(reference, hypothesis))
                              for reference, hypothesis in pairs], close=True)(answer)


def _read_speech_seconds() -> float:
    import wave

    from tlcourse.data import dataset_path
    total = 0.0
    for path in sorted(dataset_path("read_speech").glob("*.wav")):
        with wave.open(str(path)) as clip:
            total += clip.getnframes() / clip.getframerate()
    return total


def _welsh_digit_cases():
    return [(("un dau tri",), [1, 2, 3]), (("naw",), [9]), (("dim pedwar chwech",), [0, 4, 6]), (("",), [])]


def _float32_megabytes() -> float:
    return _weights(_model("efficientnet_lite0")) * 4 / 1e6


def _soften_checker(answer: Any) -> str | None:
    import torch
    if not callable(answer):
        return f"the answer is a function; got {type(answer).__name__}"
    logits = torch.tensor([[2.0, 1.0, 0.1], [0.0, 0.0, 5.0]])
    for temperature in (1.0, 4.0):
        try:
            got = torch.as_tensor(answer(logits, temperature), dtype=torch.float32)
        except Exception as error:
            return f"at temperature {temperature} it raised {type(error).__name__}: {error}"
        expected = torch.softmax(logits / temperature, dim=-1)
        if got.shape != expected.shape or not torch.allclose(got, expected, atol=1e-5):
            return f"at temperature {temperature} it gave {got.tolist()}, expected {expected.tolist()}"
    return None


def _shard_checker(answer: Any) -> str | None:
    if not callable(answer):
        return f"the answer is a function; got {type(answer).__name__}"
    items = list(range(10))
    for world in (1, 2, 3):
        try:
            shards = [list(answer(items, rank, world)) for rank in range(world)]
        except Exception as error:
            return f"with {world} processes it raised {type(error).__name__}: {error}"
        if sorted(i for shard in shards for i in shard) != items:
            return f"with {world} processes the shards {shards} do not cover each item exactly once"
        if max(map(len, shards)) - min(map(len, shards)) > 1:
            return f"with {world} processes the shards {shards} are not balanced"
    return None


def _copies_checker(answer: Any) -> str | None:
    import tempfile
    from pathlib import Path
    if not callable(answer):
        return f"the answer is a function; got {type(answer).__name__}"
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "cats").mkdir()
        (folder / "dogs").mkdir()
        for path, data in {"cats/a.jpg": b"one", "cats/b.jpg": b"two", "dogs/c.jpg": b"one", "dogs/d.jpg": b"three",
                           "dogs/e.jpg": b"three", "cats/f.jpg": b"four"}.items():
            (folder / path).write_bytes(data)
        try:
            groups = answer(folder)
        except Exception as error:
            return f"it raised {type(error).__name__}: {error}"
        got = sorted(sorted(Path(p).relative_to(folder).as_posix() if Path(p).is_absolute() else str(p)
                            for p in group) for group in groups or [])
    expected = [["cats/a.jpg", "dogs/c.jpg"], ["dogs/d.jpg", "dogs/e.jpg"]]
    return None if got == expected else f"it found {got}, expected {expected}"


def _class_counts_cases():
    return [((["cats/1.jpg", "cats/2.jpg", "dogs/3.jpg"],), {"cats": 2, "dogs": 1}), (([],), {})]


EXERCISES: dict[str, Exercise] = {e.key: e for e in [
    Exercise("00.1", "00_setup", "How many pretrained models work offline here?",
             _number(_offline_model_count)),
    Exercise("00.2", "00_setup", "How many training photos of birds does photos5 have? Count the files.",
             _number(lambda: _rows("photos5", "", **{"class": "birds", "split": "train"}))),
    Exercise("01.1", "01_what_is_transfer_learning",
             "Write accuracy(predicted, actual): the fraction of positions where the two lists agree.",
             _function(lambda: [((["a", "b"], ["a", "b"]), 1.0), ((["a", "b", "c", "d"], ["a", "x", "c", "y"]), 0.5),
                                (([1, 2, 3], [3, 2, 1]), 1 / 3)], close=True)),
    Exercise("01.2", "01_what_is_transfer_learning",
             "ImageNet-1k's training split has 1,281,167 photos. How many times as many photos is that as photos5's "
             "training split?", _number(lambda: 1_281_167 / _rows("photos5", "", split="train"), 0.01)),
    Exercise("02.1", "02_inside_a_pretrained_model",
             "How many filters does efficientnet_lite0's first convolution learn?", _number(_first_conv_filters)),
    Exercise("02.2", "02_inside_a_pretrained_model",
             "For a 224 px input, how many pixels wide are the feature maps of efficientnet_lite0's last stage?",
             _number(_last_map_side)),
    Exercise("03.1", "03_freezing_layers",
             "Write trainable_fraction(model): the fraction of the model's weights that training will change.",
             _function(_trainable_fraction_cases, close=True)),
    Exercise("03.2", "03_freezing_layers",
             "Freeze everything in transfer_model('efficientnet_lite0', 5) but its last Linear layer: how many weights "
             "still train?", _number(_head_only_weights)),
    Exercise("04.1", "04_head_swap",
             "What fraction of efficientnet_lite2's weights is its ImageNet head (its last Linear layer)?",
             _number(_head_fraction, 0.01)),
    Exercise("04.2", "04_head_swap",
             "Write swap_head(model, n_classes): replace the model's last Linear layer with a new one with n_classes "
             "outputs (same inputs), and return the model.", _swap_head_checker),
    Exercise("05.1", "05_feature_extraction_vs_fine_tuning",
             "How many numbers does the feature cache keep per image for efficientnet_lite0 (its body's last "
             "channels, average- and max-pooled, side by side)?", _number(_cached_feature_size)),
    Exercise("05.2", "05_feature_extraction_vs_fine_tuning",
             "Stored as float32 (4 bytes each), how many megabytes (millions of bytes) do those features take for all "
             "of photos5's training photos?",
             _number(lambda: _cached_feature_size() * 4 * _rows("photos5", "", split="train") / 1e6, 0.01)),
    Exercise("06.1", "06_the_advantages_measured",
             "Write error_reduction(before, after): the fraction of the errors at accuracy `before` that accuracy "
             "`after` removes.", _function(lambda: [((0.5, 0.75), 0.5), ((0.8, 0.9), 0.5), ((0.9, 0.9), 0.0),
                                                     ((0.6, 0.5), -0.25)], close=True)),
    Exercise("06.2", "06_the_advantages_measured",
             "Write images_needed(curve, target): the smallest number of images per class (a key of the dict `curve`, "
             "images per class -> accuracy) whose accuracy reaches `target`; None if none does.",
             _function(_images_needed_cases)),
    Exercise("07.1", "07_choosing_a_model",
             "Write pair_agreement(estimates, accuracies): the fraction of pairs of models that both lists put in the "
             "same order.", _function(_pair_agreement_cases, close=True)),
    Exercise("07.2", "07_choosing_a_model", "Which offline model has the fewest weights? (its name)",
             _name(_fewest_weights_model)),
    Exercise("08.1", "08_negative_transfer",
             "Write transfer_gain(transferred, scratch): the median of the transferred runs' accuracies minus the "
             "median of the scratch runs' (negative: negative transfer).",
             _function(lambda: [(([0.8, 0.9, 0.7], [0.6, 0.5, 0.7]), 0.2), (([0.4, 0.5], [0.6, 0.7]), -0.2),
                                 (([0.9, 0.5, 0.4], [0.5, 0.5, 0.5]), 0.0)], close=True)),
    Exercise("08.2", "08_negative_transfer",
             "How many weights are in mobilenet_v2's last four feature blocks (`features[-4:]`), its most specialised "
             "layers?", _number(_specialised_weights)),
    Exercise("09.1", "09_transductive_transfer",
             "Write standardise(rows): each column of a 2-D array centred on 0 and scaled to standard deviation 1 "
             "(what 'standardise per domain' does to each domain).", _standardise_checker),
    Exercise("09.2", "09_transductive_transfer",
             "Scored over all of clipart5's drawings, how many accuracy points is one drawing worth?",
             _number(lambda: 100 / _rows("clipart5", ""), 0.01)),
    Exercise("10.1", "10_unsupervised_transfer",
             "Labels [0, 0, 1, 1, 2, 2], clusters [1, 1, 0, 0, 0, 0]: what is their NMI (scikit-learn's "
             "normalized_mutual_info_score)?", _number(_nmi_by_hand)),
    Exercise("10.2", "10_unsupervised_transfer",
             "Write purity(clusters, labels): the fraction of items whose label is the most common label of their "
             "cluster.", _function(_purity_cases, close=True)),
    Exercise("12.1", "12_quality_control",
             "How many cells of class defective (not probably_defective) are in solar_cells' training split?",
             _number(lambda: _rows("solar_cells", "", **{"class": "defective", "split": "train"}))),
    Exercise("12.2", "12_quality_control",
             "Write anomaly_auc(good_scores, defect_scores): the chance that a random defective cell scores higher "
             "than a random good one (a tie counts half).", _auc_checker),
    Exercise("13.1", "13_object_detection",
             "Write iou(a, b) for boxes (x0, y0, x1, y1): the area of their overlap over the area of their union.",
             _function(_iou_cases, close=True)),
    Exercise("13.2", "13_object_detection", "How many objects (boxes) are there in workbench's valid scenes?",
             _number(_valid_boxes)),
    Exercise("14.1", "14_sentiment_fine_tuning",
             "How many positive sentences does the tweets domain of sentiment have (both splits)?",
             _number(lambda: _rows("sentiment", "tweets/", **{"class": "positive"}))),
    Exercise("14.2", "14_sentiment_fine_tuning",
             "Write layer_rates(top, groups): ULMFiT's learning rates for `groups` layer groups, lowest group first, "
             "each 2.6 times lower than the one above it, the top one `top`.", _function(_rates_cases, close=True)),
    Exercise("15.1", "15_translation_low_resource", "How many Galician message pairs are in the training split?",
             _number(lambda: _rows("translation", "", **{"class": "gl", "split": "train"}))),
    Exercise("15.2", "15_translation_low_resource",
             "Write shared_fraction(a, b): the share of two vocabularies (sets) that both have, over all their words "
             "(Jaccard).", _function(_jaccard_cases, close=True)),
    Exercise("16.1", "16_speech_accents_and_languages",
             "Write word_error_rate(reference, hypothesis): word substitutions, deletions and insertions, over the "
             "reference's number of words.", _wer_checker),
    Exercise("16.2", "16_speech_accents_and_languages",
             "How many seconds of speech are the five read_speech recordings, in all?",
             _number(_read_speech_seconds, 0.01)),
    Exercise("16.3", "16_speech_fine_tuning", "How many Welsh clips does spoken_digits train on?",
             _number(lambda: _rows("spoken_digits", "welsh/", split="train"))),
    Exercise("16.4", "16_speech_fine_tuning",
             "Write welsh_digits(text): the digits a Welsh transcript names, in order (dim=0, un=1, ..., naw=9).",
             _function(_welsh_digit_cases)),
    Exercise("17.1", "17_smaller_and_faster",
             "How many megabytes (millions of bytes) do efficientnet_lite0's weights take as float32?",
             _number(_float32_megabytes, 0.01)),
    Exercise("17.2", "17_smaller_and_faster",
             "Write soften(logits, temperature): the probabilities distillation trains on, softmax(logits / "
             "temperature) over the last axis.", _soften_checker),
    Exercise("18.1", "18_scaling_out",
             "Write shard(items, rank, world_size): the items process `rank` of `world_size` works on, so that the "
             "processes share the items evenly and each item is seen once.", _shard_checker),
    Exercise("18.2", "18_scaling_out",
             "A run used learning rate 0.001 with a batch of 32 on one process. With 4 processes of 32 each, what "
             "learning rate keeps the linear scaling rule?", _number(lambda: 0.001 * 4)),
    Exercise("19.1", "19_your_own_photos",
             "Write find_copies(folder): the groups (lists of paths) of files below `folder` with identical bytes, "
             "two or more per group.", _copies_checker),
    Exercise("19.2", "19_your_own_photos",
             "Write class_counts(paths): for paths like 'cats/1.jpg', the number of photos per class (the folder).",
             _function(_class_counts_cases)),
]}


def check(key: str, answer: Any = ...) -> bool:
    """Say whether `answer` is right for exercise `key` ("04.2"); `...` means not answered yet. Never raises on a
    wrong answer: it prints what is wrong and returns False."""
    exercise = EXERCISES.get(key)
    if exercise is None:
        raise KeyError(f"No exercise {key!r}: choose one of {', '.join(EXERCISES)}.")
    if answer is ...:
        print(f"{key}: not answered yet. {exercise.question}")
        return False
    try:
        wrong = exercise.checker(answer)
    except Exception as error:  # an answer of a shape no checker expects: say so, do not stop the notebook
        wrong = f"checking it raised {type(error).__name__}: {error}"
    if wrong:
        print(f"{key}: not yet: {wrong}. (Our answer: solutions/{exercise.lesson}.py)")
        return False
    print(f"{key}: right.")
    return True
