"""Instructor side: build the release, self-check, autograde, feedback and grade reports.

The grading itself is nbgrader's; these modules configure it (:mod:`.nbconfig`),
add what stock nbgrader lacks (kernel fallback and stderr tolerance in
:mod:`.preprocessors`), and drive it (:mod:`.build`, :mod:`.selfcheck`).
"""
