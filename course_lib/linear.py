"""A one-layer network is linear regression: prediction, MSE, gradients, gradient descent, SGD.

Shapes: ``X (N, D)`` features, ``y (N,)`` targets, ``w (D,)`` weights, ``b`` a scalar
bias. Everything is float64 NumPy.

The maths, for ``y_hat = X @ w + b`` and ``L = (1/N) * sum_i (y_hat_i - y_i)**2``:

    dL/dw = (2/N) * X.T @ (y_hat - y)        shape (D,)
    dL/db = (2/N) * sum_i (y_hat_i - y_i)    scalar
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def predict(X: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """Predictions ``X @ w + b``: X (N, D), w (D,), b scalar -> (N,)."""
    return X @ w + b


def squared_errors(y_pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-example loss ``(y_pred - y)**2``: (N,), (N,) -> (N,)."""
    return (y_pred - y) ** 2


def mse_loss(y_pred: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error over the N examples: (N,), (N,) -> scalar."""
    return float(np.mean((y_pred - y) ** 2))


def mse_gradients(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> tuple[np.ndarray, float]:
    """Gradient of the MSE with respect to the parameters.

    Args:
        X: (N, D) features; y: (N,) targets; w: (D,) weights; b: scalar bias.

    Returns:
        ``(dw, db)``: dw (D,) and db scalar, ``dw = 2/N X^T (X w + b - y)``,
        ``db = 2/N sum(X w + b - y)``.
    """
    residual = predict(X, w, b) - y
    num_examples = X.shape[0]
    dw = 2.0 / num_examples * (X.T @ residual)
    db = 2.0 / num_examples * float(np.sum(residual))
    return dw, db


def gradient_descent_step(w: np.ndarray, b: float, dw: np.ndarray, db: float,
                          learning_rate: float) -> tuple[np.ndarray, float]:
    """One step against the gradient: returns new ``(w, b)``; w (D,), dw (D,), b and db scalars."""
    return w - learning_rate * dw, b - learning_rate * db


@dataclass
class TrainingResult:
    """What :func:`train_gradient_descent` and :func:`train_sgd` return.

    Attributes:
        w: (D,) learned weights. b: learned bias.
        history: losses. Gradient descent counts *steps* and needs the start for its
            stopping rule: ``history[k]`` is the full-data MSE after ``k`` steps, so
            ``history[0]`` is the loss before training. SGD counts *epochs*, like units 02
            and 03 and Keras: ``history[e]`` is the full-data MSE after epoch ``e + 1``, one
            entry per epoch.
        converged: True when the stopping rule fired before ``max_steps``.
    """

    w: np.ndarray
    b: float
    history: list[float] = field(default_factory=list)
    converged: bool = False


def train_gradient_descent(X: np.ndarray, y: np.ndarray, learning_rate: float = 0.1,
                           max_steps: int = 1000, tolerance: float = 1e-8) -> TrainingResult:
    """Full-batch gradient descent from ``w = 0, b = 0`` with a stopping rule.

    Stops after ``max_steps`` steps, or as soon as one step lowers the loss by less
    than ``tolerance`` (``history[-2] - history[-1] < tolerance``), whichever comes first.
    X (N, D), y (N,).
    """
    w, b = np.zeros(X.shape[1]), 0.0
    history = [mse_loss(predict(X, w, b), y)]
    for _ in range(max_steps):
        dw, db = mse_gradients(X, y, w, b)
        w, b = gradient_descent_step(w, b, dw, db, learning_rate)
        history.append(mse_loss(predict(X, w, b), y))
        if history[-2] - history[-1] < tolerance:
            return TrainingResult(w, b, history, converged=True)
    return TrainingResult(w, b, history, converged=False)


def sample_minibatch(X: np.ndarray, y: np.ndarray, batch_size: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random minibatch without replacement: X (N, D), y (N,) -> (B, D), (B,), B = batch_size."""
    rows = rng.choice(X.shape[0], size=batch_size, replace=False)
    return X[rows], y[rows]


def train_sgd(X: np.ndarray, y: np.ndarray, learning_rate: float = 0.05, batch_size: int = 32,
              num_epochs: int = 20, seed: int = 0) -> TrainingResult:
    """Minibatch SGD from ``w = 0, b = 0``: each epoch shuffles once and visits every example.

    X (N, D), y (N,). ``history`` holds the full-data MSE after each epoch: ``num_epochs`` entries.
    """
    rng = np.random.default_rng(seed)
    num_examples = X.shape[0]
    w, b = np.zeros(X.shape[1]), 0.0
    history = []
    for _ in range(num_epochs):
        order = rng.permutation(num_examples)
        for start in range(0, num_examples, batch_size):
            rows = order[start:start + batch_size]
            dw, db = mse_gradients(X[rows], y[rows], w, b)
            w, b = gradient_descent_step(w, b, dw, db, learning_rate)
        history.append(mse_loss(predict(X, w, b), y))
    return TrainingResult(w, b, history, converged=False)


def least_squares(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """The exact MSE minimiser ``(w, b)`` by ``numpy.linalg.lstsq`` on ``[X, 1]``: X (N, D), y (N,)."""
    design = np.column_stack([X, np.ones(X.shape[0])])
    solution, *_ = np.linalg.lstsq(design, y, rcond=None)
    return solution[:-1], float(solution[-1])


def max_stable_learning_rate(X: np.ndarray) -> float:
    """The largest step size for which full-batch gradient descent on the MSE converges.

    The MSE's Hessian in ``(w, b)`` is ``2/N [X, 1]^T [X, 1]``; gradient descent converges
    iff ``learning_rate < 2 / lambda_max`` of that Hessian. X (N, D).
    """
    design = np.column_stack([X, np.ones(X.shape[0])])
    hessian = 2.0 / X.shape[0] * design.T @ design
    return 2.0 / float(np.linalg.eigvalsh(hessian)[-1])
