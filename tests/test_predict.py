import pytest
from PIL import Image

from tlcourse.errors import DataError
from tlcourse.features import cached_head, extract_features
from tlcourse.predict import Prediction, predict, prediction_table


@pytest.fixture(scope="module")
def trained(small_trained_model):
    return small_trained_model


def _valid_files(result):
    return [path for path, _ in result.learner.dls.valid_ds.items]


def test_predictions_on_the_validation_files_score_what_training_measured(trained):
    files = _valid_files(trained)
    predictions = predict(trained, files)
    labels = [label for _, label in trained.learner.dls.valid_ds.items]
    assert [p.image for p in predictions] == [str(f) for f in files]
    assert sum(p.label == label for p, label in zip(predictions, labels)) / len(files) == pytest.approx(
        trained.accuracy)
    for p in predictions:
        assert sum(p.probabilities.values()) == pytest.approx(1, abs=1e-5)
        assert p.probability == max(p.probabilities.values()) == p.probabilities[p.label]
    assert set(predictions[0].probabilities) == set(trained.learner.dls.vocab)


def test_one_file_a_pil_image_and_a_folder(trained, tmp_path):
    file = _valid_files(trained)[0]
    one = predict(trained, file)
    assert isinstance(one, Prediction) and one.image == str(file)
    with Image.open(file) as image:
        in_memory = predict(trained, image.convert("RGBA"))  # any mode is read as RGB
    assert in_memory.image == "image 0" and in_memory.probabilities == pytest.approx(one.probabilities, abs=1e-5)
    (tmp_path / "sub").mkdir()
    for index, source in enumerate(_valid_files(trained)[:3]):
        Image.open(source).save(tmp_path / ("sub" if index else ".") / f"photo{index}.jpg")
    table = prediction_table(predict(trained, tmp_path))
    assert list(table.index) == ["photo0.jpg", "sub/photo1.jpg", "sub/photo2.jpg"]  # named from the shared folder


def test_bad_input_gets_an_error_that_names_the_fix(trained, tmp_path):
    with pytest.raises(DataError, match="neither an image file nor a folder"):
        predict(trained, tmp_path / "missing.jpg")
    with pytest.raises(DataError, match="No images in"):
        predict(trained, tmp_path)
    (tmp_path / "broken.jpg").write_bytes(b"not a picture")
    with pytest.raises(DataError, match="(?s)1 file.*broken.jpg"):
        predict(trained, tmp_path)
    with pytest.raises(DataError, match="No images given"):
        predict(trained, [])


def test_a_head_trained_on_cached_features_cannot_predict_images(trained):
    features = extract_features(trained.learner.dls, "mobilenet_v2")
    with pytest.raises(DataError, match="cached features"):
        predict(cached_head(features, epochs=1), _valid_files(trained)[0])
