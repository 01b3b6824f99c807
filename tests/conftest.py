"""Tests run in the smoke profile and never reach for a model hub."""

import os

os.environ.setdefault("TLCOURSE_PROFILE", "smoke")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import tlcourse  # noqa: E402,F401  (first, so torch's threads wait passively in the tests too)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def _unit_test_feature_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("feature_cache")


@pytest.fixture(autouse=True)
def _feature_cache_of_the_unit_tests(_unit_test_feature_cache, monkeypatch):
    """Unit tests keep their features apart from the course's cache (the lessons' kernels use the real one)."""
    monkeypatch.setenv("TLCOURSE_CACHE", str(_unit_test_feature_cache))
