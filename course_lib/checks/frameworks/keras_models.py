"""Unit 03's Keras checks: building and training a model, parameter counts, output layers and losses."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ...mlp import init_two_layer_params
from ..calling import call_student, observe, run_student
from ..compare import CheckFailure, as_array, assert_close, passed, unpack
from ..evidence import graded_check
from ..keras_summary import activation_name, assert_same_summary, summarize, two_layer_summary
from .tensors import _call, _keras
from .training import _training_data


# ============================================================================ 5 · Keras
@graded_check
def check_build_two_layer_model(build_two_layer_model: Callable[..., Any], input_dim: int = 8,
                                hidden_dim: int = 16) -> None:
    """Check ``build_two_layer_model(input_dim, hidden_dim) -> keras model``.

    Expects the architecture of :func:`course_lib.models.two_layer_model`: inputs (None, D),
    ``Dense(H, activation="sigmoid")``, ``Dense(1)`` with biases. Layer names, Sequential or
    functional API, and an ``Activation`` layer instead of the argument do not matter.
    The model is compared as a summary (:mod:`.keras_summary`), so the re-check needs no Keras.
    """
    name = "build_two_layer_model"

    def measure() -> dict[str, Any]:
        return summarize(run_student(build_two_layer_model, input_dim, hidden_dim, name=name), (None, input_dim))

    expected = two_layer_summary(input_dim, hidden_dim)
    assert_same_summary(observe(name, measure, input_dim, hidden_dim), expected,
                        name=f"the model from `{name}({input_dim}, {hidden_dim})`")
    passed(f"{name}: Dense({hidden_dim}, sigmoid) -> Dense(1), {expected['trainable']} parameters, as expected.")


def _loss_name(loss: Any) -> str:
    """A normalised name of a Keras loss given as a string, a function or a loss object."""
    if isinstance(loss, str):
        text = loss
    elif loss is None:
        return "none"
    else:
        text = getattr(loss, "__name__", None) or type(loss).__name__
        config = getattr(loss, "get_config", None)
        if callable(config) and not getattr(loss, "__name__", None):
            try:
                inner = config().get("name")
                text = inner or text
            except Exception:
                pass
    text = text.lower().replace(" ", "")
    aliases = {"mse": "mean_squared_error", "meansquarederror": "mean_squared_error",
               "mae": "mean_absolute_error", "meanabsoluteerror": "mean_absolute_error",
               "bce": "binary_crossentropy", "binarycrossentropy": "binary_crossentropy",
               "categoricalcrossentropy": "categorical_crossentropy",
               "sparsecategoricalcrossentropy": "sparse_categorical_crossentropy",
               "binary_focal_crossentropy": "binary_focal_crossentropy"}
    return aliases.get(text, text)


def _keras_training(model: Any, history: Any, X_train: np.ndarray, X_val: np.ndarray) -> dict[str, Any]:
    """Kernel side: what ``check_train_keras_model`` judges of a trained model and its history, as data."""
    keras = _keras()
    logs = getattr(history, "history", history)
    optimizer = getattr(model, "optimizer", None)
    seen: dict[str, Any] = {
        "history": None if history is None else type(history).__name__,
        "logs": ({str(key): np.asarray(values, dtype=float).ravel() for key, values in logs.items()}
                 if isinstance(logs, dict) and "loss" in logs else None),
        "optimizer": None, "loss": _loss_name(getattr(model, "loss", None)),
        "val_predictions": np.asarray(model(X_val.astype(np.float32)), dtype=float).reshape(-1),
        "train_predictions": np.asarray(model(X_train.astype(np.float32)), dtype=float).reshape(-1)}
    if optimizer is not None:
        try:
            rate = float(np.asarray(optimizer.learning_rate))
        except (TypeError, ValueError):              # a schedule, not one number
            rate = None
        seen["optimizer"] = {"type": type(optimizer).__name__, "sgd": isinstance(optimizer, keras.optimizers.SGD),
                             "learning_rate": rate,
                             "momentum": float(np.asarray(getattr(optimizer, "momentum", 0.0))),
                             "iterations": int(np.asarray(optimizer.iterations))}
    return seen


def _check_keras_compile(seen: dict[str, Any], learning_rate: float) -> None:
    """Check how the model was compiled: plain SGD with ``learning_rate``, and the MSE loss."""
    optimizer = seen["optimizer"]
    if optimizer is None:
        raise CheckFailure("the model passed in was not compiled: call model.compile(optimizer=..., loss=...) and then "
                           "model.fit(...) on `model`, the argument (not on a new model).")
    if not optimizer["sgd"]:
        raise CheckFailure(f"the optimizer is {optimizer['type']}; use keras.optimizers.SGD(learning_rate="
                           "learning_rate), the plain minibatch SGD of units 01-02.")
    rate = optimizer["learning_rate"]
    if rate is None:
        raise CheckFailure(f"the optimizer's learning rate is a schedule; expected the fixed learning_rate="
                           f"{learning_rate}. Pass it: keras.optimizers.SGD(learning_rate=learning_rate).")
    if not np.isclose(rate, learning_rate, rtol=1e-6):
        hint = " (SGD's default)" if np.isclose(rate, 0.01) else ""
        raise CheckFailure(f"the optimizer's learning rate is {rate:g}{hint}; expected learning_rate={learning_rate}. "
                           "Pass it: keras.optimizers.SGD(learning_rate=learning_rate).")
    if optimizer["momentum"] != 0.0:
        raise CheckFailure("the SGD optimizer uses momentum; this exercise uses plain SGD (momentum=0, the default).")
    loss_name = seen["loss"]
    if loss_name != "mean_squared_error":
        raise CheckFailure(f"the model was compiled with the loss {loss_name!r}; this is regression with the mean "
                           "squared error: loss='mse' (or keras.losses.MeanSquaredError()).")


def _check_keras_logs(logs: dict[str, np.ndarray], num_epochs: int) -> None:
    """Check the history's logs: 'loss' and 'val_loss', each (num_epochs,)."""
    if "val_loss" not in logs:
        raise CheckFailure("the history has no 'val_loss': pass validation_data=(X_val, y_val) to fit, so Keras "
                           "measures the validation loss after every epoch.")
    for key in ("loss", "val_loss"):
        if len(logs[key]) != num_epochs:
            raise CheckFailure(f"history['{key}'] has {len(logs[key])} entries; expected one per epoch, "
                               f"num_epochs={num_epochs}. Pass epochs=num_epochs to fit (once).")


def _check_keras_steps(steps: int, num_examples: int, num_epochs: int, batch_size: int) -> int:
    """Check the optimizer's step count: num_epochs x ceil(N / batch_size); that expected count."""
    expected_steps = num_epochs * math.ceil(num_examples / batch_size)
    if steps != expected_steps:
        explanations = []
        if steps == num_epochs * math.ceil(num_examples / 32):
            explanations.append("fit used its default batch_size=32: pass batch_size=batch_size.")
        if steps < expected_steps and steps % num_epochs == 0 and steps // num_epochs == math.ceil(
                int(num_examples * 0.8) / batch_size):
            explanations.append("part of the training data went to validation (validation_split): use "
                                "validation_data=(X_val, y_val) and train on all of X_train.")
        raise CheckFailure(f"the optimizer took {steps} steps; with {num_examples} examples, batch_size={batch_size} "
                           f"and {num_epochs} epochs it should take {num_epochs} x ceil({num_examples}/{batch_size}) "
                           f"= {expected_steps}.\n" + ("Likely mistake: " + " ".join(explanations) if explanations
                                                      else "Train once, for num_epochs epochs, in batches of "
                                                           "batch_size."))
    return expected_steps


def _check_keras_val_loss(seen: dict[str, Any], logs: dict[str, np.ndarray], y_train: np.ndarray,
                          y_val: np.ndarray) -> None:
    """Check the last 'val_loss' against the MSE of the predictions (N_val,) on (X_val, y_val)."""
    val_loss = float(np.mean((as_array("the model's predictions", seen["val_predictions"]) - y_val) ** 2))
    train_loss = float(np.mean((as_array("the model's predictions", seen["train_predictions"]) - y_train) ** 2))
    assert_close("history['val_loss'][-1]", float(logs["val_loss"][-1]), val_loss, rtol=1e-4,
                 hint="the validation loss must be measured on (X_val, y_val): pass validation_data=(X_val, y_val) "
                      "(validation_split would hold back part of the training data instead).",
                 diagnoses=[(train_loss, "the 'validation' loss is the loss on the training data: pass "
                                         "validation_data=(X_val, y_val), not the training arrays.")])


@graded_check
def check_train_keras_model(train_keras_model: Callable[..., Any], seed: int = 0, num_examples: int = 48,
                            num_val: int = 24, input_dim: int = 3, hidden_dim: int = 4, num_epochs: int = 2,
                            learning_rate: float = 0.05, batch_size: int = 16) -> None:
    """Check ``train_keras_model(model, X_train, y_train, X_val, y_val, num_epochs, learning_rate, batch_size)``.

    The check passes a fresh :func:`course_lib.models.two_layer_model` and small float64 data
    (X (N, D), y (N,)). Expects ``compile`` with ``keras.optimizers.SGD(learning_rate)`` and
    the MSE loss, ``fit`` for ``num_epochs`` epochs in batches of ``batch_size`` with the
    given validation data, and the returned ``History`` (or its ``.history`` dict) with
    ``loss`` and ``val_loss``, one entry per epoch.
    """
    X, y = _training_data(seed, num_examples + num_val, input_dim)
    X_train, y_train, X_val, y_val = X[:num_examples], y[:num_examples], X[num_examples:], y[num_examples:]
    params = init_two_layer_params(input_dim, hidden_dim, 1, "sigmoid", seed)
    name = "train_keras_model"

    def measure() -> dict[str, Any]:
        from ...models import two_layer_model

        model = two_layer_model(input_dim, hidden_dim, params=params)
        history = _call(train_keras_model, model, X_train, y_train, X_val, y_val, num_epochs, learning_rate,
                        batch_size, name=name)
        return _keras_training(model, history, X_train, X_val)

    seen = observe(name, measure, X, params, num_examples, num_epochs, learning_rate, batch_size)
    if seen["history"] is None:
        raise CheckFailure(f"`{name}` returned None: return what model.fit(...) returns (a History).")
    logs = seen["logs"]
    if logs is None:
        raise CheckFailure(f"`{name}` should return the History from model.fit (or its .history dict with a 'loss' "
                           f"entry), not a {seen['history']}.")
    _check_keras_compile(seen, learning_rate)
    _check_keras_logs(logs, num_epochs)
    expected_steps = _check_keras_steps(seen["optimizer"]["iterations"], num_examples, num_epochs, batch_size)
    _check_keras_val_loss(seen, logs, y_train, y_val)
    passed(f"{name}: SGD(learning_rate={learning_rate}) on the MSE, {expected_steps} steps, loss and val_loss for "
           f"each of the {num_epochs} epochs.")


# ======================================================================= 6 · by hand
def _dense_counts(sizes: list[int]) -> list[int]:
    """:func:`course_lib.models.dense_parameter_counts`, here without importing Keras (the re-check never loads it)."""
    return [n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:])]


@graded_check
def check_dense_parameter_counts(dense_parameter_counts: Callable[..., Any],
                                 layer_sizes: tuple[int, ...] = (8, 3, 3, 3, 3, 3, 1)) -> None:
    """Check ``dense_parameter_counts(layer_sizes) -> [count per Dense layer]``.

    ``layer_sizes = [D, H1, ..., C]``; expects ``n_in * n_out + n_out`` for every pair of
    neighbouring sizes: ``len(layer_sizes) - 1`` whole numbers.
    """
    sizes = [int(size) for size in layer_sizes]
    name = "dense_parameter_counts"
    got = call_student(dense_parameter_counts, list(sizes), name=name)
    expected = _dense_counts(sizes)
    pairs = list(zip(sizes[:-1], sizes[1:]))
    if np.ndim(got) == 0:
        total = float(np.asarray(got)) if np.asarray(got).dtype != object else None
        extra = " (that is the right total)" if total == sum(expected) else ""
        raise CheckFailure(f"`{name}` returned one number{extra}; return a list with one count per Dense layer "
                           f"({len(expected)} layers for layer_sizes={sizes}); sum() of it is the total.")
    got = as_array(name, got).ravel()
    if got.size == len(sizes):
        raise CheckFailure(f"`{name}` returned {got.size} counts for {len(sizes)} sizes. The input is not a layer: "
                           f"there is one Dense layer between each pair of neighbouring sizes, {len(expected)} here.")
    if got.size != len(expected):
        raise CheckFailure(f"`{name}` returned {got.size} counts; expected {len(expected)}, one per Dense layer "
                           f"(one per pair of neighbouring sizes in {sizes}).")
    assert_close(f"{name}({sizes})", got, expected, hint="a Dense layer from n_in to n_out units holds a kernel "
                 "(n_in, n_out) and one bias per output unit.", diagnoses=[
                     ([a * b for a, b in pairs], "the biases are missing: each layer also has n_out biases."),
                     ([a * b + a for a, b in pairs], "one bias per *output* unit (n_out), not per input."),
                     ([(a + 1) * (b + 1) for a, b in pairs], "(n_in + 1) * (n_out + 1) counts a bias for a bias: "
                                                             "it is n_in * n_out + n_out."),
                     ([a * b + 2 * b for a, b in pairs], "each unit has one bias, not two."),
                 ])
    passed(f"{name}: {expected} for layer sizes {sizes}, {sum(expected)} parameters in all.")


def _activation_key(activation: Any) -> str:
    if activation is None:
        return "linear"
    if isinstance(activation, str):
        return {"none": "linear", "identity": "linear", "": "linear"}.get(activation.lower(), activation.lower())
    return activation_name(activation)


def _from_logits(loss: Any) -> bool:
    config = getattr(loss, "get_config", None)
    if callable(config):
        try:
            return bool(config().get("from_logits", False))
        except Exception:
            return False
    return False


def _output_answer(units: Any, activation: Any, loss: Any) -> dict[str, Any]:
    """Kernel side: an ``(units, activation, loss)`` answer as names and text.

    The activation and the loss may be Keras objects; they travel as the names the judgement uses.
    """
    if hasattr(units, "numpy") and callable(units.numpy):       # a TensorFlow number
        units = np.asarray(units.numpy())
    plain = isinstance(units, (bool, int, float, str, np.generic, np.ndarray)) or units is None
    return {"units": units if plain else repr(units), "activation": _activation_key(activation),
            "loss": _loss_name(loss), "logits": _from_logits(loss),
            "text": f"({units!r}, {activation!r}, {loss!r})"}


def _judge_output(task: str, num_classes: int, units: Any, activation_key: str, loss_key: str,
                  logits: bool) -> str | None:
    """None if (units, activation, loss), given by their names, suit the task, else what is wrong."""
    try:
        units = int(units)
    except (TypeError, ValueError):
        return f"units should be a whole number, not {units!r}."
    if task == "regression":
        if units != 1:
            return f"a regression predicts one number per example: 1 output unit, not {units}."
        if activation_key != "linear":
            return (f"the activation {activation_key!r} limits the outputs (a sigmoid, for one, only gives values "
                    "between 0 and 1); a regression output has no activation: None (linear).")
        if loss_key not in ("mean_squared_error",):
            return f"the loss {loss_key!r} is not the mean squared error that this regression uses: 'mse'."
        return None
    if task == "binary":
        if units == 1:
            if activation_key == "softmax":
                return "a softmax over a single unit always outputs 1.0; one unit needs the sigmoid."
            if loss_key == "binary_crossentropy" and (activation_key == "sigmoid" or (logits and activation_key == "linear")):
                return None
            if activation_key != "sigmoid":
                return (f"one output unit with activation {activation_key!r} does not give a probability; use the "
                        "sigmoid, P(class 1) = sigmoid(score).")
            return (f"the loss {loss_key!r} does not fit two classes with a sigmoid output: "
                    "'binary_crossentropy'.")
        if units == 2:
            if activation_key == "softmax" and loss_key in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
                return None
            return ("with two output units use the softmax and the (sparse) categorical cross-entropy; the usual "
                    "choice is one sigmoid unit with 'binary_crossentropy'.")
        return f"two classes need one output unit (a sigmoid probability), not {units}."
    if task == "multiclass":
        if units != num_classes:
            return f"{num_classes} classes need {num_classes} output units, one score per class, not {units}."
        if activation_key == "sigmoid":
            return ("sigmoid outputs are independent: they need not sum to 1. For one class out of "
                    f"{num_classes} use the softmax.")
        if not (activation_key == "softmax" or (logits and activation_key == "linear")):
            return f"the activation {activation_key!r} does not give class probabilities; use the softmax."
        if loss_key not in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
            return (f"the loss {loss_key!r} does not fit {num_classes} classes: 'sparse_categorical_crossentropy' for "
                    "integer labels (or 'categorical_crossentropy' for one-hot labels).")
        return None
    raise ValueError(f"unknown task {task!r}")


@graded_check
def check_output_layer_and_loss(output_layer_and_loss: Callable[..., Any], num_classes: int = 3) -> None:
    """Check ``output_layer_and_loss(task, num_classes) -> (units, activation, loss)``.

    For ``"regression"``, ``"binary"`` and ``"multiclass"`` (with ``num_classes`` classes).
    Accepts Keras's names and objects (``None`` or ``"linear"``; ``"mse"`` or
    ``keras.losses.MeanSquaredError()``; sparse or one-hot categorical cross-entropy; a
    linear output with a ``from_logits=True`` loss).
    """
    name = "output_layer_and_loss"
    for task in ("regression", "binary", "multiclass"):
        def measure(task: str = task) -> dict[str, Any]:
            result = run_student(output_layer_and_loss, task, num_classes, name=name)
            return _output_answer(*unpack(f"{name}({task!r}, {num_classes})", result, ("units", "activation", "loss")))

        answer = observe(name, measure, task, num_classes)
        problem = _judge_output(task, num_classes, answer["units"], answer["activation"], answer["loss"],
                                answer["logits"])
        if problem:
            raise CheckFailure(f"{name}({task!r}, num_classes={num_classes}) returned "
                               f"{answer['text']}.\nWhat is wrong: {problem}")
    passed(f"{name}: suitable output layers and losses for regression, binary and {num_classes}-class tasks.")
