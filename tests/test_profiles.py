import pytest

from tlcourse import profiles


def test_default_profile_follows_the_device(monkeypatch):
    monkeypatch.delenv("TLCOURSE_PROFILE", raising=False)
    monkeypatch.setattr(profiles, "detect_device", lambda: "cpu")
    assert profiles.active_profile().name == "cpu"
    monkeypatch.setattr(profiles, "detect_device", lambda: "cuda")
    assert profiles.active_profile().name == "full"


def test_unknown_profile_names_the_choices(monkeypatch):
    monkeypatch.setenv("TLCOURSE_PROFILE", "huge")
    with pytest.raises(ValueError, match="smoke, cpu, full"):
        profiles.active_profile()


def test_profiles_grow_from_smoke_to_full():
    smoke, cpu, full = (profiles.PROFILES[n] for n in ("smoke", "cpu", "full"))
    assert smoke.image_size <= cpu.image_size <= full.image_size
    assert len(smoke.seeds) <= len(cpu.seeds) <= len(full.seeds)


def test_bad_thread_count_is_explained(monkeypatch):
    monkeypatch.setenv("TLCOURSE_THREADS", "many")
    with pytest.raises(ValueError, match="whole number"):
        profiles.threads()


def test_banner_names_profile_device_network_and_seed(capsys):
    line = profiles.banner(seed=3)
    assert "profile smoke" in line and "device " in line and "seed 3 " in line
    assert ("offline" in line) or ("online" in line)
    assert line in capsys.readouterr().out


def test_base_seed_shifts_every_profiles_seeds_and_is_in_the_banner(monkeypatch, capsys):
    monkeypatch.setenv("TLCOURSE_SEED", "100")
    assert profiles.active_profile().seeds == tuple(s + 100 for s in profiles.PROFILES["smoke"].seeds)
    assert "seed 100 (seeds 100, 101)" in profiles.banner()
    monkeypatch.setenv("TLCOURSE_SEED", "-3")
    with pytest.raises(ValueError, match="whole number"):
        profiles.active_profile()


def test_one_thread_inside_the_block_and_the_old_count_after_it_even_on_error():
    import torch

    from tlcourse.profiles import one_thread
    torch.set_num_threads(2)
    try:
        with one_thread():
            assert torch.get_num_threads() == 1
            raise KeyError("inside")
    except KeyError:
        pass
    assert torch.get_num_threads() == 2
