"""Checks for unit 03: deep-learning frameworks (tensors, tf.data, GradientTape, Keras).

Every ``check_*`` builds its inputs from ``seed``, calls the student's function,
compares the result with the references in :mod:`course_lib.mlp` (unit 02's NumPy
network, float64), :mod:`course_lib.tape` and :mod:`course_lib.models`, prints one
line when it passes, and raises :class:`~course_lib.checks.compare.CheckFailure` (an
``AssertionError``) with a message that names the likely mistake when it does not.

Tolerances: gradients computed in float64 must match unit 02's manual gradients to
``rtol=1e-6``; float32 results (tensors, a training step) use the course default
``rtol=1e-5``; several epochs of float32 training use ``rtol=1e-4``.

Where a tape is used the loss must be one number, a mean (KNOWN-DEFECTS 6). Where
``tape.gradient`` is called is never graded (KNOWN-DEFECTS 7): on the default,
non-persistent tape ``gradient()`` stops the recording, so a call inside the ``with``
block gives the same numbers at the same cost. A spy notes, without failing, a
gradient taken while a *persistent* tape was still recording.

Replay: the answers here are live TensorFlow objects (tensors, variables, datasets,
optimizers, Keras models), which cannot travel to the grader's trusted re-check. So each
check is split in two. Inside the kernel, a *measurement* (run through
:func:`~course_lib.checks.calling.observe`) calls the student's function on the live
objects and returns plain data: a tensor's kind, dtype, shape and values; the batches a
dataset yields in two passes; the variables after a training step; whether
a persistent tape was recording during ``tape.gradient``; a Keras model's summary
(:mod:`.keras_summary`) and predictions. The *judgement* that follows uses only that
data and NumPy, in the kernel and, replayed, in the grader (``TRUSTED_REPLAY``). A check
reports the first problem in a fixed order; a problem met while measuring is kept as a
marker (:func:`_attempt`) that the judgement raises at its place in that order.
TensorFlow is imported only inside the measurements: importing this module is cheap,
and the re-check never loads TensorFlow.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Callable

import numpy as np

from ..mlp import init_two_layer_params, two_layer_loss
from .calling import call_in_place, call_student, observe, run_student
from .compare import CheckFailure, as_array, assert_close, assert_scalar, assert_shape, passed, random_state, unpack
from .evidence import graded_check
from .exercises import assert_choice
from .rules import note_tape_placement, tape_rules, watch_gradient_calls
from .keras_summary import activation_name, assert_same_summary, summarize, two_layer_summary

#: the grader may re-run these checks outside the kernel from recorded results
#: (:mod:`course_lib.grading.trusted`): they reach student code only through call_student and observe
TRUSTED_REPLAY = True
#: the references that answer this unit's exercises (the own-work rule, :mod:`.own_work`)
REFERENCES = ("course_lib.tape", "course_lib.models.two_layer_model", "course_lib.models.set_two_layer_params",
              "course_lib.models.dense_layers", "course_lib.models.deep_mlp", "course_lib.models.dense_parameter_counts",
              "course_lib.models.output_layer_for_task")

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

    def pipeline(run_seed: int, passes: int) -> dict[str, Any]:
        """The dataset built with ``run_seed``: its element spec and ``passes`` passes over it, as data."""
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

    built = pipeline(seed, 2)
    if built["spec"] == "not a pair":
        raise CheckFailure("each element of the dataset should be a pair (X_batch, y_batch): "
                           "tf.data.Dataset.from_tensor_slices((X, y)), with X and y in one tuple.")
    X_spec, y_spec = built["spec"]
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
    epochs = [_take(epoch) for epoch in built["epochs"]]
    for epoch in epochs:
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
    first, second = orders
    if np.array_equal(first, np.arange(num_examples)):
        raise CheckFailure("the examples come in their original order: shuffle them with "
                           ".shuffle(buffer_size=N, seed=seed) before .batch(batch_size).")
    blocks = [set(range(start, min(start + batch_size, num_examples)))
              for start in range(0, num_examples, batch_size)]
    if all(set(b[0][:, 0].round().astype(int).tolist()) in blocks for b in epochs[0]):
        raise CheckFailure("every batch holds consecutive examples (0-7, 8-15, ...): the batches are shuffled, not the "
                           "examples. Call .shuffle(...) before .batch(...).")
    if np.array_equal(first, second):
        raise CheckFailure("both epochs visit the examples in the same order: reshuffle at every pass "
                           "(reshuffle_each_iteration=True, the default of .shuffle; do not .cache() after it).")
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
    again = _take(pipeline(seed, 1)["epochs"][0])
    again_order = np.concatenate([b[0][:, 0] for b in again]).round().astype(int)
    if not np.array_equal(again_order, first):
        raise CheckFailure("two datasets built with the same seed give different orders: pass the seed to "
                           ".shuffle(..., seed=seed) so that results can be reproduced.")
    other = _take(pipeline(seed + 1, 1)["epochs"][0])
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
    loss_array = _take(result["loss"])
    if loss_array.size == num_examples and num_examples > 1:
        raise CheckFailure(f"loss has shape {loss_array.shape}: one loss per example. tf.losses.MSE and "
                           "keras.losses.mean_squared_error return a vector, and tape.gradient of a vector is the "
                           "gradient of its sum (bug 6 in the lecture). Reduce it to one number: tf.reduce_mean.")
    value = assert_scalar("loss", loss_array)
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
    loss_array = _take(seen["loss"])
    if loss_array.size == num_examples and num_examples > 1:
        raise CheckFailure(f"the returned loss has shape {loss_array.shape}: one loss per example. Reduce it to one "
                           "number with tf.reduce_mean before taking the gradient (bug 6 in the lecture: the "
                           "gradient of a vector is the gradient of its sum, an N times larger step).")
    value = assert_scalar("the returned loss", loss_array)
    after = seen["after"]
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
        from ..tape import make_dataset

        variables = _variables32(params)
        dataset = make_dataset(X, y, batch_size, shuffle=False)
        with watch_gradient_calls() as calls:
            history = _call(train_loop, dataset, variables, num_epochs, learning_rate, name=name)
        if history is not None:
            history = _attempt(lambda: as_array("history", [float(np.asarray(value)) for value in history]
                                                if isinstance(history, (list, tuple)) else history).ravel())
        return {"rules": tape_rules(calls), "history": history,
                "after": {key: variables[key].numpy() for key in PARAM_NAMES}}

    seen = observe(name, measure, X, y, params, batch_size, num_epochs, learning_rate)
    note_tape_placement(name, seen["rules"])
    steps = math.ceil(num_examples / batch_size)
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
    after = seen["after"]
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
    passed(f"{name}: {num_epochs} epochs x {steps} steps trained the variables exactly like the reference loop; "
           f"loss {history[0]:.4f} -> {history[-1]:.4f}.")


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
        from ..models import two_layer_model

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
    if "val_loss" not in logs:
        raise CheckFailure("the history has no 'val_loss': pass validation_data=(X_val, y_val) to fit, so Keras "
                           "measures the validation loss after every epoch.")
    for key in ("loss", "val_loss"):
        if len(logs[key]) != num_epochs:
            raise CheckFailure(f"history['{key}'] has {len(logs[key])} entries; expected one per epoch, "
                               f"num_epochs={num_epochs}. Pass epochs=num_epochs to fit (once).")
    steps = optimizer["iterations"]
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
    val_loss = float(np.mean((as_array("the model's predictions", seen["val_predictions"]) - y_val) ** 2))
    train_loss = float(np.mean((as_array("the model's predictions", seen["train_predictions"]) - y_train) ** 2))
    assert_close("history['val_loss'][-1]", float(logs["val_loss"][-1]), val_loss, rtol=1e-4,
                 hint="the validation loss must be measured on (X_val, y_val): pass validation_data=(X_val, y_val) "
                      "(validation_split would hold back part of the training data instead).",
                 diagnoses=[(train_loss, "the 'validation' loss is the loss on the training data: pass "
                                         "validation_data=(X_val, y_val), not the training arrays.")])
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


# ============================================================ 9 · cross-entropy from logits
def _bce_from_logits(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean binary cross-entropy of labels y (N,) in {0, 1} given logits (N,), in the stable form."""
    return float(np.mean(np.maximum(logits, 0.0) - logits * y + np.log1p(np.exp(-np.abs(logits)))))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax of logits (N, C) along the classes, with the row maximum subtracted first."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _ce_from_logits(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean categorical cross-entropy of integer labels (N,) given logits (N, C)."""
    return float(-np.mean(_log_softmax(logits)[np.arange(len(labels)), labels]))


def _clipped_bce(logits: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(1.0 / (1.0 + np.exp(-np.clip(logits, -700, 700))), 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _cross_entropy_cases(seed: int, num_examples: int, num_classes: int) -> list[dict[str, Any]]:
    """Moderate logits (scale 2) and extreme ones (|z| from 700 to 900, where exp overflows and sigmoid rounds to 1)."""
    rng = random_state(seed)
    cases = []
    for label, scale in (("moderate", None), ("extreme", (700.0, 900.0))):
        def draw(shape):
            if scale is None:
                return rng.normal(0.0, 2.0, size=shape)
            return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(*scale, size=shape)
        cases.append({"label": label, "z": draw(num_examples), "y": rng.integers(0, 2, num_examples).astype(float),
                      "logits": draw((num_examples, num_classes)),
                      "labels": rng.integers(0, num_classes, num_examples)})
    return cases


_UNSTABLE = ("a loss of {value} on logits from 700 to 900 in size: exp overflows there, and sigmoid(z) or softmax "
             "rounds to exactly 1 or 0, whose log is -inf. Compute from the logits: {stable}.")


@graded_check
def check_cross_entropy_from_logits(binary_cross_entropy: Callable[..., Any], categorical_cross_entropy: Callable[..., Any],
                                    seed: int = 0, num_examples: int = 8, num_classes: int = 3) -> None:
    """Check ``binary_cross_entropy(logits (N,), y (N,)) -> float`` and ``categorical_cross_entropy(logits (N, C),
    labels (N,)) -> float``: mean cross-entropies computed from logits, stable for any logit size.

    Compared (``rtol=1e-5``) with float64 references on moderate logits and on logits of
    size 700 to 900, where a formula through probabilities overflows or takes ``log(0)``.
    """
    for case in _cross_entropy_cases(seed, num_examples, num_classes):
        z, y, logits, labels = case["z"], case["y"], case["logits"], case["labels"]
        where = f"({case['label']} logits)"
        value = call_student(binary_cross_entropy, z, y, name="binary_cross_entropy")
        value = assert_scalar(f"binary_cross_entropy {where}", value)
        expected = _bce_from_logits(z, y)
        if not np.isfinite(value):
            raise CheckFailure(_UNSTABLE.format(value=value, stable="max(z, 0) - z * y + log(1 + exp(-|z|))"))
        sigmoid_z = 1.0 / (1.0 + np.exp(-np.clip(z, -700, 700)))
        assert_close(f"binary_cross_entropy {where}", value, expected, rtol=1e-5, diagnoses=[
            (expected * num_examples, "the losses are summed; take their mean over the N examples."),
            (_bce_from_logits(z, 1.0 - y), "the labels are swapped: the loss of label 1 is -log(sigmoid(z))."),
            (_bce_from_logits(sigmoid_z, y), "the sigmoid is applied twice: the function receives logits; do not "
                                             "squash them before the stable formula."),
            (_clipped_bce(z, y), "the probabilities are clipped (as Keras does without from_logits), which caps "
                                 "each loss near -log(1e-7) = 16.1. Compute from the logits instead."),
            (expected / np.log(10.0), "log base 10: cross-entropy uses the natural log, np.log."),
        ])
        value = call_student(categorical_cross_entropy, logits, labels, name="categorical_cross_entropy")
        value = assert_scalar(f"categorical_cross_entropy {where}", value)
        expected = _ce_from_logits(logits, labels)
        if not np.isfinite(value):
            raise CheckFailure(_UNSTABLE.format(
                value=value, stable="subtract each row's maximum before exp, then log_softmax = z - log(sum(exp(z)))"))
        log_probs = _log_softmax(logits)
        assert_close(f"categorical_cross_entropy {where}", value, expected, rtol=1e-5, diagnoses=[
            (expected * num_examples, "the losses are summed; take their mean over the N examples."),
            (float(-np.mean(log_probs)), "the loss averages -log p over every class; it takes only the true "
                                         "class's: -log p[n, labels[n]]."),
            (_ce_from_logits(np.exp(log_probs), labels), "the softmax is applied twice: the function receives "
                                                         "logits."),
            (float(-np.mean(log_probs[np.arange(num_examples), 0])), "the labels are not used: pick each row's "
                                                                     "true class, log_probs[np.arange(N), labels]."),
            (expected / np.log(10.0), "log base 10: cross-entropy uses the natural log, np.log."),
        ])
    passed("binary_cross_entropy and categorical_cross_entropy: the mean losses from logits, finite and exact "
           "even for logits of size 900.")


# ================================================================== reading questions
@graded_check
def check_why_average(why_average: Any) -> None:
    """Reading question: why the MSE averages over the N examples instead of summing (the answer is ``"b"``)."""
    assert_choice("why_average", why_average, "b", {
        "a": "A sum and a mean have the same minimiser; being smaller is not what matters. Think about what "
             "happens to the gradient, and so to a good learning rate, when N doubles.",
        "c": "A sum is as differentiable as a mean (its gradient is just N times larger). What does that factor "
             "N do to the step size?",
        "d": "Averaging the loss does not remove noise from the targets; the minimiser is the same either way. "
             "What does N do to the size of the gradient?",
    })
    passed("why_average: the mean keeps the gradient's size independent of N, so one learning rate works for "
           "any data set size (and for any batch size).")


@graded_check
def check_why_shuffle(why_shuffle: Any) -> None:
    """Reading question: why SGD shuffles the examples before cutting them into minibatches (``"a"``)."""
    assert_choice("why_shuffle", why_shuffle, "a", {
        "b": "Shuffling does not reduce the number of epochs by itself; think of data stored sorted, e.g. by age "
             "or by hospital: what would consecutive minibatches look like?",
        "c": "NumPy slices any order; nothing requires a shuffle. Think of data stored sorted.",
        "d": "A shuffle makes results depend on the seed; reproducibility comes from seeding it, not from "
             "shuffling. Think of data stored sorted.",
    })
    passed("why_shuffle: each minibatch should be a fair sample of the data, whatever order the file is in.")
