"""The capstone app in a real browser: Debian's chromium-headless-shell driven by playwright, against the app
served by Voila exactly as `make app` serves it."""
import io
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from tlcourse.data import dataset_path

BROWSER = shutil.which("chromium-headless-shell")
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no chromium-headless-shell: `make test` installs it with "
                                "apt as root; else `sudo apt-get install chromium-headless-shell`")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(address with token, server log) of `python -m tlcourse.app` on a free port."""
    log = tmp_path_factory.mktemp("app") / "server.log"
    port = _free_port()
    with open(log, "w") as output:
        server = subprocess.Popen([sys.executable, "-m", "tlcourse.app", "--port", str(port)], stdout=output,
                                  stderr=subprocess.STDOUT)
    deadline, url = time.time() + 90, None
    while time.time() < deadline and server.poll() is None:
        found = re.search(r"Open (http://\S+) in a browser", log.read_text())
        if found:
            url = found.group(1)
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
        time.sleep(0.5)
    else:
        server.kill()
        pytest.fail(f"the app did not start:\n{log.read_text()[-2000:]}")
    yield url, log
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


def _photos(label: str, n: int, start: int = 0) -> list[str]:
    return [str(p) for p in sorted((dataset_path("photos5") / "train" / label).iterdir())[start:start + n]]


def _upload(page, button: str, files: list) -> None:
    """ipywidgets' upload button opens a file chooser (its file input is not in the page)."""
    with page.expect_file_chooser() as chooser:
        page.locator(button).click()
    chooser.value.set_files(files)


def _tiny_png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def test_the_app_refuses_bad_uploads_then_trains_and_names_a_held_out_photo(served, tmp_path):
    from playwright.sync_api import expect, sync_playwright
    url, log = served
    started = time.perf_counter()
    assert url.startswith("http://localhost:") and "?token=" in url
    with urllib.request.urlopen(url.split("?")[0], timeout=30) as response:  # no token: the login page
        assert "login" in response.url
    (tmp_path / "notes.txt").write_text("not a photo")
    (tmp_path / "huge.jpg").write_bytes(b"\xff\xd8" + bytes(50 * 10**6))
    tiny = _tiny_png()
    many = []
    for i in range(1000):
        many.append(tmp_path / f"p{i}.png")
        many[-1].write_bytes(tiny)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=BROWSER, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(url, timeout=60_000)
        status = page.locator(".tl-status")
        expect(status).to_contain_text("Upload photos", timeout=60_000)
        page.locator(".tl-train").click()  # no photos
        expect(status).to_contain_text("at least two classes", timeout=20_000)
        _upload(page, ".tl-upload-0", [str(tmp_path / "huge.jpg")])
        expect(status).to_contain_text("huge.jpg: 50 MB is over the app's 20 MB limit", timeout=30_000)
        _upload(page, ".tl-upload-0", [str(tmp_path / "notes.txt"), *_photos("birds", 2)])
        expect(status).to_contain_text("notes.txt: not an image", timeout=20_000)
        page.locator(".tl-train").click()  # one class only
        expect(status).to_contain_text("at least two classes", timeout=20_000)
        _upload(page, ".tl-upload-1", [str(p) for p in many])
        expect(status).to_contain_text("1000 files for one class: kept a sample of 100", timeout=30_000)

        page.reload()  # a fresh app: two real classes
        expect(status).to_contain_text("Upload photos", timeout=60_000)
        names = page.locator(".widget-text input")
        names.nth(0).fill("birds")
        names.nth(1).fill("fruit")
        _upload(page, ".tl-upload-0", _photos("birds", 10))
        expect(page.get_by_text("10 photos")).to_have_count(1, timeout=20_000)
        _upload(page, ".tl-upload-1", _photos("fruit", 10))
        expect(page.get_by_text("10 photos")).to_have_count(2, timeout=20_000)
        page.locator(".tl-train").click()
        expect(status).to_contain_text(re.compile(r"accuracy on held-out photos (0|1)\.\d\d"), timeout=60_000)
        expect(page.locator(".widget-output img")).to_have_count(1)  # the confusion matrix
        _upload(page, ".tl-try", _photos("fruit", 1, start=12))
        expect(page.locator(".tl-answer")).to_contain_text(re.compile(r"Prediction: fruit \(\d+%\)"), timeout=20_000)
        page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
        browser.close()
    with urllib.request.urlopen(url, timeout=30) as response:  # still serving after all of that
        assert response.status == 200
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    assert time.perf_counter() - started < 90
