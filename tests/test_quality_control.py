import pytest
import torch

from tlcourse.features import loader_images, unaugmented
from tlcourse.quality_control import GOOD, cell_dataloaders, patch_distances, patch_features


@pytest.fixture(scope="module")
def good_cells():
    dls = cell_dataloaders(64, 8, labelled_per_class=5, test_per_class=1, classes=(GOOD,), augment=False,
                           device="cpu")
    return loader_images(unaugmented(dls, "train"))[0]


def test_a_cell_in_the_memory_bank_is_at_distance_zero(good_cells):
    maps = patch_features("ImageNet body", good_cells)
    to_itself, to_the_others = patch_distances(maps, maps), patch_distances(maps[1:], maps[:1])
    assert maps.shape[-2:] == (8, 8) and to_itself.max() < 0.02 * to_the_others.mean()  # cdist's rounding
    assert patch_features("raw pixels", good_cells).shape[-2:] == maps.shape[-2:]  # the same grid of patches


@pytest.mark.parametrize("kind", ["ImageNet body", "raw pixels"])
def test_a_dead_region_pasted_on_a_good_cell_is_its_most_anomalous_patch(good_cells, kind):
    bank = patch_features(kind, good_cells[1:])
    damaged = good_cells[:1].clone()
    damaged[..., 24:40, 24:40] = good_cells.min()  # a black square: a region that gives no light
    distances = patch_distances(bank, patch_features(kind, damaged))[0]
    row, column = divmod(int(distances.flatten().argmax()), distances.shape[-1])
    assert 2 <= row <= 5 and 2 <= column <= 5, distances  # the square covers grid cells 3-4


def test_an_unknown_feature_kind_names_the_known_ones(good_cells):
    with pytest.raises(ValueError, match="ImageNet body, random body, raw pixels"):
        patch_features("HOG", good_cells)
