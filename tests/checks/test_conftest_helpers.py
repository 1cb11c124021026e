"""The shared ``rejects``/``accepts`` helpers can fail: a wrong verdict or a silent pass is caught."""

import pytest

from course_lib.checks.compare import CheckFailure, passed
from tests.checks.conftest import accepts, rejects


def failing(answer):
    raise CheckFailure(f"Your answer {answer} has the wrong sign.")


def passing(answer):
    passed(f"answer {answer} is right")


def silent(answer):
    return answer


def test_rejects_returns_the_message_and_asks_for_every_phrase():
    assert rejects(failing, 3, match=("WRONG SIGN", "3")) == "Your answer 3 has the wrong sign."
    with pytest.raises(AssertionError, match="'transpose' is not in the message"):
        rejects(failing, 3, match=["sign", "transpose"])


def test_rejects_fails_when_the_check_passes():
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        rejects(passing, 3)


def test_accepts_needs_the_check_mark_a_student_sees():
    assert "answer 3 is right" in accepts(passing, 3)
    with pytest.raises(AssertionError, match="passed without saying so"):
        accepts(silent, 3)
    with pytest.raises(CheckFailure):
        accepts(failing, 3)
