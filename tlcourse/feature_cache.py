"""The feature cache: frozen-body features kept on disk, so no lesson and no second run computes them twice.

An entry's key is a checksum of everything the features depend on: the body's architecture and weights
(BatchNorm statistics included), the images (file contents and labels, or the tensors themselves), the
transforms (image size, crop, normalisation), the device and torch's version. Change any of them and the
key changes, so a stale entry is never served. Entries live in `<data folder>/cache/features`;
TLCOURSE_CACHE=off turns the cache off, TLCOURSE_CACHE=<folder> puts it elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import torch

CACHE_VARIABLE = "TLCOURSE_CACHE"


def cache_folder() -> Path | None:
    """Where entries are kept, or None when TLCOURSE_CACHE=off."""
    from tlcourse.assets.datasets import data_root
    setting = os.environ.get(CACHE_VARIABLE, "").strip()
    if setting.lower() in ("off", "0", "no", "false"):
        return None
    if setting and setting.lower() not in ("on", "1", "yes", "true"):
        return Path(setting).expanduser()
    return data_root() / "cache" / "features"


def describe_cache() -> str:
    """One line for the banner: where the cache is and how big, or that it is off."""
    folder = cache_folder()
    if folder is None:
        return f"feature cache off ({CACHE_VARIABLE}=off)"
    entries = list(folder.glob("*.pt")) if folder.exists() else []
    megabytes = sum(entry.stat().st_size for entry in entries) / 1e6
    return f"feature cache {len(entries)} entries, {megabytes:.0f} MB"


def _hash_tensor(digest, tensor: torch.Tensor) -> None:
    tensor = tensor.detach().cpu().contiguous()
    digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
    digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())


def module_checksum(module: torch.nn.Module) -> str:
    """Checksum of a network's architecture and every parameter and buffer (BatchNorm statistics too)."""
    digest = hashlib.sha256(repr(module).encode())
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        _hash_tensor(digest, tensor)
    return digest.hexdigest()


def loader_checksum(loader) -> str:
    """Checksum of what a loader feeds the body: a fastai loader's files (contents), labels and transforms, or,
    for a list of (images, labels) batches, the tensors themselves."""
    from tlcourse.assets.network import sha256_of
    digest = hashlib.sha256()
    if isinstance(loader, (list, tuple)):
        for x, y in loader:
            _hash_tensor(digest, x)
            _hash_tensor(digest, y)
        return digest.hexdigest()
    for item in loader.dataset.items:
        path, label = item if isinstance(item, tuple) else (item, "")
        digest.update(f"{label}\0".encode())
        digest.update(sha256_of(Path(path)).encode())
    for pipeline in (loader.dataset.tfms, loader.after_item, loader.before_batch, loader.after_batch):
        digest.update(repr(pipeline).encode())
    for transform in loader.after_batch.fs:  # the printed statistics are rounded: hash the exact values
        for value in (getattr(transform, "mean", None), getattr(transform, "std", None)):
            if isinstance(value, torch.Tensor):
                _hash_tensor(digest, value)
    return digest.hexdigest()


def entry_path(key: dict) -> Path | None:
    """The file that holds (or would hold) the entry for `key`; None with the cache off."""
    folder = cache_folder()
    if folder is None:
        return None
    name = hashlib.sha256(json.dumps({**key, "torch": str(torch.__version__)}, sort_keys=True).encode()).hexdigest()
    return folder / f"{name[:32]}.pt"


def cached(key: dict, compute: Callable[[], dict]) -> dict:
    """The entry for `key` (a dict of strings and numbers), or `compute()`'s dict of tensors and numbers,
    stored under that key first. With the cache off, always `compute()`."""
    path = entry_path(key)
    if path is None:
        return compute()
    key = {**key, "torch": str(torch.__version__)}
    if path.exists():
        try:
            entry = torch.load(path, weights_only=True)
            if entry.get("key") == key:
                return entry["value"]
        except Exception:  # noqa: BLE001  a damaged entry fails in many ways; it is computed again below
            pass  # (tests count the body's runs, so an entry that never loads would not go unnoticed)
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    torch.save({"key": key, "value": value}, partial)
    os.replace(partial, path)  # readers see a whole entry or none
    return value
