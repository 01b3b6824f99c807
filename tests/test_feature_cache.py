import shutil

import pytest
import torch
from PIL import Image

from tlcourse import feature_cache, features
from tlcourse.data import image_dataloaders
from tlcourse.features import extract_stage_features, frozen_body


@pytest.fixture
def counted(monkeypatch):
    """Counts how often the body really runs."""
    calls = []
    compute = features._compute_stage_outputs

    def counting(body, loader):
        calls.append(1)
        return compute(body, loader)
    monkeypatch.setattr(features, "_compute_stage_outputs", counting)
    return calls


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(feature_cache.CACHE_VARIABLE, str(tmp_path / "cache"))
    return tmp_path / "cache"


def loaders(source, size=32):
    return image_dataloaders(source, size, 4, images_per_class=3, seed=0, augment=False, device="cpu")


def test_cached_features_are_bit_identical_to_fresh_ones_and_keep_the_bodys_seconds(cache, counted, monkeypatch):
    dls = loaders("photos5")
    first = extract_stage_features(dls, "efficientnet_lite0", stages=3)
    again = extract_stage_features(dls, "efficientnet_lite0", stages=3)
    assert len(counted) == 2 and len(list(cache.glob("*.pt"))) == 2  # train and valid, computed once
    monkeypatch.setenv(feature_cache.CACHE_VARIABLE, "off")
    fresh = extract_stage_features(dls, "efficientnet_lite0", stages=3)
    assert len(counted) == 4
    for cached_set, fresh_set, first_set in zip(again, fresh, first):
        for split in ("train", "train_labels", "valid", "valid_labels"):
            assert torch.equal(getattr(cached_set, split), getattr(fresh_set, split))
        assert cached_set.seconds == first_set.seconds > 0


def test_other_weights_stages_sizes_or_statistics_are_computed_again(cache, counted):
    dls = loaders("photos5")
    extract_stage_features(dls, "efficientnet_lite0", stages=2)
    calls = len(counted)
    extract_stage_features(dls, "efficientnet_lite0", stages=3)
    extract_stage_features(dls, "efficientnet_lite0", stages=2, pretrained=False)
    extract_stage_features(loaders("photos5", size=48), "efficientnet_lite0", stages=2)
    body = frozen_body("efficientnet_lite0")
    batchnorm = next(m for m in body[0].modules() if isinstance(m, torch.nn.BatchNorm2d))
    batchnorm.running_mean += 0.1  # new BatchNorm statistics, as AdaBN makes: new features
    extract_stage_features(dls, "efficientnet_lite0", stages=2, body=body)
    assert len(counted) == calls + 4 * 2


def test_an_edited_image_is_never_served_from_the_cache(cache, counted, tmp_path):
    from tlcourse.data import dataset_path
    folder = tmp_path / "mine"
    for label in ("birds", "fruit"):
        (folder / label).mkdir(parents=True)
        for image in sorted((dataset_path("photos5") / "train" / label).iterdir())[:4]:
            shutil.copy(image, folder / label / image.name)
    before = extract_stage_features(loaders(folder), "efficientnet_lite0", stages=2)
    edited = next(iter(sorted((folder / "birds").iterdir())))
    Image.open(edited).convert("RGB").rotate(90).save(edited)
    calls = len(counted)
    after = extract_stage_features(loaders(folder), "efficientnet_lite0", stages=2)
    assert len(counted) == calls + 1  # the split holding the edited image; the other one is unchanged
    assert not torch.equal(torch.cat([before[-1].train, before[-1].valid]), torch.cat([after[-1].train, after[-1].valid]))


def test_off_writes_nothing_and_a_damaged_entry_is_computed_again(cache, counted, monkeypatch):
    dls = loaders("photos5")
    monkeypatch.setenv(feature_cache.CACHE_VARIABLE, "off")
    extract_stage_features(dls, "efficientnet_lite0", stages=2)
    assert not cache.exists() and "off" in feature_cache.describe_cache()
    monkeypatch.setenv(feature_cache.CACHE_VARIABLE, str(cache))
    good = extract_stage_features(dls, "efficientnet_lite0", stages=2)
    for entry in cache.glob("*.pt"):
        entry.write_bytes(b"half an entry")
    calls = len(counted)
    again = extract_stage_features(dls, "efficientnet_lite0", stages=2)
    assert len(counted) == calls + 2 and torch.equal(good[-1].train, again[-1].train)
    assert "2 entries" in feature_cache.describe_cache()


def test_sentence_vectors_are_cached_per_exact_sentences(cache):
    from tlcourse.assets.text_models import load_text_encoder
    encoder = load_text_encoder()
    sentences = ["a lovely little camera", "the battery died after a day"]
    first = encoder.encode(sentences)
    assert len(list(cache.glob("*.pt"))) == 1
    assert torch.equal(encoder.encode(sentences), first) and len(list(cache.glob("*.pt"))) == 1
    changed = encoder.encode([sentences[0], sentences[1] + "!"])
    assert len(list(cache.glob("*.pt"))) == 2 and torch.allclose(changed[0], first[0], atol=1e-5)
    assert not torch.equal(changed[1], first[1])
