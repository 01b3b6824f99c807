"""The course's errors: one small family, each message naming the fix.

Every error the course raises on purpose is a `TlcourseError`, so a learner can catch them all at once:

    try:
        dls = image_dataloaders("my_photos", 224, 16)
    except TlcourseError as error:
        print(error)  # e.g. "No images found in my_photos: put one sub-folder of images per class there, ..."

Each one also keeps the built-in class it used to be (`DataError` is a `ValueError`, `MissingAsset` a
`RuntimeError`, ...), so older `except ValueError:` code still catches it.
"""

from __future__ import annotations


class TlcourseError(Exception):
    """Base of the course's errors: catch this to catch any of them."""


class DataError(TlcourseError, ValueError):
    """The images or sentences are not usable as they are; the message says how to fix them."""


class MissingAsset(TlcourseError, RuntimeError):
    """A model, data set or tool is not installed or cannot be fetched; the message names the fix."""


class DownloadError(TlcourseError, RuntimeError):
    """A file could not be fetched; the message says which, from where, and what to do instead."""


class TextError(TlcourseError, ValueError):
    """Text that cannot be encoded as given; the message says which lines and what to do."""
