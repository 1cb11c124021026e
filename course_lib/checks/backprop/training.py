"""Unit 02's lecture code fixed, initialised and trained, and the reading question."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ...gradcheck import norm_rel_error, numerical_gradient
from ...layers import sigmoid
from ..calling import call_with_shapes, student_value
from ..compare import CheckFailure, as_array, assert_close, assert_scalar, assert_shape, passed, unpack
from ..evidence import graded_check
from ..exercises import diagnoses, likely_mistake
from ..rules import call_by_hand as _call_by_hand
from .gradient_check import GRADIENT_CHECK_THRESHOLD, _threshold_for
from .network import _assert_gradient_shape, _diagnoses, _network_inputs, _shapes_text, _two_layer_variant


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
                      hidden_dim: int = 300, output_dim: int = 1) -> None:
    """Check ``init_params(input_dim, hidden_dim, output_dim=1, seed=0)`` for the sigmoid network.

    Expects the lecture's shapes, W1 (D, H), b1 (1, H), W2 (H, C), b2 (1, C), zero-mean
    Glorot weights (variance 2 / (fan_in + fan_out), uniform or normal), zero biases, and
    the same numbers for the same seed. With one output, W2's fan_out barely moves its
    variance; a hidden test with many outputs sees it.
    """
    name = "init_params"
    params = call_with_shapes(init_params, input_dim, hidden_dim, output_dim, seed, name=name)
    if not isinstance(params, dict):
        raise CheckFailure(f"`{name}` should return a dict with keys 'W1', 'b1', 'W2', 'b2'.")
    missing = [key for key in ("W1", "b1", "W2", "b2") if key not in params]
    if missing:
        raise CheckFailure(f"the dict has no entry for {missing}.")
    shapes = {"W1": (input_dim, hidden_dim), "b1": (1, hidden_dim), "W2": (hidden_dim, output_dim),
              "b2": (1, output_dim)}
    arrays = {key: assert_shape(key, params[key], shape, hint="the lecture's shapes: W1 (D, H), b1 (1, H), "
                                "W2 (H, C), b2 (1, C) for C = output_dim.") for key, shape in shapes.items()}
    for key in ("b1", "b2"):
        if np.any(arrays[key] != 0):
            raise CheckFailure(f"{key} is not zero. Biases start at zero; the random weights already break "
                               "the symmetry between hidden units.")
    for key, (fan_in, fan_out) in {"W1": (input_dim, hidden_dim), "W2": (hidden_dim, output_dim)}.items():
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
    from ..linear import sgd_epochs

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
    from ..linear import _SGD_MISTAKES
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
        from ...data.genes import gene_expression

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
    # relative only (atol=0): the answer is 0.0025 in size, so an absolute band would pass 0; three significant
    # digits tell s * (1 - s) from 1 * (1 - s) (0.25 % apart, as sigmoid(6) is almost 1); never revealed
    assert_close("saturation_factor", value, expected, rtol=2e-3, atol=0.0, reveal=False,
                 hint="the local gradient of the sigmoid is s * (1 - s) with s = sigmoid(6), to three "
                 "significant digits.", diagnoses=[
                     (s, "that is the sigmoid's output, sigmoid(6); the backward pass multiplies by its derivative."),
                     (0.25, "0.25 is the largest factor, at z = 0; at z = 6 the unit is saturated."),
                 ])
    passed(f"saturation_factor: sigma'(6) = {expected:.5f}, so a saturated unit passes back about 1/400 of the "
           "gradient it receives.")
