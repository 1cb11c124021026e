"""Unit 02's two-layer network: its forward pass and loss, and the computational graph's shapes and values."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ...layers import sigmoid
from ...mlp import two_layer_forward, two_layer_loss
from ..calling import call_with_shapes, student_value
from ..compare import CheckFailure, as_array, assert_close, assert_scalar, assert_shape, passed, random_state, unpack
from ..evidence import graded_check
from ..exercises import diagnoses
from ..rules import call_by_hand as _call_by_hand


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
