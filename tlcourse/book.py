"""The course as a book: `make course` builds the executed lessons into a static site in build/book/.

MkDocs with the Material theme and mkdocs-jupyter: pure Python packages (no Node.js, which Jupyter Book 2 needs),
navigation and a search index built in, and pages that need nothing from the internet (the theme's web fonts are
switched off, and each lesson's Colab badge image becomes a plain link). The home page lists every lesson with
its title, summary, claim, measured figure and whether the claim held in this build.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

PAGES = Path(__file__).resolve().parents[1] / "book"  # the book's own pages (for teachers), in Markdown
COLAB_BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\(([^)]*)\)")


def lesson_title_and_summary(notebook: dict) -> tuple[str, str]:
    """The lesson's title (its first heading, without the number) and summary (the first point of "In this
    lesson you will")."""
    text = "".join(notebook["cells"][0]["source"]) if notebook["cells"] else ""
    title = next((line[2:] for line in text.splitlines() if line.startswith("# ")), "")
    title = re.sub(r"^\d\d\s*·\s*", "", title).strip()
    points = re.findall(r"^- (.+(?:\n  .+)*)", text, flags=re.M)
    after = text.split("In this lesson you will", 1)[-1].strip(" *:\n")  # a sentence instead of a list
    summary = re.sub(r"\s+", " ", points[0] if points else after.split("\n\n")[0]).strip().rstrip(";.,")
    return title, summary


WIDGET = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = "(An interactive widget: run the notebook in JupyterLab or Colab to use it.)"


def offline_copy(notebook: dict) -> dict:
    """The notebook without what a page would fetch from the internet: the Colab badge image becomes a text
    link, and interactive widgets (whose page script comes from a CDN) a line saying to run the notebook."""
    notebook.get("metadata", {}).pop("widgets", None)
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            text = COLAB_BADGE.sub(r"[Open in Colab](\1)", "".join(cell["source"]))
            cell["source"] = text.splitlines(keepends=True)
        for output in cell.get("outputs", []):
            if WIDGET in output.get("data", {}):
                output["data"] = {"text/plain": WIDGET_NOTE}
    return notebook


def _cell(text: str) -> str:
    """Text safe in a Markdown table cell: HTML escaped, no column breaks, no emphasis markers."""
    return html.escape(str(text)).replace("|", "&#124;").replace("*", "&#42;").replace("_", "&#95;")


def home_page(rows: list[dict], lessons: dict[str, dict]) -> str:
    """The book's first page: a table of the lessons with their claims and this build's figures."""
    lines = ["# tlcourse: transfer learning, one measured claim at a time", "",
             "Every lesson runs a real experiment on real pretrained weights and data, and ends by checking what it "
             "teaches. This book holds the lessons as they ran in this build "
             f"(profile `{rows[0]['profile'] if rows else '-'}`). Running a workshop? See "
             "[For teachers](teachers.md).", "",
             "| lesson | what it teaches | claim | measured | held |", "|---|---|---|---|---|"]
    for row in rows:
        title, summary = lesson_title_and_summary(lessons[row["lesson"]])
        status = "yes" if row["claim ok"] else f"**no**: {_cell(row.get('error') or 'see the page')}"
        lines.append(f"| [{row['lesson'][:2]} · {_cell(title)}](lessons/{row['lesson']}.ipynb) | {_cell(summary)} | "
                     f"{_cell(row.get('claim') or '-')} | {_cell(row['key metric'])} | {status} |")
    return "\n".join(lines) + "\n"


def mkdocs_config(rows: list[dict], lessons: dict[str, dict], site: Path) -> dict:
    """The MkDocs settings: Material without web fonts, search, the executed notebooks as pages (not re-run)."""
    nav = [{"Home": "index.md"}] + [
        {f"{row['lesson'][:2]} · {lesson_title_and_summary(lessons[row['lesson']])[0]}":
         f"lessons/{row['lesson']}.ipynb"} for row in rows] + [{"For teachers": "teachers.md"}]
    return {"site_name": "tlcourse", "site_dir": str(site), "use_directory_urls": False,
            "theme": {"name": "material", "font": False, "features": ["navigation.footer"]},
            "plugins": ["search", {"mkdocs-jupyter": {"execute": False, "include_source": True,
                                                       "ignore_h1_titles": True,
                                                       # its cache, else a .cache/ in the working folder
                                                       "cache_dir": str(site.parent / "book-src" / ".cache")}}],
            "nav": nav}


def build_book(rows: list[dict], build: Path) -> Path:
    """Write the book's sources under build/book-src from the executed notebooks in `build`, and build the site
    into build/book; returns its home page."""
    import nbformat
    sources, site = build / "book-src", build / "book"
    shutil.rmtree(sources / "docs", ignore_errors=True)  # the sources of an earlier build (ours, regenerated)
    (sources / "docs" / "lessons").mkdir(parents=True)
    lessons = {}
    for row in rows:
        notebook = json.loads((build / f"{row['lesson']}.ipynb").read_text())
        lessons[row["lesson"]] = notebook
        nbformat.write(nbformat.from_dict(offline_copy(notebook)),
                       sources / "docs" / "lessons" / f"{row['lesson']}.ipynb")
    (sources / "docs" / "index.md").write_text(home_page(rows, lessons))
    shutil.copy(PAGES / "teachers.md", sources / "docs" / "teachers.md")
    (sources / "mkdocs.yml").write_text(json.dumps(mkdocs_config(rows, lessons, site), indent=1))
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--quiet", "--config-file",
                           str(sources / "mkdocs.yml")], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"mkdocs could not build the book:\n{done.stderr[-2000:]}")
    return site / "index.html"
