"""Better predictions at test time: averaging models, test-time augmentation, snapshot ensembles.

The references of unit 07, part two. Vocabulary: ``M`` models (members), ``N`` examples,
``C`` classes, ``H, W`` image height and width, ``S`` crop size, ``B`` the number of
steps (minibatches) in one cycle of the learning-rate schedule.

* :func:`average_predictions`: an ensemble's prediction is the mean of its members'
  predicted probabilities;
* :func:`ten_crops` and :func:`tta_predict`: test-time augmentation for images, the
  four corner crops and the centre crop and their horizontal mirror images;
* :func:`cosine_restarts`: the cosine learning-rate schedule with warm restarts (SGDR,
  Loshchilov and Hutter) with equal cycles, as ``keras.optimizers.schedules.CosineDecayRestarts``
  computes it with ``t_mul=1``; :func:`snapshot_callback` keeps a Keras model's weights at
  the end of each cycle and :func:`train_classifier` does the same in NumPy (snapshot
  ensembles, Huang et al. 2017).

NumPy only at import; Keras is imported inside :func:`snapshot_callback` where needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from . import mlp
from .layers import sigmoid

EPSILON = 1e-12   # probabilities are clipped to [EPSILON, 1 - EPSILON] before a logarithm


# --------------------------------------------------------------------- scoring
def average_predictions(probabilities: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """The ensemble's probabilities: the mean over the M members, (M, N) or (M, N, C) -> (N,) or (N, C)."""
    return np.mean(np.asarray(probabilities, dtype=float), axis=0)


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of correct predictions. probabilities: (N,) of class 1, or (N, C); labels (N,) integers."""
    probabilities = np.asarray(probabilities, dtype=float)
    predicted = (probabilities > 0.5).astype(int) if probabilities.ndim == 1 else probabilities.argmax(axis=1)
    return float(np.mean(predicted == np.asarray(labels)))


def log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood (natural log) of the true labels; probabilities (N,) of class 1 or (N, C)."""
    probabilities = np.clip(np.asarray(probabilities, dtype=float), EPSILON, 1 - EPSILON)
    labels = np.asarray(labels).astype(int)
    if probabilities.ndim == 1:
        probabilities = np.stack([1 - probabilities, probabilities], axis=1)
    return float(-np.mean(np.log(probabilities[np.arange(labels.size), labels])))


def ensemble_report(member_probabilities: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Each member's and the averaged ensemble's accuracy and log loss.

    Args:
        member_probabilities: (M, N) probabilities of class 1, or (M, N, C).
        labels: (N,) integer labels.

    Returns:
        ``{"member_accuracy": (M,), "member_log_loss": (M,), "ensemble_accuracy": float,
        "ensemble_log_loss": float}``.
    """
    members = np.asarray(member_probabilities, dtype=float)
    ensemble = average_predictions(members)
    return {"member_accuracy": np.array([accuracy(p, labels) for p in members]),
            "member_log_loss": np.array([log_loss(p, labels) for p in members]),
            "ensemble_accuracy": accuracy(ensemble, labels),
            "ensemble_log_loss": log_loss(ensemble, labels)}


# --------------------------------------------------------------------- test-time augmentation
def ten_crops(images: np.ndarray, crop_size: int) -> np.ndarray:
    """The ten test-time views of each image: 4 corners, centre, then the same 5 mirrored left-right.

    Args:
        images: (N, H, W) or (N, H, W, C). crop_size: S <= min(H, W).

    Returns:
        (10, N, S, S) or (10, N, S, S, C), in the order top-left, top-right, bottom-left,
        bottom-right, centre, and those five flipped horizontally. The centre crop starts at
        row ``(H - S) // 2`` and column ``(W - S) // 2``.
    """
    images = np.asarray(images)
    height, width = images.shape[1], images.shape[2]
    s = int(crop_size)
    if not 0 < s <= min(height, width):
        raise ValueError(f"crop_size {s} does not fit images of {height} x {width}")
    top, left = (height - s) // 2, (width - s) // 2
    corners = [(0, 0), (0, width - s), (height - s, 0), (height - s, width - s), (top, left)]
    crops = [images[:, r:r + s, c:c + s] for r, c in corners]
    return np.stack(crops + [crop[:, :, ::-1] for crop in crops])


def tta_predict(predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray, crop_size: int) -> np.ndarray:
    """Test-time augmentation: the mean of ``predict`` over the ten crops of each image.

    ``predict`` maps a batch of crops (N, S, S[, C]) to probabilities (N, K); returns (N, K).
    """
    views = ten_crops(images, crop_size)
    return average_predictions([np.asarray(predict(view), dtype=float) for view in views])


def center_crop(images: np.ndarray, crop_size: int) -> np.ndarray:
    """The centre crop alone (the single view without augmentation): (N, S, S[, C])."""
    return ten_crops(images, crop_size)[4]


def random_crops(images: np.ndarray, crop_size: int, rng: np.random.Generator, flip: bool = True) -> np.ndarray:
    """Training-time augmentation: one random S x S crop per image, mirrored with probability 1/2."""
    images = np.asarray(images)
    num, height, width = images.shape[:3]
    s = int(crop_size)
    rows = rng.integers(0, height - s + 1, size=num)
    cols = rng.integers(0, width - s + 1, size=num)
    out = np.stack([images[i, r:r + s, c:c + s] for i, (r, c) in enumerate(zip(rows, cols))])
    if flip:
        mirror = rng.random(num) < 0.5
        out[mirror] = out[mirror][:, :, ::-1]
    return out


# --------------------------------------------------------------------- cyclic schedule
def cosine_restarts(steps: np.ndarray | int, initial_learning_rate: float, cycle_steps: int,
                    alpha: float = 0.0, m_mul: float = 1.0) -> np.ndarray:
    """Cosine decay with warm restarts and cycles of equal length ``B = cycle_steps``.

    At step t (0, 1, ...), with cycle ``i = t // B`` and ``f = (t mod B) / B``:
    ``lr = initial_learning_rate * m_mul**i * ((1 - alpha) * 0.5 * (1 + cos(pi f)) + alpha)``.
    The rate falls from its top to ``alpha`` times it over a cycle, then jumps back up.
    Equal to ``keras.optimizers.schedules.CosineDecayRestarts(initial_learning_rate, B,
    t_mul=1.0, m_mul=m_mul, alpha=alpha)``. steps: any shape; returns the same shape.
    """
    steps = np.asarray(steps, dtype=float)
    cycle = np.floor(steps / cycle_steps)
    fraction = steps / cycle_steps - cycle
    cosine = 0.5 * (1.0 + np.cos(np.pi * fraction))
    return initial_learning_rate * m_mul ** cycle * ((1.0 - alpha) * cosine + alpha)


def snapshot_steps(num_steps: int, cycle_steps: int) -> np.ndarray:
    """The steps after which a snapshot ensemble keeps the weights: the end of each full cycle.

    Counting steps from 1, the snapshots are taken after steps B, 2B, ... <= num_steps.
    """
    return np.arange(int(cycle_steps), int(num_steps) + 1, int(cycle_steps))


# --------------------------------------------------------------------- a small NumPy classifier
def predict_proba(params: dict[str, np.ndarray], X: np.ndarray, activation: str = "tanh") -> np.ndarray:
    """Probability of class 1 from a two-layer network with one output score: X (N, D) -> (N,)."""
    scores, _ = mlp.two_layer_forward(np.asarray(X, dtype=float), params, activation)
    return sigmoid(scores[:, 0])


@dataclass
class TrainedClassifier:
    """What :func:`train_classifier` returns."""
    params: dict[str, np.ndarray]
    snapshots: list[dict[str, np.ndarray]] = field(default_factory=list)
    learning_rates: np.ndarray = field(default_factory=lambda: np.zeros(0))
    losses: np.ndarray = field(default_factory=lambda: np.zeros(0))


def train_classifier(X: np.ndarray, y: np.ndarray, hidden_dim: int = 16, num_epochs: int = 20,
                     batch_size: int = 32, learning_rate: float | Callable[[int], float] = 0.1,
                     weight_decay: float = 0.0, seed: int = 0, snapshot_cycle_steps: int | None = None,
                     activation: str = "tanh") -> TrainedClassifier:
    """A two-layer binary classifier (:mod:`course_lib.mlp`, sigmoid output, cross-entropy), minibatch SGD.

    Args:
        X: (N, D) inputs; y: (N,) labels 0 or 1.
        learning_rate: a number, or a function of the step (0, 1, ...) such as
            ``lambda t: cosine_restarts(t, 0.5, B)``.
        weight_decay: L2 penalty ``weight_decay * (|W1|^2 + |W2|^2) / 2`` added to the loss.
        seed: seeds both the initial weights and the shuffling.
        snapshot_cycle_steps: if given (B), a copy of the parameters is kept after every
            B steps (:func:`snapshot_steps`): the NumPy counterpart of :func:`snapshot_callback`.

    Returns:
        a :class:`TrainedClassifier`: final ``params``, ``snapshots``, the learning rate of
        each step (T,) and the training loss of each step (T,).
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    rng = np.random.default_rng(seed)
    params = mlp.init_two_layer_params(X.shape[1], hidden_dim, 1, activation, seed)
    schedule = learning_rate if callable(learning_rate) else (lambda _step: learning_rate)
    snapshots, rates, losses = [], [], []
    step = 0
    for _ in range(int(num_epochs)):
        order = rng.permutation(len(X))
        for start in range(0, len(X), int(batch_size)):
            batch = order[start:start + int(batch_size)]
            scores, caches = mlp.two_layer_forward(X[batch], params, activation)
            probability = sigmoid(scores[:, 0])
            losses.append(log_loss(probability, y[batch]))
            grads = mlp.two_layer_backward(((probability - y[batch]) / len(batch))[:, None], caches)
            rate = float(schedule(step))
            rates.append(rate)
            for name in params:
                decay = weight_decay * params[name] if name.startswith("W") else 0.0
                params[name] = params[name] - rate * (grads[name] + decay)
            step += 1
            if snapshot_cycle_steps and step % int(snapshot_cycle_steps) == 0:
                snapshots.append({name: value.copy() for name, value in params.items()})
    return TrainedClassifier(params, snapshots, np.array(rates), np.array(losses))


def breast_cancer_split(seed: int = 0, num_validation: int = 150, num_test: int = 150):
    """scikit-learn's bundled Wisconsin breast-cancer data (569 tumours, 30 features), split and standardised.

    Labels: 1 = benign, 0 = malignant (scikit-learn's coding). The split is random with
    ``seed``; features are standardised with the training set's mean and standard deviation.
    Returns ``(X_train, y_train, X_val, y_val, X_test, y_test)``.
    """
    from sklearn.datasets import load_breast_cancer   # scikit-learn only when this data is asked for

    X, y = load_breast_cancer(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(X))
    test, val, train = (order[:num_test], order[num_test:num_test + num_validation],
                        order[num_test + num_validation:])
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    X = (X - mean) / std
    return X[train], y[train], X[val], y[val], X[test], y[test]


# --------------------------------------------------------------------- Keras
def snapshot_callback(cycle_steps: int):
    """A Keras callback that keeps ``model.get_weights()`` after every ``cycle_steps`` training batches.

    Use it with ``keras.optimizers.schedules.CosineDecayRestarts(lr, cycle_steps, t_mul=1.0)``
    (or :func:`cosine_restarts`) so each snapshot is taken where the learning rate is
    lowest. After ``fit``, ``callback.snapshots`` holds one list of weight arrays per cycle.
    """
    import keras

    class SnapshotCallback(keras.callbacks.Callback):
        def __init__(self, cycle_steps: int):
            super().__init__()
            self.cycle_steps = int(cycle_steps)
            self.steps = 0
            self.snapshots: list[list[np.ndarray]] = []

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if self.steps % self.cycle_steps == 0:
                self.snapshots.append([np.array(w) for w in self.model.get_weights()])

        def predict(self, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
            """The snapshots' averaged predictions on X; the model's weights are put back afterwards."""
            current = self.model.get_weights()
            outputs = []
            for weights in self.snapshots:
                self.model.set_weights(weights)
                outputs.append(np.asarray(self.model.predict(X, batch_size=batch_size, verbose=0)))
            self.model.set_weights(current)
            return average_predictions(outputs)

    return SnapshotCallback(cycle_steps)
