"""Shapes of exercise that every unit's checks use: a table of mistakes, a value answer,
a reading question.

* **A table of mistakes**: a check compares the answer with the reference, and, when it
  differs, with each row of a table of known wrong variants, ``{mistake: message}``. The
  variant is computed by a function of the mistake's key (the reference with one step
  done wrong); :func:`diagnoses` turns table and function into the rows
  :func:`~course_lib.checks.compare.assert_close` names a mistake from, and
  :func:`likely_mistake` finds the row an answer matches.
* **A value answer** (:func:`value_check`): a check whose answer is a value (a letter, a
  list, a dict), not a function.
* **A reading question** (:func:`assert_choice`): one letter, each wrong letter with its
  own explanation, and never the right answer in a message.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from .calling import student_value
from .compare import CheckFailure
from .evidence import graded_check


# ------------------------------------------------------------------ a table of mistakes
def diagnoses(variant: Callable[[str], Any], mistakes: Mapping[str, str]) -> list[tuple[Any, str]]:
    """``(variant(mistake), message)`` for every row of the table ``{mistake: message}``."""
    return [(variant(mistake), message) for mistake, message in mistakes.items()]


def likely_mistake(answer: Any, rows: Iterable[tuple[Any, str]], rtol: float = 1e-5,
                   atol: float = 1e-8) -> str | None:
    """The message of the first row whose wrong value ``answer`` matches (``np.allclose``), else None."""
    return next((message for wrong, message in rows if np.allclose(answer, wrong, rtol=rtol, atol=atol)), None)


# ------------------------------------------------------------------------- a value answer
class _Answer:
    """A student's value answer, hidden from the check's identity (see :func:`value_check`)."""

    def __init__(self, value: Any):
        self.value = value


def value_check(check: Callable[[Any], None]) -> Callable[[Any], None]:
    """:func:`~course_lib.checks.evidence.graded_check` for a check that takes a value answer
    (a letter, a list, a dict).

    ``graded_check`` identifies a call by its literal arguments. A value answer is a literal
    in the kernel (``"b"``, ``["adam"]``) but a stand-in in the grader's re-run, so the two
    would disagree and the re-run would find no record. Wrapped, the answer reads the same
    (``*``) in both; the check receives it held (``answer.value``) and reads it only inside
    :func:`~course_lib.checks.calling.observe` or :func:`~course_lib.checks.calling.student_value`.
    """
    graded = graded_check(check)

    @functools.wraps(check)
    def run(answer: Any) -> None:
        __tracebackhide__ = True
        return graded(_Answer(answer))

    run.graded_check = True
    return run


# ---------------------------------------------------------------------- a reading question
def assert_choice(name: str, answer: Any, correct: str, explanations: dict[str, str]) -> None:
    """Fail unless ``answer`` is the letter ``correct``; a wrong letter gets its own explanation.

    The answer is data (:func:`~course_lib.checks.calling.student_value`), so the trusted
    re-check replays it. Upper case and spaces are forgiven: ``" B"`` is ``"b"``.
    """
    answer = student_value(name, answer)
    letters = sorted([correct, *explanations])
    if not isinstance(answer, str) or answer.strip().lower() not in letters:
        raise CheckFailure(f"{name} should be one letter in quotes, one of {letters}; got {answer!r}.")
    letter = answer.strip().lower()
    if letter != correct:
        raise CheckFailure(f"{name} = {letter!r} is not the best answer. {explanations[letter]}")
