"""A Keras model's architecture as plain data, and its comparison with the expected one.

The grader's trusted re-check (:mod:`course_lib.grading.recheck`) cannot hold a student's
Keras model: it only has what the kernel recorded. So the kernel turns the model into a
*summary* with :func:`summarize` (input shape, one description per layer from
:func:`describe_model`, trainable parameters), and both sides judge that summary with
:func:`differences`. :func:`compare_models` and :func:`assert_same_architecture` say the
same of two live models. The expected summary is written as data (:func:`two_layer_summary`),
so the re-check needs neither Keras nor TensorFlow: Keras is imported only where a live
model is read.

A summary is a dict: ``{"model": False, "type": "NoneType"}`` for something that is not a
Keras model; else ``{"model": True, "build_error": str, "input_shape": (None, D) or None,
"layers": [...], "trainable": int}``.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from .compare import CheckFailure


# ------------------------------------------------------------------- kernel side (Keras)
def summarize(model: Any, input_shape: tuple) -> dict[str, Any]:
    """The summary of ``model``; an unbuilt model is built for ``input_shape`` (e.g. ``(None, D)``) first."""
    import keras

    if not isinstance(model, keras.Model):
        return {"model": False, "type": type(model).__name__}
    problem = _build(model, tuple(input_shape))
    if problem:
        return {"model": True, "build_error": problem}
    return {"model": True, "build_error": "", "input_shape": _input_shape(model),
            "layers": describe_model(model),
            "trainable": int(sum(math.prod(variable.shape) for variable in model.trainable_variables))}


def _input_shape(model: Any) -> tuple | None:
    try:
        return tuple(model.inputs[0].shape)
    except Exception:                                  # an unbuilt Sequential has no inputs yet
        return None


def _build(model: Any, input_shape: tuple) -> str | None:
    """Build an unbuilt model for ``input_shape``; a message for the student if that fails."""
    if _input_shape(model) is not None and all(layer.built for layer in model.layers):
        return None
    try:
        model.build(input_shape)
        if _input_shape(model) is None:                # a Sequential without Input: call it once
            model(np.zeros((1, *input_shape[1:]), dtype="float32"))
    except Exception as error:
        return (f"the model could not be built for inputs of shape {input_shape}: {type(error).__name__}: {error}. "
                "Start the model with keras.Input(shape=(D,)).")
    return None


#: layers that only apply an activation: folded into the layer before them
_FOLDED = ("Activation", "ReLU", "LeakyReLU", "ELU", "Softmax")
_ACTIVATION_ALIASES = {None: "linear", "None": "linear", "identity": "linear", "silu": "swish",
                       "sigmoid_v2": "sigmoid"}


def activation_name(activation: Any) -> str:
    """A plain name for a Keras activation: ``"sigmoid"``, ``"relu"``, ``"linear"`` (no activation)..."""
    if activation is None or isinstance(activation, str):
        name = activation
    else:
        from ..models import COURSE_NEGATIVE_SLOPE, leaky_relu

        if activation is leaky_relu:
            name = f"leaky_relu(slope {COURSE_NEGATIVE_SLOPE})"
        else:
            name = getattr(activation, "__name__", None) or type(activation).__name__
    return _ACTIVATION_ALIASES.get(name, name)


def _layer_activation(layer: Any) -> str | None:
    """The activation a layer applies (None if it has no notion of one)."""
    kind = type(layer).__name__
    if kind == "ReLU":
        config = layer.get_config()
        slope = config.get("negative_slope", 0.0) or 0.0
        return "relu" if not slope else f"leaky_relu(slope {slope:g})"
    if kind == "LeakyReLU":
        return f"leaky_relu(slope {layer.get_config().get('negative_slope', 0.3):g})"
    if kind == "Softmax":
        return "softmax"
    if kind == "ELU":
        return "elu"
    if hasattr(layer, "activation"):
        return activation_name(layer.activation)
    return None


def _output_shape(layer: Any, input_shape: tuple | None) -> tuple | None:
    try:
        return tuple(layer.output.shape)
    except Exception:
        pass
    if input_shape is None:
        return None
    try:
        return tuple(layer.compute_output_shape(input_shape))
    except Exception:
        return None


def describe_model(model: Any) -> list[dict[str, Any]]:
    """One plain description per layer: ``type``, ``units``, ``activation``, ``use_bias``,
    ``output_shape`` (``None`` for the batch size) and ``params``.

    ``InputLayer`` entries are skipped, and an ``Activation`` (or ``ReLU``, ``LeakyReLU``,
    ``Softmax``) layer right after a layer without activation is folded into it, so that
    ``Dense(3, activation="relu")`` and ``Dense(3)`` + ``Activation("relu")`` read the same.
    """
    description: list[dict[str, Any]] = []
    shape = _input_shape(model)
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        shape = _output_shape(layer, shape)
        activation = _layer_activation(layer)
        if kind in _FOLDED and description and description[-1]["activation"] == "linear":
            description[-1]["activation"] = activation
            description[-1]["output_shape"] = shape
            continue
        config = layer.get_config()
        description.append({
            "type": kind,
            "name": layer.name,
            "units": config.get("units"),
            "activation": activation,
            "use_bias": config.get("use_bias"),
            "output_shape": shape,
            "params": int(layer.count_params()) if layer.built else None,
        })
    return description


def compare_models(student_model: Any, expected_model: Any) -> list[str]:
    """The differences between two Keras models' architectures, in plain words.

    Compares the input shape, the number of layers and, layer by layer, the type,
    units, activation, ``use_bias``, output shape and parameter count, then the total
    number of trainable parameters. Layer names, ``Sequential`` versus the functional
    API, and activation layers versus the ``activation=`` argument do not matter.
    An unbuilt student model is built for the expected model's input shape. Both models
    are first turned into summaries (:func:`summarize`), which is also what the grader's
    re-check compares, so the two always say the same.

    Returns:
        a list of sentences, empty when the architectures agree.
    """
    shape = _input_shape(expected_model) or ()
    return differences(summarize(student_model, shape), summarize(expected_model, shape))


def assert_same_architecture(student_model: Any, expected_model: Any, name: str = "model") -> None:
    """Raise a :class:`CheckFailure` (an ``AssertionError``) listing :func:`compare_models`'s differences."""
    shape = _input_shape(expected_model) or ()
    assert_same_summary(summarize(student_model, shape), summarize(expected_model, shape), name)


# ------------------------------------------------------------------ data side (no Keras)
def two_layer_summary(input_dim: int, hidden_dim: int, output_dim: int = 1,
                      activation: str = "sigmoid") -> dict[str, Any]:
    """The summary of :func:`course_lib.models.two_layer_model` ``(D, H, C, activation)``, without Keras."""
    D, H, C = int(input_dim), int(hidden_dim), int(output_dim)
    layers = [{"type": "Dense", "name": "hidden", "units": H, "activation": activation, "use_bias": True,
               "output_shape": (None, H), "params": D * H + H},
              {"type": "Dense", "name": "output", "units": C, "activation": "linear", "use_bias": True,
               "output_shape": (None, C), "params": H * C + C}]
    return {"model": True, "build_error": "", "input_shape": (None, D), "layers": layers,
            "trainable": D * H + H + H * C + C}


def _shape_text(shape: Any) -> str:
    return "unknown" if shape is None else str(tuple(shape))


def layer_label(description: Mapping[str, Any]) -> str:
    """``Dense(16, sigmoid)``: a layer's type, units and activation."""
    parts = [description["type"]]
    if description["units"] is not None:
        parts.append(str(description["units"]))
    if description["activation"] not in (None, "linear"):
        parts.append(description["activation"])
    return parts[0] + (f"({', '.join(parts[1:])})" if len(parts) > 1 else "")


def differences(student: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    """How the student's summary differs from the expected one, in plain words (empty when they agree).

    The input shape, the number of layers and, layer by layer, the type, units, activation,
    ``use_bias``, output shape and parameter count, then the trainable parameters in all.
    Layer names, ``Sequential`` or functional API, and activation layers versus the
    ``activation=`` argument do not matter (:func:`describe_model` folds them).
    """
    if not student["model"]:
        kind = student["type"]
        hint = " Did the function forget to `return model`?" if kind == "NoneType" else ""
        return [f"expected a Keras model (keras.Sequential or keras.Model), but got a {kind}.{hint}"]
    if student["build_error"]:
        return [student["build_error"]]
    found: list[str] = []
    student_input, expected_input = student["input_shape"], expected["input_shape"]
    if student_input is not None and expected_input is not None and tuple(student_input) != tuple(expected_input):
        found.append(f"the model takes inputs of shape {_shape_text(student_input)}; expected "
                     f"{_shape_text(expected_input)} (keras.Input(shape=(D,)) with D features).")
    got_layers, want_layers = student["layers"], expected["layers"]
    if len(got_layers) != len(want_layers):
        got_labels = ", ".join(layer_label(d) for d in got_layers) or "none"
        found.append(f"the model has {len(got_layers)} layers ({got_labels}); "
                     f"expected {len(want_layers)} ({', '.join(layer_label(d) for d in want_layers)}).")
    for index, (got, want) in enumerate(zip(got_layers, want_layers), start=1):
        where = f"layer {index} ({got['type']}, named {got['name']!r})"
        if got["type"] != want["type"]:
            found.append(f"{where} is a {got['type']} layer; expected a {want['type']} layer.")
            continue
        explained = False                   # a difference that already explains the shape and the count
        if want["units"] is not None and got["units"] != want["units"]:
            found.append(f"{where} has {got['units']} units; expected {want['units']}.")
            explained = True
        if got["activation"] != want["activation"]:
            found.append(f"{where} uses the activation {got['activation']!r}; expected {want['activation']!r}"
                         + (" (no activation: a linear output)." if want["activation"] == "linear" else "."))
        if want["use_bias"] is not None and got["use_bias"] != want["use_bias"]:
            found.append(f"{where} has use_bias={got['use_bias']}; expected use_bias={want['use_bias']}"
                         + (" (the layer has no bias)." if not got["use_bias"] else "."))
            explained = True
        if (not explained and got["output_shape"] is not None and want["output_shape"] is not None
                and tuple(got["output_shape"]) != tuple(want["output_shape"])):
            found.append(f"{where} outputs shape {_shape_text(got['output_shape'])}; expected "
                         f"{_shape_text(want['output_shape'])}.")
            explained = True
        if not explained and got["params"] != want["params"]:
            found.append(f"{where} has {got['params']} parameters; expected {want['params']}.")
    if student["trainable"] != expected["trainable"]:
        found.append(f"the model has {student['trainable']} trainable parameters in all; "
                     f"expected {expected['trainable']}.")
    return found


def assert_same_summary(student: Mapping[str, Any], expected: Mapping[str, Any], name: str = "model") -> None:
    """Raise a :class:`CheckFailure` listing :func:`differences`."""
    found = differences(student, expected)
    if found:
        lines = "\n".join(f"  - {difference}" for difference in found)
        raise CheckFailure(f"{name} does not have the expected architecture:\n{lines}\n"
                           f"Expected: {', '.join(layer_label(d) for d in expected['layers'])}.")
