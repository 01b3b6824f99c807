"""Every lesson has at least two checked exercises; our answer to each (in solutions/) passes its check, a wrong one
fails it, and each lesson's notebook asks them."""

import importlib.util
import json
from pathlib import Path

import pytest

from tlcourse.exercises import EXERCISES, check

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted(path.stem for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _solutions(lesson: str):
    spec = importlib.util.spec_from_file_location(f"solution_{lesson}", ROOT / "solutions" / f"{lesson}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wrong(answer):
    if callable(answer):
        return lambda *arguments, **options: None
    return answer * 1.5 + 1 if isinstance(answer, (int, float)) else "not the answer"


def test_every_lesson_asks_at_least_two_checked_exercises_in_its_notebook():
    assert {e.lesson for e in EXERCISES.values()} == set(LESSONS)
    for lesson in LESSONS:
        keys = [key for key, e in EXERCISES.items() if e.lesson == lesson]
        cells = json.loads((ROOT / "notebooks" / f"{lesson}.ipynb").read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        assert len(keys) >= 2 and all(f'check("{key}", ' in code for key in keys), (lesson, keys)
        assert set(_solutions(lesson).ANSWERS) == set(keys), lesson


@pytest.mark.parametrize("lesson", LESSONS)
def test_our_answers_pass_their_checks_and_wrong_ones_fail(lesson, capsys):
    for key, answer in _solutions(lesson).ANSWERS.items():
        ours = answer()
        assert EXERCISES[key].checker(ours) is None, (key, EXERCISES[key].checker(ours))
        assert EXERCISES[key].checker(_wrong(ours)) is not None, key


def test_check_says_right_not_yet_or_not_answered_and_never_raises_on_an_answer(capsys):
    assert check("18.2", 0.004) and "18.2: right." in capsys.readouterr().out
    assert not check("18.2", 0.002) and "too low" in capsys.readouterr().out
    assert not check("13.1", lambda a, b: 1 / 0) and "ZeroDivisionError" in capsys.readouterr().out
    assert not check("13.1") and "not answered yet" in capsys.readouterr().out
    with pytest.raises(KeyError, match="choose one of 00.1"):
        check("99.9", 1)
