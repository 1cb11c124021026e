"""Unit 03's gradients and training loops with GradientTape, against unit 02's NumPy gradients."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ...mlp import init_two_layer_params, two_layer_loss
from ..calling import observe
from ..compare import CheckFailure, as_array, assert_close, assert_scalar, assert_shape, passed, random_state, unpack
from ..evidence import graded_check
from ..rules import note_tape_placement, tape_rules, watch_gradient_calls
from .tensors import PARAM_NAMES, _attempt, _call, _keras, _take, _tf


# ===================================================================== 3 · gradients
def _tape_problem(seed: int, num_examples: int, input_dim: int, hidden_dim: int) -> dict[str, np.ndarray]:
    """X (N, D), y (N, 1) and random nonzero parameters (biases (H,) and (1,))."""
    rng = random_state(seed)
    X = rng.normal(size=(num_examples, input_dim))
    y = rng.normal(size=(num_examples, 1))
    params = {"W1": rng.normal(0.0, 1.0 / np.sqrt(input_dim), size=(input_dim, hidden_dim)),
              "b1": rng.normal(0.0, 0.5, size=hidden_dim),
              "W2": rng.normal(0.0, 1.0 / np.sqrt(hidden_dim), size=(hidden_dim, 1)),
              "b2": rng.normal(0.0, 0.5, size=1)}
    return {"X": X, "y": y, **params}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _loss_variants(X: np.ndarray, y: np.ndarray, params: dict[str, np.ndarray]) -> list[tuple[str, float, dict, str]]:
    """(label, loss, grads, message) for the usual wrong versions of the network's loss (float64 NumPy)."""
    N = X.shape[0]
    W1, b1, W2, b2 = (params[k] for k in PARAM_NAMES)
    variants = []

    def grads_for(activation: str, scale: float, flat_y: bool = False) -> tuple[float, dict]:
        z = X @ W1 + b1
        if activation == "sigmoid":
            h = _sigmoid(z)
            dz_local = h * (1 - h)
        elif activation == "relu":
            h = np.maximum(z, 0)
            dz_local = (z > 0) * 1.0
        else:                                    # no activation
            h = z
            dz_local = np.ones_like(z)
        scores = h @ W2 + b2
        if flat_y:                               # (N, 1) - (N,) -> (N, N)
            residual = scores - y.ravel()[None, :]
            loss = float(np.mean(residual ** 2))
            dscores = (2.0 * residual / residual.size).sum(axis=1, keepdims=True)
        else:
            residual = scores - y
            loss = float(scale * np.mean(residual ** 2))
            dscores = scale * 2.0 * residual / N
        dh = dscores @ W2.T
        dz = dh * dz_local
        return loss, {"W1": X.T @ dz, "b1": dz.sum(axis=0), "W2": h.T @ dscores, "b2": dscores.sum(axis=0)}

    loss, grads = grads_for("sigmoid", float(N))
    variants.append(("sum", loss, grads,
                     "the gradients are N times too large: the loss is a sum over the examples, or a vector of N "
                     "per-example losses (tf.losses.MSE and keras.losses.mean_squared_error return one loss per "
                     "example, and tape.gradient differentiates the sum of a vector; bug 6 in the lecture). "
                     "Reduce to one number with tf.reduce_mean."))
    loss, grads = grads_for("sigmoid", 0.5)
    variants.append(("half", loss, grads, "the loss has an extra 1/2: the course's MSE is mean((scores - y)**2)."))
    loss, grads = grads_for("none", 1.0)
    variants.append(("linear", loss, grads, "the hidden layer has no sigmoid: h = tf.sigmoid(X @ W1 + b1)."))
    loss, grads = grads_for("relu", 1.0)
    variants.append(("relu", loss, grads, "the hidden activation is a ReLU; this network uses the sigmoid."))
    loss, grads = grads_for("sigmoid", 1.0, flat_y=True)
    variants.append(("broadcast", loss, grads,
                     "y was flattened to shape (N,): scores (N, 1) - y (N,) broadcasts to an (N, N) matrix. Keep "
                     "y as a column (N, 1)."))
    return variants


def _as_gradient_dict(grads: Any, name: str) -> dict[str, Any]:
    if isinstance(grads, (list, tuple)) and len(grads) == 4:
        raise CheckFailure(f"`{name}` returned the gradients as a {type(grads).__name__}; return a dict keyed like "
                           "`variables`: tape.gradient(loss, variables) with the dict itself returns one.")
    if not isinstance(grads, dict):
        raise CheckFailure(f"the gradients should be a dict {{'W1': dW1, ...}}, not a {type(grads).__name__}.")
    missing = [key for key in PARAM_NAMES if key not in grads]
    if missing:
        raise CheckFailure(f"the gradients dict has no entry for {missing}.")
    for key in PARAM_NAMES:
        if grads[key] is None:
            raise CheckFailure(
                f"the gradient for {key} is None: the tape did not see {key} take part in the loss. The forward "
                "pass must run inside the `with tf.GradientTape() as tape:` block, on the tf.Variable itself (not a "
                "copy made with .numpy(), np.array or tf.constant).")
    return grads


def _loss_and_gradients(name: str, result: Any) -> dict[str, Any]:
    """Kernel side: a ``(loss, grads)`` result as arrays, each problem kept for the judgement to raise in order."""
    loss, grads = unpack(name, result, ("loss", "grads"))

    def gradients() -> dict[str, Any]:
        checked = _as_gradient_dict(grads, name)
        return {key: _attempt(lambda key=key: as_array(f"grads['{key}']", checked[key])) for key in PARAM_NAMES}

    return {"loss": _attempt(lambda: as_array("loss", loss)), "grads": _attempt(gradients)}


def _scalar_loss(label: str, loss: Any, num_examples: int, advice: str) -> float:
    """Check that a measured loss is one number, not a vector (N,) of per-example losses; its value."""
    loss_array = _take(loss)
    if loss_array.size == num_examples and num_examples > 1:
        raise CheckFailure(f"{label} has shape {loss_array.shape}: one loss per example. " + advice)
    return assert_scalar(label, loss_array)


@graded_check
def check_tape_gradients(tape_gradients: Callable[..., Any], seed: int = 0, num_examples: int = 6,
                         input_dim: int = 4, hidden_dim: int = 5) -> None:
    """Check ``tape_gradients(X, y, variables) -> (loss, grads)`` against unit 02's NumPy gradients.

    X (N, D) and y (N, 1) float64 tensors; ``variables`` a dict of float64 ``tf.Variable``
    ``W1 (D, H)``, ``b1 (H,)``, ``W2 (H, 1)``, ``b2 (1,)``. Expects the MSE of the sigmoid
    network (a scalar) and a dict of gradients equal to :func:`course_lib.mlp.two_layer_loss`'s
    to ``rtol=1e-6``.
    """
    problem = _tape_problem(seed, num_examples, input_dim, hidden_dim)
    X, y = problem["X"], problem["y"]
    params = {key: problem[key] for key in PARAM_NAMES}
    name = "tape_gradients"

    def measure() -> dict[str, Any]:
        tf = _tf()
        variables = {key: tf.Variable(value, dtype=tf.float64, name=key) for key, value in params.items()}
        with watch_gradient_calls() as calls:
            result = _call(tape_gradients, tf.constant(X), tf.constant(y), variables, name=name)
        return {"rules": tape_rules(calls),
                "result": _attempt(lambda: _loss_and_gradients(name, result))}

    seen = observe(name, measure, X, y, params)
    note_tape_placement(name, seen["rules"])
    result = _take(seen["result"])
    reference_loss, reference_grads = two_layer_loss(X, y, params, "sigmoid")
    variants = _loss_variants(X, y, params)
    value = _scalar_loss("loss", result["loss"], num_examples,
                         "tf.losses.MSE and keras.losses.mean_squared_error return a vector, and tape.gradient of a "
                         "vector is the gradient of its sum (bug 6 in the lecture). Reduce it to one number: "
                         "tf.reduce_mean.")
    assert_close("loss", value, reference_loss, rtol=1e-6,
                 diagnoses=[(variant_loss, message) for _, variant_loss, _, message in variants])
    grads = _take(result["grads"])
    for key in ("W2", "b2", "W1", "b1"):
        gradient = _take(grads[key])
        assert_shape(f"grads['{key}']", gradient, params[key].shape,
                     hint=f"a gradient has the shape of its variable: {key} {params[key].shape}.")
        assert_close(f"grads['{key}']", gradient, reference_grads[key], rtol=1e-6,
                     diagnoses=[(variant_grads[key], message) for _, _, variant_grads, message in variants])
    passed(f"{name}: the loss and the four tape gradients equal unit 02's manual gradients "
           f"(float64, rtol 1e-6; N={num_examples}, D={input_dim}, H={hidden_dim}).")


# ================================================================ 4 · training loop
def _variables32(params: dict[str, np.ndarray]) -> dict[str, Any]:
    tf = _tf()
    return {key: tf.Variable(np.asarray(value, dtype=np.float32), name=key) for key, value in params.items()}


def _check_sgd_step(after: dict[str, np.ndarray], params: dict[str, np.ndarray], learning_rate: float,
                    reference_grads: dict[str, np.ndarray], variants: list[tuple[str, float, dict, str]]) -> None:
    """Check the variables after the step: all four changed, each ``param - learning_rate * grad`` (its own shape)."""
    if all(np.allclose(after[key], params[key], rtol=1e-7, atol=1e-7) for key in PARAM_NAMES):
        raise CheckFailure("the variables did not change. Apply the gradients to the variables passed in: "
                           "optimizer.apply_gradients(zip(gradients, variable_list)).")
    unchanged = [key for key in PARAM_NAMES if np.allclose(after[key], params[key], rtol=1e-7, atol=1e-7)]
    if unchanged:
        raise CheckFailure(f"{unchanged} did not change: take the gradient with respect to all four variables and "
                           "apply all four.")
    expected = {key: params[key] - learning_rate * reference_grads[key] for key in PARAM_NAMES}
    step_variants = [(variant_grads, message) for _, _, variant_grads, message in variants]
    step_variants.append(({key: -reference_grads[key] for key in PARAM_NAMES},
                          "the step goes uphill: the optimizer subtracts learning_rate * gradient itself; pass the "
                          "gradients as they are."))
    step_variants.append(({key: 2 * reference_grads[key] for key in PARAM_NAMES},
                          "the step was applied twice: call optimizer.apply_gradients once per batch."))
    for key in ("W2", "b2", "W1", "b1"):
        assert_close(f"variables['{key}'] after the step", after[key], expected[key],
                     hint="one step: variable <- variable - learning_rate * gradient of the mean loss.",
                     diagnoses=[(params[key] - learning_rate * variant[key], message)
                                for variant, message in step_variants])


@graded_check
def check_train_step(train_step: Callable[..., Any], seed: int = 0, num_examples: int = 8, input_dim: int = 4,
                     hidden_dim: int = 5, learning_rate: float = 0.1) -> None:
    """Check ``train_step(X_batch, y_batch, variables, optimizer) -> loss``: one SGD step.

    X_batch (B, D), y_batch (B, 1) float32 tensors; ``variables`` a dict of float32
    ``tf.Variable`` (``W1 (D, H)``, ``b1 (H,)``, ``W2 (H, 1)``, ``b2 (1,)``); ``optimizer``
    ``keras.optimizers.SGD(learning_rate)``. Afterwards every variable must equal
    ``param - learning_rate * grad`` with unit 02's gradients of the *mean* loss, and the
    returned loss the MSE before the step (a scalar).
    """
    problem = _tape_problem(seed, num_examples, input_dim, hidden_dim)
    X, y = problem["X"], problem["y"]
    params = {key: problem[key] for key in PARAM_NAMES}
    name = "train_step"

    def measure() -> dict[str, Any]:
        tf, keras = _tf(), _keras()
        variables = _variables32(params)
        optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
        with watch_gradient_calls() as calls:
            loss = _call(train_step, tf.constant(X, tf.float32), tf.constant(y, tf.float32), variables, optimizer,
                         name=name)
        return {"rules": tape_rules(calls), "loss": _attempt(lambda: as_array("the returned loss", loss)),
                "after": {key: variables[key].numpy().astype(np.float64) for key in PARAM_NAMES}}

    seen = observe(name, measure, X, y, params, learning_rate)
    note_tape_placement(name, seen["rules"])
    reference_loss, reference_grads = two_layer_loss(X, y, params, "sigmoid")
    variants = _loss_variants(X, y, params)
    value = _scalar_loss("the returned loss", seen["loss"], num_examples,
                         "Reduce it to one number with tf.reduce_mean before taking the gradient (bug 6 in the "
                         "lecture: the gradient of a vector is the gradient of its sum, an N times larger step).")
    after = seen["after"]
    _check_sgd_step(after, params, learning_rate, reference_grads, variants)
    stepped_loss = two_layer_loss(X, y, after, "sigmoid")[0]
    assert_close("the returned loss", value, reference_loss,
                 diagnoses=[(stepped_loss, "the loss is computed after the update; return the loss computed "
                                           "inside the tape, before the step.")]
                 + [(variant_loss, message) for _, variant_loss, _, message in variants])
    passed(f"{name}: one SGD step of the mean loss moves all four variables exactly as unit 02's gradients say.")


def _training_data(seed: int, num_examples: int, input_dim: int):
    rng = random_state(seed)
    X = rng.normal(size=(num_examples, input_dim))
    y = np.tanh(X[:, 0]) - 0.5 * X[:, -1] ** 2 + 0.1 * rng.normal(size=num_examples)
    return X, y


def _reference_training(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, batch_size: int,
                        num_epochs: int, learning_rate: float, mistake: str | None = None
                        ) -> tuple[dict[str, np.ndarray], list[float], list[float]]:
    """Minibatch training of the sigmoid network in float64 NumPy, in order, optionally with one mistake.

    Returns the final params and two per-epoch histories: the plain mean and the batch-size
    weighted mean of the epoch's batch losses (each computed before its step). Adam follows
    Keras's defaults (beta_1=0.9, beta_2=0.999, epsilon=1e-7).
    """
    params = {key: np.array(value, dtype=np.float64) for key, value in params.items()}
    y = np.asarray(y, dtype=np.float64).reshape(-1, 1)
    rate = 0.01 if mistake == "default_rate" else learning_rate
    trained = ("W1", "W2") if mistake == "weights_only" else PARAM_NAMES
    first_moment = {key: np.zeros_like(value) for key, value in params.items()}
    second_moment = {key: np.zeros_like(value) for key, value in params.items()}
    plain, weighted, step = [], [], 0
    for _ in range(1 if mistake == "one_epoch" else num_epochs):
        losses, sizes = [], []
        for start in range(0, X.shape[0], batch_size):
            loss, grads = two_layer_loss(X[start:start + batch_size], y[start:start + batch_size], params, "sigmoid")
            size = len(X[start:start + batch_size])
            if mistake == "sum":
                loss, grads = loss * size, {key: value * size for key, value in grads.items()}
            losses.append(loss)
            sizes.append(size)
            step += 1
            for key in trained:
                if mistake == "adam":
                    first_moment[key] += (grads[key] - first_moment[key]) * 0.1
                    second_moment[key] += (grads[key] ** 2 - second_moment[key]) * 0.001
                    alpha = rate * np.sqrt(1 - 0.999 ** step) / (1 - 0.9 ** step)
                    params[key] -= alpha * first_moment[key] / (np.sqrt(second_moment[key]) + 1e-7)
                else:
                    params[key] -= rate * grads[key]
        plain.append(float(np.mean(losses)))
        weighted.append(float(np.average(losses, weights=sizes)))
    return params, plain, weighted


_TRAINING_MISTAKES = {
    "sum": "the loss is a sum (or a vector of per-example losses) instead of a mean, so every step is N times too "
           "large (bug 6 in the lecture): use tf.reduce_mean.",
    "default_rate": "the learning rate is SGD's default 0.01: create keras.optimizers.SGD(learning_rate=learning_rate).",
    "adam": "this is Adam; the exercise asks for plain SGD: keras.optimizers.SGD(learning_rate=learning_rate).",
    "one_epoch": "only one epoch was trained: loop `for epoch in range(num_epochs):` around the loop over batches.",
    "weights_only": "only W1 and W2 were trained; the biases need their gradients and updates too.",
}


def _measure_train_loop(train_loop: Callable[..., Any], X: np.ndarray, y: np.ndarray, params: dict[str, np.ndarray],
                        batch_size: int, num_epochs: int, learning_rate: float, name: str) -> dict[str, Any]:
    """Kernel side: train float32 copies of ``params`` on X (N, D), y (N,) with ``train_loop``; the result as data."""
    from ...tape import make_dataset

    variables = _variables32(params)
    dataset = make_dataset(X, y, batch_size, shuffle=False)
    with watch_gradient_calls() as calls:
        history = _call(train_loop, dataset, variables, num_epochs, learning_rate, name=name)
    if history is not None:
        history = _attempt(lambda: as_array("history", [float(np.asarray(value)) for value in history]
                                            if isinstance(history, (list, tuple)) else history).ravel())
    return {"rules": tape_rules(calls), "history": history,
            "after": {key: variables[key].numpy() for key in PARAM_NAMES}}


def _history_per_epoch(seen: dict[str, Any], name: str, num_epochs: int, steps: int) -> np.ndarray:
    """Check that the history holds one finite number per epoch; the history, (num_epochs,)."""
    if seen["history"] is None:
        raise CheckFailure(f"`{name}` returned None: return the history, a list of one loss per epoch.")
    history = _take(seen["history"])
    if history.size == num_epochs * steps and steps > 1:
        raise CheckFailure(f"history has {history.size} entries, one per batch; record one number per epoch: the "
                           "mean of that epoch's batch losses.")
    if history.size != num_epochs:
        raise CheckFailure(f"history has {history.size} entries for num_epochs={num_epochs}: train for exactly "
                           "num_epochs epochs (a fixed number, never `while True`) and append one loss per epoch.")
    if not np.all(np.isfinite(history)):
        raise CheckFailure("the training loss became NaN or infinite: look for a sum instead of a mean, or a "
                           "wrong learning rate.")
    return history


def _check_trained_variables(after: dict[str, np.ndarray], params: dict[str, np.ndarray], X: np.ndarray,
                             y: np.ndarray, batch_size: int, num_epochs: int, learning_rate: float,
                             steps: int) -> tuple[list[float], list[float]]:
    """Check the trained variables against the reference loop's; its plain and weighted per-epoch loss histories."""
    if all(np.allclose(after[key], params[key], rtol=1e-7, atol=1e-7) for key in PARAM_NAMES):
        raise CheckFailure("the variables did not change: the loop must update the variables it was given "
                           "(with optimizer.apply_gradients), not copies of them.")
    reference, plain, weighted = _reference_training(params, X, y, batch_size, num_epochs, learning_rate)
    diagnoses: dict[str, list] = {key: [] for key in PARAM_NAMES}
    if not all(np.allclose(after[key], reference[key], rtol=1e-4, atol=1e-4 * max(1.0, np.abs(reference[key]).max()))
               for key in PARAM_NAMES):                 # only then train the usual mistakes, to name one
        for mistake, message in _TRAINING_MISTAKES.items():
            wrong, _, _ = _reference_training(params, X, y, batch_size, num_epochs, learning_rate, mistake)
            for key in PARAM_NAMES:
                diagnoses[key].append((wrong[key], message))
    for key in ("W2", "b2", "W1", "b1"):
        assert_close(f"variables['{key}'] after training", after[key], reference[key], rtol=1e-4,
                     hint=f"{num_epochs} epochs of {steps} SGD steps each (learning_rate={learning_rate}) on the mean "
                          "loss; one optimizer for the whole loop.",
                     diagnoses=diagnoses[key])
    return plain, weighted


def _check_history_values(history: np.ndarray, plain: list[float], weighted: list[float], steps: int) -> None:
    """Check the history (num_epochs,) against each epoch's batch losses weighted by batch size."""
    if not np.allclose(history, weighted, rtol=1e-4, atol=1e-6):
        message = ["history does not hold each epoch's mean loss per example.",
                   f"  expected: {np.round(weighted, 5).tolist()}", f"  got:      {np.round(history, 5).tolist()}"]
        if np.allclose(history, plain, rtol=1e-4, atol=1e-6):
            message.append("Likely mistake: the plain mean of the batch losses gives the smaller last batch as much "
                           "weight as a full one. Weight each batch loss by its batch size: "
                           "sum(B_k * L_k) / sum(B_k).")
        elif np.allclose(history, np.asarray(plain) * steps, rtol=1e-4):
            message.append("Likely mistake: the batch losses are summed; take their mean, weighted by batch size.")
        raise CheckFailure("\n".join(message))


@graded_check
def check_train_loop(train_loop: Callable[..., Any], seed: int = 0, num_examples: int = 40, input_dim: int = 3,
                     hidden_dim: int = 4, batch_size: int = 16, num_epochs: int = 4,
                     learning_rate: float = 0.2) -> None:
    """Check ``train_loop(train_dataset, variables, num_epochs, learning_rate) -> history``.

    ``train_dataset`` yields float32 ``(X_batch (B, D), y_batch (B, 1))`` (unshuffled here, so
    the result does not depend on how often it is iterated); ``variables`` a dict of float32
    ``tf.Variable``. Expects SGD on the mean loss for exactly ``num_epochs`` epochs, the
    variables trained in place like the reference loop's (``rtol=1e-4``), and a history of
    one number per epoch: the mean of that epoch's batch losses weighted by batch size (the
    course's convention, Keras's too); the plain mean of the batch losses is refused.
    """
    X, y = _training_data(seed, num_examples, input_dim)
    params = init_two_layer_params(input_dim, hidden_dim, 1, "sigmoid", seed)
    name = "train_loop"

    def measure() -> dict[str, Any]:
        return _measure_train_loop(train_loop, X, y, params, batch_size, num_epochs, learning_rate, name)

    seen = observe(name, measure, X, y, params, batch_size, num_epochs, learning_rate)
    note_tape_placement(name, seen["rules"])
    steps = math.ceil(num_examples / batch_size)
    history = _history_per_epoch(seen, name, num_epochs, steps)
    plain, weighted = _check_trained_variables(seen["after"], params, X, y, batch_size, num_epochs, learning_rate,
                                               steps)
    _check_history_values(history, plain, weighted, steps)
    passed(f"{name}: {num_epochs} epochs x {steps} steps trained the variables exactly like the reference loop; "
           f"loss {history[0]:.4f} -> {history[-1]:.4f}.")
