"""``dlcourse build``: deterministic, complete, and ``--check`` catches every kind of staleness."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tests.conftest import NBGRADER_CONFIG, ROOT, run_tool
from course_lib.grading.build import build, stale_files

DEMO_SOURCE = '''\
# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Demo

# %% nbgrader={"grade": false, "grade_id": "double_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def double(x):
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "double", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
assert double(2) == 4
### BEGIN HIDDEN TESTS
assert double(-3) == -6
### END HIDDEN TESTS
'''


def demo_course(folder: Path) -> Path:
    """A one-unit course with a listed data file, an unlisted one, and a non-notebook .py."""
    unit = folder / "solutions" / "01_demo"
    unit.mkdir(parents=True)
    (folder / "nbgrader_config.py").write_text(NBGRADER_CONFIG)
    (unit / "unit.toml").write_text('title = "Demo"\nkernel = "gpu"\nrelease_files = ["listed.csv"]\n')
    (unit / "demo.py").write_text(DEMO_SOURCE)
    (unit / "listed.csv").write_text("a,b\n1,2\n")
    (unit / "answers_key.csv").write_text("secret\n")
    (unit / "helper.py").write_text("SECRET = 42\n")          # not a jupytext source
    (unit / "demo.ipynb").write_text("{}")                     # a paired notebook lying around
    build(folder)
    return folder


def test_release_contains_only_listed_files(tmp_path):
    course = demo_course(tmp_path)
    released = sorted(p.name for p in (course / "notebooks" / "01_demo").iterdir())
    assert released == ["demo.ipynb", "listed.csv"]
    notebook = nbformat.read(course / "notebooks" / "01_demo" / "demo.ipynb", 4)
    assert notebook.metadata.kernelspec.name == "dlcourse-gpu"
    text = (course / "notebooks" / "01_demo" / "demo.ipynb").read_text()
    assert "2 * x" not in text and "-6" not in text and "NotImplementedError" in text


def test_two_builds_are_byte_identical(tmp_path):
    course = demo_course(tmp_path)
    first = (course / "notebooks" / "01_demo" / "demo.ipynb").read_bytes()
    build(course)
    assert (course / "notebooks" / "01_demo" / "demo.ipynb").read_bytes() == first
    assert stale_files(course) == []


def test_check_names_every_kind_of_stale_file(tmp_path):
    course = demo_course(tmp_path)
    source = course / "solutions" / "01_demo" / "demo.py"
    source.write_text(source.read_text().replace("# # Demo", "# # Demo, edited"))
    (course / "notebooks" / "01_demo" / "listed.csv").unlink()
    (course / "notebooks" / "01_demo" / "stray.ipynb").write_text("{}")
    stale = stale_files(course)
    assert any("demo.ipynb (differs" in line for line in stale)
    assert any("listed.csv (missing)" in line for line in stale)
    assert any("stray.ipynb (not built" in line for line in stale)
    result = run_tool("dlcourse", "build", "--check", cwd=course, check=False)
    assert result.returncode == 1 and "demo.ipynb" in result.stderr


def test_rebuild_keeps_a_copy_of_the_replaced_release(tmp_path):
    course = demo_course(tmp_path)
    work = course / "notebooks" / "01_demo" / "demo.ipynb"
    work.write_text(work.read_text().replace("NotImplementedError()", "NotImplementedError()  # my work"))
    build(course)
    assert "my work" in (course / "build" / "previous-release" / "01_demo" / "demo.ipynb").read_text()


def test_a_listed_file_that_is_missing_is_a_clear_error(tmp_path):
    course = demo_course(tmp_path)
    (course / "solutions" / "01_demo" / "listed.csv").unlink()
    result = run_tool("dlcourse", "build", cwd=course, check=False)
    assert result.returncode == 2 and "listed.csv" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_committed_release_is_up_to_date():
    result = run_tool("dlcourse", "build", "--check", cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
