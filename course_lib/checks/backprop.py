"""Checks for unit 02: backpropagation by hand, with gradient checking.

Every ``check_*`` builds its inputs from ``seed``, calls the student's function,
compares the result with the references in :mod:`course_lib.layers`,
:mod:`course_lib.mlp` and :mod:`course_lib.gradcheck`, prints one line when it
passes, and raises :class:`~course_lib.checks.compare.CheckFailure` (an
``AssertionError``) with a message that names the likely mistake when it does not.
Tolerance: ``rtol=1e-5`` (a float32 computation passes; realistic mistakes are off
by far more). Gradient-check based checks use the norm-based relative error
``||a - n|| / (||a|| + ||n||)`` with the course's one float64 threshold, ``1e-7``
(:data:`course_lib.gradcheck.THRESHOLDS`).

The "no shortcuts" rule: in the backward-pass exercises the gradients must be
written by hand. A function that computes them with an automatic-differentiation
tool (``tf.GradientTape``, ``jax.grad``, ``torch.autograd``, HIPS ``autograd``...)
earns no points, whatever its numbers (:mod:`.rules` finds such tools, statically and
while the function runs, and records the findings with the results, so the grader's
trusted re-check enforces the rule too).

Replay: every check reaches student code only through
:func:`~course_lib.checks.calling.call_student` (or measures it with
:func:`~course_lib.checks.calling.observe`) and judges only returned data, so the grader
can re-run it outside the kernel (``TRUSTED_REPLAY``). Checks therefore name the
student's functions by the exercise's names, not by their ``__name__``, and build every
input themselves, including the small examples the notebook shows (:data:`TINY_X`,
:func:`gradient_check_problem`, the gene-expression training data).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..gradcheck import THRESHOLDS, norm_rel_error, numerical_gradient
from ..layers import DEFAULT_NEGATIVE_SLOPE, KERAS_NEGATIVE_SLOPE, LECTURE_NEGATIVE_SLOPE, sigmoid
from ..mlp import two_layer_forward, two_layer_loss
from .calling import call_student, call_with_shapes, student_value
from .compare import CheckFailure, as_array, assert_close, assert_scalar, assert_shape, passed, random_state, unpack
from .evidence import graded_check
from .exercises import diagnoses, likely_mistake
from .rules import assert_inputs_untouched, find_autodiff_use  # noqa: F401 (find_autodiff_use: the unit's rule)
from .rules import call_by_hand as _call_by_hand

#: the grader may re-run these checks outside the kernel from recorded results
#: (:mod:`course_lib.grading.trusted`): they reach student code only through call_student and observe
TRUSTED_REPLAY = True
#: the references that answer this unit's exercises (the own-work rule, :mod:`.own_work`);
#: ``gradcheck.rel_error`` and ``gradient_check_report`` are tools the notebook hands out
REFERENCES = ("course_lib.layers.sigmoid", "course_lib.layers.sigmoid_forward", "course_lib.layers.sigmoid_backward",
              "course_lib.layers.tanh_forward", "course_lib.layers.tanh_backward",
              "course_lib.layers.relu_forward", "course_lib.layers.relu_backward",
              "course_lib.layers.leaky_relu_forward", "course_lib.layers.leaky_relu_backward",
              "course_lib.layers.affine_forward", "course_lib.layers.affine_backward", "course_lib.layers.mse_loss",
              "course_lib.mlp", "course_lib.gradcheck.numerical_gradient")

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

# ======================================================================= activations
def _activation_cases(activation: str, x: np.ndarray, dout: np.ndarray, negative_slope: float
                      ) -> tuple[np.ndarray, np.ndarray, list, list, str]:
    """Reference output and dx, forward and backward diagnoses, and a backward hint."""
    if activation == "sigmoid":
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
    elif activation == "tanh":
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
    elif activation == "relu":
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
    elif activation == "leaky_relu":
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
    else:
        raise ValueError(f"unknown activation {activation!r}")
    return out, dx, forward_diagnoses, backward_diagnoses, hint


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


# ========================================================================= two layers
def _network_inputs(seed: int, num_examples: int, input_dim: int, hidden_dim: int,
                    lecture_shapes: bool = False) -> dict[str, np.ndarray]:
    """X (N, D), y (N, 1) and random (not zero) parameters; biases (H,)/(1,) or, lecture style, (1, H)/(1, 1)."""
    rng = random_state(seed)
    X = rng.normal(size=(num_examples, input_dim))
    y = rng.normal(size=(num_examples, 1))
    W1 = rng.normal(0.0, 1.0 / np.sqrt(input_dim), size=(input_dim, hidden_dim))
    b1 = rng.normal(0.0, 0.5, size=hidden_dim)
    W2 = rng.normal(0.0, 1.0 / np.sqrt(hidden_dim), size=(hidden_dim, 1))
    b2 = rng.normal(0.0, 0.5, size=1)
    if lecture_shapes:
        b1, b2 = b1.reshape(1, -1), b2.reshape(1, 1)
    return {"X": X, "y": y, "W1": W1, "b1": b1, "W2": W2, "b2": b2}


def _shapes_text(inputs: dict[str, np.ndarray]) -> str:
    return ", ".join(f"{name} {np.shape(value)}" for name, value in inputs.items())


def _two_layer_variant(X: np.ndarray, y: np.ndarray, params: dict[str, np.ndarray],
                       mistake: str | None = None) -> dict[str, Any]:
    """All nodes of the sigmoid network's forward and backward pass, optionally with one mistake.

    Works with biases shaped (H,) or (1, H); bias gradients get the bias's shape.
    """
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    N = X.shape[0]
    z = X @ W1 + b1.reshape(-1)
    h = sigmoid(z)
    scores = h @ W2 + b2.reshape(-1)
    loss = float(np.sum((scores - y) ** 2) / N)
    dscores = 2.0 * (scores - y) / N
    if mistake == "no_two":
        dscores = dscores / 2.0
    elif mistake == "no_mean":
        dscores = dscores * N
    elif mistake == "sign":
        dscores = -dscores
    dW2 = h.T @ dscores
    db2 = dscores.sum(axis=0)
    dh = dscores @ W2.T
    if mistake == "sigmoid_twice":
        dz = dh * sigmoid(h) * (1 - sigmoid(h))
    elif mistake == "no_activation_grad":
        dz = dh
    elif mistake == "derivative_of_z":
        dz = dh * z * (1 - z)
    else:
        dz = dh * h * (1 - h)
    dX = dz @ W1.T
    dW1 = dX.T @ dz if mistake == "dW1_from_dX" else X.T @ dz
    db1 = dz.sum(axis=0)
    if mistake == "double_mean":
        dW1, db1, dW2, db2 = dW1 / N, db1 / N, dW2 / N, db2 / N
    if mistake == "bias_mean":
        db1, db2 = db1 / N, db2 / N
    return {"z": z, "h": h, "scores": scores, "loss": loss, "dscores": dscores, "dh": dh, "dz": dz,
            "dW2": dW2, "db2": db2.reshape(b2.shape), "dW1": dW1, "db1": db1.reshape(b1.shape), "dX": dX}


#: mistake -> what to tell the student
_MISTAKES = {
    "dW1_from_dX": "dW1 is computed from dX, the gradient with respect to the input; it must use the input "
                   "itself: dW1 = X.T @ dz. (Bug 2 in the lecture's backprop code.)",
    "sigmoid_twice": "the sigmoid's derivative is evaluated at the wrong point, sigmoid'(sigmoid(z)): h is already "
                     "sigmoid(z), so dz = dh * h * (1 - h).",
    "no_activation_grad": "dz = dh: the sigmoid's local gradient h * (1 - h) is missing.",
    "derivative_of_z": "dz uses z * (1 - z); the sigmoid's derivative is h * (1 - h) with h = sigmoid(z).",
    "no_two": "every gradient is half what it should be: d/dy_hat (y_hat - y)**2 = 2 (y_hat - y), so "
              "dscores = 2 * (scores - y) / N.",
    "no_mean": "every gradient is N times too large: the loss is a mean over N examples, so "
               "dscores = 2 * (scores - y) / N.",
    "double_mean": "every weight gradient is N times too small: the 1/N is applied twice (it already sits in dscores).",
    "bias_mean": "the bias gradients are means over the batch; they are sums (the 1/N already sits in dscores).",
    "sign": "every gradient has the wrong sign: dscores = 2 * (scores - y) / N, prediction minus target.",
}


def _diagnoses(X: np.ndarray, y: np.ndarray, params: dict[str, np.ndarray], node: str) -> list:
    """The table of mistakes as rows for ``node``: its value in each wrong variant of the network."""
    return diagnoses(lambda mistake: _two_layer_variant(X, y, params, mistake)[node], _MISTAKES)


_BIAS_BUG = {"db2": "bug 1", "db1": "bug 3"}


def _assert_gradient_shape(name: str, value: Any, expected_shape: tuple[int, ...], num_examples: int,
                           parameter: str) -> np.ndarray:
    """Shape check of one parameter gradient with the messages for the usual shape mistakes."""
    arr = as_array(name, value)
    if arr.shape == tuple(expected_shape):
        return arr
    node = "d" + parameter
    if node in _BIAS_BUG and arr.ndim >= 1 and arr.shape[0] == num_examples and num_examples > 1:
        raise CheckFailure(
            f"{name} has shape {arr.shape}, but {parameter} has shape {tuple(expected_shape)}.\n"
            f"Likely mistake: {name} is the upstream gradient itself (one row per example). The bias is shared "
            f"by all N examples, so its gradient sums over them: .sum(axis=0)"
            + (", keepdims=True" if len(expected_shape) == 2 else "")
            + f". This is {_BIAS_BUG[node]} in the lecture's backprop code.")
    if len(expected_shape) == 2 and expected_shape[0] == 1 and arr.shape == tuple(expected_shape[1:]):
        raise CheckFailure(f"{name} has shape {arr.shape}, but {parameter} has shape {tuple(expected_shape)}.\n"
                           "In this code the biases are rows (1, H): sum with keepdims=True, "
                           "e.g. d_Z.sum(axis=0, keepdims=True).")
    if len(expected_shape) == 1 and arr.shape == (1, *expected_shape):
        raise CheckFailure(f"{name} has shape {arr.shape}, but {parameter} has shape {tuple(expected_shape)}.\n"
                           "A gradient has the shape of its parameter: drop keepdims=True (or reshape to "
                           f"{parameter}.shape); otherwise `{parameter} -= learning_rate * {name}` would turn "
                           f"{parameter} into a 2-D array.")
    if arr.ndim == 2 and arr.shape == tuple(expected_shape)[::-1]:
        raise CheckFailure(f"{name} has shape {arr.shape}, expected {tuple(expected_shape)} like {parameter}.\n"
                           "Likely mistake: a transpose. dW2 = h.T @ dscores and dW1 = X.T @ dz: "
                           "(inputs).T @ (upstream gradient).")
    return assert_shape(name, arr, expected_shape,
                        hint=f"a gradient has the shape of its parameter: {parameter} {tuple(expected_shape)}.")


@graded_check
def check_two_layer_forward(two_layer_forward: Callable[..., Any], seed: int = 0, num_examples: int = 5,
                            input_dim: int = 4, hidden_dim: int = 6) -> None:
    """Check ``two_layer_forward(X, params) -> (scores, cache)`` for the sigmoid network.

    X (N, D); params W1 (D, H), b1 (H,), W2 (H, 1), b2 (1,); scores (N, 1).
    """
    inputs = _network_inputs(seed, num_examples, input_dim, hidden_dim)
    X = inputs["X"]
    params = {key: inputs[key] for key in ("W1", "b1", "W2", "b2")}
    name = "two_layer_forward"
    result = call_with_shapes(two_layer_forward, X, params, name=name, shapes=_shapes_text(inputs))
    scores, _cache = unpack(name, result, ("scores", "cache"))
    expected, _ = _reference_forward(X, params)
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    assert_shape("scores", scores, expected.shape,
                 hint="scores = h @ W2 + b2 has one row per example and one output column: (N, 1).")
    assert_close("scores", scores, expected, diagnoses=[
        ((X @ W1 + b1) @ W2 + b2, "the hidden layer has no sigmoid: without an activation the two layers "
                                  "collapse into one linear model."),
        (sigmoid(sigmoid(X @ W1 + b1) @ W2 + b2), "a sigmoid is applied to the output too; a regression "
                                                  "output has no activation."),
        (sigmoid(X @ W1) @ W2 + b2, "b1 is missing: z = X @ W1 + b1."),
        (sigmoid(X @ W1 + b1) @ W2, "b2 is missing: scores = h @ W2 + b2."),
        (np.maximum(X @ W1 + b1, 0) @ W2 + b2, "the activation is a ReLU; this network uses the sigmoid."),
        (np.tanh(X @ W1 + b1) @ W2 + b2, "the activation is tanh; this network uses the sigmoid."),
    ])
    passed(f"{name} matches the reference: X {X.shape} -> z, h {(num_examples, hidden_dim)} "
           f"-> scores {expected.shape}.")


def _reference_forward(X: np.ndarray, params: dict[str, np.ndarray]) -> tuple[np.ndarray, Any]:
    return two_layer_forward(X, params, "sigmoid")


@graded_check
def check_two_layer_loss(two_layer_loss: Callable[..., Any], seed: int = 0, num_examples: int = 6,
                         input_dim: int = 4, hidden_dim: int = 5) -> None:
    """Check ``two_layer_loss(X, y, params) -> (loss, grads)``: the full forward and backward pass.

    X (N, D), y (N, 1), params W1 (D, H), b1 (H,), W2 (H, 1), b2 (1,); grads keyed like params,
    each with its parameter's shape. The gradients must be computed by hand.
    """
    inputs = _network_inputs(seed, num_examples, input_dim, hidden_dim)
    X, y = inputs["X"], inputs["y"]
    params = {key: inputs[key] for key in ("W1", "b1", "W2", "b2")}
    name = "two_layer_loss"
    result = _call_by_hand(two_layer_loss, X, y, params, name=name, shapes=_shapes_text(inputs))
    loss, grads = unpack(name, result, ("loss", "grads"))
    reference_loss, reference_grads = _reference_loss(X, y, params)
    value = assert_scalar("loss", loss)
    residual = _two_layer_variant(X, y, params)["scores"] - y
    assert_close("loss", value, reference_loss, diagnoses=[
        (np.sum(residual ** 2), "the loss is a sum; the MSE is the mean over the N examples."),
        (np.sqrt(np.mean(residual ** 2)), "that is the root of the MSE."),
        (np.mean(residual ** 2) / 2, "the loss has an extra 1/2: the course uses mean((scores - y)**2)."),
        (np.mean(np.abs(residual)), "that is the mean absolute error; the loss is the mean squared error."),
    ])
    if not isinstance(grads, dict):
        raise CheckFailure(f"grads should be a dict with keys 'W1', 'b1', 'W2', 'b2', but it is a "
                           f"{type(grads).__name__}.")
    missing = [key for key in params if key not in grads]
    if missing:
        raise CheckFailure(f"grads is missing {missing}; it needs one gradient per parameter, under the "
                           f"parameter's name ('W1', 'b1', 'W2', 'b2').")
    for key in ("W2", "b2", "W1", "b1"):          # in the order backpropagation computes them
        node = "d" + key
        gradient = _assert_gradient_shape(f"grads['{key}']", grads[key], params[key].shape, num_examples, key)
        assert_close(f"grads['{key}']", gradient, reference_grads[key],
                     hint="go backwards one node at a time: dscores -> dW2, db2, dh -> dz -> dW1, db1.",
                     diagnoses=_diagnoses(X, y, params, node))
    passed(f"{name}: the loss and all four gradients match the reference (N={num_examples}, "
           f"D={input_dim}, H={hidden_dim}).")


def _reference_loss(X: np.ndarray, y: np.ndarray, params: dict[str, np.ndarray]):
    return two_layer_loss(X, y, params, "sigmoid")


# ================================================================= computational graph
def graph_node_shapes(num_examples: int, input_dim: int, hidden_dim: int) -> dict[str, tuple[int, ...]]:
    """The shape of every node of the two-layer graph with one output (the course's shapes)."""
    N, D, H = num_examples, input_dim, hidden_dim
    return {"X": (N, D), "W1": (D, H), "b1": (H,), "z": (N, H), "h": (N, H), "W2": (H, 1), "b2": (1,),
            "scores": (N, 1), "y": (N, 1), "loss": (), "dscores": (N, 1), "dW2": (H, 1), "db2": (1,),
            "dh": (N, H), "dz": (N, H), "dW1": (D, H), "db1": (H,)}


_NODE_HINTS = {
    "loss": "the loss is a single number: shape ().",
    "db1": "a bias gradient has the bias's shape, (H,): the upstream gradient is summed over the N examples.",
    "db2": "a bias gradient has the bias's shape, (1,): the upstream gradient is summed over the N examples.",
    "b1": "one bias per hidden unit.",
    "dW1": "a gradient has the shape of its parameter: dW1 like W1.",
    "dW2": "a gradient has the shape of its parameter: dW2 like W2.",
    "dscores": "dL/dscores has the shape of scores.",
    "dh": "dL/dh has the shape of h.",
    "dz": "dL/dz has the shape of z.",
    "z": "one row per example, one column per hidden unit.",
    "h": "the sigmoid works elementwise: h has the shape of z.",
    "scores": "one row per example, one output.",
}


@graded_check
def check_graph_shapes(graph_shapes: Callable[..., Any], num_examples: int = 5, input_dim: int = 3,
                       hidden_dim: int = 4) -> None:
    """Check ``graph_shapes(N, D, H) -> {node: shape}`` for the nodes of :func:`graph_node_shapes`."""
    name = "graph_shapes"
    shapes = call_with_shapes(graph_shapes, num_examples, input_dim, hidden_dim, name=name)
    expected = graph_node_shapes(num_examples, input_dim, hidden_dim)
    if not isinstance(shapes, dict):
        raise CheckFailure(f"`{name}` should return a dict {{node name: shape tuple}}, not a {type(shapes).__name__}.")
    missing = [node for node in expected if node not in shapes]
    if missing:
        raise CheckFailure(f"the dict has no entry for {missing}; give every node of the graph: {list(expected)}.")
    N, D, H = num_examples, input_dim, hidden_dim
    for node, shape in expected.items():
        given = shapes[node]
        try:
            given = tuple(int(v) for v in (given if isinstance(given, (tuple, list)) else (given,)))
        except (TypeError, ValueError):
            raise CheckFailure(f"the shape of {node} should be a tuple of whole numbers, like {shape}; "
                               f"got {shapes[node]!r}.") from None
        if given != shape:
            raise CheckFailure(
                f"the shape of {node} is {shape} with N={N}, D={D}, H={H}; the answer says {given}.\n"
                f"Hint: {_NODE_HINTS.get(node, 'follow the forward pass: (N, D) @ (D, H) -> (N, H).')}")
    passed(f"{name}: all {len(expected)} node shapes are right for N={N}, D={D}, H={H}.")


_GRAPH_VALUE_NODES = ("z", "h", "scores", "loss", "dscores", "dW2", "db2", "dh", "dz", "dW1", "db1")


#: the small example of the graph exercise; the notebook shows the same numbers as X_tiny, y_tiny, params_tiny
TINY_X = np.array([[1.0, 2.0],
                   [0.5, -1.0],
                   [-1.5, 0.0]])
TINY_Y = np.array([[1.0], [0.0], [-0.5]])
TINY_PARAMS = {"W1": np.array([[0.1, -0.2],
                               [0.3, 0.4]]),
               "b1": np.array([0.0, 0.1]),
               "W2": np.array([[0.5], [-0.6]]),
               "b2": np.array([0.2])}


@graded_check
def check_graph_values(values: dict[str, Any], X: np.ndarray | None = None, y: np.ndarray | None = None,
                       params: dict[str, np.ndarray] | None = None) -> None:
    """Check the value of every node of the graph for one small example.

    ``values`` maps each of z, h, scores, loss, dscores, dW2, db2, dh, dz, dW1, db1 to its
    array (shapes as in :func:`graph_node_shapes`); X (N, D), y (N, 1) and params are the
    example, by default the notebook's (:data:`TINY_X`, :data:`TINY_Y`, :data:`TINY_PARAMS`).
    """
    if X is None:
        X, y, params = TINY_X, TINY_Y, TINY_PARAMS
    values = student_value("values", values, X, y, params)
    if not isinstance(values, dict):
        raise CheckFailure(f"the answer should be a dict {{node name: value}}, not a {type(values).__name__}.")
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float).reshape(X.shape[0], -1)
    params = {key: np.asarray(value, dtype=float) for key, value in params.items()}
    reference = _two_layer_variant(X, y, params)
    missing = [node for node in _GRAPH_VALUE_NODES if node not in values]
    if missing:
        raise CheckFailure(f"the dict has no entry for {missing}; fill in every node: {list(_GRAPH_VALUE_NODES)}.")
    for node in _GRAPH_VALUE_NODES:
        expected = reference[node]
        if node == "loss":
            assert_close("loss", assert_scalar("loss", values[node]), expected, reveal=False)
            continue
        value = _assert_gradient_shape(node, values[node], np.shape(expected), X.shape[0], node[1:]) \
            if node in ("db1", "db2", "dW1", "dW2") else \
            assert_shape(node, values[node], np.shape(expected), hint=_NODE_HINTS.get(node, ""))
        assert_close(node, value, expected, hint=_NODE_HINTS.get(node, ""), diagnoses=_diagnoses(X, y, params, node),
                     reveal=False)                     # fixed inputs: the expected values would be the answer
    passed(f"all {len(_GRAPH_VALUE_NODES)} nodes of the graph have the right values.")


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

    # a cubic, whose centred difference depends on h: sum(C x**3) gives 3 C x**2 + C h**2, so the step must be h
    x3, C, big_h = rng.normal(size=(rows, columns)), rng.uniform(0.5, 1.5, size=(rows, columns)), 0.1

    def on_cubic(x3: np.ndarray, h: float) -> Any:
        return numerical_gradient(lambda v: float(np.sum(C * v ** 3)), x3, h)

    grad3 = assert_shape("grad", _call_by_hand(on_cubic, x3, big_h, name=name, shapes=f"x {x3.shape}"), x3.shape)
    assert_close(f"grad of sum(C * x**3) with h={big_h}", grad3, 3 * C * x3 ** 2 + C * big_h ** 2, rtol=1e-6,
                 diagnoses=[(3 * C * x3 ** 2, f"the step h={big_h} passed in is not used: the result is the exact "
                                              "derivative, as a tiny fixed step gives. Use the argument h, never a "
                                              "number written into the function.")])
    passed(f"{name} matches centred differences on x of shape {x.shape}, uses the step h it is given, "
           "and restores x.")


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


# =========================================================== the lecture's buggy code, fixed
def lecture_inputs(seed: int = 0, num_examples: int = 6, input_dim: int = 3, hidden_dim: int = 4
                   ) -> dict[str, np.ndarray]:
    """Inputs in the lecture's shapes: X (N, D), Y (N, 1), W1 (D, H), b1 (1, H), W2 (H, 1), b2 (1, 1)."""
    inputs = _network_inputs(seed, num_examples, input_dim, hidden_dim, lecture_shapes=True)
    inputs["Y"] = inputs.pop("y")
    return inputs


@graded_check
def check_fixed_backprop(backprop: Callable[..., Any], seed: int = 0, num_examples: int = 6,
                         input_dim: int = 3, hidden_dim: int = 4,
                         threshold: float = GRADIENT_CHECK_THRESHOLD) -> None:
    """Grade the fixed lecture code by a gradient check.

    ``backprop(X, Y, W1, b1, W2, b2) -> (loss, d_W1, d_b1, d_W2, d_b2)`` in the lecture's shapes
    (X (N, D), Y (N, 1), W1 (D, H), b1 (1, H), W2 (H, 1), b2 (1, 1)); every gradient must have its
    parameter's shape and pass a gradient check (norm-based relative error below ``threshold``)
    against centred differences of the MSE.
    """
    inputs = lecture_inputs(seed, num_examples, input_dim, hidden_dim)
    X, Y = inputs["X"], inputs["Y"]
    params = {key: inputs[key] for key in ("W1", "b1", "W2", "b2")}
    name = "backprop_fixed"
    result = _call_by_hand(backprop, X, Y, params["W1"], params["b1"], params["W2"], params["b2"],
                           name=name, shapes=_shapes_text(inputs))
    loss, d_W1, d_b1, d_W2, d_b2 = unpack(name, result, ("loss", "d_W1", "d_b1", "d_W2", "d_b2"))
    reference = _two_layer_variant(X, Y, params)
    assert_close("loss", assert_scalar("loss", loss), reference["loss"],
                 hint="the loss was right in the lecture's code: np.sum((Y_hat - Y)**2) / N.")
    work = {key: value.copy() for key, value in params.items()}

    def loss_of_params(_ignored: Any) -> float:
        return _two_layer_variant(X, Y, work)["loss"]

    gradients = {"W1": d_W1, "b1": d_b1, "W2": d_W2, "b2": d_b2}
    report, failures = [], []
    for key in ("W2", "b2", "W1", "b1"):             # every gradient, so that all remaining bugs are named
        label = f"d_{key}"
        try:
            gradient = _assert_gradient_shape(label, gradients[key], params[key].shape, num_examples, key)
        except CheckFailure as failure:
            failures.append("- " + str(failure).replace("\n", "\n  "))
            continue
        numerical = numerical_gradient(loss_of_params, work[key])
        error = norm_rel_error(gradient, numerical)
        report.append(f"{label}: {error:.1e}")
        if error >= _threshold_for(gradient, threshold):
            wrong = likely_mistake(gradient, _diagnoses(X, Y, params, "d" + key), rtol=1e-5, atol=1e-8)
            failures.append(
                f"- gradient check failed for {label}: relative error {error:.2g} against centred differences "
                f"(it should be below {threshold:.0e}).\n  "
                + (f"Likely mistake: {wrong}" if wrong else
                   "Compare your line for it with the chain rule: (input of the layer).T @ (upstream gradient)."))
    if failures:
        raise CheckFailure(f"{len(failures)} of the 4 gradients are still wrong:\n" + "\n".join(failures))
    passed(f"{name} passes the gradient check ({', '.join(report)}): all three bugs are fixed.")


@graded_check
def check_init_params(init_params: Callable[..., Any], seed: int = 0, input_dim: int = 200,
                      hidden_dim: int = 300) -> None:
    """Check ``init_params(input_dim, hidden_dim, output_dim=1, seed=0)`` for the sigmoid network.

    Expects the lecture's shapes, W1 (D, H), b1 (1, H), W2 (H, 1), b2 (1, 1), zero-mean
    Glorot weights (variance 2 / (fan_in + fan_out), uniform or normal), zero biases, and
    the same numbers for the same seed.
    """
    name = "init_params"
    params = call_with_shapes(init_params, input_dim, hidden_dim, 1, seed, name=name)
    if not isinstance(params, dict):
        raise CheckFailure(f"`{name}` should return a dict with keys 'W1', 'b1', 'W2', 'b2'.")
    missing = [key for key in ("W1", "b1", "W2", "b2") if key not in params]
    if missing:
        raise CheckFailure(f"the dict has no entry for {missing}.")
    shapes = {"W1": (input_dim, hidden_dim), "b1": (1, hidden_dim), "W2": (hidden_dim, 1), "b2": (1, 1)}
    arrays = {key: assert_shape(key, params[key], shape, hint="the lecture's shapes: W1 (D, H), b1 (1, H), "
                                "W2 (H, 1), b2 (1, 1).") for key, shape in shapes.items()}
    for key in ("b1", "b2"):
        if np.any(arrays[key] != 0):
            raise CheckFailure(f"{key} is not zero. Biases start at zero; the random weights already break "
                               "the symmetry between hidden units.")
    for key, (fan_in, fan_out) in {"W1": (input_dim, hidden_dim), "W2": (hidden_dim, 1)}.items():
        W = arrays[key].astype(float)
        glorot_std = np.sqrt(2.0 / (fan_in + fan_out))
        standard_error = W.std() / np.sqrt(W.size)
        if np.all(W >= 0):
            raise CheckFailure(f"every entry of {key} is positive (mean {W.mean():.3g}): this is np.random.rand, "
                               "uniform on [0, 1) (bug 4 in the lecture's code). Use zero-mean weights.")
        if abs(W.mean()) > 5 * standard_error + 1e-3:
            raise CheckFailure(f"{key} has mean {W.mean():.3g}; the initial weights should have mean 0.")
        if not 0.8 < W.std() / glorot_std < 1.25:
            he_std = np.sqrt(2.0 / fan_in)
            if key == "W1" and 0.8 < W.std() / he_std < 1.25:
                reason = "that is He initialisation, made for ReLU; this network uses the sigmoid: Glorot."
            elif 0.8 < W.std() < 1.25:
                reason = "the weights are standard normal; scale them to Glorot's standard deviation."
            else:
                reason = "use Glorot: variance 2 / (fan_in + fan_out)."
            raise CheckFailure(f"{key} has standard deviation {W.std():.3g}; Glorot gives "
                               f"sqrt(2 / ({fan_in} + {fan_out})) = {glorot_std:.3g}.\nLikely mistake: {reason}")
    # reproducibility, on a small network: every result goes into the grader's record, one large one is enough
    small = (8, 6)
    first, again, other = (_weights_W1(name, call_with_shapes(init_params, *small, 1, run_seed, name=name))
                           for run_seed in (seed, seed, seed + 1))
    if not np.array_equal(again, first):
        raise CheckFailure(f"`{name}` gives different weights for the same seed: draw them from "
                           "np.random.default_rng(seed).")
    if np.array_equal(other, first):
        raise CheckFailure(f"`{name}` gives the same weights for different seeds: use the seed argument.")
    passed(f"{name}: zero-mean Glorot weights, zero biases, lecture shapes, reproducible from the seed.")


def _weights_W1(name: str, params: Any) -> np.ndarray:
    """W1 of an ``init_params`` result, or a clear failure."""
    if not isinstance(params, dict) or "W1" not in params:
        raise CheckFailure(f"`{name}` should return a dict with keys 'W1', 'b1', 'W2', 'b2'.")
    return as_array("W1", params["W1"])


def _sgd_two_layer(X: np.ndarray, Y: np.ndarray, params: dict[str, np.ndarray], learning_rate: float,
                    num_epochs: int, batch_size: int, seed: int, mistake: str | None = None
                    ) -> tuple[dict[str, np.ndarray], list[float]]:
    """Exercise 13's loop from the starting ``params`` (lecture shapes kept), optionally with one shuffling mistake.

    X (N, D), Y (N, 1) -> (params after training, history of num_epochs full-data losses).
    The mistakes are those of unit 01's SGD (:data:`course_lib.checks.linear._SGD_MISTAKES`).
    """
    from .linear import sgd_epochs

    params = {key: np.array(value, dtype=np.float64) for key, value in params.items()}
    history = []
    for batches in sgd_epochs(X.shape[0], batch_size, num_epochs, seed, mistake):
        for rows in batches:
            grads = _two_layer_variant(X[rows], Y[rows], params)
            for key in params:
                params[key] = params[key] - learning_rate * grads["d" + key].reshape(params[key].shape)
        history.append(_two_layer_variant(X, Y, params)["loss"])
    return params, history


def _assert_same_steps(train_two_layer: Callable[..., Any], X: np.ndarray, Y: np.ndarray, hidden_dim: int,
                       learning_rate: float, num_epochs: int, batch_size: int, seed: int,
                       trained: dict[str, np.ndarray], history: np.ndarray) -> None:
    """The exercise fixes every number but the start, so replay the loop from the student's own start.

    ``train_two_layer(..., num_epochs=0, ...)`` returns the starting parameters (from the
    student's ``init_params``); from them the reference loop must end where the student's did.
    """
    name = "train_two_layer"
    start, _ = unpack(name, _call_by_hand(train_two_layer, X, Y, hidden_dim, learning_rate, 0, batch_size, seed,
                                          name=name, shapes=f"X {X.shape}, Y {Y.shape}"), ("params", "history"))
    if not isinstance(start, dict) or any(key not in start for key in trained):
        raise CheckFailure("with num_epochs=0 the function should return the starting params, a dict with keys "
                           "'W1', 'b1', 'W2', 'b2', and an empty history.")
    start = {key: np.asarray(start[key], dtype=np.float64) for key in trained}
    expected, expected_history = _sgd_two_layer(X, Y, start, learning_rate, num_epochs, batch_size, seed)
    from .linear import _SGD_MISTAKES
    for key in ("W2", "b2", "W1", "b1"):
        assert_close(f"params['{key}'] after training", trained[key].reshape(expected[key].shape), expected[key],
                     rtol=1e-5, atol=1e-8,
                     hint=f"the exercise fixes every step: rng = np.random.default_rng(seed) once, then each epoch "
                          f"one rng.permutation(N) cut into slices of {batch_size}, the last one shorter, and one "
                          "update of every parameter per slice.",
                     diagnoses=diagnoses(lambda mistake: _sgd_two_layer(X, Y, start, learning_rate, num_epochs,
                                                                        batch_size, seed, mistake)[0][key],
                                         _SGD_MISTAKES))
    assert_close("history", history, expected_history, rtol=1e-5,
                 hint="after each epoch, append the MSE of the current parameters on all of X.")


@graded_check
def check_train_two_layer(train_two_layer: Callable[..., Any], X: np.ndarray | None = None,
                          Y: np.ndarray | None = None, hidden_dim: int = 16, learning_rate: float = 0.3,
                          num_epochs: int = 50, batch_size: int = 32, seed: int = 0, max_loss_ratio: float = 0.5,
                          data_seed: int = 0, num_samples: int = 400) -> None:
    """Check ``train_two_layer(X, Y, hidden_dim, learning_rate, num_epochs, batch_size, seed) -> (params, history)``.

    X (N, D), Y (N, 1), by default the notebook's training data,
    ``gene_expression(num_samples, seed=data_seed)``; params in the lecture's shapes; history
    holds one training MSE per epoch. Passes when the trained network's training MSE is below
    ``max_loss_ratio`` times the best linear model's (exact least squares) on the same data.
    """
    if X is None:
        from ..data.genes import gene_expression

        data = gene_expression(num_samples=num_samples, seed=data_seed)
        X, Y = data.X, data.y
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64).reshape(-1, 1)
    name = "train_two_layer"
    result = _call_by_hand(train_two_layer, X, Y, hidden_dim, learning_rate, num_epochs, batch_size, seed,
                           name=name, shapes=f"X {X.shape}, Y {Y.shape}")
    params, history = unpack(name, result, ("params", "history"))
    history = as_array("history", history).ravel()
    if history.size != num_epochs:
        raise CheckFailure(f"history has {history.size} entries for num_epochs={num_epochs}: record the training "
                           "loss once per epoch, and train for exactly num_epochs epochs (a fixed number, "
                           "never `while True`).")
    if not np.all(np.isfinite(history)):
        raise CheckFailure("the training loss became NaN or infinite: the learning rate may be too large, or "
                           "a gradient is wrong (run the gradient check).")
    if not isinstance(params, dict) or any(key not in params for key in ("W1", "b1", "W2", "b2")):
        raise CheckFailure("params should be a dict with keys 'W1', 'b1', 'W2', 'b2'.")
    work = {key: np.asarray(params[key], dtype=np.float64) for key in ("W1", "b1", "W2", "b2")}
    if work["b1"].size != hidden_dim or work["W1"].shape != (X.shape[1], hidden_dim):
        raise CheckFailure(f"W1 has shape {work['W1'].shape} and b1 {work['b1'].shape}; with "
                           f"hidden_dim={hidden_dim} expected {(X.shape[1], hidden_dim)} and (1, {hidden_dim}). "
                           "Did b1 grow to (N, H)? That is the broadcasting of the lecture's bias bugs.")
    _assert_same_steps(train_two_layer, X, Y, hidden_dim, learning_rate, num_epochs, batch_size, seed, work, history)
    final_loss = _two_layer_variant(X, Y, work)["loss"]
    design = np.column_stack([X, np.ones(X.shape[0])])
    solution, *_ = np.linalg.lstsq(design, Y[:, 0], rcond=None)
    linear_loss = float(np.mean((design @ solution - Y[:, 0]) ** 2))
    if final_loss > max_loss_ratio * linear_loss:
        raise CheckFailure(
            f"after {num_epochs} epochs the network's training MSE is {final_loss:.3g}; the best linear model "
            f"reaches {linear_loss:.3g}, and a trained two-layer network gets below "
            f"{max_loss_ratio * linear_loss:.3g}.\nCheck: zero-mean Glorot initialisation (not np.random.rand), "
            "one update per minibatch with the fixed gradients, a fresh shuffle every epoch.")
    passed(f"{name}: training MSE {history[0]:.3g} after epoch 1 -> {final_loss:.3g} after {num_epochs} epochs "
           f"(best linear model: {linear_loss:.3g}).")


# ================================================================== reading question
@graded_check
def check_saturation_factor(saturation_factor: Any) -> None:
    """Reading question: the factor a sigmoid unit with input z = 6 puts on the gradient, sigma'(6) = 0.00247."""
    value = assert_scalar("saturation_factor", student_value("saturation_factor", saturation_factor))
    s = float(sigmoid(np.array(6.0)))
    expected = s * (1.0 - s)
    assert_close("saturation_factor", value, expected, rtol=2e-2, hint="the local gradient of the sigmoid is "
                 "s * (1 - s) with s = sigmoid(6).", diagnoses=[
                     (s, "that is the sigmoid's output, sigmoid(6); the backward pass multiplies by its derivative."),
                     (0.25, "0.25 is the largest factor, at z = 0; at z = 6 the unit is saturated."),
                 ])
    passed(f"saturation_factor: sigma'(6) = {expected:.5f}, so a saturated unit passes back about 1/400 of the "
           "gradient it receives.")
