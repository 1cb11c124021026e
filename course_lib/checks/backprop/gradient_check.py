"""Unit 02's gradient checking: the numerical gradient and the gradient checker."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ...gradcheck import THRESHOLDS
from ..calling import call_student
from ..compare import CheckFailure, as_array, assert_close, assert_scalar, assert_shape, passed, random_state
from ..evidence import graded_check
from ..rules import call_by_hand as _call_by_hand
from .network import _reference_loss


GRADIENT_CHECK_THRESHOLD = THRESHOLDS["float64"]      # 1e-7 on the norm-based error, as in the notebook
#: an analytic gradient computed in float32 carries float32 rounding (about 1e-7 relative) before any
#: bug: it is held to the course's float32 tolerance instead (unit 02's notebook says so)
FLOAT32_GRADIENT_THRESHOLD = 1e-5


def _threshold_for(gradient: Any, threshold: float) -> float:
    """``threshold`` for a float64 gradient; at least :data:`FLOAT32_GRADIENT_THRESHOLD` for a lower precision."""
    dtype = np.asarray(gradient).dtype
    if dtype.kind == "f" and dtype.itemsize < 8:
        return max(threshold, FLOAT32_GRADIENT_THRESHOLD)
    return threshold

# ======================================================================= gradient check
def _quadratic_case(rng: np.random.Generator, shape: tuple[int, int]):
    A = rng.uniform(0.5, 2.0, size=shape)
    B = rng.normal(size=shape)
    x = rng.normal(size=shape)

    def f(v: np.ndarray) -> float:
        return float(np.sum(A * v ** 2 + B * v))

    return f, x, 2 * A * x + B, A, B


@graded_check
def check_numerical_gradient(numerical_gradient: Callable[..., Any], seed: int = 0, rows: int = 3,
                             columns: int = 4) -> None:
    """Check ``numerical_gradient(f, x, h) -> grad`` (centred differences; x changed in place, then restored).

    Three cases on x of shape (rows, columns): a quadratic (centred differences are exact
    there, forward differences are not), a function that reads x through a closure (so x
    must be changed in place), and the restoring of x afterwards.
    """
    name = "numerical_gradient"
    rng = random_state(seed)
    shape = _check_on_quadratic(numerical_gradient, rng, rows, columns, name)
    _check_on_closure(numerical_gradient, rng, rows, columns, name)
    _check_uses_step(numerical_gradient, rng, rows, columns, name)
    passed(f"{name} matches centred differences on x of shape {shape}, uses the step h it is given, "
           "and restores x.")


def _check_on_quadratic(numerical_gradient: Callable[..., Any], rng: np.random.Generator, rows: int, columns: int,
                        name: str) -> tuple[int, ...]:
    """Centred differences on a quadratic of x (rows, columns), x restored; returns x's shape."""
    h = 1e-3
    f, x, exact, A, B = _quadratic_case(rng, (rows, columns))

    def on_quadratic(x: np.ndarray, h: float) -> tuple[Any, np.ndarray]:   # the result, and x as it is left
        return numerical_gradient(f, x, h), x

    grad, x_after = _call_by_hand(on_quadratic, x, h, name=name, shapes=f"x {x.shape}")
    if not np.allclose(x_after, x, rtol=0, atol=1e-9):
        raise CheckFailure(f"`{name}` leaves x changed after it returns (largest change "
                           f"{np.max(np.abs(x_after - x)):.3g}).\nRestore every entry after its two "
                           "evaluations: old = x[ix]; ...; x[ix] = old.")
    grad = as_array("grad", grad)
    if grad.shape == (x.size,):
        raise CheckFailure(f"grad has shape {grad.shape}; it should have the shape of x, {x.shape}. "
                           "Hint: start from grad = np.zeros_like(x) and fill it entry by entry.")
    assert_shape("grad", grad, x.shape, hint="the gradient has the shape of x.")
    forward = np.zeros_like(x)
    row_sums = np.repeat(exact.sum(axis=1, keepdims=True), columns, axis=1)
    for index in np.ndindex(x.shape):
        forward[index] = ((A[index] * (x[index] + h) ** 2 + B[index] * (x[index] + h))
                          - (A[index] * x[index] ** 2 + B[index] * x[index])) / h
    assert_close("grad", grad, exact, rtol=1e-6, hint="grad[ix] = (f(x + h e_ix) - f(x - h e_ix)) / (2 h).",
                 diagnoses=[
                     (forward, "a one-sided difference (f(x + h) - f(x)) / h; the centred difference "
                               "(f(x + h) - f(x - h)) / (2 h) is far more accurate (error ~h**2 instead of ~h)."),
                     (2 * exact - forward, "a one-sided difference (f(x) - f(x - h)) / h; use the centred one."),
                     (2 * exact, "twice too large: divide f(x + h) - f(x - h) by 2 h, not by h."),
                     (-exact, "the sign: (f(x + h) - f(x - h)) / (2 h)."),
                     (exact / 2, "half the right value: the difference is divided by 4 h, or h is added and "
                                 "subtracted with the wrong step."),
                     (row_sums, "a whole row is nudged at once: step through every single entry with "
                                "np.ndindex(x.shape) or np.nditer."),
                     (np.zeros_like(exact), "all zeros: f is never given a changed x."),
                 ])
    return x.shape


def _check_on_closure(numerical_gradient: Callable[..., Any], rng: np.random.Generator, rows: int, columns: int,
                      name: str) -> None:
    """A loss that reads x (rows, columns) through a closure: x must be changed in place, then restored."""
    # the loss reads x through a closure, as model losses do: x must be changed in place
    x2 = rng.normal(size=(rows, columns))
    weights = rng.normal(size=(rows, columns))

    def on_closure(x2: np.ndarray, h: float) -> tuple[Any, np.ndarray]:
        def closure_loss(_ignored: Any) -> float:
            return float(np.sum(np.sin(x2) * weights))

        return numerical_gradient(closure_loss, x2, h), x2

    grad2, x2_after = _call_by_hand(on_closure, x2, 1e-5, name=name, shapes=f"x {x2.shape}")
    grad2 = assert_shape("grad", grad2, x2.shape)
    if np.allclose(grad2, 0.0):
        raise CheckFailure(
            f"`{name}` returned zeros for a loss that reads x from outside (like lambda _: model.loss(X, y)[0]).\n"
            "Likely mistake: the function nudges a copy of x. Change x itself in place: old = x[ix]; "
            "x[ix] = old + h; ...; x[ix] = old.")
    assert_close("grad (loss reading x through a closure)", grad2, np.cos(x2) * weights, rtol=1e-6)
    if not np.allclose(x2_after, x2, rtol=0, atol=1e-9):
        raise CheckFailure(f"`{name}` leaves x changed after it returns: restore x[ix] = old after each entry.")


def _check_uses_step(numerical_gradient: Callable[..., Any], rng: np.random.Generator, rows: int, columns: int,
                     name: str) -> None:
    """A cubic of x (rows, columns) with a large step: the result must depend on the h passed in."""
    # a cubic, whose centred difference depends on h: sum(C x**3) gives 3 C x**2 + C h**2, so the step must be h
    x3, C, big_h = rng.normal(size=(rows, columns)), rng.uniform(0.5, 1.5, size=(rows, columns)), 0.1

    def on_cubic(x3: np.ndarray, h: float) -> Any:
        return numerical_gradient(lambda v: float(np.sum(C * v ** 3)), x3, h)

    grad3 = assert_shape("grad", _call_by_hand(on_cubic, x3, big_h, name=name, shapes=f"x {x3.shape}"), x3.shape)
    assert_close(f"grad of sum(C * x**3) with h={big_h}", grad3, 3 * C * x3 ** 2 + C * big_h ** 2, rtol=1e-6,
                 diagnoses=[(3 * C * x3 ** 2, f"the step h={big_h} passed in is not used: the result is the exact "
                                              "derivative, as a tiny fixed step gives. Use the argument h, never a "
                                              "number written into the function.")])


def gradient_check_problem(seed: int = 2) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The notebook's gradient-check problem: X (5, 3), y (5, 1) and nonzero parameters
    W1 (3, 4), b1 (4,), W2 (4, 1), b2 (1,)."""
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 1))
    params = {"W1": rng.normal(0, 0.6, size=(3, 4)), "b1": rng.normal(0, 0.3, size=4),
              "W2": rng.normal(0, 0.6, size=(4, 1)), "b2": rng.normal(0, 0.3, size=1)}
    return X, y, params


def _gradient_check_cases(seed: int, num_examples: int, input_dim: int, hidden_dim: int):
    """``(label, loss_and_grads, params, bugged)``: problems a gradient checker must judge right.

    Two correct backward passes (a quadratic with a known gradient, the reference two-layer
    network) and two wrong ones (the quadratic's gradient missing a term; the network's dW1
    doubled): ``bugged`` names the parameter whose gradient is wrong, or None.
    """
    rng = random_state(seed)
    f, x, _, A, B = _quadratic_case(rng, (2, 3))
    X, y = rng.normal(size=(num_examples, input_dim)), rng.normal(size=(num_examples, 1))
    params = {"W1": rng.normal(0, 0.6, size=(input_dim, hidden_dim)), "b1": rng.normal(0, 0.3, size=hidden_dim),
              "W2": rng.normal(0, 0.6, size=(hidden_dim, 1)), "b2": rng.normal(0, 0.3, size=1)}

    def doubled_dW1(p):
        loss, grads = _reference_loss(X, y, p)
        return loss, {**grads, "W1": 2 * grads["W1"]}

    return [("a quadratic with a known gradient", lambda p: (f(p["x"]), {"x": 2 * A * p["x"] + B}), {"x": x}, None),
            ("a quadratic whose gradient misses its linear term", lambda p: (f(p["x"]), {"x": 2 * A * p["x"]}),
             {"x": x}, "x"),
            ("a correct two-layer backward pass", lambda p: _reference_loss(X, y, p), params, None),
            ("a two-layer backward pass whose dW1 is doubled", doubled_dW1, params, "W1")]


@graded_check
def check_gradient_check(gradient_check: Callable[..., Any], seed: int = 0, num_examples: int = 5,
                         input_dim: int = 3, hidden_dim: int = 4, threshold: float = GRADIENT_CHECK_THRESHOLD) -> None:
    """``gradient_check(loss_and_grads, params)`` returns ``{name: norm-based relative error}``.

    ``loss_and_grads(params) -> (loss, grads)``; ``params`` maps names to float64 arrays.
    Graded on correct and on buggy backward passes (:func:`_gradient_check_cases`): every
    error of a correct one must be below ``threshold``, and the buggy parameter's must be
    above 1e-3 while the others stay below, so an answer that never computes a numerical
    gradient (zeros, a gradient compared with itself) cannot pass.
    """
    for label, loss_and_grads, params, bugged in _gradient_check_cases(seed, num_examples, input_dim, hidden_dim):
        errors = call_student(gradient_check, loss_and_grads, params, name="gradient_check")
        if not isinstance(errors, dict) or sorted(errors) != sorted(params):
            got = sorted(errors) if isinstance(errors, dict) else type(errors).__name__
            raise CheckFailure(f"gradient_check should return a dict with one error per parameter, "
                               f"{sorted(params)}; it returned {got}.")
        for key in params:
            reported = assert_scalar(f"the error for {key}", errors[key])
            if not np.isfinite(reported) or reported < 0:
                raise CheckFailure(f"the error for {key} is {reported}; a relative error is a number >= 0.")
            if key == bugged and reported < 1e-3:
                raise CheckFailure(
                    f"on {label}, your gradient_check reports {reported:.2g} for {key}, but that gradient is "
                    f"wrong: the check must flag it (a bug gives 1e-3 or more).\nCompare each analytic gradient "
                    "with *your* numerical_gradient of the loss with respect to that parameter; a gradient "
                    "compared with itself, or errors set to 0, can never find a bug.")
            if key != bugged and reported >= threshold:
                raise CheckFailure(
                    f"on {label}, your gradient_check reports {reported:.2g} for {key}, whose gradient is right "
                    f"(it should be below {threshold:.0e}).\nLook at which entry you perturb (params[{key!r}] "
                    "itself, changed in place and restored), use centred differences with h = 1e-5, and "
                    "measure with norm_rel_error.")
    passed("gradient_check: errors below 1e-7 on correct backward passes, and every bug flagged.")
