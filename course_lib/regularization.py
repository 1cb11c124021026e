"""Regularisation and initialisation references for unit 06, in NumPy (float64).

**Penalties.** A weight penalty is a term added to the data loss, ``L = L_data + R(W)``.
This module uses Keras's scaling convention exactly (``keras.regularizers``):

* L2 (``keras.regularizers.L2(l2)``): ``R = l2 * sum(W**2)``, ``dR/dW = 2 * l2 * W``;
* L1 (``keras.regularizers.L1(l1)``): ``R = l1 * sum(|W|)``, ``dR/dW = l1 * sign(W)``
  (we take 0 at ``W = 0``, as ``np.sign`` does);
* elastic net (``keras.regularizers.L1L2(l1, l2)``): the sum of the two.

The penalty is a **sum** over the weights, not a mean, and it is *not* divided by the
number of examples N: with a mean data loss, a stronger data set does not weaken it.
Other texts write ``(lambda / 2) * ||W||**2`` so that the gradient is ``lambda * W``;
that is Keras's ``L2(l2=lambda / 2)``. Say which convention a formula uses. Biases are
usually not penalised (Keras: ``kernel_regularizer``, not ``bias_regularizer``).

**Initialisers** (Keras's definitions; ``fan_in`` = D inputs, ``fan_out`` = H units):

============== ====================================== ===============================
name           distribution                           scale
============== ====================================== ===============================
glorot_uniform U(-limit, limit)                       limit = sqrt(6 / (fan_in + fan_out))
glorot_normal  normal truncated at 2 standard devs.   std = sqrt(2 / (fan_in + fan_out))
he_uniform     U(-limit, limit)                       limit = sqrt(6 / fan_in)
he_normal      normal truncated at 2 standard devs.   std = sqrt(2 / fan_in)
============== ====================================== ===============================

The truncated normals draw from a normal of standard deviation ``std / 0.8796...`` so
that, after the tails beyond two of those standard deviations are redrawn, the
weights' standard deviation is ``std``. Glorot keeps the variance of activations and of
gradients about constant through layers with tanh or sigmoid; He does the same for
ReLU, which zeroes half of its inputs (hence the factor 2 over ``fan_in``). The
lecture's ``np.random.rand`` (uniform on [0, 1), every weight positive) does neither.

**Early stopping** (:func:`early_stopping_epochs`, :class:`EarlyStopping`): the rule of
``keras.callbacks.EarlyStopping(monitor="val_loss", patience=p, restore_best_weights=True)``:
an epoch improves when its validation loss is below the best so far by more than
``min_delta``; training stops once ``patience`` epochs in a row have not improved, and
the weights of the best epoch are restored. Stopping at the first rise instead stops on
noise.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

#: Keras's stddev correction for a normal truncated at two standard deviations
TRUNCATION_CORRECTION = 0.87962566103423978

INITIALIZERS = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal")


def _as_float(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


# ------------------------------------------------------------------------- penalties
def l2_penalty(W: np.ndarray, l2: float = 0.01) -> tuple[float, np.ndarray]:
    """L2 penalty as ``keras.regularizers.L2(l2)``: ``l2 * sum(W**2)`` and its gradient ``2 * l2 * W``.

    Args:
        W: weights, any shape, e.g. (D, H).
        l2: strength (Keras's default 0.01).

    Returns:
        ``(penalty, dW)``: a float and an array shaped like ``W``.
    """
    W = _as_float(W)
    return float(l2 * np.sum(W ** 2)), 2.0 * l2 * W


def l1_penalty(W: np.ndarray, l1: float = 0.01) -> tuple[float, np.ndarray]:
    """L1 penalty as ``keras.regularizers.L1(l1)``: ``l1 * sum(|W|)`` and its (sub)gradient ``l1 * sign(W)``.

    W: any shape, e.g. (D, H). Returns ``(penalty, dW)`` with dW shaped like W (0 where W == 0).
    """
    W = _as_float(W)
    return float(l1 * np.sum(np.abs(W))), l1 * np.sign(W)


def elastic_net_penalty(W: np.ndarray, l1: float = 0.0, l2: float = 0.0) -> tuple[float, np.ndarray]:
    """Elastic net as ``keras.regularizers.L1L2(l1, l2)``: ``l1 * sum(|W|) + l2 * sum(W**2)``.

    W: any shape, e.g. (D, H). Returns ``(penalty, dW)`` with ``dW = l1 * sign(W) + 2 * l2 * W``.
    """
    p1, d1 = l1_penalty(W, l1)
    p2, d2 = l2_penalty(W, l2)
    return p1 + p2, d1 + d2


# ---------------------------------------------------------------- logistic regression
def logistic_loss(w: np.ndarray, b: float, X: np.ndarray, y: np.ndarray, l1: float = 0.0,
                  l2: float = 0.0) -> tuple[float, np.ndarray, float]:
    """Mean binary cross-entropy of a logistic model plus an elastic-net penalty on ``w`` (not on b).

    ``logits = X @ w + b``; loss ``= mean BCE(logits, y) + l1 * sum|w| + l2 * sum w**2``.

    Args:
        w: weights (D,); b: bias (a float); X: inputs (N, D); y: labels (N,) in {0, 1}.

    Returns:
        ``(loss, dw, db)``: a float, (D,) and a float.
    """
    from .layers import binary_cross_entropy_with_logits

    w, X, y = _as_float(w), _as_float(X), _as_float(y)
    data_loss, dlogits = binary_cross_entropy_with_logits(X @ w + float(b), y)
    penalty, dpenalty = elastic_net_penalty(w, l1, l2)
    return data_loss + penalty, X.T @ dlogits + dpenalty, float(np.sum(dlogits))


def train_logistic(X: np.ndarray, y: np.ndarray, l1: float = 0.0, l2: float = 0.0,
                   learning_rate: float = 0.1, num_epochs: int = 200) -> tuple[np.ndarray, float]:
    """Full-batch gradient descent on :func:`logistic_loss` from zero weights.

    X (N, D), y (N,). Returns ``(w (D,), b)``. With ``l1 > 0`` the plain (sub)gradient step
    makes small weights oscillate around 0 rather than land exactly on it.
    """
    w, b = np.zeros(np.shape(X)[1]), 0.0
    for _ in range(num_epochs):
        _, dw, db = logistic_loss(w, b, X, y, l1, l2)
        w = w - learning_rate * dw
        b = b - learning_rate * db
    return w, b


# ----------------------------------------------------------------------- initialisers
def initialize(fan_in: int, fan_out: int, scheme: str = "glorot_uniform", seed: int = 0) -> np.ndarray:
    """Weights (fan_in, fan_out) drawn as Keras's initialiser of the same name (see the module table).

    ``scheme`` is one of :data:`INITIALIZERS`. Deterministic for a given ``seed``.
    """
    if scheme not in INITIALIZERS:
        raise ValueError(f"scheme must be one of {INITIALIZERS}, not {scheme!r}")
    rng = np.random.default_rng(seed)
    family, kind = scheme.split("_")
    scale = 2.0 / (fan_in + fan_out) if family == "glorot" else 2.0 / fan_in
    if kind == "uniform":
        limit = np.sqrt(3.0 * scale)
        return rng.uniform(-limit, limit, size=(fan_in, fan_out))
    std = np.sqrt(scale) / TRUNCATION_CORRECTION
    W = rng.normal(0.0, std, size=(fan_in, fan_out))
    outside = np.abs(W) > 2 * std
    while np.any(outside):                               # redraw the tails, as a truncated normal does
        W[outside] = rng.normal(0.0, std, size=int(outside.sum()))
        outside = np.abs(W) > 2 * std
    return W


def target_std(fan_in: int, fan_out: int, scheme: str) -> float:
    """The standard deviation a scheme aims for: sqrt(2 / (fan_in + fan_out)) (Glorot) or sqrt(2 / fan_in) (He)."""
    return float(np.sqrt(2.0 / (fan_in + fan_out) if scheme.startswith("glorot") else 2.0 / fan_in))


def activation_stds(x: np.ndarray, num_layers: int = 10, width: int = 256, scheme: str | None = "he_normal",
                    activation: str = "relu", seed: int = 0) -> list[float]:
    """The standard deviation of the activations after each of ``num_layers`` dense layers.

    x (N, D) inputs; every layer has ``width`` units, zero biases and weights from
    :func:`initialize` (``scheme=None``: the lecture's ``np.random.rand``, uniform on [0, 1)).
    ``activation`` is "relu" or "tanh". Returns a list of ``num_layers`` floats.
    """
    rng = np.random.default_rng(seed)
    h = _as_float(x)
    stds = []
    for layer in range(num_layers):
        fan_in = h.shape[1]
        W = rng.random((fan_in, width)) if scheme is None else initialize(fan_in, width, scheme,
                                                                             seed=seed * 1000 + layer)
        z = h @ W
        h = np.maximum(z, 0.0) if activation == "relu" else np.tanh(z)
        stds.append(float(h.std()))
    return stds


# ---------------------------------------------------------------------- early stopping
def early_stopping_epochs(val_losses: Any, patience: int, min_delta: float = 0.0) -> tuple[int, int]:
    """Keras's early-stopping rule on a list of validation losses, one per epoch (epochs count from 0).

    Args:
        val_losses: (E,) validation loss after each epoch.
        patience: how many epochs in a row without improvement end training.
        min_delta: an improvement must beat the best loss by more than this.

    Returns:
        ``(best_epoch, stop_epoch)``: the epoch with the best loss (the first, on ties), and
        the epoch after which training stops (``E - 1`` when patience never runs out).
    """
    monitor = EarlyStopping(patience, min_delta)
    for epoch, loss in enumerate(np.asarray(val_losses, dtype=float).ravel()):
        if monitor.update(float(loss), None):
            return monitor.best_epoch, epoch
    return monitor.best_epoch, len(np.ravel(val_losses)) - 1


class EarlyStopping:
    """Patience and best-weights bookkeeping for a hand-written training loop.

    Call :meth:`update` after every epoch with the validation loss and the current weights
    (any object; a deep copy is kept when it is the best so far); it returns True when
    training should stop. Afterwards ``best_weights`` holds the weights of ``best_epoch``.
    """

    def __init__(self, patience: int, min_delta: float = 0.0):
        if patience < 0:
            raise ValueError(f"patience must be >= 0, got {patience}")
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.best_loss = np.inf
        self.best_epoch = -1
        self.best_weights: Any = None
        self.epoch = -1
        self.wait = 0

    def update(self, val_loss: float, weights: Any) -> bool:
        """Record one epoch; True when ``patience`` epochs in a row have not improved."""
        self.epoch += 1
        if val_loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch = float(val_loss), self.epoch
            self.best_weights = copy.deepcopy(weights)
            self.wait = 0
            return False
        self.wait += 1
        return self.wait >= self.patience and self.epoch > 0
