import nbformat

from tlcourse.course import lessons, run_lesson


def _notebook(path, source):
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(source)]
    nbformat.write(book, path)
    return path


def test_lessons_come_in_teaching_order():
    names = [p.name for p in lessons()]
    assert names == sorted(names) and names[0].startswith("00_")


def test_a_lesson_whose_claim_holds_is_reported_with_its_metric(tmp_path):
    lesson = _notebook(tmp_path / "98_holds.ipynb", "from tlcourse.report import report_claim\n"
                       "ok = report_claim('two is more than one', 2 > 1, 'margin', 1.0)\nassert ok")
    row = run_lesson(lesson, tmp_path)
    assert row["claim ok"] and row["key metric"] == "margin = 1.0"
    assert (tmp_path / "98_holds.ipynb").exists() and row["claim"] == "two is more than one"


def test_a_lesson_leaves_no_socket_folder_behind(tmp_path, monkeypatch):
    from tlcourse import course
    folders, make = [], course.local_kernel
    monkeypatch.setattr(course, "local_kernel", lambda sockets: folders.append(sockets) or make(sockets))
    run_lesson(_notebook(tmp_path / "94_sockets.ipynb", "1 + 1"), tmp_path)
    assert len(folders) == 1 and not folders[0].exists() and (tmp_path / "94_sockets.ipynb").exists()


def test_a_lesson_whose_claim_fails_is_reported_as_failed(tmp_path):
    lesson = _notebook(tmp_path / "99_fails.ipynb", "from tlcourse.report import report_claim\n"
                       "ok = report_claim('one is more than two', 1 > 2, 'margin', -1.0)\nassert ok, 'claim broke'")
    row = run_lesson(lesson, tmp_path)
    assert not row["claim ok"] and "claim broke" in row["error"]


def test_a_kernel_that_does_not_start_gives_one_line_with_the_fix(tmp_path, monkeypatch):
    from jupyter_client.manager import KernelManager

    from tlcourse import course

    class NoKernel(KernelManager):
        def start_kernel(self, **kwargs):
            raise RuntimeError("Kernel didn't respond in 60 seconds")
    monkeypatch.setattr(course, "local_kernel", lambda sockets: NoKernel(kernel_name="python3"))
    row = run_lesson(_notebook(tmp_path / "97_no_kernel.ipynb", "1 + 1"), tmp_path)
    assert not row["claim ok"] and "kernel did not start" in row["error"] and "Fix:" in row["error"]


def test_lessons_run_over_local_sockets_without_the_tcp_warning(tmp_path, capfd):
    row = run_lesson(_notebook(tmp_path / "96_quiet.ipynb", "print('hello')"), tmp_path)
    assert row["error"] == "" and "without encryption" not in capfd.readouterr().err


def test_each_lesson_kernel_is_shut_down_afterwards(tmp_path, monkeypatch):
    from tlcourse import course
    kernels, make = [], course.local_kernel
    monkeypatch.setattr(course, "local_kernel", lambda sockets: kernels.append(make(sockets)) or kernels[-1])
    run_lesson(_notebook(tmp_path / "95_shut.ipynb", "1 + 1"), tmp_path)
    assert len(kernels) == 1 and not kernels[0].has_kernel


def test_gpu_check_without_a_gpu_stops_at_once_with_one_line(tmp_path, monkeypatch, capsys):
    import sys

    from tlcourse import course, profiles
    monkeypatch.setattr(profiles, "detect_device", lambda: "cpu")
    ran = []
    monkeypatch.setattr(course, "run_lesson", lambda notebook, build: ran.append(notebook))
    monkeypatch.setattr(sys, "argv", ["course", "--require-gpu", "--build", str(tmp_path / "gpu")])
    assert course.main() == 2 and ran == []
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "No GPU found" in out[0] and "make course" in out[0]


def test_gpu_check_on_a_gpu_runs_every_lesson(tmp_path, monkeypatch):
    import sys

    from tlcourse import course, profiles
    monkeypatch.setattr(profiles, "detect_device", lambda: "cuda")
    ran = []
    def fake_run(notebook, build):
        ran.append(notebook)
        return {"lesson": notebook.stem, "profile": "full", "seconds": 1, "key metric": "-", "claim ok": True,
                "error": ""}
    monkeypatch.setattr(course, "run_lesson", fake_run)
    from tlcourse import book
    books = []
    monkeypatch.setattr(book, "build_book", lambda rows, build: books.append(rows) or build / "book" / "index.html")
    monkeypatch.setattr(sys, "argv", ["course", "--require-gpu", "--build", str(tmp_path / "gpu")])
    assert course.main() == 0 and ran == lessons() and len(books[0]) == len(lessons())


def test_every_lesson_has_a_title_and_summary_for_the_book_and_table_cells_are_escaped():
    import json

    from tlcourse.book import _cell, home_page, lesson_title_and_summary
    notebooks = {p.stem: json.loads(p.read_text()) for p in lessons()}
    for stem, notebook in notebooks.items():
        title, summary = lesson_title_and_summary(notebook)
        assert title and summary and not title[:2].isdigit(), stem
    assert _cell("a | b <i>_x_</i> *y*") == "a &#124; b &lt;i&gt;&#95;x&#95;&lt;/i&gt; &#42;y&#42;"
    rows = [{"lesson": stem, "profile": "smoke", "key metric": "m = 1", "claim ok": stem != "01_what_is_transfer_learning",
             "error": "it | broke", "claim": "c"} for stem in list(notebooks)[:2]]
    page = home_page(rows, notebooks)
    assert page.count("\n| [") == 2 and "**no**: it &#124; broke" in page


def test_a_lesson_filter_that_matches_nothing_lists_the_lessons(tmp_path, monkeypatch, capsys):
    import sys

    from tlcourse import course
    monkeypatch.setattr(sys, "argv", ["course", "no_such_lesson", "--build", str(tmp_path)])
    assert course.main() == 2
    out = capsys.readouterr().out
    assert "No lesson's file name contains no_such_lesson" in out and "00_setup" in out
