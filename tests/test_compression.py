import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tlcourse.data import resolve_folder, split_images, take_per_class
from tlcourse.compression import export_learner, export_onnx, onnx_runner, quantise_onnx, state_dict_mb, torch_runner
from tlcourse.cost import interleaved_latency_ms
from tlcourse.distillation import distil, soft_cross_entropy, soft_targets
from tlcourse.features import loader_images, unaugmented
from tlcourse.predict import predict

SIZE = 64


@pytest.fixture(scope="module")
def trained(small_trained_model):
    return small_trained_model  # trained at SIZE


@pytest.fixture(scope="module")
def images(trained):
    x, y = loader_images(unaugmented(trained.learner.dls, "valid"))
    return x.contiguous().numpy(), y


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    return export_onnx(trained.learner.model, tmp_path_factory.mktemp("onnx") / "model.onnx", SIZE)


def test_distillation_loss_is_hintons_soft_cross_entropy():
    logits, teacher = torch.randn(6, 5), torch.randn(6, 5)
    targets = F.softmax(teacher / 3, dim=1)
    by_hand = -(targets * F.log_softmax(logits / 3, dim=1)).sum(1).mean() * 9
    assert soft_cross_entropy(logits, targets, temperature=3) == pytest.approx(by_hand.item())
    labels = torch.tensor([0, 1, 2, 3, 4, 0])
    assert soft_cross_entropy(logits, F.one_hot(labels, 5).float(), temperature=1) == pytest.approx(
        F.cross_entropy(logits, labels).item())


def test_soft_targets_are_the_teachers_probabilities_softened(trained):
    files = [path for path, _ in trained.learner.dls.valid_ds.items]
    sharp, soft = soft_targets(trained, files, temperature=1), soft_targets(trained, files, temperature=4)
    assert torch.allclose(sharp.sum(1), torch.ones(len(files)), atol=1e-5)
    assert [trained.learner.dls.vocab[i] for i in sharp.argmax(1)] == [p.label for p in predict(trained, files)]
    assert torch.equal(sharp.argmax(1), soft.argmax(1)) and soft.max(1).values.mean() < sharp.max(1).values.mean()


def test_a_distilled_student_is_validated_on_the_true_labels_and_keeps_its_class_names(trained, tmp_path):
    split = split_images(resolve_folder("photos5"), check=False)
    labelled = take_per_class(split.train, 2, seed=0)
    unlabelled = [path for path, _ in split.train[:6]]
    result = distil(trained, "mobilenet_v2", labelled, unlabelled, split.valid, SIZE, 4, epochs=2, freeze_epochs=1)
    assert result.train_images == len(labelled) + len(unlabelled) and len(result.history) == 2
    predictions = predict(result, [path for path, _ in split.valid])
    truth = [label for _, label in split.valid]
    assert np.mean([p.label == t for p, t in zip(predictions, truth)]) == pytest.approx(result.accuracy)
    from fastai.learner import load_learner
    reloaded = load_learner(export_learner(result, tmp_path / "student.pkl"))
    assert list(reloaded.dls.vocab) == list(trained.learner.dls.vocab)
    assert predict(reloaded, split.valid[0][0]).probabilities == pytest.approx(predictions[0].probabilities, abs=1e-5)


def test_the_onnx_export_predicts_what_pytorch_does(trained, images, exported):
    x, _ = images
    expected = torch_runner(trained.learner.model)(x)
    assert np.abs(onnx_runner(exported, threads=1)(x) - expected).max() < 1e-3


def test_int8_quantisation_shrinks_the_file_and_keeps_the_classes(trained, images, exported):
    x, _ = images
    quantised = quantise_onnx(exported, exported.with_name("model_int8.onnx"), x[:16])
    assert exported.stat().st_size / quantised.stat().st_size > 3
    assert abs(state_dict_mb(trained.learner.model) - exported.stat().st_size / 1e6) < 0.5  # same float weights
    float_logits, int8_logits = onnx_runner(exported, 1)(x), onnx_runner(quantised, 1)(x)
    assert int8_logits.shape == float_logits.shape == (len(x), len(trained.learner.dls.vocab))
    assert np.corrcoef(float_logits.ravel(), int8_logits.ravel())[0, 1] > 0.9  # rounding, not a new model (0.96 here)


def test_an_exported_learner_loads_back_and_predicts_the_same(trained, tmp_path):
    from fastai.learner import load_learner

    from tlcourse.errors import DataError
    path = export_learner(trained, tmp_path / "model.pkl")
    files = [path for path, _ in trained.learner.dls.valid_ds.items][:5]
    reloaded = load_learner(path)
    def flat(predictions):
        return [value for p in predictions for value in p.probabilities.values()]
    assert flat(predict(reloaded, files)) == pytest.approx(flat(predict(trained, files)), abs=1e-5)
    with pytest.raises(DataError, match="exists already"):
        export_learner(trained, path)


def test_latencies_are_medians_of_interleaved_timings():
    images = np.zeros((4, 3, 8, 8), np.float32)
    seen = []
    def slow(x):
        seen.append("slow")
        time.sleep(0.004 * len(x) ** 0.5)
        return np.zeros((len(x), 2))
    def fast(x):
        seen.append("fast")
        return np.zeros((len(x), 2))
    measured = interleaved_latency_ms({"fast": (fast, images), "slow": (slow, images)}, batches=(1, 16), repeats=3)
    assert measured["fast"][1] < 1 and 4 <= measured["slow"][1] < 40 and measured["slow"][16] >= 16
    assert seen[4:10] == ["fast", "slow"] * 3  # after the warm-ups, in turns


def test_a_missing_onnx_package_names_the_install_command(monkeypatch):
    import sys

    from tlcourse.compression import _require
    from tlcourse.errors import MissingAsset
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    with pytest.raises(MissingAsset, match="make install"):
        _require("onnxruntime")
