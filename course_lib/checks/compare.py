"""The comparison helpers that every unit's checks share.

They turn "the arrays differ" into a message a beginner can act on (calling the
student's code is :mod:`.calling`'s work):

* :func:`as_array`, :func:`assert_shape`, :func:`assert_scalar` and :func:`unpack` check
  what came back before its values are compared;
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

from typing import Any, Callable, Iterable, Mapping

import numpy as np

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
