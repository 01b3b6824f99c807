"""The repository itself: clean notebooks, listed in the README, with every lesson's parts; pins agree."""

import json
import re
from pathlib import Path

import yaml

from tlcourse.course import lessons

ROOT = Path(__file__).resolve().parents[1]


def _pins(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def test_notebooks_are_committed_without_outputs():
    for notebook in lessons():
        cells = json.loads(notebook.read_text())["cells"]
        dirty = [c for c in cells if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
        assert not dirty, f"{notebook.name} has outputs: clear them before committing"


def test_readme_lesson_table_lists_every_notebook_in_order():
    listed = re.findall(r"^\|\s*\[?`?(\d\d_[a-z0-9_]+)", (ROOT / "README.md").read_text(), flags=re.M)
    assert listed == [n.stem for n in lessons()]


def test_every_lesson_has_badge_banner_assert_summary_and_exercises():
    for notebook in lessons():
        text = notebook.read_text()
        for part in ("colab-badge.svg", f"notebooks/{notebook.name}", "tlcourse.banner()", "assert ",
                     "## Summary", "## Exercises", "report_claim("):
            assert part in text, f"{notebook.name} lacks {part!r}"


def test_environment_yml_pins_what_requirements_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip == _pins(ROOT / "requirements.txt")


def test_every_pin_is_exact_and_agrees_with_the_constraints():
    constraints = {line.split("==")[0].lower().replace("_", "-"): line for line in _pins(ROOT / "constraints.txt")}
    for pin in _pins(ROOT / "requirements.txt"):
        name, _, version = pin.partition("==")
        assert version, f"{pin} is not pinned exactly"
        assert constraints[name.lower()] == pin
    assert all("==" in pin for pin in _pins(ROOT / "requirements-weights.txt"))


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()
