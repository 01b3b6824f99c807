"""Tests run in the smoke profile and never reach for a model hub."""

import os

os.environ.setdefault("TLCOURSE_PROFILE", "smoke")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _share_the_cores() -> None:
    """Under pytest-xdist (`make test` runs one worker per core) each worker, and the lesson kernels it starts,
    gets an equal share of the cores. The course's small models gain little from a second thread on a CPU
    (two lessons side by side with one thread each finished in 56 s, one after the other with two in 85 s).
    A setting of your own wins."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))


_share_the_cores()  # before torch is imported: it reads OMP_NUM_THREADS once

import tlcourse  # noqa: E402,F401  (first, so torch's threads wait passively in the tests too)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def small_trained_model():
    """MobileNetV2 fine-tuned for 2 epochs on 3 photos per class at 64 px (CPU): one model for every unit test
    that needs a trained one (predicting, distilling, exporting), trained once per worker."""
    from tlcourse.data import image_dataloaders
    from tlcourse.train import fine_tune
    dls = image_dataloaders("photos5", 64, 4, images_per_class=3, seed=0, device="cpu")
    return fine_tune(dls, "mobilenet_v2", epochs=2, freeze_epochs=1)


@pytest.fixture(scope="session")
def _unit_test_feature_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("feature_cache")


@pytest.fixture(autouse=True)
def _feature_cache_of_the_unit_tests(_unit_test_feature_cache, monkeypatch):
    """Unit tests keep their features apart from the course's cache (the lessons' kernels use the real one)."""
    monkeypatch.setenv("TLCOURSE_CACHE", str(_unit_test_feature_cache))


def pytest_collection_modifyitems(items):
    """Lessons first, the later (longer) ones first, then the unit tests: with one worker per core the long
    lessons start early and the short tests fill the gaps at the end."""
    def order(item):
        number = item.path.name[:2]
        return (0, -int(number) if number.isdigit() else 0) if item.path.suffix == ".ipynb" else (1, 0)
    items.sort(key=order)  # stable: cells and tests keep their order within a file


@pytest.fixture
def needs_debian():
    """`needs_debian("espeak-ng")` skips the test, with the reason, where that Debian package's file is not in the
    data folder's downloads: it is needed only to build data/ (`make data` fetches it; a laptop set up from a
    workshop kit has the prepared data instead). A program (espeak-ng) needs a machine that runs it, too."""
    from tlcourse.assets import debian_archive

    def check(package: str) -> None:
        if not debian_archive.is_fetched(package):
            pytest.skip(f"needs the Debian package file of {package} (only to build the data; `make data` fetches it)")
        if debian_archive.get_package(package).archive_path.endswith("_amd64.deb") and not debian_archive.can_run_programs():
            pytest.skip(f"{package} runs on Linux (x86-64, glibc 2.34 or newer) only")
    return check
