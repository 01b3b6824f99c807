"""The repository itself: clean notebooks, listed in the README, with every lesson's parts; pins agree."""

import ast
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


def test_every_lesson_has_badge_banner_summary_and_exercises():
    for notebook in lessons():
        text = notebook.read_text()
        for part in ("colab-badge.svg", f"notebooks/{notebook.name}", "tlcourse.banner()",
                     "## Summary", "## Exercises"):
            assert part in text, f"{notebook.name} lacks {part!r}"


def _claim_is_asserted(cell: ast.Module) -> bool:
    """Whether the cell's last `report_claim(claim, ok, ...)` is followed by `assert ok` with `ok` not rebound."""
    calls = [node for node in ast.walk(cell) if isinstance(node, ast.Call)
             and getattr(node.func, "id", getattr(node.func, "attr", None)) == "report_claim"]
    call = max(calls, key=lambda node: node.lineno)
    verdict = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "ok"), None)
    if not isinstance(verdict, ast.Name):
        return False
    for statement in (s for s in cell.body if s.lineno > call.end_lineno):
        if isinstance(statement, ast.Assert) and isinstance(statement.test, ast.Name) \
                and statement.test.id == verdict.id:
            return True
        if any(isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id == verdict.id
               for node in ast.walk(statement)):
            return False
    return False


def test_every_lesson_asserts_the_claim_it_reports():
    from IPython.core.inputtransformer2 import TransformerManager  # turns `!cmd` lines into Python
    for notebook in lessons():
        cells = [ast.parse(TransformerManager().transform_cell("".join(cell["source"])))
                 for cell in json.loads(notebook.read_text())["cells"] if cell["cell_type"] == "code"]
        claims = [cell for cell in cells if any(isinstance(node, ast.Call) and getattr(
            node.func, "id", getattr(node.func, "attr", None)) == "report_claim" for node in ast.walk(cell))]
        assert claims, f"{notebook.name} never calls report_claim"
        assert _claim_is_asserted(claims[-1]), \
            f"{notebook.name}: the claim cell must end `report_claim(..., ok, ...)` then `assert ok, ...`"


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


def test_every_lesson_imports_the_module_the_package_map_names():
    import tlcourse
    lesson_map = re.findall(r"^ {4}(\d\d) {2}([a-z_]+(?:, [a-z_]+)*)", tlcourse.__doc__, flags=re.M)
    assert [number for number, _ in lesson_map] == [n.stem[:2] for n in lessons()], \
        "the map in tlcourse/__init__.py lists every lesson notebook, in order"
    for notebook, (_, modules) in zip(lessons(), lesson_map):
        cells = json.loads(notebook.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        for module in modules.split(", "):
            assert re.search(rf"^\s*(from|import) tlcourse\.{module}[ .]", code, flags=re.M), \
                f"{notebook.name} does not import tlcourse.{module}, which the lesson map names"
    package = ROOT / "tlcourse"
    assert not [p for p in package.rglob("*.py") if p.stem in ("utils", "experiments")]
    stale = [p.name for p in package.rglob("*.py")
             if re.search(r"tlcourse\.experiments\b|from tlcourse import .*\bexperiments\b", p.read_text())]
    assert not stale, f"{stale} import tlcourse.experiments, which is split into one module per lesson idea"


def test_a_built_wheel_carries_the_data_manifests(tmp_path):
    """An install that is not a checkout (a wheel) can still prepare the data: the manifests are package data."""
    import shutil
    import subprocess
    import sys
    import zipfile
    source = tmp_path / "source"  # a copy, so the build leaves nothing in the checkout
    shutil.copytree(ROOT / "tlcourse", source / "tlcourse", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "wheels"), str(source)], check=True, capture_output=True, timeout=180)
    names = set(zipfile.ZipFile(next((tmp_path / "wheels").glob("tlcourse-*.whl"))).namelist())
    from tlcourse.assets.datasets import DATASETS, manifest_path
    expected = [manifest_path(name) for name in DATASETS if manifest_path(name).exists()]
    assert len(expected) >= 6
    assert {f"tlcourse/assets/manifests/{path.name}" for path in expected} <= names
    assert "tlcourse/assets/manifests/LICENCES.md" in names
