"""The capstone app without a browser: uploads, bad input, training and a prediction (tests/test_app_browser.py
drives the same app in a real browser)."""
import io

import numpy as np
import pytest
from PIL import Image

from tlcourse import app
from tlcourse.data import dataset_path
from tlcourse.errors import DataError


def _photos(label: str, n: int, start: int = 0) -> list[tuple[str, bytes]]:
    files = sorted((dataset_path("photos5") / "train" / label).iterdir())[start:start + n]
    return [(f.name, f.read_bytes()) for f in files]


def _png(size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((*size, 3), np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def photo_app():
    made = app.PhotoApp(settings=app.AppSettings(epochs=2))
    yield made
    made.close()
    assert not made.store.folder.exists()


def test_bad_uploads_become_messages_and_good_ones_are_kept(photo_app):
    messages = photo_app.add_photos(0, [("notes.txt", b"not a photo"), ("a.png", _png()),
                                        ("huge.jpg", b"\xff" * int((app.MAX_PHOTO_MB + 1) * 1e6))])
    assert len(photo_app.store.photos[0]) == 1
    assert any("notes.txt: not an image" in m for m in messages) and any("huge.jpg: 21 MB" in m for m in messages)
    assert "huge.jpg" in photo_app.status.value and "<script" not in photo_app.status.value
    many = photo_app.add_photos(1, [(f"{i}.png", _png()) for i in range(1000)])
    assert len(photo_app.store.photos[1]) == app.MAX_PHOTOS_PER_CLASS and "kept a sample of 100" in many[0]
    assert "color:#b00020" not in photo_app.status.value  # a note, not a problem
    big = Image.fromarray(np.zeros((3000, 4000, 3), np.uint8))
    buffer = io.BytesIO()
    big.save(buffer, "JPEG")
    photo_app.add_photos(0, [("phone.jpg", buffer.getvalue())])
    assert max(photo_app.store.photos[0][-1].size) == app.MAX_SIDE  # shrunk as it arrives


def test_training_is_refused_with_a_message_until_there_are_two_classes(photo_app):
    assert photo_app.train() is None and "at least two classes" in photo_app.status.value
    photo_app.add_photos(0, _photos("birds", 3))
    assert photo_app.train() is None and "at least two classes" in photo_app.status.value
    photo_app.add_photos(1, [("one.png", _png())])
    assert photo_app.train() is None and "at least 2 photos" in photo_app.status.value
    for bad in ("../../etc", "valid", ""):
        photo_app.names[1].value = bad
        assert photo_app.train() is None and "Class name" in photo_app.status.value
    photo_app.names[0].value, photo_app.names[1].value = "Cats", "cats"
    assert photo_app.train() is None and "same name" in photo_app.status.value
    with pytest.raises(DataError, match="Train the model first"):
        photo_app.predict_photo("a.png", _png())


def test_the_app_trains_on_uploads_and_names_a_new_photo(photo_app):
    photo_app.names[0].value, photo_app.names[1].value = "birds", "fruit"
    photo_app.add_photos(0, _photos("birds", 8))
    photo_app.add_photos(1, _photos("fruit", 8))
    result = photo_app.train()
    assert result is not None and "accuracy on held-out photos" in photo_app.status.value
    assert photo_app.progress.value == photo_app.progress.max and not photo_app.try_upload.disabled
    assert sorted(result.learner.dls.vocab) == ["birds", "fruit"]
    answer = photo_app.predict_photo(*_photos("fruit", 1, start=12)[0])
    assert answer.split(" (")[0] in ("birds", "fruit") and answer.endswith("%)")
