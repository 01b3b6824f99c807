"""The package makes torch's OpenMP threads wait passively (no spinning), as OpenMP itself reports it, and
gives numpy's BLAS one thread.

OpenMP prints its settings at start-up when OMP_DISPLAY_ENV=VERBOSE; a passive wait shows as a spin
count of 0 (the default policy spins 300,000 times before sleeping). threadpoolctl reports BLAS threads.
"""

import os
import subprocess
import sys
from pathlib import Path

PASSIVE = "GOMP_SPINCOUNT = '0'"


def _environment(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS")}
    return {**env, "OMP_DISPLAY_ENV": "VERBOSE", **extra}


def _python(code: str, **extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=_environment(**extra), capture_output=True, text=True,
                          check=True)


def test_importing_tlcourse_first_makes_openmp_passive():
    assert PASSIVE in _python("import tlcourse, torch").stderr


def test_without_tlcourse_openmp_spins():  # the control: the check above can tell the difference
    assert "GOMP_SPINCOUNT = '300000'" in _python("import torch").stderr


def test_a_learners_own_setting_wins():
    assert "GOMP_SPINCOUNT = '30000000000'" in _python("import tlcourse, torch", OMP_WAIT_POLICY="ACTIVE").stderr


def test_torch_imported_first_is_warned_about_once_with_the_fix():
    warned = _python("import torch, tlcourse, importlib; importlib.reload(tlcourse)").stderr
    assert warned.count("torch was imported before tlcourse") == 1 and "import tlcourse` first" in warned
    assert "imported before" not in _python("import tlcourse, torch").stderr


BLAS_THREADS = ("; import threadpoolctl; print(sorted({i['num_threads'] for i in threadpoolctl.threadpool_info() "
                "if i['user_api'] == 'blas'}))")


def test_importing_tlcourse_gives_blas_one_thread_even_after_numpy():
    assert _python("import tlcourse, numpy, scipy.linalg" + BLAS_THREADS).stdout.strip() == "[1]"
    assert _python("import numpy, scipy.linalg, tlcourse" + BLAS_THREADS).stdout.strip() == "[1]"


def test_without_tlcourse_blas_has_a_thread_per_core():  # the control; OpenBLAS also reads OMP_NUM_THREADS,
    env = {k: v for k, v in _environment().items() if k != "OMP_NUM_THREADS"}  # which `make test` sets per worker
    threads = subprocess.run([sys.executable, "-c", "import numpy" + BLAS_THREADS], env=env, capture_output=True,
                             text=True, check=True).stdout.strip()
    assert threads == f"[{os.cpu_count()}]" or os.cpu_count() == 1, threads


def test_a_learners_own_blas_setting_wins():  # OpenBLAS caps it at the number of cores
    threads = _python("import tlcourse, numpy" + BLAS_THREADS, OPENBLAS_NUM_THREADS="2").stdout.strip()
    assert threads == f"[{min(2, os.cpu_count())}]"


def test_a_fresh_notebook_kernel_is_passive(tmp_path):
    """What a lesson's kernel sees (started as nbval and `make course` start it): its first cell imports tlcourse."""
    from jupyter_client.manager import start_new_kernel
    log = tmp_path / "kernel.err"
    with log.open("w") as stderr:
        manager, client = start_new_kernel(kernel_name="python3", env=_environment(), stderr=stderr,
                                           cwd=str(Path(__file__).parent))
        try:
            reply = client.execute_interactive("import tlcourse\nimport torch\ntorch.ones(2) + 1", timeout=120)
            assert reply["content"]["status"] == "ok"
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    assert PASSIVE in log.read_text()
