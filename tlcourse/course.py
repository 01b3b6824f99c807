"""`make course`: run every lesson in order, save the executed notebooks to build/, build them into a book
(build/book/index.html, see `book`), print a table."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lessons(folder: Path = ROOT / "notebooks") -> list[Path]:
    """The lesson notebooks, in teaching order (NN_topic.ipynb)."""
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


KERNEL_START_SECONDS = 120


def local_kernel(sockets: Path):
    """A kernel manager whose kernel talks over local sockets in the private folder `sockets` (IPC), not TCP
    ports."""
    from jupyter_client.manager import KernelManager
    return KernelManager(kernel_name="python3", transport="ipc", ip=str(sockets / "kernel"))


def kernel_start_error(failure: Exception) -> str:
    """One line saying that the lesson's kernel did not start, why, and what to do."""
    return (f"the Jupyter kernel did not start ({str(failure).strip()[:80]}). Likely causes: the machine is very "
            f"busy, or the course's environment is broken. Fix: close other heavy programs and run it again; if it "
            f"persists, check `.venv/bin/python -m ipykernel --version` and re-run `make course` after deleting .venv.")


def run_lesson(notebook: Path, build: Path) -> dict:
    """Execute one notebook; write build/NN_topic.ipynb; return its table row."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from tlcourse.profiles import active_profile

    report = build / f"{notebook.stem}.json"
    report.unlink(missing_ok=True)
    nb = nbformat.read(notebook, as_version=4)
    sockets = tempfile.TemporaryDirectory(prefix="tlcourse-kernel-")  # removed with everything in it at the end
    kernel = local_kernel(Path(sockets.name))
    client = NotebookClient(nb, km=kernel, timeout=3600, startup_timeout=KERNEL_START_SECONDS,
                            resources={"metadata": {"path": str(notebook.parent)}})
    os.environ["TLCOURSE_REPORT"] = str(report)  # the kernel inherits it
    start = time.perf_counter()
    error = ""
    try:
        client.execute()
    except CellExecutionError as failure:
        error = str(failure).strip().splitlines()[-1][:120]
    except (RuntimeError, TimeoutError) as failure:  # jupyter_client's ways of saying the kernel did not start
        if client.kc is not None and client.kc.is_alive():
            raise
        error = kernel_start_error(failure)
        print(error, flush=True)
    finally:
        del os.environ["TLCOURSE_REPORT"]
        if kernel.has_kernel:  # nbclient leaves a kernel it was handed running
            kernel.shutdown_kernel(now=True)
        sockets.cleanup()
    seconds = time.perf_counter() - start
    nbformat.write(nb, build / notebook.name)
    result = json.loads(report.read_text()) if report.exists() else {}
    return {"lesson": notebook.stem, "profile": active_profile().name, "seconds": round(seconds),
            "key metric": f"{result['metric']} = {round(result['value'], 3)}" if result else "-",
            "claim ok": bool(result.get("ok")) and not error, "error": error, "claim": result.get("claim", "")}


def main() -> int:
    """Run the lessons (all, or those whose names contain the given words) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("only", nargs="*", help="run only lessons whose file name contains one of these")
    parser.add_argument("--build", type=Path, default=ROOT / "build")
    parser.add_argument("--require-gpu", action="store_true",
                        help="stop at once, with one line, when there is no GPU (`make gpu-check`)")
    args = parser.parse_args()
    if args.require_gpu:
        from tlcourse.profiles import detect_device
        if detect_device() == "cpu":
            print("No GPU found: `make gpu-check` runs every lesson in the `full` profile, which would take hours on "
                  "a CPU. Run it where there is a GPU (e.g. Colab), or `make course` here (the `cpu` profile).")
            return 2
    args.build = args.build.resolve()  # the lessons' kernels run in notebooks/, and write their reports here
    args.build.mkdir(parents=True, exist_ok=True)
    rows = []
    for notebook in lessons():
        if args.only and not any(word in notebook.name for word in args.only):
            continue
        print(f"running {notebook.name} ...", flush=True)
        rows.append(run_lesson(notebook, args.build))
    if not rows:
        print(f"No lesson's file name contains {' or '.join(args.only)}: the lessons are "
              f"{', '.join(n.stem for n in lessons())}.")
        return 2
    print(f"\n{'lesson':<36} {'profile':<8} {'seconds':>7}  {'key metric':<34} claim ok")
    for r in rows:
        print(f"{r['lesson']:<36} {r['profile']:<8} {r['seconds']:>7}  {r['key metric']:<34} "
              f"{'yes' if r['claim ok'] else 'NO  ' + r['error']}")
    from tlcourse.book import build_book
    try:
        print(f"\nExecuted notebooks: {args.build}; the book: {build_book(rows, args.build)}")
    except RuntimeError as error:  # the lessons ran; only the book failed
        print(f"\nExecuted notebooks: {args.build}; the book could not be built: {error}")
        return 1
    return 0 if all(r["claim ok"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
