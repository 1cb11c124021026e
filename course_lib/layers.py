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
    """Mean squared error and its gradient: the mean over **every entry**, as Keras computes it.

    ``loss = mean((y_pred - y)**2)`` over all ``M = y_pred.size`` entries and
    ``dy_pred = (2/M) * (y_pred - y)``. With one output, (N,) or (N, 1), M = N and this is
    the mean over the N examples; with C outputs, (N, C), it averages over the C outputs
    too (``np.mean``, ``tape.mean_squared_error`` and ``keras.losses.MeanSquaredError``
    all agree: the course's one MSE convention).

    Args:
        y_pred: predictions, shape (N,), (N, 1) or (N, C).
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
        raise ValueError(f"mse_loss expects shape (N,), (N, 1) or (N, C); got {y_pred.shape}")
    num_entries = max(y_pred.size, 1)
    residual = y_pred - y
    loss = float(np.sum(residual ** 2) / num_entries)
    dy_pred = 2.0 * residual / num_entries
    return loss, dy_pred


# ------------------------------------------------------- unit 06: binary cross-entropy
def binary_cross_entropy_with_logits(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean binary cross-entropy of labels ``y`` given *logits* (scores before the sigmoid), and its gradient.

    ``loss = mean(-y log sigmoid(z) - (1 - y) log(1 - sigmoid(z)))``, written in the stable form
    ``max(z, 0) - z y + log(1 + exp(-|z|))`` (no overflow for large ``|z|``; equal to
    ``keras.losses.BinaryCrossentropy(from_logits=True)``). Gradient: ``(sigmoid(z) - y) / N``.

    Args:
        logits: (N,) or (N, 1); y: labels in [0, 1], the same shape.

    Returns:
        ``(loss, dlogits)``: a float and an array shaped like ``logits``.
    """
    z, y = _as_float(logits), _as_float(y)
    if z.shape != y.shape:
        raise ValueError(f"logits {z.shape} and y {y.shape} must have the same shape")
    per_example = np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))
    return float(per_example.mean()), (sigmoid(z) - y) / z.shape[0]


# -------------------------------------------------------------- unit 06: dropout
def dropout_forward(x: np.ndarray, rate: float, training: bool = True, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray | None]:
    """Inverted dropout, as ``keras.layers.Dropout(rate)``: ``rate`` is the probability of **dropping**.

    Training: each entry is kept with probability ``1 - rate`` and the kept ones are
    scaled by ``1 / (1 - rate)``, so every entry keeps its expected value. Test time
    (``training=False``): the identity, with no scaling at all. (The lecture's older
    convention does no scaling in training and multiplies by the keep probability at test
    time; the expected values agree, but the test-time network differs from the trained one.)

    Args:
        x: inputs, any shape, e.g. (N, H).
        rate: probability of dropping, in [0, 1).
        training: True for training mode.
        seed: seed of the mask, ``np.random.default_rng(seed).random(x.shape) >= rate`` keeps.

    Returns:
        ``(out, cache)``: out shaped like x; cache the scaled mask ``keep / (1 - rate)``
        (shaped like x), or None at test time.
    """
    x = _as_float(x)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"rate is the probability of dropping and must be in [0, 1), got {rate}")
    if not training:
        return x.copy(), None
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    scaled_mask = keep / (1.0 - rate)
    return x * scaled_mask, scaled_mask


def dropout_backward(dout: np.ndarray, cache: np.ndarray | None) -> np.ndarray:
    """Backward pass of :func:`dropout_forward`: ``dx = dout * keep / (1 - rate)``; ``dx = dout`` at test time.

    dout: upstream gradient shaped like the layer's output; dx has that shape too.
    """
    dout = _as_float(dout)
    return dout.copy() if cache is None else dout * cache


# --------------------------------------------------------- unit 06: batch normalisation
#: keras.layers.BatchNormalization() defaults
BATCHNORM_MOMENTUM = 0.99
BATCHNORM_EPSILON = 1e-3


def batchnorm_state(num_features: int) -> dict[str, np.ndarray]:
    """Fresh moving statistics, as Keras starts them: ``moving_mean`` zeros and ``moving_var`` ones,
    each of shape (D,) for D = ``num_features``."""
    return {"moving_mean": np.zeros(num_features), "moving_var": np.ones(num_features)}


def batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, state: dict[str, np.ndarray],
                      training: bool = True, momentum: float = BATCHNORM_MOMENTUM,
                      epsilon: float = BATCHNORM_EPSILON) -> tuple[np.ndarray, tuple]:
    """Batch normalisation over the batch axis, as ``keras.layers.BatchNormalization()``.

    ``out = gamma * (x - mean) / sqrt(var + epsilon) + beta`` per feature.

    * Training: ``mean`` and ``var`` are the batch's (``var`` the biased variance, divided by
      N), and ``state`` is updated **in place** with Keras's exponential moving averages
      ``moving = momentum * moving + (1 - momentum) * batch statistic`` (``momentum=0.99``).
    * Test (``training=False``): ``mean`` and ``var`` are ``state``'s moving averages; the
      state does not change. (The lecture's alternative, the statistics of the whole
      training set computed once after training, is another valid choice; Keras does not
      do it.)

    Args:
        x: inputs (N, D); gamma, beta: scale and shift (D,);
        state: ``{"moving_mean": (D,), "moving_var": (D,)}`` (see :func:`batchnorm_state`).

    Returns:
        ``(out, cache)``: out (N, D); cache for :func:`batchnorm_backward`.
    """
    x, gamma, beta = _as_float(x), _as_float(gamma), _as_float(beta)
    if training:
        mean, var = x.mean(axis=0), x.var(axis=0)
        state["moving_mean"] = momentum * _as_float(state["moving_mean"]) + (1.0 - momentum) * mean
        state["moving_var"] = momentum * _as_float(state["moving_var"]) + (1.0 - momentum) * var
    else:
        mean, var = _as_float(state["moving_mean"]), _as_float(state["moving_var"])
    inv_std = 1.0 / np.sqrt(var + epsilon)
    x_hat = (x - mean) * inv_std
    return gamma * x_hat + beta, (x_hat, gamma, inv_std, training)


def batchnorm_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`batchnorm_forward`.

    ``dgamma = sum_n dout * x_hat``, ``dbeta = sum_n dout``. In training mode the batch mean
    and variance depend on every example, so
    ``dx = gamma * inv_std / N * (N * dout - sum_n dout - x_hat * sum_n (dout * x_hat))``;
    in test mode they are constants and ``dx = gamma * inv_std * dout``.

    Args:
        dout: (N, D). cache from :func:`batchnorm_forward`.

    Returns:
        ``(dx, dgamma, dbeta)`` with shapes (N, D), (D,), (D,).
    """
    x_hat, gamma, inv_std, training = cache
    dout = _as_float(dout)
    dgamma = np.sum(dout * x_hat, axis=0)
    dbeta = dout.sum(axis=0)
    if not training:
        return dout * gamma * inv_std, dgamma, dbeta
    N = dout.shape[0]
    dx = gamma * inv_std / N * (N * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta
