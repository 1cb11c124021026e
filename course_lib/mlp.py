"""A two-layer fully connected network built from :mod:`course_lib.layers`.

The network, for a batch ``X`` of N examples with D features::

    z      = X @ W1 + b1        (N, H)   affine
    h      = activation(z)      (N, H)   sigmoid, tanh, relu or leaky_relu
    scores = h @ W2 + b2        (N, C)   affine, no activation: a regression output
    L      = (1/N) sum_i ||scores_i - y_i||^2      scalar, mean squared error

with parameters ``W1 (D, H)``, ``b1 (H,)``, ``W2 (H, C)``, ``b2 (C,)``. The backward pass
calls the layers' backward functions in the reverse order; every gradient has the
shape of its parameter and is stored under the same key (``grads["W1"]`` is dL/dW1).

Initialisation is zero-mean (never ``np.random.rand``, whose weights are all
positive): Glorot/Xavier uniform for W1 before a sigmoid or tanh, He normal for
W1 before a ReLU or leaky ReLU, Glorot uniform for the linear output layer W2, and
zero biases.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .layers import ACTIVATIONS, affine_backward, affine_forward, mse_loss

PARAM_NAMES = ("W1", "b1", "W2", "b2")


# ------------------------------------------------------------------ initialisation
def glorot_uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """Glorot/Xavier uniform weights, shape (fan_in, fan_out).

    Draws from ``Uniform(-limit, limit)`` with ``limit = sqrt(6 / (fan_in + fan_out))``,
    so the variance is ``2 / (fan_in + fan_out)`` (Keras's default initialiser).
    """
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def he_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """He (Kaiming) normal weights for ReLU layers, shape (fan_in, fan_out): ``Normal(0, 2 / fan_in)``."""
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))


def init_two_layer_params(input_dim: int, hidden_dim: int, output_dim: int = 1,
                          activation: str = "sigmoid", seed: int = 0) -> dict[str, np.ndarray]:
    """Zero-mean initial parameters for a two-layer network.

    Returns ``{"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,)}`` with D = input_dim,
    H = hidden_dim, C = output_dim: W1 Glorot uniform for sigmoid/tanh or He normal for
    relu/leaky_relu, W2 Glorot uniform, biases zero. Same seed, same numbers.
    """
    _check_activation(activation)
    rng = np.random.default_rng(seed)
    if activation in ("relu", "leaky_relu"):
        W1 = he_normal(input_dim, hidden_dim, rng)
    else:
        W1 = glorot_uniform(input_dim, hidden_dim, rng)
    W2 = glorot_uniform(hidden_dim, output_dim, rng)
    return {"W1": W1, "b1": np.zeros(hidden_dim), "W2": W2, "b2": np.zeros(output_dim)}


def _check_activation(activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, not {activation!r}")


# --------------------------------------------------------------- forward / backward
def two_layer_forward(X: np.ndarray, params: dict[str, np.ndarray], activation: str = "sigmoid"
                      ) -> tuple[np.ndarray, dict[str, Any]]:
    """Forward pass of the two-layer network.

    Args:
        X: inputs (N, D).
        params: ``W1 (D, H)``, ``b1 (H,)``, ``W2 (H, C)``, ``b2 (C,)``.
        activation: the hidden layer's activation (a key of ``layers.ACTIVATIONS``).

    Returns:
        ``(scores, caches)``: scores (N, C); caches holds ``z`` and ``h`` (both (N, H))
        and each layer's cache for :func:`two_layer_backward`.
    """
    _check_activation(activation)
    forward, _ = ACTIVATIONS[activation]
    z, affine1_cache = affine_forward(X, params["W1"], params["b1"])
    h, activation_cache = forward(z)
    scores, affine2_cache = affine_forward(h, params["W2"], params["b2"])
    caches = {"z": z, "h": h, "affine1": affine1_cache, "activation": activation_cache,
              "affine2": affine2_cache, "activation_name": activation}
    return scores, caches


def two_layer_backward(dscores: np.ndarray, caches: dict[str, Any]) -> dict[str, np.ndarray]:
    """Backward pass: from ``dscores = dL/dscores`` (N, C) to the gradients of the parameters.

    Returns ``{"W1": dW1 (D, H), "b1": db1 (H,), "W2": dW2 (H, C), "b2": db2 (C,)}``;
    on the way it computes ``dh = dscores @ W2.T`` (N, H) and
    ``dz = dh * activation'(z)`` (N, H).
    """
    _, backward = ACTIVATIONS[caches["activation_name"]]
    dh, dW2, db2 = affine_backward(dscores, caches["affine2"])
    dz = backward(dh, caches["activation"])
    _, dW1, db1 = affine_backward(dz, caches["affine1"])
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def _targets_like(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """y (N,) or (N, C) reshaped to the scores' shape (N, C); refuses anything else."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 1 and scores.shape[1] == 1:
        y = y.reshape(-1, 1)
    if y.shape != scores.shape:
        raise ValueError(f"targets of shape {y.shape} do not match the network's outputs {scores.shape}")
    return y


def two_layer_loss(X: np.ndarray, y: np.ndarray, params: dict[str, np.ndarray],
                   activation: str = "sigmoid") -> tuple[float, dict[str, np.ndarray]]:
    """Mean squared error of the two-layer network and its gradients.

    Args:
        X: inputs (N, D). y: targets (N,) or (N, 1) for one output, (N, C) for C outputs.
        params: ``W1 (D, H)``, ``b1 (H,)``, ``W2 (H, C)``, ``b2 (C,)``.

    Returns:
        ``(loss, grads)``: loss a float; grads keyed like ``params``, each shaped like
        its parameter.
    """
    scores, caches = two_layer_forward(X, params, activation)
    loss, dscores = mse_loss(scores, _targets_like(y, scores))
    return loss, two_layer_backward(dscores, caches)


# ----------------------------------------------------------------------- the class
class TwoLayerNet:
    """A two-layer regression network trained with minibatch SGD (NumPy, float64).

    Args:
        input_dim: D, features per example.
        hidden_dim: H, hidden units.
        output_dim: C, outputs per example (1 for a single regression target).
        activation: ``"sigmoid"``, ``"tanh"``, ``"relu"`` or ``"leaky_relu"``.
        seed: seed of the initial weights (see :func:`init_two_layer_params`).

    Attributes:
        params: ``{"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,)}``, float64,
            updated in place by :meth:`train`.
    """

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int = 1,
                 activation: str = "sigmoid", seed: int = 0) -> None:
        self.input_dim, self.hidden_dim, self.output_dim = int(input_dim), int(hidden_dim), int(output_dim)
        self.activation = activation
        self.seed = seed
        self.params = init_two_layer_params(self.input_dim, self.hidden_dim, self.output_dim,
                                            activation, seed)

    def __repr__(self) -> str:
        return (f"TwoLayerNet(input_dim={self.input_dim}, hidden_dim={self.hidden_dim}, "
                f"output_dim={self.output_dim}, activation={self.activation!r}, seed={self.seed})")

    @property
    def num_parameters(self) -> int:
        """Number of trainable numbers: D*H + H + H*C + C."""
        return int(sum(value.size for value in self.params.values()))

    def forward(self, X: np.ndarray) -> np.ndarray:
        """Network outputs (scores) for X (N, D): shape (N, C)."""
        scores, _ = two_layer_forward(X, self.params, self.activation)
        return scores

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predictions for X (N, D): shape (N,) when C = 1 (like ``y``), else (N, C)."""
        scores = self.forward(X)
        return scores[:, 0] if self.output_dim == 1 else scores

    def loss(self, X: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """Mean squared error on (X (N, D), y (N,) or (N, C)) and its gradients keyed like ``params``."""
        return two_layer_loss(X, y, self.params, self.activation)

    def train(self, X: np.ndarray, y: np.ndarray, learning_rate: float = 0.1, num_epochs: int = 100,
              batch_size: int = 32, seed: int = 0, X_val: np.ndarray | None = None,
              y_val: np.ndarray | None = None) -> dict[str, list[float]]:
        """Minibatch stochastic gradient descent for a fixed number of epochs.

        Each epoch shuffles the N examples (generator seeded by ``seed``), walks through
        them in minibatches of ``batch_size`` (the last one may be smaller) and takes one
        step ``param -= learning_rate * grad`` per minibatch.

        Args:
            X: training inputs (N, D); y: training targets (N,) or (N, C).
            X_val, y_val: optional validation set, (M, D) and (M,) or (M, C).

        Returns:
            history: ``{"loss": [...], "val_loss": [...]}``, one entry per epoch: the MSE on
            the whole training (validation) set after that epoch. ``val_loss`` is present
            only with a validation set.
        """
        if int(num_epochs) < 0 or int(batch_size) < 1:
            raise ValueError("num_epochs must be >= 0 and batch_size >= 1")
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        rng = np.random.default_rng(seed)
        num_examples = X.shape[0]
        history: dict[str, list[float]] = {"loss": []}
        if X_val is not None:
            history["val_loss"] = []
        for _ in range(int(num_epochs)):
            order = rng.permutation(num_examples)
            for start in range(0, num_examples, int(batch_size)):
                rows = order[start:start + int(batch_size)]
                _, grads = self.loss(X[rows], y[rows])
                for name in PARAM_NAMES:
                    self.params[name] -= learning_rate * grads[name]
            history["loss"].append(self.loss(X, y)[0])
            if X_val is not None:
                history["val_loss"].append(self.loss(X_val, y_val)[0])
        return history
