import pytest
import torch

from tlcourse.assets.models import build_model, body_of
from tlcourse.data import image_dataloaders
from tlcourse.features import cached_head, extract_features, linear_probe, pool, stage_activations
from tlcourse.train import make_learner


@pytest.fixture(scope="module")
def dls():
    return image_dataloaders("photos5", 64, 4, images_per_class=3, seed=0, augment=False, device="cpu")


def test_every_body_has_five_stages_of_shrinking_resolution():
    body = body_of(build_model("mobilenet_v2", pretrained=False), "mobilenet_v2").eval()
    x, sizes = torch.zeros(1, 3, 128, 128), []
    for stage in body:
        x = stage(x)
        sizes.append(x.shape[-1])
    assert sizes == [64, 32, 16, 8, 4]


def test_freeze_to_k_freezes_exactly_the_first_k_stages(dls):
    learn = make_learner(dls, "mobilenet_v2")
    learn.freeze_to(2)
    frozen = [all(not p.requires_grad for p in stage.parameters()) for stage in learn.model[0]]
    assert frozen == [True, True, False, False, False]


def test_features_match_the_body_and_fastai_pooling(dls):
    features = extract_features(dls, "efficientnet_lite0")
    assert features.train.shape == (15, 2 * 1280) and features.valid.shape == (40, 2 * 1280)
    x, _ = dls.valid.one_batch()
    body = body_of(build_model("efficientnet_lite0"), "efficientnet_lite0").eval()
    with torch.no_grad():
        expected = pool(body(x))
    # the features are computed in channels-last layout, whose convolutions round differently (about 1e-5 here)
    assert torch.allclose(features.valid[:len(x)], expected, rtol=1e-4, atol=1e-4)


def test_cached_head_and_probe_learn_from_features(dls):
    features = extract_features(dls, "efficientnet_lite0")
    result = cached_head(features, epochs=10)
    assert len(result.history) == 10 and result.accuracy > 0.4  # chance is 0.2
    assert linear_probe(features) > 0.4


def test_stage_activations_shrink_with_depth():
    from PIL import Image
    from skimage import data
    outputs = stage_activations("mobilenet_v2", Image.fromarray(data.chelsea()))
    assert [o.shape[-1] for _, o in outputs] == [112, 56, 28, 14, 7]


def test_features_are_the_same_in_every_pass_and_with_or_without_augmentation(dls, monkeypatch):
    monkeypatch.setenv("TLCOURSE_CACHE", "off")  # two real passes
    augmented = image_dataloaders("photos5", 64, 4, images_per_class=3, seed=0, augment=True, device="cpu")
    first, second = extract_features(augmented, "mobilenet_v2"), extract_features(augmented, "mobilenet_v2")
    plain = extract_features(dls, "mobilenet_v2")
    assert torch.equal(first.train, second.train) and torch.equal(first.train, plain.train)
    assert torch.equal(first.valid, plain.valid)


def test_a_cached_head_trains_when_there_are_fewer_images_than_a_batch():
    few = image_dataloaders("photos5", 64, 8, images_per_class=1, seed=0, augment=False, device="cpu")
    features = extract_features(few, "mobilenet_v2")
    assert len(features.train) == 5
    head = torch.nn.Linear(features.train.shape[1], features.n_classes)
    before = head.weight.detach().clone()
    cached_head(features, epochs=2, head=head)
    assert not torch.equal(before, head.weight.detach())
