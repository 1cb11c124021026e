"""Unit 04's parameter counts and the trained Keras CNN."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import conv as ref
from ..calling import call_student, observe
from ..compare import CheckFailure, as_array, passed, random_state
from ..evidence import graded_check
from .layers import _is_whole_number


# ------------------------------------------------------------------------ parameter counts

@graded_check
def check_param_counts(dense_num_params, conv_num_params, seed: int = 0) -> None:
    """``dense_num_params(num_inputs, num_units)`` and ``conv_num_params(kernel_size, in_channels,
    num_filters)`` count weights plus biases."""
    rng = random_state(seed)
    dense_cases = [(32 * 32 * 3, 28 * 28 * 6), (784, 10)] + [
        (int(rng.integers(2, 500)), int(rng.integers(2, 50))) for _ in range(3)]
    for num_inputs, num_units in dense_cases:
        got = call_student(dense_num_params, num_inputs, num_units, name="dense_num_params")
        _compare_count(f"dense_num_params({num_inputs}, {num_units})", got,
                       ref.dense_num_params(num_inputs, num_units),
                       [(num_inputs * num_units, "the biases are missing: one bias per unit, + num_units."),
                        (num_inputs * num_units + num_inputs, "one bias per *unit* (output), not per input."),
                        (num_inputs + num_units, "every input connects to every unit: multiply, D * H."),
                        ((num_inputs + 1) * (num_units + 1), "only the units have biases: D * H + H.")])
    conv_cases = [(5, 3, 6), (3, 1, 8)] + [
        (int(rng.choice([1, 3, 5, 7])), int(rng.integers(2, 33)), int(rng.integers(2, 65))) for _ in range(3)]
    for kernel_size, in_channels, num_filters in conv_cases:
        got = call_student(conv_num_params, kernel_size, in_channels, num_filters, name="conv_num_params")
        weights = kernel_size * kernel_size * in_channels * num_filters
        _compare_count(f"conv_num_params({kernel_size}, {in_channels}, {num_filters})", got,
                       ref.conv_num_params(kernel_size, in_channels, num_filters),
                       [(weights, "the biases are missing: one bias per filter, + F."),
                        (kernel_size * kernel_size * num_filters + num_filters,
                         "the input channels are missing: each filter is K x K x C."),
                        (weights + in_channels, "one bias per *filter* (F), not per input channel."),
                        (kernel_size * in_channels * num_filters + num_filters, "a filter is K x K, not K."),
                        (weights + kernel_size * kernel_size * num_filters,
                         "one bias per filter, not per filter weight.")])
    dense = ref.dense_num_params(32 * 32 * 3, 28 * 28 * 6)
    conv = ref.conv_num_params(5, 3, 6)
    passed(f"parameter counts right: 32x32x3 -> 28x28x6 takes {dense:,} parameters fully connected, "
           f"{conv} as six 5x5 filters")


def _compare_count(label: str, got: Any, expected: int, wrong: list[tuple[int, str]]) -> None:
    if isinstance(got, (float, np.floating)) and float(got).is_integer():
        got = int(got)
    if not _is_whole_number(got):
        raise CheckFailure(f"{label} should return a whole number, but it returned {got!r}.")
    if got == expected:
        return
    message = f"{label} returned {got:,}, expected {expected:,}."
    for value, diagnosis in wrong:
        if got == value:
            message += f"\nLikely mistake: {diagnosis}"
            break
    raise CheckFailure(message)


# ------------------------------------------------------------------------ the Keras CNN

def _all_layers(model) -> list:
    layers = []
    for layer in getattr(model, "layers", []):
        layers.append(layer)
        layers.extend(_all_layers(layer))
    return layers


def _describe_cnn(model, images: np.ndarray) -> dict[str, Any]:
    """What the CNN check needs of a live model, as data: measured in the kernel, judged outside."""
    if not hasattr(model, "predict") or not hasattr(model, "layers"):
        return {"kind": type(model).__name__}
    try:
        input_shape = tuple(model.input_shape)
    except Exception:  # a model that was never built has no input shape yet
        input_shape = ()
    try:
        num_params = int(model.count_params())
    except Exception:  # an unbuilt model cannot count its weights yet
        num_params = None
    described = {"kind": None, "input_shape": input_shape,
                 "layer_types": [type(layer).__name__ for layer in _all_layers(model)],
                 "num_params": num_params, "predict_error": "", "scores": None}
    if input_shape and input_shape[1:] != images.shape[1:]:
        return described                           # judged by its input shape; nothing to predict
    if not any("Conv" in layer_type for layer_type in described["layer_types"]):
        return described
    try:
        scores = np.asarray(model.predict(images, verbose=0))
    except Exception as error:
        described["predict_error"] = f"{type(error).__name__}: {error}"
        return described
    described["scores"] = scores
    return described


@graded_check
def check_cnn_accuracy(model, threshold: float = 0.9, seed: int = 2024, num_images: int = 400,
                       image_size: int = 32, max_params: int | None = None) -> None:
    """A trained Keras CNN classifies fresh simulated cells with accuracy >= ``threshold``.

    The images are new (drawn from ``seed``, not the training or validation seeds of the
    notebook), so the model must generalise. The model takes (N, H, W, 1) images in
    [0, 1] and outputs (N, 2) class probabilities or scores (argmax), or (N, 1)
    probabilities of "mitotic" (sigmoid, threshold 0.5) or logits (threshold 0). With
    ``max_params``, the model may have at most that many parameters (the design limit).
    """
    from ...data.images import simulate_cells

    data = simulate_cells(num_images, image_size, seed=seed)
    seen = observe("cnn", lambda: _describe_cnn(model, data.images), data.images)
    if seen["kind"] is not None:
        raise CheckFailure(f"model should be a Keras model, but it is a {seen['kind']}.")
    input_shape = tuple(seen["input_shape"])
    expected_input = (None, image_size, image_size, 1)
    if input_shape and input_shape != expected_input:
        raise CheckFailure(f"the model's input shape is {input_shape}, expected {expected_input}: images are "
                           "channels-last, (H, W, 1); start with keras.Input(shape=(H, W, 1)).")
    if not any("Conv" in layer_type for layer_type in seen["layer_types"]):
        raise CheckFailure("the model has no convolutional layer: add keras.layers.Conv2D layers (this is "
                           "the CNN exercise).")
    num_params = seen.get("num_params")
    if max_params is not None and num_params is not None and num_params > max_params:
        raise CheckFailure(f"the model has {num_params:,} parameters; the design limit is {max_params:,}. "
                           "cnn.summary() shows where they are: usually the Dense layer after Flatten. Pool "
                           "more before flattening, or use fewer units there.")
    if seen["predict_error"]:
        raise CheckFailure(f"model.predict failed on images of shape {data.images.shape}: {seen['predict_error']}")
    scores = as_array("the model's outputs", seen["scores"])
    if scores.ndim != 2 or scores.shape[0] != num_images or scores.shape[1] not in (1, 2):
        raise CheckFailure(f"the model outputs shape {scores.shape}; expected ({num_images}, 2) for two "
                           "classes (Dense(2, activation='softmax')) or (N, 1) for one sigmoid unit.")
    if not np.all(np.isfinite(scores)):
        raise CheckFailure("the model outputs NaN or infinity: lower the learning rate and train again.")
    if scores.shape[1] == 2:
        predictions = scores.argmax(axis=1)
    else:
        cut = 0.5 if np.all((scores >= 0) & (scores <= 1)) else 0.0
        predictions = (scores[:, 0] > cut).astype(int)
    accuracy = float(np.mean(predictions == data.labels))
    if accuracy < threshold:
        share = float(np.mean(predictions == 1))
        hint = ("it predicts one class for almost every image: check that the labels match the images and "
                "that the loss fits the output (sparse_categorical_crossentropy with 2 softmax outputs)."
                if share < 0.05 or share > 0.95 else
                "train for more epochs, or add filters (e.g. two Conv2D + MaxPooling2D blocks), and watch the "
                "validation accuracy in the training history.")
        raise CheckFailure(f"the model's accuracy on {num_images} new simulated cells is {accuracy:.3f}; it "
                           f"should be at least {threshold}.\nHint: {hint}")
    passed(f"CNN accuracy on {num_images} new simulated cells: {accuracy:.3f} (needed {threshold})")
