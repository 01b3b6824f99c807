import numpy as np
import pytest
from PIL import Image

from tlcourse.data import DataError, image_dataloaders, split_images, take_per_class


def _flips(dls) -> bool:
    """Whether the training batches may be mirrored: fastai merges flip, rotate and zoom into one transform."""
    from fastai.vision.augment import flip_mat
    return any(getattr(f, "func", f) is flip_mat for t in dls.after_batch.fs for f in getattr(t, "aff_fs", []))


def _photo(path, mode="RGB", size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = (np.random.default_rng(0).random((size[1], size[0], 3)) * 255).astype("uint8")
    image = Image.fromarray(pixels)
    if mode == "I;16":
        image = Image.fromarray((np.asarray(image.convert("L")).astype("uint16") * 256))
    elif mode != "RGB":
        image = image.convert(mode)
    image.save(path)


def test_wrong_path_says_what_to_pass(tmp_path):
    with pytest.raises(DataError, match="not a folder.*photos5"):
        image_dataloaders(tmp_path / "nope", 64, 4)


def test_empty_folder_shows_the_expected_layout(tmp_path):
    with pytest.raises(DataError, match="No images found.*one sub-folder of images per class"):
        split_images(tmp_path)


def test_one_class_is_not_a_classification(tmp_path):
    for i in range(4):
        _photo(tmp_path / "cats" / f"{i}.png")
    with pytest.raises(DataError, match="Only one class"):
        split_images(tmp_path)


def test_a_class_with_a_single_image_is_named(tmp_path):
    _photo(tmp_path / "cats" / "0.png")
    _photo(tmp_path / "dogs" / "0.png")
    _photo(tmp_path / "dogs" / "1.png")
    with pytest.raises(DataError, match="'cats'.*1 image"):
        split_images(tmp_path)


def test_corrupt_image_is_listed_with_the_fix(tmp_path):
    for label in ("cats", "dogs"):
        for i in range(3):
            _photo(tmp_path / label / f"{i}.png")
    (tmp_path / "dogs" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(DataError, match="(?s)delete or re-save.*broken.jpg"):
        split_images(tmp_path)


def test_odd_images_still_make_rgb_batches(tmp_path):
    modes = ["RGB", "L", "P", "RGBA", "I;16", "CMYK"]
    for label in ("a", "b"):
        for i, mode in enumerate(modes):
            _photo(tmp_path / label / f"{i}.{'jpg' if mode == 'CMYK' else 'png'}", mode, size=(3 + i * 20, 7 + i))
    dls = image_dataloaders(tmp_path, 32, 4, device="cpu")
    x, y = dls.one_batch()
    assert x.shape[1:] == (3, 32, 32) and len(dls.vocab) == 2
    assert _flips(dls)  # a folder of your own gets the default policy


def test_digits_are_never_mirrored_while_photos_may_be():
    digits = image_dataloaders("digits", 28, 8, images_per_class=2, domain="mnist", device="cpu")
    photos = image_dataloaders("photos5", 32, 8, images_per_class=2, device="cpu")
    assert not _flips(digits) and _flips(photos)
    assert any(getattr(t, "aff_fs", None) for t in digits.after_batch.fs)  # still rotated and zoomed
    assert not _flips(image_dataloaders("photos5", 32, 8, images_per_class=2, augment=False, device="cpu"))


def test_images_per_class_is_seeded_and_exact():
    split = split_images(image_dataloaders.__globals__["resolve_folder"]("photos5"))
    first = take_per_class(split.train, 10, seed=1)
    assert first == take_per_class(split.train, 10, seed=1) != take_per_class(split.train, 10, seed=2)
    assert len(first) == 50
    with pytest.raises(DataError, match="at least 1"):
        take_per_class(split.train, 0)


def test_photos5_loaders_keep_the_fixed_validation_set():
    dls = image_dataloaders("photos5", 64, 8, images_per_class=10, seed=3, device="cpu")
    assert len(dls.train_ds) == 50 and len(dls.valid_ds) == 40
    assert list(dls.vocab) == ["birds", "flowers", "fruit", "mammals", "vegetables"]


def test_a_domain_must_be_chosen_for_digits():
    with pytest.raises(DataError, match="mnist, opencv"):
        image_dataloaders("digits", 28, 8)


def test_classes_keeps_only_the_named_classes_and_names_the_ones_there_are():
    dls = image_dataloaders("solar_cells", 32, 4, images_per_class=3, valid_per_class=2,
                            classes=("functional", "defective"), device="cpu")
    assert list(dls.vocab) == ["defective", "functional"] and len(dls.train_ds) == 6 and len(dls.valid_ds) == 4
    with pytest.raises(DataError, match="No class cracked .* it has defective, functional"):
        image_dataloaders("solar_cells", 32, 4, classes=("cracked",), device="cpu")
