"""Layers as forward/backward pairs: affine, activations and the mean-squared-error loss.

Every layer is two functions that share a *cache*:

* ``*_forward(x, ...) -> (out, cache)`` computes the output and keeps what the
  backward pass will need (the input, the output, the weights);
* ``*_backward(dout, cache) -> grads`` receives ``dout = dL/dout``, the gradient of
  the loss with respect to this layer's output (the *upstream* gradient, same shape
  as ``out``), and returns the gradient with respect to each input of the layer
  (the *downstream* gradients, each with the shape of the input it belongs to).

Backward functions apply the chain rule one layer at a time: downstream gradient =
upstream gradient times the layer's *local* gradient. A network's backward pass
calls them in the reverse order of its forward pass.

Shapes, in the course vocabulary: ``x (N, D)`` a batch of N examples with D
features, ``W (D, H)`` weights to H units, ``b (H,)`` biases. Activations work
elementwise on an array of any shape. All references compute in float64.

Leaky ReLU slopes differ between sources, so always state the one you use:
this module's default is ``negative_slope = 0.01`` (PyTorch's default too), the
lecture draws ``max(0.1 x, x)`` (slope 0.1), and Keras 3's
``keras.layers.LeakyReLU`` defaults to ``negative_slope=0.3``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

#: slope of leaky ReLU for negative inputs used when none is given
DEFAULT_NEGATIVE_SLOPE = 0.01
#: the lecture's slide draws max(0.1 x, x)
LECTURE_NEGATIVE_SLOPE = 0.1
#: keras.layers.LeakyReLU() default in Keras 3
KERAS_NEGATIVE_SLOPE = 0.3


def _as_float(x: Any) -> np.ndarray:
    """``x`` as a float64 array (the references compute in float64)."""
    return np.asarray(x, dtype=np.float64)


# --------------------------------------------------------------------------- affine
def affine_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Affine (fully connected) layer: ``out = x @ W + b``.

    Args:
        x: inputs, shape (N, D).
        W: weights, shape (D, H).
        b: biases, shape (H,) (a row of shape (1, H), as in the lecture, works too).

    Returns:
        ``(out, cache)``: out of shape (N, H); cache ``(x, W, b)`` for :func:`affine_backward`.
    """
    x, W, b = _as_float(x), _as_float(W), _as_float(b)
    if x.ndim != 2 or W.ndim != 2 or x.shape[1] != W.shape[0]:
        raise ValueError(f"affine_forward needs x (N, D) and W (D, H); got x {x.shape}, W {W.shape}")
    if b.size != W.shape[1]:
        raise ValueError(f"b should hold H = {W.shape[1]} biases; got shape {b.shape}")
    out = x @ W + b.reshape(-1)
    return out, (x, W, b)


def affine_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`affine_forward`.

    With ``out = x @ W + b``: ``dx = dout @ W.T``, ``dW = x.T @ dout`` and
    ``db = sum of dout over the N examples`` (every example used the same ``b``,
    so their contributions add up).

    Args:
        dout: upstream gradient dL/dout, shape (N, H).
        cache: ``(x, W, b)`` from :func:`affine_forward`: x (N, D), W (D, H), b (H,).

    Returns:
        ``(dx, dW, db)`` with shapes (N, D), (D, H) and the shape of ``b``, (H,).
    """
    x, W, b = cache
    dout = _as_float(dout)
    dx = dout @ W.T
    dW = x.T @ dout
    db = dout.sum(axis=0).reshape(b.shape)
    return dx, dW, db


# ---------------------------------------------------------------------- activations
def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic sigmoid ``1 / (1 + exp(-x))`` elementwise, without overflow warnings; any shape."""
    x = _as_float(x)
    out = np.empty_like(x)
    positive = x >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-x[positive]))
    exp_x = np.exp(x[~positive])              # x < 0 here, so exp(x) < 1 cannot overflow
    out[~positive] = exp_x / (1.0 + exp_x)
    return out


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sigmoid layer. x: any shape, e.g. (N, H).

    Returns:
        ``(out, cache)``: out = sigmoid(x), same shape as x; the cache is ``out``,
        because the derivative is easiest written with the output:
        ``sigmoid'(x) = out * (1 - out)``.
    """
    out = sigmoid(x)
    return out, out


def sigmoid_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """Backward pass of :func:`sigmoid_forward`.

    Args:
        dout: upstream gradient, same shape as the layer's output, e.g. (N, H).
        cache: the forward output ``out = sigmoid(x)``, same shape.

    Returns:
        dx = dout * out * (1 - out), same shape. (``out`` is already sigmoid(x):
        applying the sigmoid to it again is a classic mistake.)
    """
    out = cache
    return _as_float(dout) * out * (1.0 - out)


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hyperbolic tangent layer. x: any shape. Returns ``(out, cache)`` with out = tanh(x), cache = out."""
    out = np.tanh(_as_float(x))
    return out, out


def tanh_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """Backward pass of :func:`tanh_forward`: dx = dout * (1 - out**2); dout and cache (= out) share one shape."""
    out = cache
    return _as_float(dout) * (1.0 - out ** 2)


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ReLU layer ``max(0, x)`` elementwise. x: any shape.

    Returns ``(out, cache)``: out same shape as x; the cache is the input ``x``.
    """
    x = _as_float(x)
    return np.maximum(x, 0.0), x


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """Backward pass of :func:`relu_forward`: dx = dout where x > 0, else 0 (we take 0 at x = 0).

    dout and cache (= the input x) share one shape; dx has that shape too.
    """
    x = cache
    return _as_float(dout) * (x > 0)


def leaky_relu_forward(x: np.ndarray, negative_slope: float = DEFAULT_NEGATIVE_SLOPE
                       ) -> tuple[np.ndarray, tuple[np.ndarray, float]]:
    """Leaky ReLU: ``x`` where x > 0, ``negative_slope * x`` elsewhere. x: any shape.

    The slope used here defaults to 0.01. The lecture draws ``max(0.1 x, x)``
    (slope 0.1) and Keras 3's ``LeakyReLU`` defaults to 0.3: pass the slope
    explicitly when you compare. For ``0 <= negative_slope <= 1`` the formula equals
    ``max(negative_slope * x, x)``.

    Returns ``(out, cache)``: out same shape as x; cache ``(x, negative_slope)``.
    """
    x = _as_float(x)
    out = np.where(x > 0, x, negative_slope * x)
    return out, (x, float(negative_slope))


def leaky_relu_backward(dout: np.ndarray, cache: tuple[np.ndarray, float]) -> np.ndarray:
    """Backward pass of :func:`leaky_relu_forward`: dx = dout where x > 0, else negative_slope * dout.

    dout: same shape as the input x kept in the cache; dx has that shape too.
    """
    x, negative_slope = cache
    return _as_float(dout) * np.where(x > 0, 1.0, negative_slope)


#: name -> (forward, backward) for the activations above
ACTIVATIONS: dict[str, tuple[Callable[..., Any], Callable[..., np.ndarray]]] = {
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "tanh": (tanh_forward, tanh_backward),
    "relu": (relu_forward, relu_backward),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward),
}


# ----------------------------------------------------------------------------- loss
def mse_loss(y_pred: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error over the N examples and its gradient.

    ``loss = (1/N) * sum_i (y_pred_i - y_i)**2`` and ``dy_pred = (2/N) * (y_pred - y)``.

    Args:
        y_pred: predictions, shape (N,) or (N, 1). (With C outputs, shape (N, C),
            the squared errors of one example are summed over its C outputs before
            the mean over examples.)
        y: targets, the **same** shape as ``y_pred``. Shapes (N, 1) and (N,) are
            refused: NumPy would broadcast their difference to (N, N) and return a
            wrong loss without complaint.

    Returns:
        ``(loss, dy_pred)``: a float and an array shaped like ``y_pred``.
    """
    y_pred, y = _as_float(y_pred), _as_float(y)
    if y_pred.shape != y.shape:
        raise ValueError(f"y_pred {y_pred.shape} and y {y.shape} must have the same shape; "
                         "reshape one of them (y.reshape(-1, 1) or y_pred.ravel()).")
    if y_pred.ndim not in (1, 2):
        raise ValueError(f"mse_loss expects shape (N,) or (N, 1); got {y_pred.shape}")
    num_examples = y_pred.shape[0]
    residual = y_pred - y
    loss = float(np.sum(residual ** 2) / num_examples)
    dy_pred = 2.0 * residual / num_examples
    return loss, dy_pred
