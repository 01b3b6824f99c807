import pytest

from tlcourse.distributed import GLOBAL_BATCH, launch

TINY = dict(images_per_class=3, image_size=64, epochs=3)


def test_two_processes_share_each_batch_and_agree_on_the_accuracy():
    run, = launch(2, **TINY)
    assert run.processes == 2 and run.per_process_batch == GLOBAL_BATCH // 2
    assert run.copies_agree  # gradients averaged every step: both copies end with the same weights
    assert 0 <= run.accuracy <= 1 and run.epochs_done == 3


def test_a_stopped_run_resumes_exactly_where_an_uninterrupted_one_ends(tmp_path):
    whole, = launch(1, checkpoints=tmp_path / "whole", **TINY)
    stopped, = launch(1, checkpoints=tmp_path / "cut", stop_after=2, **TINY)
    assert stopped.stopped and stopped.accuracy is None and stopped.epochs_done == 2
    resumed, = launch(1, checkpoints=tmp_path / "cut", resume=True, **TINY)
    assert resumed.weights_fingerprint == whole.weights_fingerprint
    assert resumed.accuracy == whole.accuracy


def test_bad_settings_fail_fast_with_the_reason():
    with pytest.raises(ValueError, match="cannot share a batch of 8 images evenly"):
        launch(3, **TINY)
    for processes in (1, 2):
        with pytest.raises(RuntimeError, match=f"{processes}-process run failed.*no_such_data"):
            launch(processes, dataset="no_such_data", **TINY)
    with pytest.raises(ValueError, match="need a `checkpoints` folder"):
        launch(1, stop_after=2, **TINY)
    with pytest.raises(ValueError, match="does not know epoch"):
        launch(1, epoch=2)
    with pytest.raises(ValueError, match="one seed"):
        launch(1, seeds=(0, 1), checkpoints="anywhere", **TINY)


def test_a_run_past_its_time_limit_is_stopped_with_the_reason():
    with pytest.raises(RuntimeError, match="did not finish within 1 s"):
        launch(2, timeout=1, **TINY)


def test_a_resume_with_other_settings_is_refused(tmp_path):
    launch(1, checkpoints=tmp_path, stop_after=1, **TINY)
    with pytest.raises(RuntimeError, match="belong to another run.*epochs 3 -> 4"):
        launch(1, checkpoints=tmp_path, resume=True, **{**TINY, "epochs": 4})


def test_features_split_across_two_processes_equal_one_process_and_are_cached_once(tmp_path, monkeypatch):
    import torch

    from tlcourse.distributed import extract_features_split, launch_features
    split = launch_features(2, cpu=True, images_per_class=5, cache=tmp_path / "cache")
    assert split.processes == 2 and split.per_process == [25, 25] and split.every_image_once
    assert split.cache_entries_written == 1 and len(list((tmp_path / "cache").glob("*.pt"))) == 1
    monkeypatch.setenv("TLCOURSE_CACHE", "off")
    summary = extract_features_split(images_per_class=5, output=tmp_path / "alone.pt", cpu=True)
    assert summary["per_process"] == [50] and summary["cache_entries_written"] == 0
    assert float((split.features - torch.load(tmp_path / "alone.pt")).abs().max()) <= 1e-5  # 0 measured
