"""Keras model builders and a timing callback.

Builders:

* :func:`two_layer_model`: unit 02's network in Keras, ``Dense(H, activation)``
  then ``Dense(C)``, optionally started from a :class:`~course_lib.mlp.TwoLayerNet`'s
  parameters so that the NumPy, tape and Keras versions begin from the same numbers;
* :func:`deep_mlp`: the lecture's deeper network, five hidden ``Dense`` layers and a
  linear output (six ``Dense`` layers in all), with any widths.

Keras's ``Dense(units)`` layer holds a kernel (D, units) and a bias (units,), exactly
unit 02's ``W`` and ``b``, and computes ``activation(x @ kernel + bias)``.

Comparing a student's model with the expected one is the checks' work
(:mod:`course_lib.checks.keras_summary`); the library never imports the checks.

The references for two notebook exercises live here too: :func:`dense_parameter_counts`
(parameters of a stack of Dense layers, by hand) and :func:`output_layer_for_task`
(output units, activation and loss for regression, binary and multiclass tasks).

This module imports Keras (and so TensorFlow): ``import course_lib`` does not.
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import keras
import numpy as np

#: the course's leaky ReLU slope (Keras's ``activation="leaky_relu"`` uses 0.2, its ``LeakyReLU`` layer 0.3)
COURSE_NEGATIVE_SLOPE = 0.01


def leaky_relu(x):
    """Leaky ReLU with the course's slope 0.01 (``course_lib.layers``'s default), for Keras layers."""
    return keras.ops.where(x > 0, x, COURSE_NEGATIVE_SLOPE * x)    # exact in float64 too


def _keras_activation(activation: str | None) -> Any:
    if activation == "leaky_relu":
        return leaky_relu
    return activation


# --------------------------------------------------------------------------- builders
def two_layer_model(input_dim: int, hidden_dim: int, output_dim: int = 1, activation: str = "sigmoid",
                    params: Mapping[str, Any] | None = None, dtype: str | None = None,
                    name: str = "two_layer") -> keras.Sequential:
    """Unit 02's two-layer network as a Keras ``Sequential`` model.

    ``Input((D,))`` -> ``Dense(H, activation)`` -> ``Dense(C)`` (a linear output for
    regression): ``D*H + H + H*C + C`` parameters.

    Args:
        input_dim: D. hidden_dim: H. output_dim: C.
        activation: the hidden activation, ``"sigmoid"``, ``"tanh"``, ``"relu"`` or
            ``"leaky_relu"`` (slope 0.01, like :mod:`course_lib.layers`).
        params: optional ``{"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,)}`` (e.g.
            ``TwoLayerNet(...).params``) copied into the layers; otherwise Keras's default
            initialisation (Glorot uniform kernels, zero biases).
        dtype: the layers' dtype, e.g. ``"float64"`` to compare with NumPy exactly;
            Keras's default (float32) when None.

    Returns:
        the built model; ``model.layers[0].kernel`` is W1 and ``model.layers[1].kernel`` is W2.
    """
    model = keras.Sequential([
        keras.Input(shape=(int(input_dim),), dtype=dtype),
        keras.layers.Dense(int(hidden_dim), activation=_keras_activation(activation), dtype=dtype, name="hidden"),
        keras.layers.Dense(int(output_dim), dtype=dtype, name="output"),
    ], name=name)
    if params is not None:
        set_two_layer_params(model, params)
    return model


def set_two_layer_params(model: keras.Model, params: Mapping[str, Any]) -> None:
    """Copy ``{"W1" (D, H), "b1" (H,), "W2" (H, C), "b2" (C,)}`` into a two-layer model's Dense layers."""
    hidden, output = dense_layers(model)
    hidden.set_weights([np.asarray(params["W1"]), np.asarray(params["b1"]).reshape(-1)])
    output.set_weights([np.asarray(params["W2"]), np.asarray(params["b2"]).reshape(-1)])


def two_layer_params(model: keras.Model) -> dict[str, np.ndarray]:
    """A two-layer model's weights as ``{"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,)}``."""
    hidden, output = dense_layers(model)
    W1, b1 = hidden.get_weights()
    W2, b2 = output.get_weights()
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}


def dense_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's ``Dense`` layers, in order."""
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def deep_mlp(input_dim: int, hidden_units: Sequence[int] = (3, 3, 3, 3, 3), output_dim: int = 1,
             activation: str = "sigmoid", output_activation: str | None = None,
             name: str = "deep_mlp") -> keras.Sequential:
    """A fully connected network with several hidden layers (the lecture's "6-layer network").

    ``Input((D,))``, then one ``Dense(units, activation)`` per entry of ``hidden_units``,
    then ``Dense(C, output_activation)``. With the default five hidden layers of 3 units
    that is six Dense layers and ``(D*3 + 3) + 4*(3*3 + 3) + (3*C + C)`` parameters.
    """
    layers: list[Any] = [keras.Input(shape=(int(input_dim),))]
    for index, units in enumerate(hidden_units, start=1):
        layers.append(keras.layers.Dense(int(units), activation=_keras_activation(activation),
                                         name=f"hidden_{index}"))
    layers.append(keras.layers.Dense(int(output_dim), activation=output_activation, name="output"))
    return keras.Sequential(layers, name=name)


# ------------------------------------------------------------- exercise references
def dense_parameter_counts(layer_sizes: Sequence[int]) -> list[int]:
    """Parameters of each Dense layer in a stack with widths ``layer_sizes``.

    ``layer_sizes = [D, H1, H2, ..., C]`` (the input width first): layer k maps
    ``n_in = layer_sizes[k]`` numbers to ``n_out = layer_sizes[k + 1]`` and holds a
    kernel (n_in, n_out) and a bias (n_out,), so ``n_in * n_out + n_out`` parameters.
    Returns one count per Dense layer (``len(layer_sizes) - 1`` of them).
    """
    sizes = [int(size) for size in layer_sizes]
    return [n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:])]


#: what the output layer and loss of a network should be for each kind of task
TASKS = ("regression", "binary", "multiclass")


def output_layer_for_task(task: str, num_classes: int | None = None) -> tuple[int, str | None, str]:
    """``(units, activation, loss)`` of the output layer for a task.

    * ``"regression"`` (a real number): ``(1, None, "mean_squared_error")``, a linear output;
    * ``"binary"`` (two classes, labels 0/1): ``(1, "sigmoid", "binary_crossentropy")``,
      one probability ``P(class 1)``;
    * ``"multiclass"`` (C classes, labels 0..C-1): ``(C, "softmax",
      "sparse_categorical_crossentropy")``, C probabilities that sum to 1
      (``"categorical_crossentropy"`` when the labels are one-hot rows of length C).
    """
    if task == "regression":
        return 1, None, "mean_squared_error"
    if task == "binary":
        return 1, "sigmoid", "binary_crossentropy"
    if task == "multiclass":
        if num_classes is None or int(num_classes) < 2:
            raise ValueError("a multiclass task needs num_classes >= 2")
        return int(num_classes), "softmax", "sparse_categorical_crossentropy"
    raise ValueError(f"task must be one of {TASKS}, not {task!r}")


# ------------------------------------------------------------------------- callbacks
class EpochTimer(keras.callbacks.Callback):
    """Records the wall time of every epoch of ``fit`` in ``self.seconds`` (a list of floats)."""

    def on_train_begin(self, logs=None):
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
