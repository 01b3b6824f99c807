"""Our answers to lesson 02's checked exercises (`tlcourse.exercises.check`)."""

from tlcourse.assets.models import build_model


def first_filters() -> int:
    """02.1: the output channels of the stem, the first convolution (timm calls it conv_stem)."""
    return build_model("efficientnet_lite0").conv_stem.out_channels


def last_map_side() -> int:
    """02.2: each stage halves the side or keeps it; timm records by how much each stage has shrunk the input."""
    reduction = build_model("efficientnet_lite0").feature_info[-1]["reduction"]  # 32
    return 224 // reduction


ANSWERS = {"02.1": first_filters, "02.2": last_map_side}
