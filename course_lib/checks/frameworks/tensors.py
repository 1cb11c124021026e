"""Unit 03's tensors and tf.data checks, and the measuring helpers the unit's checks share."""

from __future__ import annotations

import itertools
import math
from typing import Any, Callable

import numpy as np

from ...mlp import init_two_layer_params
from ..calling import call_in_place, call_student, observe, run_student
from ..compare import CheckFailure, as_array, assert_close, assert_scalar, assert_shape, passed, random_state, unpack
from ..evidence import graded_check


PARAM_NAMES = ("W1", "b1", "W2", "b2")


def _tf():
    import tensorflow as tf
    return tf


def _keras():
    import keras
    return keras


_FAILED = "__check_failed__"


def _attempt(measure: Callable[[], Any]) -> Any:
    """``measure()``'s data, or a marker holding the message of the :class:`CheckFailure` it raised."""
    try:
        return measure()
    except CheckFailure as failure:
        return {_FAILED: str(failure)}


def _take(data: Any) -> Any:
    """The data from :func:`_attempt`, raising its failure here if it holds one."""
    if isinstance(data, dict) and _FAILED in data:
        raise CheckFailure(data[_FAILED])
    return data


def _framework_error(error: Exception) -> str:
    """A framework's error cut to 600 characters, with the usual dtype mistake named."""
    message = str(error).strip()[:600]
    if "expected to be a double tensor" in str(error) or "expected to be a float tensor" in str(error):
        message += ("\nLikely mistake: float32 and float64 are mixed in one operation. NumPy arrays are "
                    "float64, TensorFlow's variables and layers float32: convert with tf.cast or "
                    "np.asarray(..., dtype='float32').")
    return message


def _call(function: Callable[..., Any], *args: Any, name: str, **kwargs: Any) -> Any:
    """Call the student's function on the live objects (:func:`~course_lib.checks.calling.call_in_place`)."""
    return call_in_place(function, *args, name=name, explain=_framework_error, **kwargs)


# ================================================================ 1 · tensors, dtypes
def _regression_problem(seed: int, num_examples: int, num_features: int) -> tuple[np.ndarray, np.ndarray]:
    rng = random_state(seed)
    X = rng.normal(size=(num_examples, num_features))
    y = X @ rng.normal(size=num_features) + 0.3 * rng.normal(size=num_examples)
    return X, y


def _tensor_facts(value: Any) -> dict[str, Any]:
    """Kernel side: what the checks need to know of a value that should be a tensor, as data."""
    tf = _tf()
    facts = {"type": f"{type(value).__module__}.{type(value).__name__}", "type_name": type(value).__name__,
             "variable": isinstance(value, tf.Variable), "tensor": bool(tf.is_tensor(value))}
    if facts["tensor"]:
        facts.update(dtype=value.dtype.name, integer=bool(value.dtype.is_integer), shape=tuple(value.shape),
                     trainable=bool(getattr(value, "trainable", False)))
        array = np.asarray(value.numpy())
        facts["value"] = array if array.dtype.kind in "biuf" else None
    return facts


def _assert_tensor(name: str, facts: dict[str, Any], purpose: str) -> None:
    if facts["variable"]:
        raise CheckFailure(f"{name} is a tf.Variable. Variables are for parameters that training changes; "
                           f"{purpose} are fixed data: use tf.convert_to_tensor or tf.constant.")
    if not facts["tensor"]:
        raise CheckFailure(f"{name} is a {facts['type']}, not a TensorFlow tensor. "
                           "Convert it with tf.convert_to_tensor(..., dtype=tf.float32).")


def _assert_float32(name: str, facts: dict[str, Any]) -> None:
    dtype = facts["dtype"]
    if dtype == "float32":
        return
    if dtype == "float64":
        raise CheckFailure(f"{name} has dtype float64. NumPy arrays are float64 and TensorFlow keeps that type; "
                           "Keras layers and the variables here are float32, and `tf.matmul` refuses to mix "
                           "the two. Ask for dtype=tf.float32 when converting.")
    if facts["integer"]:
        raise CheckFailure(f"{name} has dtype {dtype}: an integer type cuts off every decimal "
                           "(0.7 becomes 0). Use tf.float32.")
    raise CheckFailure(f"{name} has dtype {dtype}; expected float32.")


@graded_check
def check_to_tensors(to_tensors: Callable[..., Any], seed: int = 0, num_examples: int = 6,
                     num_features: int = 3) -> None:
    """Check ``to_tensors(X, y) -> (X_tensor, y_tensor)``.

    X (N, D) and y (N,) NumPy float64 arrays; expects float32 tensors X (N, D) and y as a
    column (N, 1), the shape of the network's output.
    """
    X, y = _regression_problem(seed, num_examples, num_features)
    name = "to_tensors"

    def measure() -> list[dict[str, Any]]:
        result = run_student(to_tensors, X, y, name=name)
        return [_tensor_facts(value) for value in unpack(name, result, ("X_tensor", "y_tensor"))]

    X_tensor, y_tensor = observe(name, measure, X, y)
    _assert_tensor("X_tensor", X_tensor, "inputs")
    _assert_tensor("y_tensor", y_tensor, "targets")
    X_shape, y_shape = tuple(X_tensor["shape"]), tuple(y_tensor["shape"])
    if X_shape != X.shape and y_shape[:1] == (num_examples,) and X_shape in ((num_examples,), (num_examples, 1)):
        raise CheckFailure("X_tensor looks like the targets and y_tensor like the inputs: return (X_tensor, y_tensor) "
                           "in that order.")
    _assert_float32("X_tensor", X_tensor)
    _assert_float32("y_tensor", y_tensor)
    assert_shape("X_tensor", X_tensor["value"], X.shape)
    if y_shape == (num_examples,):
        raise CheckFailure(
            f"y_tensor has shape {y_shape}; expected the column ({num_examples}, 1).\n"
            f"Why it matters: the network's output has shape (N, 1), and (N, 1) - (N,) broadcasts to an (N, N) "
            f"matrix, so a loss computed from it is silently wrong. Reshape with tf.reshape(y, (-1, 1)) or "
            f"y.reshape(-1, 1).")
    if y_shape == (1, num_examples) and num_examples > 1:
        raise CheckFailure(f"y_tensor has shape {y_shape}, a row; expected the column ({num_examples}, 1): "
                           "reshape with (-1, 1), not (1, -1).")
    assert_shape("y_tensor", y_tensor["value"], (num_examples, 1))
    assert_close("X_tensor", X_tensor["value"], X)
    assert_close("y_tensor", y_tensor["value"], y.reshape(-1, 1),
                 diagnoses=[(np.sort(y).reshape(-1, 1), "y_tensor is sorted; keep the examples in their order.")])
    passed(f"{name}: X {X_shape} and y {y_shape}, both float32 tensors.")


@graded_check
def check_variables_from_params(variables_from_params: Callable[..., Any], seed: int = 0, input_dim: int = 4,
                                hidden_dim: int = 5) -> None:
    """Check ``variables_from_params(params) -> {"W1": tf.Variable, ...}``.

    params: ``W1 (D, H)``, ``b1 (H,)``, ``W2 (H, 1)``, ``b2 (1,)`` float64 NumPy arrays (zero-mean,
    from :func:`course_lib.mlp.init_two_layer_params`, with random nonzero biases); expects trainable
    float32 ``tf.Variable`` copies with the same shapes and values, under the same keys.
    """
    params = init_two_layer_params(input_dim, hidden_dim, 1, "sigmoid", seed)
    rng = random_state(seed + 1000)
    params["b1"] = rng.normal(0.0, 0.1, size=hidden_dim)
    params["b2"] = rng.normal(0.0, 0.1, size=1)
    name = "variables_from_params"

    def measure() -> dict[str, Any]:
        variables = run_student(variables_from_params, params, name=name)
        if not isinstance(variables, dict):
            return {"type": type(variables).__name__, "entries": None}
        return {"type": "dict", "entries": {key: _tensor_facts(variables[key]) for key in PARAM_NAMES
                                            if key in variables}}

    seen = observe(name, measure, params)
    if seen["entries"] is None:
        raise CheckFailure(f"`{name}` should return a dict {{'W1': ..., 'b1': ..., 'W2': ..., 'b2': ...}}, "
                           f"not a {seen['type']}.")
    missing = [key for key in PARAM_NAMES if key not in seen["entries"]]
    if missing:
        raise CheckFailure(f"the dict has no entry for {missing}: use the same keys as params.")
    for key in PARAM_NAMES:
        variable, expected = seen["entries"][key], params[key]
        if not variable["variable"]:
            kind = "a constant tensor" if variable["tensor"] else f"a {variable['type_name']}"
            raise CheckFailure(f"variables['{key}'] is {kind}, not a tf.Variable. Parameters must be tf.Variable "
                               "objects: an optimizer can only update variables (in place, with .assign), "
                               "and a GradientTape watches them automatically.")
        if not variable["trainable"]:
            raise CheckFailure(f"variables['{key}'] was created with trainable=False: the tape would not watch it "
                               "and training would not change it.")
        _assert_float32(f"variables['{key}']", variable)
        value = as_array(f"variables['{key}']", variable["value"])
        if value.shape != expected.shape:
            raise CheckFailure(f"variables['{key}'] has shape {value.shape}; expected {expected.shape}, the shape of "
                               f"params['{key}']. Keep every parameter's shape.")
        diagnoses = []
        if np.all((value >= 0) & (value < 1)) and value.size > 1:
            diagnoses.append((value, "new random values in [0, 1) (tf.random.uniform, as in the lecture). Those are "
                                     "all positive, a poor start; and the point here is to copy the given "
                                     "zero-mean parameters so that the numbers match unit 02."))
        assert_close(f"variables['{key}']", value, expected, diagnoses=diagnoses,
                     hint=f"copy the values: tf.Variable(params['{key}'], dtype=tf.float32).")
    passed(f"{name}: four trainable float32 tf.Variables with the shapes and values of params.")


# =============================================================== 2 · tf.data pipeline
def _dataset_problem(seed: int, num_examples: int, num_features: int) -> tuple[np.ndarray, np.ndarray]:
    """X whose first column is the example's index (so its position can be traced), y = 100 + index."""
    rng = random_state(seed)
    X = rng.normal(size=(num_examples, num_features))
    X[:, 0] = np.arange(num_examples)
    y = 100.0 + np.arange(num_examples) + 0.25 * rng.random(num_examples)
    return X, y


def _one_epoch(dataset: Any, limit: int) -> list[tuple[np.ndarray, np.ndarray]]:
    batches = []
    for element in itertools.islice(iter(dataset), limit):
        if not isinstance(element, (tuple, list)) or len(element) != 2:
            raise CheckFailure("each element of the dataset should be a pair (X_batch, y_batch); build it with "
                               "tf.data.Dataset.from_tensor_slices((X, y)).")
        batches.append((np.asarray(element[0]), np.asarray(element[1])))
    return batches


def _pipeline(make_train_dataset: Callable[..., Any], X: np.ndarray, y: np.ndarray, batch_size: int, run_seed: int,
              passes: int, limit: int, name: str) -> dict[str, Any]:
    """The dataset built from X (N, D), y (N,) with ``run_seed``: its element spec and ``passes`` passes, as data."""
    def measure() -> dict[str, Any]:
        dataset = run_student(make_train_dataset, X, y, batch_size, seed=run_seed, name=name)
        if not isinstance(dataset, _tf().data.Dataset):
            return {"type": type(dataset).__name__, "spec": None, "epochs": None}
        spec = dataset.element_spec
        pair = isinstance(spec, (tuple, list)) and len(spec) == 2
        return {"type": "Dataset",
                "spec": [{"rank": part.shape.rank, "shape": tuple(part.shape), "dtype": part.dtype.name}
                         for part in spec] if pair else "not a pair",
                "epochs": [_attempt(lambda: _one_epoch(dataset, limit)) for _ in range(passes)]}

    seen = observe(name, measure, X, y, batch_size, run_seed, passes)
    if seen["spec"] is None:
        raise CheckFailure(f"`{name}` should return a tf.data.Dataset, not a {seen['type']}. Start from "
                           "tf.data.Dataset.from_tensor_slices((X, y)).")
    return seen


def _check_element_spec(spec: Any) -> None:
    """Check the element spec: a pair of float32 batches, X_batch (B, D) and y_batch a column (B, 1)."""
    if spec == "not a pair":
        raise CheckFailure("each element of the dataset should be a pair (X_batch, y_batch): "
                           "tf.data.Dataset.from_tensor_slices((X, y)), with X and y in one tuple.")
    X_spec, y_spec = spec
    if X_spec["rank"] == 1:
        raise CheckFailure(f"the dataset yields single examples of shape {tuple(X_spec['shape'])}: batch them with "
                           f".batch(batch_size).")
    for label, element in (("X_batch", X_spec), ("y_batch", y_spec)):
        if element["dtype"] != "float32":
            raise CheckFailure(f"{label} has dtype {element['dtype']}; expected float32. NumPy arrays are float64 "
                               "and tf.data keeps the type: convert X and y with .astype('float32') (or tf.cast) "
                               "first.")
    if y_spec["rank"] == 1:
        raise CheckFailure(f"y_batch has shape {tuple(y_spec['shape'])}; expected a column (B, 1) like the network's "
                           "output: reshape y with y.reshape(-1, 1) before building the dataset.")


def _check_epoch_batches(epoch: list[tuple[np.ndarray, np.ndarray]], num_examples: int, batch_size: int,
                         expected_steps: int, limit: int) -> None:
    """Check one pass: ceil(N / B) batches (X_batch (B, D), y_batch (B, 1)), full ones first, the smaller one last."""
    num_batches = len(epoch)
    if num_batches >= limit:
        raise CheckFailure(f"one pass over the dataset yields more than {limit - 1} batches; with N={num_examples} "
                           f"and batch_size={batch_size} one epoch is ceil(N / batch_size) = {expected_steps} "
                           "batches. Remove .repeat(): the training loop decides how many epochs to run.")
    if num_batches == num_examples // batch_size and num_batches != expected_steps:
        raise CheckFailure(f"one pass yields {num_batches} batches; expected {expected_steps}. The last "
                           f"{num_examples % batch_size} examples are dropped: do not use drop_remainder=True.")
    if num_batches != expected_steps:
        raise CheckFailure(f"one pass yields {num_batches} batches; expected ceil({num_examples} / {batch_size}) "
                           f"= {expected_steps} batches of batch_size={batch_size} (the last one smaller).")
    sizes = [len(b[0]) for b in epoch]
    expected_sizes = [batch_size] * (num_examples // batch_size) + ([num_examples % batch_size]
                                                                    if num_examples % batch_size else [])
    if sizes != expected_sizes and sorted(sizes) == sorted(expected_sizes):
        raise CheckFailure(f"the batches have sizes {sizes}: the smaller last batch moved, so whole batches were "
                           "shuffled, not the examples. Call .shuffle(...) before .batch(...).")
    if sizes != expected_sizes:
        raise CheckFailure(f"the batches have sizes {sizes}; expected {expected_sizes}.")
    if epoch[0][1].ndim != 2 or epoch[0][1].shape[1] != 1:
        raise CheckFailure(f"y_batch has shape {epoch[0][1].shape}; expected ({batch_size}, 1).")


def _example_orders(epochs: list[list[tuple[np.ndarray, np.ndarray]]], y: np.ndarray,
                    num_examples: int) -> list[np.ndarray]:
    """Check that each pass holds every example once with its own target; the passes' orders, each (N,) indices."""
    orders = []
    for epoch in epochs:
        ids = np.concatenate([b[0][:, 0] for b in epoch])
        targets = np.concatenate([b[1][:, 0] for b in epoch])
        if sorted(np.round(ids).astype(int).tolist()) != list(range(num_examples)):
            raise CheckFailure("one pass over the dataset does not hold every example exactly once. Shuffle and "
                               "batch the N examples; do not repeat or sample them.")
        index = np.round(ids).astype(int)
        if not np.allclose(targets, y[index].astype(np.float32), rtol=1e-6):
            raise CheckFailure("the targets no longer belong to their inputs: X and y were shuffled separately. "
                               "Build the pairs first, from_tensor_slices((X, y)), then shuffle the pairs.")
        orders.append(index)
    return orders


def _check_shuffled(orders: list[np.ndarray], first_epoch: list[tuple[np.ndarray, np.ndarray]], num_examples: int,
                    batch_size: int) -> None:
    """Check the two passes' orders (N,): examples shuffled before batching, and reshuffled at the second pass."""
    first, second = orders
    if np.array_equal(first, np.arange(num_examples)):
        raise CheckFailure("the examples come in their original order: shuffle them with "
                           ".shuffle(buffer_size=N, seed=seed) before .batch(batch_size).")
    blocks = [set(range(start, min(start + batch_size, num_examples)))
              for start in range(0, num_examples, batch_size)]
    if all(set(b[0][:, 0].round().astype(int).tolist()) in blocks for b in first_epoch):
        raise CheckFailure("every batch holds consecutive examples (0-7, 8-15, ...): the batches are shuffled, not the "
                           "examples. Call .shuffle(...) before .batch(...).")
    if np.array_equal(first, second):
        raise CheckFailure("both epochs visit the examples in the same order: reshuffle at every pass "
                           "(reshuffle_each_iteration=True, the default of .shuffle; do not .cache() after it).")


def _check_shuffle_buffer(orders: list[np.ndarray], num_examples: int) -> None:
    """Check from the passes' orders (N,) that the shuffle buffer holds all N examples (a uniform shuffle)."""
    if num_examples >= 30:
        displacement = np.mean([np.mean(np.abs(order - np.arange(num_examples))) for order in orders])
        if displacement < num_examples / 6:
            raise CheckFailure(
                f"the examples move only {displacement:.1f} places on average (a uniform shuffle moves them about "
                f"N/3 = {num_examples / 3:.0f}): the shuffle buffer is too small. .shuffle(buffer_size) draws from a "
                "window of buffer_size examples; use buffer_size=N (len(X)) for a uniform shuffle.")
    if num_examples >= 40:
        # with a buffer of K examples, example j cannot come out before position j - K + 1, so no example moves
        # K or more places forward; a uniform shuffle moves some example N/2 or more places forward in at least
        # one of two passes except with probability below 1e-6 (simulated for N >= 30)
        forward = max(int(np.max(order - np.arange(num_examples))) for order in orders)
        if forward < num_examples // 2:
            raise CheckFailure(
                f"no example ever moves more than {forward} places forward in {len(orders)} passes; a uniform shuffle "
                f"of N={num_examples} moves some example N/2 or more places forward. The shuffle buffer is smaller "
                "than the data: .shuffle(buffer_size) only draws from a window of buffer_size examples. Use "
                "buffer_size=N (len(X)).")


@graded_check
def check_make_train_dataset(make_train_dataset: Callable[..., Any], seed: int = 0, num_examples: int = 50,
                             num_features: int = 3, batch_size: int = 8) -> None:
    """Check ``make_train_dataset(X, y, batch_size, seed) -> tf.data.Dataset``.

    X (N, D), y (N,) float64 NumPy arrays. Expects a dataset of pairs
    ``(X_batch (B, D), y_batch (B, 1))`` in float32 that holds every example once per
    pass, in ``ceil(N / B)`` batches, shuffled example by example before batching
    (buffer of all N), reshuffled at every pass, and reproducible for the same seed.
    """
    X, y = _dataset_problem(seed, num_examples, num_features)
    name = "make_train_dataset"
    expected_steps = math.ceil(num_examples / batch_size)
    limit = expected_steps + 3
    built = _pipeline(make_train_dataset, X, y, batch_size, seed, 2, limit, name)
    _check_element_spec(built["spec"])
    epochs = [_take(epoch) for epoch in built["epochs"]]
    for epoch in epochs:
        _check_epoch_batches(epoch, num_examples, batch_size, expected_steps, limit)
    orders = _example_orders(epochs, y, num_examples)
    first = orders[0]
    _check_shuffled(orders, epochs[0], num_examples, batch_size)
    _check_shuffle_buffer(orders, num_examples)
    again = _take(_pipeline(make_train_dataset, X, y, batch_size, seed, 1, limit, name)["epochs"][0])
    again_order = np.concatenate([b[0][:, 0] for b in again]).round().astype(int)
    if not np.array_equal(again_order, first):
        raise CheckFailure("two datasets built with the same seed give different orders: pass the seed to "
                           ".shuffle(..., seed=seed) so that results can be reproduced.")
    other = _take(_pipeline(make_train_dataset, X, y, batch_size, seed + 1, 1, limit, name)["epochs"][0])
    other_order = np.concatenate([b[0][:, 0] for b in other]).round().astype(int)
    if np.array_equal(other_order, first):
        raise CheckFailure("a different seed gives the same order: use the `seed` argument in .shuffle(), not a "
                           "fixed number.")
    passed(f"{name}: {expected_steps} float32 batches per epoch (N={num_examples}, batch_size={batch_size}), "
           "shuffled example by example, reshuffled every epoch, reproducible.")


@graded_check
def check_steps_per_epoch(steps_per_epoch: Callable[..., Any],
                          cases: tuple[tuple[int, int], ...] = ((400, 32), (400, 40), (5, 8), (401, 400), (64, 64))
                          ) -> None:
    """Check ``steps_per_epoch(num_examples, batch_size) -> int``: ``ceil(N / batch_size)``, an integer type.

    A float such as ``np.ceil``'s ``13.0`` is refused: a count feeds ``range`` and slicing,
    which raise ``TypeError`` on a float.
    """
    name = "steps_per_epoch"
    for num_examples, batch_size in cases:
        got = call_student(steps_per_epoch, num_examples, batch_size, name=name)
        value = assert_scalar(f"{name}({num_examples}, {batch_size})", got)
        expected = math.ceil(num_examples / batch_size)
        if value == expected:
            if isinstance(got, bool) or np.asarray(got).dtype.kind not in "iu":
                raise CheckFailure(f"{name}({num_examples}, {batch_size}) returned {got!r}: the right number, but a "
                                   f"{type(got).__name__}, not an int. A count goes on into range() and slices, which "
                                   "refuse floats: np.ceil returns a float, so wrap it in int(...), or use math.ceil.")
            continue
        label = f"{name}({num_examples}, {batch_size})"
        if value == num_examples / batch_size:
            hint = "a number of steps is a whole number: the last, smaller batch is one more step (round up)."
        elif value == num_examples // batch_size:
            hint = (f"the {num_examples % batch_size} leftover examples still form a last, smaller batch: round up, "
                    "math.ceil(N / batch_size).")
        elif value == num_examples // batch_size + 1:
            hint = "when N is a multiple of batch_size there is no leftover batch: use math.ceil(N / batch_size)."
        elif value == round(num_examples / batch_size):
            hint = "round() rounds to the nearest whole number; any leftover needs a step: round *up*."
        elif value == num_examples:
            hint = "that is the number of examples; an epoch takes one step per batch."
        else:
            hint = "one epoch takes ceil(N / batch_size) steps."
        raise CheckFailure(f"{label} returned {got!r}; expected {expected} ({num_examples} examples in batches of "
                           f"{batch_size}).\nHint: {hint}")
    passed(f"{name}: ceil(N / batch_size) for {len(cases)} cases, with and without a smaller last batch.")
