import inspect

import pytest

from tlcourse import errors
from tlcourse.errors import DataError, DownloadError, MissingAsset, TextError, TlcourseError


@pytest.mark.parametrize("error, builtin", [(DataError, ValueError), (MissingAsset, RuntimeError),
                                            (DownloadError, RuntimeError), (TextError, ValueError)])
def test_each_error_is_a_tlcourse_error_and_still_its_old_builtin(error, builtin):
    assert issubclass(error, TlcourseError) and issubclass(error, builtin)


def test_the_family_is_all_in_errors_py():
    defined = {c for _, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == errors.__name__}
    assert defined == {TlcourseError, DataError, MissingAsset, DownloadError, TextError}


def test_old_import_paths_give_the_same_classes():
    from tlcourse.assets.models import MissingAsset as from_models
    from tlcourse.assets.network import DownloadError as from_network
    from tlcourse.assets.text_models import TextError as from_text_models
    from tlcourse.data import DataError as from_data
    assert (from_data, from_models, from_network, from_text_models) == (DataError, MissingAsset, DownloadError,
                                                                        TextError)


def test_a_learner_catches_them_all_at_once(tmp_path):
    from tlcourse.data import split_images
    with pytest.raises(TlcourseError, match="No images found"):
        split_images(tmp_path)
