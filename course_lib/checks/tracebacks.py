"""How a failed check looks in the notebook: the student's lines and the message, not the course's helpers.

IPython prints a traceback through every frame an exception passed. For a failed check
that is the grade cell, then the check and the comparison helpers of ``course_lib.checks``
(source lines a student cannot act on), then the message. IPython skips frames whose
function sets ``__tracebackhide__``, but never the last one, which for a check is
always a helper. So :class:`~course_lib.checks.compare.CheckFailure` renders itself
(IPython calls ``_render_traceback_`` when an exception has one) through
:func:`student_traceback`: IPython's own formatting of the same exception, with the
frames of ``course_lib.checks`` and of hidden frames left out.

When the student's own function raised, the failure is chained to that error, and its
traceback is kept whole down to the student's line, so the student sees where their
code broke. Outside IPython (pytest, the grader's re-check) nothing changes.
"""

from __future__ import annotations

from types import TracebackType

#: frames of these modules are the course's helpers, never the student's code
HELPER_MODULE_PREFIX = "course_lib.checks"


def is_helper_frame(frame) -> bool:
    """True for a frame of the course's checks, or one that asks IPython to hide it."""
    if frame.f_locals.get("__tracebackhide__"):
        return True
    module = frame.f_globals.get("__name__") or ""
    return module == HELPER_MODULE_PREFIX or module.startswith(HELPER_MODULE_PREFIX + ".")


def without_helpers(tb: TracebackType | None) -> TracebackType | None:
    """A copy of the traceback chain ``tb`` without the frames :func:`is_helper_frame` rejects."""
    kept = []
    while tb is not None:
        if not is_helper_frame(tb.tb_frame):
            kept.append(tb)
        tb = tb.tb_next
    rebuilt = None
    for entry in reversed(kept):
        rebuilt = TracebackType(rebuilt, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return rebuilt


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and the exceptions IPython would print above it (causes and contexts)."""
    seen, chain = set(), []
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        chain.append(error)
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return chain


def student_traceback(error: BaseException) -> list[str]:
    """IPython's structured traceback of ``error`` without the course's helper frames.

    Raises when not inside IPython; IPython then prints its usual traceback.
    """
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("not running inside IPython")
    chain = _chain(error)
    originals = [e.__traceback__ for e in chain]
    try:
        for e in chain:
            e.__traceback__ = without_helpers(e.__traceback__)
        return shell.InteractiveTB.structured_traceback(type(error), error, error.__traceback__, tb_offset=0)
    finally:
        for e, tb in zip(chain, originals):
            e.__traceback__ = tb
