import nbformat

from tlcourse.course import lessons, run_lesson, write_index


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
    assert (tmp_path / "98_holds.html").exists() and (tmp_path / "98_holds.ipynb").exists()
    write_index([row], tmp_path)
    assert "98_holds.html" in (tmp_path / "index.html").read_text()


def test_a_lesson_whose_claim_fails_is_reported_as_failed(tmp_path):
    lesson = _notebook(tmp_path / "99_fails.ipynb", "from tlcourse.report import report_claim\n"
                       "ok = report_claim('one is more than two', 1 > 2, 'margin', -1.0)\nassert ok, 'claim broke'")
    row = run_lesson(lesson, tmp_path)
    assert not row["claim ok"] and "claim broke" in row["error"]
