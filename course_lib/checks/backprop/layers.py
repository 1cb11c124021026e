"""Unit 02's layer checks: the activations and the affine layer, forward and backward."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ...layers import DEFAULT_NEGATIVE_SLOPE, KERAS_NEGATIVE_SLOPE, LECTURE_NEGATIVE_SLOPE, sigmoid
from ..calling import call_with_shapes
from ..compare import CheckFailure, as_array, assert_close, assert_shape, passed, random_state, unpack
from ..evidence import graded_check
from ..rules import assert_inputs_untouched
from ..rules import call_by_hand as _call_by_hand


# ======================================================================= activations
def _sigmoid_case(x: np.ndarray, dout: np.ndarray, negative_slope: float
                  ) -> tuple[np.ndarray, np.ndarray, list, list, str]:
    """:func:`_activation_cases` for the sigmoid; x, dout, out and dx are (N, H) (``negative_slope`` unused)."""
    out = sigmoid(x)
    twice = sigmoid(out)
    forward_diagnoses = [
        (sigmoid(-x), "the sign in the exponent: sigmoid(x) = 1 / (1 + exp(-x))."),
        (np.exp(-x) / (1 + np.exp(-x)), "that is sigmoid(-x) = exp(-x) / (1 + exp(-x)); "
                                        "sigmoid(x) = 1 / (1 + exp(-x))."),
        (np.tanh(x), "that is tanh(x), not the sigmoid 1 / (1 + exp(-x))."),
    ]
    backward_diagnoses = [
        (dout * twice * (1 - twice), "the derivative is evaluated at the wrong point, sigmoid'(sigmoid(x)): "
         "the cache already holds out = sigmoid(x), so dx = dout * out * (1 - out); do not apply "
         "the sigmoid to it again."),
        (out * (1 - out), "the upstream gradient is missing: multiply the local gradient "
                          "out * (1 - out) by dout (chain rule)."),
        (dout * x * (1 - x), "the derivative is written with the input x; it is out * (1 - out) "
                             "with out = sigmoid(x)."),
        (dout * out, "half of the local gradient: sigmoid'(x) = out * (1 - out)."),
        (-dout * out * (1 - out), "the sign: dx = + dout * out * (1 - out)."),
        (dout * (1 - out), "half of the local gradient: sigmoid'(x) = out * (1 - out)."),
    ]
    hint = "sigmoid'(x) = sigmoid(x) * (1 - sigmoid(x)); dx = dout * out * (1 - out)."
    dx = dout * out * (1 - out)
    return out, dx, forward_diagnoses, backward_diagnoses, hint


def _tanh_case(x: np.ndarray, dout: np.ndarray, negative_slope: float
               ) -> tuple[np.ndarray, np.ndarray, list, list, str]:
    """:func:`_activation_cases` for tanh; x, dout, out and dx are (N, H) (``negative_slope`` unused)."""
    out = np.tanh(x)
    forward_diagnoses = [(sigmoid(x), "that is the sigmoid, not tanh.")]
    backward_diagnoses = [
        (dout * (1 - np.tanh(out) ** 2), "the derivative is evaluated at the wrong point, tanh'(tanh(x)): "
         "the cache already holds out = tanh(x), so dx = dout * (1 - out**2)."),
        (dout * (1 - x ** 2), "the derivative is written with the input x; it is 1 - tanh(x)**2 = 1 - out**2."),
        (1 - out ** 2, "the upstream gradient is missing: multiply by dout (chain rule)."),
        (dout * (1 - out), "tanh'(x) = 1 - tanh(x)**2: the square is missing."),
        (-dout * (1 - out ** 2), "the sign: dx = + dout * (1 - out**2)."),
    ]
    hint = "tanh'(x) = 1 - tanh(x)**2; dx = dout * (1 - out**2)."
    dx = dout * (1 - out ** 2)
    return out, dx, forward_diagnoses, backward_diagnoses, hint


def _relu_case(x: np.ndarray, dout: np.ndarray, negative_slope: float
               ) -> tuple[np.ndarray, np.ndarray, list, list, str]:
    """:func:`_activation_cases` for ReLU; x, dout, out and dx are (N, H) (``negative_slope`` unused)."""
    out = np.maximum(x, 0)
    forward_diagnoses = [(np.minimum(x, 0), "that is min(0, x); ReLU is max(0, x)."),
                         (np.abs(x), "that is |x|; ReLU sets negative inputs to 0."),
                         (x, "the negative inputs are not set to 0.")]
    backward_diagnoses = [
        ((x > 0) * 1.0, "the upstream gradient is missing: dx = dout where x > 0, 0 elsewhere."),
        (dout * out, "multiplied by relu(x) itself; the local gradient is 0 or 1: dx = dout * (x > 0)."),
        (dout * (x < 0), "the mask is reversed: the gradient passes where x > 0."),
        (dout, "the mask is missing: the gradient is 0 wherever x <= 0."),
    ]
    hint = "relu'(x) is 1 where x > 0 and 0 elsewhere: dx = dout * (x > 0)."
    dx = dout * (x > 0)
    return out, dx, forward_diagnoses, backward_diagnoses, hint


def _leaky_relu_case(x: np.ndarray, dout: np.ndarray, negative_slope: float
                     ) -> tuple[np.ndarray, np.ndarray, list, list, str]:
    """:func:`_activation_cases` for leaky ReLU with slope ``negative_slope``; x, dout, out and dx are (N, H)."""
    slope = negative_slope
    out = np.where(x > 0, x, slope * x)
    forward_diagnoses = [(np.maximum(x, 0), "that is the plain ReLU: negative inputs are multiplied "
                                            f"by negative_slope (here {slope}), not set to 0.")]
    for other, source in ((DEFAULT_NEGATIVE_SLOPE, "the default 0.01"), (LECTURE_NEGATIVE_SLOPE, "the lecture's 0.1"),
                          (KERAS_NEGATIVE_SLOPE, "Keras 3's default 0.3")):
        if other != slope:
            forward_diagnoses.append((np.where(x > 0, x, other * x),
                                      f"the slope {other} ({source}) is used; use the `negative_slope` "
                                      f"argument (this check passes {slope})."))
    backward_diagnoses = [
        (dout * (x > 0), "the slope is missing for negative inputs: dx = negative_slope * dout there."),
        (np.where(x > 0, 1.0, slope), "the upstream gradient is missing: multiply by dout."),
        (dout * out, "multiplied by the output; the local gradient is 1 or negative_slope."),
    ]
    for other in (DEFAULT_NEGATIVE_SLOPE, LECTURE_NEGATIVE_SLOPE, KERAS_NEGATIVE_SLOPE):
        if other != slope:
            backward_diagnoses.append((dout * np.where(x > 0, 1.0, other),
                                       f"a fixed slope {other} is used; take it from the cache "
                                       f"(this check uses {slope})."))
    hint = "dx = dout where x > 0 and negative_slope * dout elsewhere."
    dx = dout * np.where(x > 0, 1.0, slope)
    return out, dx, forward_diagnoses, backward_diagnoses, hint


#: the reference builder of each activation, called as ``builder(x, dout, negative_slope)``
_ACTIVATION_BUILDERS = {"sigmoid": _sigmoid_case, "tanh": _tanh_case, "relu": _relu_case,
                        "leaky_relu": _leaky_relu_case}


def _activation_cases(activation: str, x: np.ndarray, dout: np.ndarray, negative_slope: float
                      ) -> tuple[np.ndarray, np.ndarray, list, list, str]:
    """Reference output and dx, forward and backward diagnoses, and a backward hint."""
    if activation not in _ACTIVATION_BUILDERS:
        raise ValueError(f"unknown activation {activation!r}")
    return _ACTIVATION_BUILDERS[activation](x, dout, negative_slope)


@graded_check
def check_activation(forward: Callable[..., Any], backward: Callable[..., Any] | None = None,
                     activation: str = "sigmoid", seed: int = 0, num_examples: int = 4,
                     num_units: int = 5, negative_slope: float = 0.2) -> None:
    """Check an activation's forward (and, if given, backward) function.

    ``forward(x) -> (out, cache)`` and ``backward(dout, cache) -> dx`` on x and dout of
    shape (N, H) = (num_examples, num_units); leaky ReLU's forward is called as
    ``forward(x, negative_slope)``. The backward is fed the student's own cache.
    """
    rng = random_state(seed)
    x = rng.normal(0.0, 2.0, size=(num_examples, num_units))
    dout = rng.normal(size=(num_examples, num_units))
    out_ref, dx_ref, forward_diagnoses, backward_diagnoses, hint = _activation_cases(
        activation, x, dout, negative_slope)
    forward_name = f"{activation}_forward"
    forward_args = (x, negative_slope) if activation == "leaky_relu" else (x,)
    result = call_with_shapes(forward, *forward_args, name=forward_name, shapes=f"x {x.shape}")
    out, cache = unpack(forward_name, result, ("out", "cache"))
    assert_shape("out", out, x.shape, hint="an activation works elementwise: out has the shape of x"
                 + (" (np.max reduces an axis; np.maximum compares elementwise)" if activation == "relu" else ""))
    assert_close("out", out, out_ref, diagnoses=forward_diagnoses)
    if backward is None:
        passed(f"{forward_name} matches the reference on x of shape {x.shape}.")
        return
    backward_name = f"{activation}_backward"
    dx = _call_by_hand(backward, dout, cache, name=backward_name, shapes=f"dout {dout.shape}")
    assert_shape("dx", dx, x.shape, hint="dx has the shape of x (and of dout).")
    assert_close("dx", dx, dx_ref, hint=hint, diagnoses=backward_diagnoses)
    assert_inputs_untouched(backward, (dout, cache), ("dout", "cache"), backward_name)
    passed(f"{forward_name} and {backward_name} match the reference on shape {x.shape}.")


@graded_check
def check_sigmoid(sigmoid_forward: Callable[..., Any], sigmoid_backward: Callable[..., Any] | None = None,
                  seed: int = 0, num_examples: int = 4, num_units: int = 5) -> None:
    """:func:`check_activation` for ``sigmoid_forward(x) -> (out, cache)``, ``sigmoid_backward(dout, cache) -> dx``."""
    check_activation(sigmoid_forward, sigmoid_backward, "sigmoid", seed, num_examples, num_units)


@graded_check
def check_tanh(tanh_forward: Callable[..., Any], tanh_backward: Callable[..., Any] | None = None,
               seed: int = 0, num_examples: int = 4, num_units: int = 5) -> None:
    """:func:`check_activation` for the tanh pair."""
    check_activation(tanh_forward, tanh_backward, "tanh", seed, num_examples, num_units)


@graded_check
def check_relu(relu_forward: Callable[..., Any], relu_backward: Callable[..., Any] | None = None,
               seed: int = 0, num_examples: int = 4, num_units: int = 5) -> None:
    """:func:`check_activation` for the ReLU pair."""
    check_activation(relu_forward, relu_backward, "relu", seed, num_examples, num_units)


@graded_check
def check_leaky_relu(leaky_relu_forward: Callable[..., Any], leaky_relu_backward: Callable[..., Any] | None = None,
                     seed: int = 0, num_examples: int = 4, num_units: int = 5,
                     negative_slope: float = 0.2) -> None:
    """:func:`check_activation` for ``leaky_relu_forward(x, negative_slope)`` and its backward."""
    check_activation(leaky_relu_forward, leaky_relu_backward, "leaky_relu", seed, num_examples,
                     num_units, negative_slope)


# ============================================================================ affine
def _affine_inputs(seed: int, num_examples: int, input_dim: int, output_dim: int):
    rng = random_state(seed)
    x = rng.normal(size=(num_examples, input_dim))
    W = rng.normal(size=(input_dim, output_dim))
    b = rng.normal(size=output_dim)
    dout = rng.normal(size=(num_examples, output_dim))
    shapes = (f"x (N, D) = {x.shape}, W (D, H) = {W.shape}, b (H,) = {b.shape}, "
              f"dout (N, H) = {dout.shape}")
    return x, W, b, dout, shapes


@graded_check
def check_affine_forward(affine_forward: Callable[..., Any], seed: int = 0, num_examples: int = 4,
                         input_dim: int = 5, output_dim: int = 3) -> None:
    """Check ``affine_forward(x, W, b) -> (out, cache)``: x (N, D), W (D, H), b (H,), out (N, H)."""
    x, W, b, _, shapes = _affine_inputs(seed, num_examples, input_dim, output_dim)
    name = "affine_forward"
    result = call_with_shapes(affine_forward, x, W, b, name=name, shapes=shapes)
    out, _cache = unpack(name, result, ("out", "cache"))
    assert_shape("out", out, (num_examples, output_dim),
                 hint="out = x @ W + b has one row per example and one column per unit: (N, H).")
    assert_close("out", out, x @ W + b, diagnoses=[
        (x @ W, "the bias is missing: out = x @ W + b."),
        (x @ W - b, "the bias is subtracted: out = x @ W + b."),
        (np.maximum(x @ W + b, 0), "an activation is applied; the affine layer is only x @ W + b."),
        (sigmoid(x @ W + b), "an activation is applied; the affine layer is only x @ W + b."),
    ])
    passed(f"{name} matches the reference: x {x.shape} @ W {W.shape} + b {b.shape} -> out "
           f"{(num_examples, output_dim)}.")


@graded_check
def check_affine_backward(affine_forward: Callable[..., Any], affine_backward: Callable[..., Any],
                          seed: int = 0, num_examples: int = 4, input_dim: int = 5,
                          output_dim: int = 3) -> None:
    """Check ``affine_backward(dout, cache) -> (dx, dW, db)`` with the student's own forward cache.

    x (N, D), W (D, H), b (H,), dout (N, H); expects dx (N, D), dW (D, H), db (H,).
    """
    x, W, b, dout, shapes = _affine_inputs(seed, num_examples, input_dim, output_dim)
    forward_name, name = "affine_forward", "affine_backward"
    _out, cache = unpack(forward_name, call_with_shapes(affine_forward, x, W, b, name=forward_name, shapes=shapes),
                         ("out", "cache"))
    result = _call_by_hand(affine_backward, dout, cache, name=name, shapes=shapes)
    dx, dW, db = unpack(name, result, ("dx", "dW", "db"))
    N = num_examples
    dx = as_array("dx", dx)
    assert_shape("dx", dx, x.shape, hint="dx has the shape of x, (N, D): dx = dout @ W.T.")
    assert_close("dx", dx, dout @ W.T, hint="dx = dout @ W.T.", diagnoses=[
        (dout @ W.T / N, "dx is divided by N; the 1/N of the loss is already inside dout."),
        (-(dout @ W.T), "the sign: dx = dout @ W.T."),
    ])
    dW = as_array("dW", dW)
    if dW.shape == (output_dim, input_dim) and input_dim != output_dim:
        raise CheckFailure(f"dW has shape {dW.shape}, expected {W.shape}, the shape of W.\n"
                           "Likely mistake: a transpose. dW = x.T @ dout: (D, N) @ (N, H) -> (D, H).")
    assert_shape("dW", dW, W.shape, hint="dW has the shape of W, (D, H): dW = x.T @ dout.")
    dW_diagnoses = [(x.T @ dout / N, "dW is divided by N; the 1/N of the loss is already inside dout."),
                    (x.T @ dout * N, "dW is multiplied by N."),
                    (-(x.T @ dout), "the sign: dW = x.T @ dout.")]
    if input_dim == output_dim:
        dW_diagnoses.append((dout.T @ x, "a transpose: dW = x.T @ dout, not dout.T @ x."))
    assert_close("dW", dW, x.T @ dout, hint="dW = x.T @ dout: each weight collects x times dout over the batch.",
                 diagnoses=dW_diagnoses)
    db = as_array("db", db)
    if db.shape == dout.shape and N > 1:
        raise CheckFailure(
            f"db has shape {db.shape}, the shape of dout, but b has shape {b.shape}.\n"
            "Likely mistake: db = dout. Every example used the same b, so its gradient adds their "
            "contributions: db = dout.sum(axis=0). (This is the bias bug in the lecture's backprop code: "
            "the wrong shape then broadcasts b to (N, H) silently.)")
    if db.shape == (1, output_dim):
        raise CheckFailure(f"db has shape {db.shape}, but b has shape {b.shape}.\n"
                           "A gradient has the shape of its parameter: drop keepdims=True, or reshape "
                           "db to b.shape.")
    assert_shape("db", db, b.shape, hint="db has the shape of b, (H,): sum dout over the examples, axis=0.")
    db_diagnoses = [(dout.mean(axis=0), "db is the mean of dout over the batch; it is the sum (the 1/N is "
                                        "already inside dout)."),
                    (-dout.sum(axis=0), "the sign: db = dout.sum(axis=0).")]
    if N == output_dim:
        db_diagnoses.append((dout.sum(axis=1), "the wrong axis: sum over the examples, axis=0."))
    assert_close("db", db, dout.sum(axis=0), hint="db = dout.sum(axis=0).", diagnoses=db_diagnoses)
    assert_inputs_untouched(affine_backward, (dout, cache), ("dout", "cache"), name)
    passed(f"{name} matches the reference: dx {dx.shape}, dW {dW.shape}, db {db.shape}.")
