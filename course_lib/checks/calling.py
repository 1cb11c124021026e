"""Calling the student's code: the one place where a check runs it.

* :func:`call_student` runs the student's function on copies of the inputs, turns
  ``NotImplementedError`` or a crash into a plain-language failure, applies the own-work
  rule (:mod:`.own_work`), and records the call for the grader's trusted re-check
  (:mod:`.evidence`), which replays that record instead of calling anything;
* :func:`run_student` and :func:`call_in_place` call without a record, for the calls a
  check makes inside :func:`observe` (on copies, or on the live objects themselves: a
  training step must update *these* variables);
* :func:`observe` and :func:`student_value` carry what a check saw of live objects (a
  Keras model, a dataset, how long a call took) and answers that are values, not
  functions, as data to the re-check;
* :func:`call_with_shapes` adds the shapes of a check's inputs to a crash message.

Every crash takes the same path (:func:`_invoke`) and reads the same: ``not written yet``
for the stub's ``NotImplementedError``, else what was raised and where to look.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

from . import evidence, own_work
from .compare import CheckFailure


def not_written_message(name: str) -> str:
    """What a student reads when the exercise's stub still raises ``NotImplementedError``."""
    return (f"`{name}` is not written yet: replace `raise NotImplementedError()` with your code "
            f"and run its cell.")


def crash_message(name: str, error_name: str, error_message: str) -> str:
    """What a student reads when their function raised ``error_name``."""
    if error_name == "NotImplementedError":
        return not_written_message(name)
    return (f"`{name}` raised {error_name}: {error_message}\n"
            f"Run the answer cell on a small example and read the traceback above this message.")


def call_student(function: Callable[..., Any], *args: Any, name: str | None = None,
                 **kwargs: Any) -> Any:
    """Call a student's function on deep copies of its arguments.

    Copies keep an in-place edit (``w -= ...``) from changing the check's own
    inputs. ``NotImplementedError`` and any other exception become a
    :class:`CheckFailure` that says what to do, with the original chained.

    While grading, each call is also recorded as data, and the grader's trusted
    re-run replays that record instead of calling anything (:mod:`.evidence`).
    """
    __tracebackhide__ = True
    name = name or getattr(function, "__name__", "your function")
    key = evidence.call_key(name)
    replaying = evidence.replayer.get()
    if replaying is not None:
        return _replay(replaying, key, name, args, kwargs)
    args = copy.deepcopy(args)
    kwargs = copy.deepcopy(kwargs)
    recorder = evidence.recorder()
    inputs = evidence.sketch((args, kwargs)) if recorder is not None else None

    def record_crash(error_name: str, message: str) -> None:
        if recorder is not None:
            recorder.write(key, inputs, {"raised": error_name, "message": message})

    with own_work.watching(own_work.references_of(evidence.current_check_module())) as reached:
        result = _invoke(function, name, args, kwargs, record_crash)
    if reached:
        refusal = own_work.message(reached)
        if recorder is not None:
            recorder.write(key, inputs, {"refused": refusal})
        raise CheckFailure(refusal)
    if recorder is not None:
        try:
            recorder.write(key, inputs, {"value": evidence.to_data(result)})
        except evidence.NotRecordable as unrecordable:
            recorder.write(key, inputs, {"unrecordable": str(unrecordable)})
    return result


def run_student(function: Callable[..., Any], *args: Any, name: str, **kwargs: Any) -> Any:
    """:func:`call_student` without a record: for the calls a check makes inside :func:`observe`."""
    __tracebackhide__ = True
    return _invoke(function, name, copy.deepcopy(args), copy.deepcopy(kwargs))


def call_in_place(function: Callable[..., Any], *args: Any, name: str,
                  explain: Callable[[Exception], str] | None = None, **kwargs: Any) -> Any:
    """Call the student's function on the objects themselves (variables, optimizers, models).

    :func:`call_student` works on deep copies, but a training step must update *these*
    variables. Crashes read as everywhere else; ``explain(error)`` may give the text shown
    for one (a framework's long message cut short, with a hint). Used only inside
    :func:`observe`, which the trusted re-check replays instead of running.
    """
    __tracebackhide__ = True
    return _invoke(function, name, args, kwargs, explain=explain)


def _invoke(function: Callable[..., Any], name: str, args: tuple, kwargs: dict,
            on_crash: Callable[[str, str], None] | None = None,
            explain: Callable[[Exception], str] | None = None) -> Any:
    """Call ``function``; a crash becomes a :class:`CheckFailure` (and is reported to ``on_crash``).

    ``explain(error)`` gives the crash's text (default: ``str(error)``).
    """
    __tracebackhide__ = True
    if not callable(function):
        raise CheckFailure(f"`{name}` should be a function, but it is a {type(function).__name__}.")
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        if on_crash is not None:
            on_crash("NotImplementedError", "")
        # the stub's own traceback says nothing the message does not: show the message alone
        raise CheckFailure(not_written_message(name)) from None
    except CheckFailure:
        raise
    except Exception as error:  # the student's crash, reported in plain words
        detail = str(error) if explain is None else explain(error)
        if on_crash is not None:
            on_crash(type(error).__name__, detail)
        raise CheckFailure(crash_message(name, type(error).__name__, detail)) from error


def _replay(replaying: "evidence.Replayer", key: str, name: str, args: tuple, kwargs: dict) -> Any:
    """The recorded outcome of this call, as if the student's function had run here."""
    __tracebackhide__ = True
    outcome = replaying.outcome(key, evidence.sketch((args, kwargs)))
    if "refused" in outcome:
        raise CheckFailure(str(outcome["refused"]))
    if "raised" in outcome:
        raise CheckFailure(crash_message(name, str(outcome["raised"]), str(outcome.get("message", ""))))
    return _recorded_value(outcome, f"`{name}` returned something that is not data", f"`{name}`")


def raise_with_shapes(failure: CheckFailure, shapes: str) -> None:
    """Raise ``failure`` again with the check's input shapes added, when it reports a crash."""
    __tracebackhide__ = True
    if shapes and "raised" in str(failure):
        raise CheckFailure(f"{failure}\nThe shapes in this check: {shapes}.") from failure


def call_with_shapes(function: Callable[..., Any], *args: Any, name: str, shapes: str = "",
                     **kwargs: Any) -> Any:
    """:func:`call_student` with the shapes of the inputs added to a crash message."""
    __tracebackhide__ = True
    try:
        return call_student(function, *args, name=name, **kwargs)
    except CheckFailure as failure:
        raise_with_shapes(failure, shapes)
        raise


def observe(label: str, measure: Callable[[], Any], *inputs: Any) -> Any:
    """What a check measured of the student's work, as data that the trusted re-check replays.

    Some answers cannot travel as data themselves: a Keras model, a ``tf.data`` pipeline,
    variables that a training step changes in place, a function whose speed or use of
    automatic differentiation matters. The check then measures them inside the kernel:
    ``measure()`` calls the student's code (with :func:`run_student` or the objects
    themselves) and returns plain data (numbers, arrays, strings, lists, tuples, dicts
    with string keys). While grading, that data is recorded under ``label`` (and the running check,
    :func:`.evidence.graded_check`) with a sketch of ``inputs`` (the data the measurement
    was made from); the grader's re-run gets it back
    without calling ``measure`` and judges it with its own code. A :class:`CheckFailure`
    raised while measuring (a crash, say) is recorded too, and the re-run raises it again.

    The returned value is always the data as the re-run will see it (converted to plain
    data and back), so that the kernel and the grader judge exactly the same thing.
    """
    __tracebackhide__ = True
    key = evidence.call_key("observe:" + label)
    inputs = evidence.sketch(inputs)
    replaying = evidence.replayer.get()
    if replaying is not None:
        return _replayed_observation(replaying.outcome(key, inputs), label)
    recorder = evidence.recorder()
    try:
        data = evidence.to_data(measure())
    except CheckFailure as failure:
        if recorder is not None:
            recorder.write(key, inputs, {"failure": str(failure)})
        raise
    except evidence.NotRecordable as error:
        failure = CheckFailure(f"{label}: the answer holds a {error} where numbers or text were expected.")
        if recorder is not None:
            recorder.write(key, inputs, {"failure": str(failure)})
        raise failure from error
    except Exception as error:   # a crash while measuring is a failure, not a pass
        if recorder is not None:
            recorder.write(key, inputs, {"failure": f"{label}: {type(error).__name__}: {error}"})
        raise
    if recorder is not None:
        recorder.write(key, inputs, {"value": data})
    return evidence.from_data(data)


def _replayed_observation(outcome: dict, label: str) -> Any:
    """The re-check's side of :func:`observe`: the recorded data, or the failure the kernel met."""
    __tracebackhide__ = True
    if "failure" in outcome:
        raise CheckFailure(str(outcome["failure"]))
    return _recorded_value(outcome, f"{label}: nothing usable was recorded", label)


def _recorded_value(outcome: dict, missing: str, what: str) -> Any:
    """The value a record holds, decoded; a :class:`~.evidence.ReplayMiss` when there is none or it is damaged."""
    __tracebackhide__ = True
    if "value" not in outcome:
        raise evidence.ReplayMiss(missing)
    try:
        return evidence.from_data(outcome["value"])
    except Exception as error:   # forged or damaged record
        raise evidence.ReplayMiss(f"unreadable record for {what}") from error


def student_value(name: str, value: Any, *inputs: Any) -> Any:
    """An answer that is a value, not a function (``values``, ``hand_result``), as the re-check sees it.

    Recorded as data while grading (under ``name`` and the ``inputs`` it was computed from)
    and replayed by the trusted re-run, like a call's result.
    """
    __tracebackhide__ = True
    return observe(name, lambda: value, *inputs)
