"""The book `make course` builds, opened in a real browser (Debian's chromium-headless-shell with playwright, the
internet blocked): every page loads without console errors, every image decodes, every internal link resolves,
no page holds an error output, and search finds a lesson."""
import functools
import http.server
import shutil
import threading
from urllib.parse import urljoin, urlparse

import nbformat
import pytest

from tlcourse.book import build_book
from tlcourse.course import run_lesson

BROWSER = shutil.which("chromium-headless-shell")
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no chromium-headless-shell: `make test` installs it with "
                                "apt as root; else `sudo apt-get install chromium-headless-shell`")
FIGURE = ("import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0]); plt.title('a figure'); plt.show()\n"
          "from tlcourse.report import report_claim\nok = report_claim('lines go down', True, 'slope', -1.0)")


def _lesson(path, title: str, code: str):
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_markdown_cell(
        f"# {path.stem[:2]} · {title}\n\n[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"(https://colab.research.google.com/github/tlcourse/tlcourse/blob/main/notebooks/{path.name})\n\n"
        f"**In this lesson you will**\n- draw {title.lower()};\n- check it."),
        nbformat.v4.new_code_cell(code), nbformat.v4.new_markdown_cell("[Home](../index.md)")]
    nbformat.write(book, path)
    return path


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """A book of two small executed lessons (a figure each; the second's claim fails), served over HTTP."""
    lessons, build = tmp_path_factory.mktemp("lessons"), tmp_path_factory.mktemp("build")
    rows = [run_lesson(_lesson(lessons / "91_first.ipynb", "A falling line", FIGURE), build),
            run_lesson(_lesson(lessons / "92_second.ipynb", "Another line", FIGURE.replace("True", "False")),
                       build)]
    home = build_book(rows, build)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(home.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/index.html", home
    server.shutdown()


def book_problems(page, start: str) -> list[str]:
    """Visit every page reachable from `start` inside the site; return each problem found."""
    problems, seen, queue, site = [], set(), [start], urlparse(start).netloc
    page.on("console", lambda m: m.type == "error" and problems.append(f"{page.url}: console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"{page.url}: script error: {e}"))
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        response = page.goto(url)
        if response is None or response.status != 200:
            problems.append(f"{url}: HTTP {response.status if response else 'no response'}")
            continue
        page.wait_for_load_state("networkidle")
        broken = page.evaluate("[...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
        problems += [f"{url}: image does not decode: {src[:80]}" for src in broken]
        if "Traceback (most recent call last)" in page.inner_text("body"):
            problems.append(f"{url}: an error output")
        for href in page.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.href)"):
            target = urlparse(urljoin(url, href))
            if target.netloc == site and target.path.endswith(".html"):
                queue.append(target._replace(fragment="", query="").geturl())
    return problems


def test_every_page_loads_offline_with_figures_links_and_no_errors(book, tmp_path):
    from playwright.sync_api import sync_playwright
    url, home = book
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=BROWSER, args=["--no-sandbox"])
        page = browser.new_page()
        outside = []
        page.route(lambda u: urlparse(u).hostname not in ("127.0.0.1", "localhost"),
                   lambda route: outside.append(route.request.url) or route.abort())
        problems = book_problems(page, url)
        assert problems == [] and outside == [], (problems, outside)
        page.goto(url)
        table = page.inner_text("table")
        assert "A falling line" in table and "lines go down" in table and "slope = -1.0" in table
        rows = page.locator("table tbody tr")
        assert rows.nth(0).locator("td").nth(4).inner_text().strip() == "yes"
        assert rows.nth(1).locator("td").nth(4).inner_text().startswith("no")  # the failed claim, shown as failed
        page.locator("a", has_text="For teachers").first.click()
        page.wait_for_load_state("networkidle")
        assert "A one-day plan" in page.inner_text("body") and "Glossary" in page.inner_text("body")
        lesson = page.locator("a", has_text="91 · A falling line").first
        lesson.click()
        page.wait_for_load_state("networkidle")
        assert page.locator("a", has_text="Open in Colab").count() == 1  # the badge, as a link
        assert page.locator("img").count() >= 1
        page.keyboard.press("/")
        page.keyboard.type("falling")
        page.wait_for_selector(".md-search-result__item", timeout=15_000)
        page.screenshot(path=str(tmp_path / "lesson.png"), full_page=True)
        browser.close()


def test_the_checker_finds_a_broken_image_a_dead_link_and_an_error_output(book, tmp_path):
    from playwright.sync_api import sync_playwright
    url, home = book
    page_file = home.parent / "lessons" / "91_first.html"
    original = page_file.read_text()
    page_file.write_text(original.replace("</article>", "<img src='missing.png'><a href='nowhere.html'>x</a>"
                                          "<pre>Traceback (most recent call last):</pre></article>", 1))
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=BROWSER, args=["--no-sandbox"])
            problems = book_problems(browser.new_page(), url)
            browser.close()
    finally:
        page_file.write_text(original)
    text = "\n".join(problems)
    assert "missing.png" in text and "nowhere.html: HTTP 404" in text and "an error output" in text, text
