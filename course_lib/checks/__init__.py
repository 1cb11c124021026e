"""Checks that the notebooks' grade cells call, one module per unit.

Each ``check_*`` function calls the student's function on fresh inputs, compares
the result with an independent reference from :mod:`course_lib`, and raises
:class:`AssertionError` with a message a beginner can act on: which value, what
was expected, what came back, and a hint for the usual mistake. A check that
passes prints one short line and returns ``None``.

Each unit's module imports only that unit's references; the shared comparison
helpers live in :mod:`course_lib.checks.compare`, the record that lets the grader
re-run the checks outside the kernel in :mod:`course_lib.checks.evidence`, and Keras
models as comparable data in :mod:`course_lib.checks.keras_summary`.
"""
