"""Lesson 17 (`17_smaller_and_faster`): from a big fine-tuned model to a small, fast one. A student distilled from
the big teacher, exported to ONNX and quantised to 8-bit integers; each step measured for accuracy, size on disk
and CPU latency."""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from tlcourse.assets.models import get_model_spec
from tlcourse.profiles import Profile, active_profile

TEACHER, STUDENT = "efficientnet_lite2", "mobilenet_v2"
LATENCY_BATCHES = (1, 32)
CALIBRATION_BATCH = 8  # the int8 ranges of the activations come from every training image, in batches of this size


@dataclass
class Variant:
    """One way to ship the model: how it runs, how big it is, how well it classifies the validation images."""

    name: str
    run: Callable[[np.ndarray], np.ndarray] = field(repr=False)  # normalised images (N, 3, H, W) -> logits
    images: np.ndarray = field(repr=False)  # the validation images, normalised as this model expects
    labels: np.ndarray = field(repr=False)
    size_mb: float  # the file you would ship
    parameters_m: float | None = None

    @functools.cached_property
    def accuracy(self) -> float:
        """On the validation images, computed once (the table, the figure and the claim all read it)."""
        return float((self.run(self.images).argmax(axis=1) == self.labels).mean())


@dataclass
class Deployment:
    """Lesson 17's measurements: accuracies per seed of the three trainings, and the variants of the first seed."""

    per_seed: list[dict[str, float]]  # teacher, student (labels only), student (distilled)
    agreement: list[dict[str, float]]  # per seed, per student: share of validation images given the teacher's class
    variants: list[Variant]
    latency_ms: dict[str, dict[int, float]]  # variant -> batch size -> median milliseconds
    threads: int
    folder: Path  # where the ONNX files are
    trained: dict = field(default_factory=dict, repr=False)  # the first seed's training Results, by name

    def accuracy(self, training: str) -> float:
        """Mean accuracy over seeds of one training: 'teacher', 'student (labels only)' or 'student (distilled)'."""
        return statistics.mean(run[training] for run in self.per_seed)

    def agrees(self, student: str) -> float:
        """Mean over seeds of the share of validation images where `student` picked the teacher's class."""
        return statistics.mean(run[student] for run in self.agreement)

    def variant(self, name: str) -> Variant:
        return next(v for v in self.variants if v.name == name)

    def speed_up(self, name: str, batch: int = 32) -> float:
        """How many times faster than the teacher `name` classifies a batch."""
        return self.latency_ms[self.variants[0].name][batch] / self.latency_ms[name][batch]

    def shrink(self, name: str) -> float:
        """How many times smaller than the teacher's file `name`'s file is."""
        return self.variants[0].size_mb / self.variant(name).size_mb

    def table(self):
        import pandas as pd
        rows = [{"variant": v.name, "accuracy": round(v.accuracy, 3), "size (MB)": round(v.size_mb, 2),
                 "params (M)": v.parameters_m,
                 **{f"ms, batch {b}": round(self.latency_ms[v.name][b], 1) for b in LATENCY_BATCHES},
                 "x faster (batch 32)": round(self.speed_up(v.name), 1), "x smaller": round(self.shrink(v.name), 1)}
                for v in self.variants]
        return pd.DataFrame(rows).set_index("variant")


def _require(module: str):
    """Import one of the ONNX packages, or say how to install it."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError as error:
        from tlcourse.errors import MissingAsset
        raise MissingAsset(f"{module} is not installed: run `make install`, or `pip install -r requirements.txt` "
                           f"(it pins onnx, onnxruntime and onnxscript).") from error


def export_learner(trained, path: Path) -> Path:
    """The Python route: fastai's `export` pickles the whole Learner (model, preprocessing, class names) for
    `load_learner`; refuses to overwrite a file."""
    from tlcourse.errors import DataError
    from tlcourse.predict import learner_of
    path = Path(path)
    if path.exists():
        raise DataError(f"{path} exists already: pass a new file name (nothing was overwritten).")
    learner_of(trained).export(path)
    return path


def state_dict_mb(model: torch.nn.Module) -> float:
    """Size of the model's weights saved with torch.save, in MB."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes / 1e6


def export_onnx(model: torch.nn.Module, path: Path, image_size: int) -> Path:
    """The model in ONNX (torch's exporter), one file, any batch size: input 'images', output 'logits'."""
    _require("onnxscript")  # torch's exporter needs it
    plain = copy.deepcopy(model).eval().cpu().to(memory_format=torch.contiguous_format)
    example = torch.zeros(1, 3, image_size, image_size)
    with contextlib.redirect_stdout(io.StringIO()):  # the exporter narrates each of its steps
        torch.onnx.export(plain, (example,), str(path), input_names=["images"], output_names=["logits"],
                          dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True, external_data=False)
    return path


def quantise_onnx(path: Path, quantised: Path, calibration: np.ndarray) -> Path:
    """Static int8 quantisation with ONNX Runtime: weights per channel, activation ranges from `calibration`
    images (normalised like the model's inputs)."""
    _require("onnxruntime")
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Batches(CalibrationDataReader):
        def __init__(self):
            starts = range(0, max(1, len(calibration) - CALIBRATION_BATCH + 1), CALIBRATION_BATCH)
            self.batches = iter([{"images": calibration[i:i + CALIBRATION_BATCH]} for i in starts])

        def get_next(self):
            return next(self.batches, None)

    prepared = quantised.with_name(quantised.stem + ".prepared.onnx")
    quant_pre_process(str(path), str(prepared), skip_symbolic_shape=True)
    quantize_static(str(prepared), str(quantised), Batches(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    prepared.unlink()
    return quantised


def onnx_runner(path: Path, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    """An ONNX Runtime session on the CPU with `threads` threads, as a function from images to logits."""
    onnxruntime = _require("onnxruntime")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda images: session.run(None, {"images": np.ascontiguousarray(images, dtype=np.float32)})[0]


def torch_runner(model: torch.nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    """The PyTorch model on the CPU (channels-last, as the course trains it) as a function from images to logits."""
    from tlcourse.train import channels_last
    model = channels_last(model.eval().cpu())

    def run(images: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
            return model(x.contiguous(memory_format=torch.channels_last)).numpy()
    return run


def _validation(dls) -> tuple[np.ndarray, np.ndarray]:
    from tlcourse.features import loader_images, unaugmented
    images, labels = loader_images(unaugmented(dls, "valid"))
    return images.contiguous().numpy(), labels


def smaller_and_faster(dataset: str = "photos5", teacher: str = TEACHER, student: str = STUDENT,
                       labelled_per_class: int = 10, folder: Path | None = None,
                       profile: Profile | None = None) -> Deployment:
    """Per seed: fine-tune the teacher and the student on `labelled_per_class` labelled images, and distil the
    student from the teacher on every training image (the rest unlabelled). Then the first seed's models as
    deployable variants: PyTorch teacher and students, the distilled student in ONNX, and in ONNX int8
    (calibrated on every training image). ONNX files go to `folder` (default: a new temporary folder)."""
    from tlcourse.assets.models import count_parameters
    from tlcourse.cost import interleaved_latency_ms
    from tlcourse.data import augmentation_of, image_dataloaders, resolve_folder, split_images, take_per_class
    from tlcourse.distillation import distil
    from tlcourse.predict import predict
    from tlcourse.train import fine_tune
    profile = profile or active_profile()
    size, epochs = profile.image_size, profile.epochs
    freeze_epochs = epochs * 2 // 3
    split = split_images(resolve_folder(dataset), check=False)
    per_seed, agreement, first = [], [], None
    for seed in profile.seeds[:profile.sweep_seeds]:
        labelled = take_per_class(split.train, labelled_per_class, seed)
        labelled_files = {path for path, _ in labelled}
        unlabelled = [path for path, _ in split.train if path not in labelled_files]
        dls = {name: image_dataloaders(dataset, size, profile.batch_size, labelled_per_class, seed=seed,
                                       stats=get_model_spec(name).stats) for name in (teacher, student)}
        trained = {"teacher": fine_tune(dls[teacher], teacher, epochs, freeze_epochs, seed=seed),
                   "student (labels only)": fine_tune(dls[student], student, epochs, freeze_epochs, seed=seed)}
        trained["student (distilled)"] = distil(trained["teacher"], student, labelled, unlabelled, split.valid, size,
                                                profile.batch_size, epochs, freeze_epochs, seed,
                                                augmentation_of(dataset))
        per_seed.append({name: result.accuracy for name, result in trained.items()})
        answers = {name: [p.label for p in predict(result, [path for path, _ in split.valid])]
                   for name, result in trained.items()}
        agreement.append({name: float(np.mean([a == t for a, t in zip(answers[name], answers["teacher"])]))
                          for name in trained if name != "teacher"})
        print(f"seed {seed}: " + ", ".join(f"{name} {accuracy:.2f}" for name, accuracy in per_seed[-1].items())
              + f" ({len(labelled)} labelled, {len(unlabelled)} unlabelled for distillation)")
        first = first or (trained, dls)
    trained, dls = first
    threads = torch.get_num_threads()
    folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="tlcourse-deploy-"))
    folder.mkdir(parents=True, exist_ok=True)
    teacher_images, labels = _validation(dls[teacher])
    student_images, _ = _validation(dls[student])
    models = {name: result.learner.model for name, result in trained.items()}
    variants = [Variant(f"{name}, PyTorch", torch_runner(model),
                        teacher_images if name == "teacher" else student_images, labels, state_dict_mb(model),
                        round(count_parameters(model) / 1e6, 2))
                for name, model in models.items()]
    onnx_file = export_onnx(models["student (distilled)"], folder / f"{student}_distilled.onnx", size)
    calibration = calibration_images(dataset, size, profile.batch_size, student)
    int8_file = quantise_onnx(onnx_file, folder / f"{student}_distilled_int8.onnx", calibration)
    for name, path in (("student (distilled), ONNX", onnx_file), ("student (distilled), ONNX int8", int8_file)):
        variants.append(Variant(name, onnx_runner(path, threads), student_images, labels, path.stat().st_size / 1e6,
                                variants[-1].parameters_m))
    latency = interleaved_latency_ms({v.name: (v.run, v.images) for v in variants}, LATENCY_BATCHES)
    return Deployment(per_seed, agreement, variants, latency, threads, folder, trained)


def calibration_images(dataset: str, image_size: int, batch_size: int, model: str) -> np.ndarray:
    """Every training image (no labels needed), normalised for `model`, without augmentation."""
    from tlcourse.data import image_dataloaders
    from tlcourse.features import loader_images, unaugmented
    dls = image_dataloaders(dataset, image_size, batch_size, stats=get_model_spec(model).stats)
    images, _ = loader_images(unaugmented(dls, "train"))
    return images.contiguous().numpy()
