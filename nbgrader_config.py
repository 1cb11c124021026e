"""nbgrader's view of the course: the repository root is the course directory.

Sources are built into build/source by `dlcourse build`; the student release is
notebooks/. Everything else lives in course_lib.grading.config so that tests and
temporary course folders use exactly the same settings.
"""
from pathlib import Path

from course_lib.grading.config import configure

configure(get_config(), Path(__file__).resolve().parent)  # noqa: F821 (get_config is nbgrader's)
