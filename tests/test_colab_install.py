"""Colab, imitated: a fresh virtual environment that already has another torch/torchvision pair (as a Colab runtime
has), then the notebooks' own install commands (their Colab cell's pip lines, without the git clone). torch must stay
as it was, and lesson 00 must run there.

It downloads that other torch (a CUDA build, about 4 GB) and the newest releases the package's loose requirements
allow, as Colab would: `make colab-check` runs it; `make test` skips it, saying so.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COLAB_LIKE = ("torch==2.9.1", "torchvision==0.24.1")  # another pair than requirements.txt's, with its own torchvision
WHAT_COLAB_HAS = ("ipykernel", "nbclient")  # a Colab runtime runs notebooks, so it has a kernel

pytestmark = pytest.mark.skipif(not os.environ.get("TLCOURSE_COLAB_CHECK"),
                                reason="the Colab imitation installs another torch (about 4 GB): `make colab-check`")


def colab_install_commands(notebook: Path) -> list[str]:
    """The shell lines of a notebook's Colab cell, minus the git clone, run on this checkout instead of /content's."""
    cell = next(c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code")
    lines = [line.strip()[1:] for line in cell["source"] if line.strip().startswith("!")]
    return [line.replace("/content/tlcourse", str(ROOT)) for line in lines if "git clone" not in line]


def _run(command: list[str], environment: dict, timeout: int) -> str:
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (command, done.stdout[-3000:], done.stderr[-3000:])
    return done.stdout


def test_the_colab_cell_keeps_colab_s_torch_and_lesson_00_runs(tmp_path):
    venv = tmp_path / "colab"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    environment = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(venv)}
    python = str(venv / "bin" / "python")
    _run([python, "-m", "pip", "install", "-q", *COLAB_LIKE, *WHAT_COLAB_HAS], environment, timeout=1800)
    versions = "import torch, torchvision; print(torch.__version__, torchvision.__version__, torch.__file__)"
    before = _run([python, "-c", versions], environment, timeout=300)

    commands = colab_install_commands(ROOT / "notebooks" / "00_setup.ipynb")
    assert commands and all(re.match(r"pip -q install", c) for c in commands), commands
    for command in commands:
        _run(["bash", "-c", command], environment, timeout=1800)
    assert _run([python, "-c", versions], environment, timeout=300) == before  # torch was not reinstalled

    lesson = tmp_path / "00_setup.ipynb"
    lesson.write_text((ROOT / "notebooks" / "00_setup.ipynb").read_text())
    kernel_only_from_the_environment = {"JUPYTER_DATA_DIR": str(tmp_path / "jupyter"), "JUPYTER_PATH": ""}
    _run([str(venv / "bin" / "jupyter-execute"), "--timeout=600", str(lesson)],
         {**environment, **kernel_only_from_the_environment, "HF_HUB_OFFLINE": "1", "TLCOURSE_PROFILE": "smoke"},
         timeout=900)
