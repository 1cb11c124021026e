"""What every unit's check tests share: one way to say a check rejects or accepts an answer.

``rejects`` runs a check that must fail and returns its message, so a test can also ask that the
message names the mistake. ``accepts`` runs a check that must pass *and show that it passed*
(the check-mark line a student sees): a check that returns quietly without saying so is a defect.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence

import numpy as np
import pytest

from course_lib.checks.compare import CheckFailure


def rejects(check, *args, match: str | Sequence[str] = (), **kwargs) -> str:
    """Run ``check(*args, **kwargs)``, which must raise :class:`CheckFailure`; return its message.

    Every phrase in ``match`` (one string or several) must appear in the message, case ignored.
    """
    __tracebackhide__ = True
    with pytest.raises(CheckFailure) as failure:
        check(*args, **kwargs)
    message = str(failure.value)
    for phrase in [match] if isinstance(match, str) else match:
        assert phrase.lower() in message.lower(), f"{phrase!r} is not in the message:\n{message}"
    return message


def accepts(check, *args, **kwargs) -> str:
    """Run ``check(*args, **kwargs)``, which must pass and print its check mark; return what it printed."""
    __tracebackhide__ = True
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        check(*args, **kwargs)
    print(printed.getvalue(), end="")          # still there for capsys and for pytest's report
    assert "\N{CHECK MARK}" in printed.getvalue(), f"the check passed without saying so:\n{printed.getvalue()}"
    return printed.getvalue()


def unwritten(*args, **kwargs):
    """An exercise as the release hands it out: not written yet."""
    raise NotImplementedError()


def f32(function):
    """``function`` computing in float32 from its array arguments on, as a student's code might."""
    def in_float32(*args, **kwargs):
        return function(*[a.astype(np.float32) if isinstance(a, np.ndarray) else a for a in args], **kwargs)
    return in_float32
