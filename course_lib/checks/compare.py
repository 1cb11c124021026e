"""The comparison helpers that every unit's checks share.

They turn "the arrays differ" into a message a beginner can act on:

* :func:`call_student` runs the student's function on copies of the inputs and
  turns ``NotImplementedError`` or a crash into a plain-language failure;
* :func:`observe` and :func:`student_value` carry what a check saw of live objects
  (a Keras model, a dataset, how long a call took) and answers that are values, not
  functions, as data to the grader's trusted re-check (:mod:`.evidence`);
* :func:`assert_close` compares shape, finiteness and values, and names the usual
  mistake when the answer matches a known wrong formula (``diagnoses``);
* :func:`passed` prints the one line a passing check shows.

In a notebook a failed check shows the grade cell's line and the message, not these
helpers: each sets ``__tracebackhide__`` and :class:`CheckFailure` renders itself
without them (:mod:`.tracebacks`); a crash in the student's own code keeps its
traceback down to the student's line.

Tolerances: references compute in float64; a correct answer computed in float32
differs by about 1e-7 relative, so the default ``rtol=1e-5`` accepts it while every
realistic mistake (a missing factor, a wrong axis, a sign) is off by far more.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from . import evidence, own_work
from .evidence import graded_check  # noqa: F401 (every unit's checks use it from here)

#: a known wrong formula and what to say when the student's answer matches it
Diagnosis = tuple[Callable[..., Any], str]


class CheckFailure(AssertionError):
    """An ``AssertionError`` whose message is written for the student."""

    def _render_traceback_(self) -> list[str]:
        """In IPython: the notebook's lines and this message, without the checks' own frames."""
        from .tracebacks import student_traceback
        return student_traceback(self)


def _format_array(value: Any, max_items: int = 6) -> str:
    """A short one-line view of a value: its first items, shape and dtype."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        return f"{arr.item()!r}"
    flat = arr.ravel()
    items = ", ".join(f"{v:.6g}" if np.issubdtype(arr.dtype, np.number) else repr(v)
                      for v in flat[:max_items])
    more = ", ..." if flat.size > max_items else ""
    return f"[{items}{more}] (shape {arr.shape}, dtype {arr.dtype})"


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


def _invoke(function: Callable[..., Any], name: str, args: tuple, kwargs: dict,
            on_crash: Callable[[str, str], None] | None = None) -> Any:
    """Call ``function``; a crash becomes a :class:`CheckFailure` (and is reported to ``on_crash``)."""
    __tracebackhide__ = True
    if not callable(function):
        raise CheckFailure(f"`{name}` should be a function, but it is a {type(function).__name__}.")
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        if on_crash is not None:
            on_crash("NotImplementedError", "")
        # the stub's own traceback says nothing the message does not: show the message alone
        raise CheckFailure(_crash_message(name, "NotImplementedError", "")) from None
    except CheckFailure:
        raise
    except Exception as error:  # the student's crash, reported in plain words
        if on_crash is not None:
            on_crash(type(error).__name__, str(error))
        raise CheckFailure(_crash_message(name, type(error).__name__, str(error))) from error


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
        outcome = replaying.outcome(key, inputs)
        if "failure" in outcome:
            raise CheckFailure(str(outcome["failure"]))
        if "value" not in outcome:
            raise evidence.ReplayMiss(f"{label}: nothing usable was recorded")
        try:
            return evidence.from_data(outcome["value"])
        except Exception as error:   # forged or damaged record
            raise evidence.ReplayMiss(f"unreadable record for {label}") from error
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


def student_value(name: str, value: Any, *inputs: Any) -> Any:
    """An answer that is a value, not a function (``values``, ``hand_result``), as the re-check sees it.

    Recorded as data while grading (under ``name`` and the ``inputs`` it was computed from)
    and replayed by the trusted re-run, like a call's result.
    """
    __tracebackhide__ = True
    return observe(name, lambda: value, *inputs)


def _crash_message(name: str, error_name: str, error_message: str) -> str:
    if error_name == "NotImplementedError":
        return (f"`{name}` is not written yet: replace `raise NotImplementedError()` with your code "
                f"and run its cell.")
    return (f"`{name}` raised {error_name}: {error_message}\n"
            f"Run the answer cell on a small example and read the traceback above this message.")


def _replay(replaying: "evidence.Replayer", key: str, name: str, args: tuple, kwargs: dict) -> Any:
    """The recorded outcome of this call, as if the student's function had run here."""
    __tracebackhide__ = True
    outcome = replaying.outcome(key, evidence.sketch((args, kwargs)))
    if "refused" in outcome:
        raise CheckFailure(str(outcome["refused"]))
    if "raised" in outcome:
        raise CheckFailure(_crash_message(name, str(outcome["raised"]), str(outcome.get("message", ""))))
    if "value" not in outcome:
        raise evidence.ReplayMiss(f"`{name}` returned something that is not data")
    try:
        return evidence.from_data(outcome["value"])
    except Exception as error:   # forged or damaged record
        raise evidence.ReplayMiss(f"unreadable record for `{name}`") from error


def as_array(name: str, value: Any) -> np.ndarray:
    """``value`` as a NumPy array (TensorFlow tensors included), or a clear failure."""
    __tracebackhide__ = True
    if hasattr(value, "numpy") and callable(value.numpy):
        value = value.numpy()
    try:
        arr = np.asarray(value)
    except Exception as error:
        raise CheckFailure(f"{name} should be a NumPy array or a number, but it is a "
                           f"{type(value).__name__}.") from error
    if arr.dtype == object:
        raise CheckFailure(f"{name} should be numbers, but it is {type(value).__name__} {value!r:.80}.")
    return arr


def assert_shape(name: str, actual: Any, expected_shape: tuple[int, ...], hint: str = "") -> np.ndarray:
    """Fail unless ``actual`` has exactly ``expected_shape``."""
    __tracebackhide__ = True
    arr = as_array(name, actual)
    if arr.shape != tuple(expected_shape):
        message = f"{name} has shape {arr.shape}, expected {tuple(expected_shape)}."
        if arr.size == int(np.prod(expected_shape)) and arr.size > 1:
            message += (" It has the right number of entries, so look for a transpose, a "
                        "reshape to a column, or a missing `.ravel()`.")
        raise CheckFailure(message + (f"\nHint: {hint}" if hint else ""))
    return arr


def assert_close(name: str, actual: Any, expected: Any, *, rtol: float = 1e-5,
                 atol: float | None = None, hint: str = "",
                 diagnoses: Iterable[tuple[Any, str]] = (), reveal: bool = True) -> None:
    """Fail unless ``actual`` matches ``expected`` in shape and value.

    ``atol`` defaults to ``rtol`` times the largest magnitude in ``expected`` so a
    float32 answer passes on values of any scale. ``diagnoses`` pairs the value a
    known wrong formula gives with the hint to show when ``actual`` matches it.
    ``reveal=False`` is for answers to fixed inputs (a value computed by hand, a graph's
    nodes): the message then says which entries are wrong, and how when it can tell
    (a sign, a factor), but never the expected values, which would be the answer.
    """
    __tracebackhide__ = True
    expected_arr = np.asarray(expected, dtype=float)
    arr = assert_shape(name, actual, expected_arr.shape, hint)
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise CheckFailure(f"{name} should hold numbers, but its dtype is {arr.dtype}.")
    arr = arr.astype(float)
    if not np.all(np.isfinite(arr)):
        raise CheckFailure(f"{name} contains NaN or infinity: {_format_array(arr)}.\n"
                           "Hint: a step size that is too large, or a division by zero, does this.")
    scale = float(np.max(np.abs(expected_arr))) if expected_arr.size else 0.0
    if atol is None:
        atol = rtol * max(scale, 1.0)
    if np.allclose(arr, expected_arr, rtol=rtol, atol=atol):
        return
    worst = float(np.max(np.abs(arr - expected_arr)))
    if reveal:
        lines = [f"{name} has the right shape but the wrong values.",
                 f"  expected: {_format_array(expected_arr)}",
                 f"  got:      {_format_array(arr)}",
                 f"  largest difference: {worst:.3g} (allowed: {atol:.1g} + {rtol:.0e} x |expected|)"]
    else:
        lines = [f"{name} has the right shape but the wrong values: {_which_entries(arr, expected_arr, rtol, atol)}"]
    for wrong_value, message in diagnoses:
        wrong_arr = np.asarray(wrong_value, dtype=float)
        if wrong_arr.shape == arr.shape and np.allclose(arr, wrong_arr, rtol=rtol, atol=atol):
            lines.append(f"Likely mistake: {message}")
            break
    else:
        if hint:
            lines.append(f"Hint: {hint}")
    raise CheckFailure("\n".join(lines))


def _which_entries(arr: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> str:
    """Where and how ``arr`` is wrong, in words that do not give ``expected`` away."""
    wrong = ~np.isclose(arr, expected, rtol=rtol, atol=atol)
    where = [tuple(int(i) for i in index) for index in np.argwhere(wrong)[:4]]
    places = ", ".join(str(w[0] if len(w) == 1 else w) for w in where) if arr.ndim else ""
    said = (f"{int(wrong.sum())} of {wrong.size} entries are off" + (f" (at {places}" + (", ..." if wrong.sum() > 4 else "")
                                                                  + ")" if places else "") + ".")
    if np.allclose(arr, -expected, rtol=rtol, atol=atol):
        said += " Every entry has the wrong sign."
    elif arr.shape == expected.shape and arr.ndim == 2 and arr.shape[0] == arr.shape[1] \
            and np.allclose(arr, expected.T, rtol=rtol, atol=atol):
        said += " It is the transpose of the right answer."
    else:
        ratios = arr[wrong] / np.where(expected[wrong] == 0, np.nan, expected[wrong])
        if ratios.size and np.all(np.isfinite(ratios)) and np.allclose(ratios, ratios[0], rtol=1e-3):
            said += f" Those entries are {ratios[0]:.3g} times what they should be: a missing or extra factor?"
    return said


def assert_scalar(name: str, actual: Any) -> float:
    """Fail unless ``actual`` is a single number (a 0-d array or size-1 array counts)."""
    __tracebackhide__ = True
    arr = as_array(name, actual)
    if arr.size != 1:
        raise CheckFailure(f"{name} should be a single number, but it has shape {arr.shape}. "
                           "Hint: reduce over the examples with a mean or a sum.")
    return float(arr.reshape(()))


def passed(message: str) -> None:
    """Print the one line that a passing check shows."""
    print(f"\N{CHECK MARK} {message}")


def random_state(seed: int) -> np.random.Generator:
    """The generator every check uses for its inputs."""
    return np.random.default_rng(seed)


def unpack(name: str, value: Any, names: Mapping[str, Any] | tuple[str, ...]) -> tuple[Any, ...]:
    """Unpack a returned tuple, failing clearly when it has the wrong length."""
    __tracebackhide__ = True
    names = tuple(names)
    if not isinstance(value, (tuple, list)) or len(value) != len(names):
        got = f"a {type(value).__name__}" + (f" of length {len(value)}" if isinstance(value, (tuple, list)) else "")
        raise CheckFailure(f"{name} should return a tuple ({', '.join(names)}), but it returned {got}.")
    return tuple(value)
