import shutil

import pytest

from tlcourse.data import dataset_path
from tlcourse.errors import DataError
from tlcourse.own_photos import check_photos, train_photo_classifier


def _copy_class(label: str, target, n: int) -> list:
    (target / label).mkdir(parents=True)
    files = sorted((dataset_path("photos5") / "train" / label).iterdir())[:n]
    for f in files:
        shutil.copy(f, target / label / f.name)
    return sorted((target / label).iterdir())


def test_a_clean_folder_has_no_problems_and_counts_per_class(tmp_path):
    _copy_class("birds", tmp_path, 12)
    _copy_class("fruit", tmp_path, 3)
    check = check_photos(tmp_path)
    assert check.counts == {"birds": 12, "fruit": 3} and check.problems() == []
    assert any("'fruit' has only 3 photos" in note for note in check.advice())
    assert any("three times" in note for note in check.advice())
    assert check.table().loc["birds", "photos"] == 12


def test_copies_unreadable_files_loose_photos_and_tiny_classes_are_each_named(tmp_path):
    birds = _copy_class("birds", tmp_path, 3)
    _copy_class("fruit", tmp_path, 3)
    shutil.copy(birds[0], tmp_path / "fruit" / "copy.jpg")
    (tmp_path / "fruit" / "broken.png").write_bytes(b"\x89PNG not really")
    shutil.copy(birds[1], tmp_path / "loose.jpg")
    (tmp_path / "flowers").mkdir()
    shutil.copy(sorted((dataset_path("photos5") / "train" / "flowers").iterdir())[0], tmp_path / "flowers" / "a.jpg")
    problems = check_photos(tmp_path).problems()
    assert len(problems) == 5, problems
    assert any("copy.jpg is the same photo as" in p and "birds" in p for p in problems)
    assert any("broken.png is not a readable image" in p for p in problems)
    assert any("loose.jpg is not in a class folder" in p for p in problems)
    assert any("'flowers' has 1 photo(s): add at least 1 more" in p for p in problems)
    assert any("loose.jpg is the same photo as" in p for p in problems)  # also a copy of a bird
    with pytest.raises(DataError, match="Fix these first"):
        train_photo_classifier(tmp_path, "efficientnet_lite0", epochs=2)


def test_an_empty_or_missing_folder_says_what_to_put_there(tmp_path):
    with pytest.raises(DataError, match="one sub-folder of photos per class"):
        check_photos(tmp_path)
    with pytest.raises(DataError, match="is not a folder"):
        check_photos(tmp_path / "nowhere")
    _copy_class("birds", tmp_path, 3)
    assert "at least two" in check_photos(tmp_path).problems()[0]


def test_the_course_photos_split_into_train_and_valid_are_counted_per_class():
    check = check_photos("photos5")
    assert check.problems() == [] and set(check.counts) == {"birds", "flowers", "fruit", "mammals", "vegetables"}
    assert sum(check.counts.values()) == 164
