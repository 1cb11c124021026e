"""Unit 01's checks accept correct answers written in several ways and reject realistic mistakes.

Each exercise has a list of correct variants (the reference, ``np.dot`` for ``@``,
float32 arithmetic, loops, an equivalent formula) and at least five wrong ones that
students really write. A check that accepted a wrong one, or rejected a right one,
would cost a student points or teach a mistake.
"""

import numpy as np
import pytest

from tests.conftest import typed_by_a_student
from tests.checks.conftest import accepts, f32, rejects, unwritten

linear = typed_by_a_student("course_lib.linear")
from course_lib.checks import linear as checks


def as_tuple(result_function):
    """Adapt a reference returning TrainingResult to the notebook's (w, b, history)."""
    def wrapped(*args, **kwargs):
        result = result_function(*args, **kwargs)
        return result.w, result.b, result.history
    return wrapped


# ---------------------------------------------------------------- correct variants
def predict_loop(X, w, b):
    return np.array([sum(x_k * w_k for x_k, w_k in zip(row, w)) + b for row in X])


def mse_gradients_loops(X, y, w, b):
    N = len(y)
    residual = np.dot(X, w) + b - y
    dw = np.zeros(X.shape[1], dtype=np.float32)
    for i in range(N):
        dw += 2 * residual[i] * X[i] / N
    return dw, float(2 * residual.mean())


def train_gd_abs(X, y, learning_rate, max_steps, tolerance):
    """Stops on the absolute change, uses <=, and a while loop with a counter: all fine."""
    w, b = np.zeros(X.shape[1]), 0
    history = [np.mean((X @ w + b - y) ** 2)]
    steps = 0
    while steps < max_steps:
        r = X @ w + b - y
        w = w - learning_rate * 2 * X.T @ r / len(y)
        b = b - learning_rate * 2 * r.mean()
        history.append(np.mean((X @ w + b - y) ** 2))
        steps += 1
        if abs(history[-2] - history[-1]) <= tolerance:
            break
    return w, b, np.array(history)


def sampler_permutation(X, y, batch_size, rng):
    rows = rng.permutation(len(y))[:batch_size]
    return X[rows], y[rows]


def sampler_sorted(X, y, batch_size, rng):
    rows = np.sort(rng.choice(len(y), batch_size, replace=False))
    return X[rows, :], y[rows]


def sgd_shuffle_in_place(X, y, learning_rate, batch_size, num_epochs, seed):   # correct: the same permutations
    rng = np.random.default_rng(seed)
    w, b, history = np.zeros(X.shape[1], dtype=np.float32), np.float32(0.0), []
    for _ in range(num_epochs):
        order = np.arange(len(y))
        rng.shuffle(order)
        start = 0
        while start < len(y):
            rows = order[start:start + batch_size]
            residual = np.dot(X[rows], w) + b - y[rows]
            w -= learning_rate * 2 * X[rows].T @ residual / len(rows)
            b -= learning_rate * 2 * residual.mean()
            start += batch_size
        history.append(float(np.mean((X @ w + b - y) ** 2)))
    return w, float(b), np.array(history)


def sgd_with_sampler(X, y, learning_rate, batch_size, num_epochs, seed):
    """Samples a fresh minibatch per step (the lecture's way) rather than one permutation per epoch."""
    rng = np.random.default_rng(seed)
    w, b = np.zeros(X.shape[1]), 0.0
    history = []
    steps_per_epoch = int(np.ceil(len(y) / batch_size))
    for _ in range(num_epochs):
        for _ in range(steps_per_epoch):
            Xb, yb = linear.sample_minibatch(X, y, batch_size, rng)
            dw, db = linear.mse_gradients(Xb, yb, w, b)
            w, b = w - learning_rate * dw, b - learning_rate * db
        history.append(linear.mse_loss(X @ w + b, y))
    return w, b, history


CORRECT = {
    "predict": [linear.predict, lambda X, w, b: np.dot(X, w) + b, f32(linear.predict), predict_loop,
                lambda X, w, b: (X * w).sum(axis=1) + b],
    "squared_errors": [linear.squared_errors, lambda p, y: np.square(y - p), f32(linear.squared_errors)],
    "mse_loss": [linear.mse_loss, lambda p, y: np.sum((p - y) ** 2) / len(y), f32(linear.mse_loss),
                 lambda p, y: np.mean(np.square(p - y)), lambda p, y: ((p - y) @ (p - y)) / p.size],
    "mse_gradients": [linear.mse_gradients, mse_gradients_loops, f32(linear.mse_gradients),
                      lambda X, y, w, b: (2 * np.dot(X.T, X @ w + b - y) / len(y), 2 * np.mean(X @ w + b - y))],
    "gradient_descent_step": [linear.gradient_descent_step, f32(linear.gradient_descent_step),
                              lambda w, b, dw, db, lr: (w + (-lr) * dw, b - lr * db)],
    "train_gradient_descent": [as_tuple(linear.train_gradient_descent), train_gd_abs],
    "sample_minibatch": [linear.sample_minibatch, sampler_permutation, sampler_sorted],
    "train_sgd": [as_tuple(linear.train_sgd), sgd_shuffle_in_place],
}


# ---------------------------------------------------------------- realistic mistakes
def gd_never_stops_early(X, y, learning_rate, max_steps, tolerance):
    r = linear.train_gradient_descent(X, y, learning_rate, max_steps, tolerance=-np.inf)
    return r.w, r.b, r.history


def gd_no_initial_loss(X, y, learning_rate, max_steps, tolerance):
    r = linear.train_gradient_descent(X, y, learning_rate, max_steps, tolerance)
    return r.w, r.b, r.history[1:]


def gd_stops_on_loss_value(X, y, learning_rate, max_steps, tolerance):
    w, b, history = np.zeros(X.shape[1]), 0.0, [linear.mse_loss(X @ np.zeros(X.shape[1]), y)]
    for _ in range(max_steps):
        dw, db = linear.mse_gradients(X, y, w, b)
        w, b = w - learning_rate * dw, b - learning_rate * db
        history.append(linear.mse_loss(X @ w + b, y))
        if history[-1] < tolerance:
            break
    return w, b, history


def gd_random_start(X, y, learning_rate, max_steps, tolerance):
    w, b = np.random.default_rng(0).random(X.shape[1]), 0.0    # the lecture's rand init
    history = [linear.mse_loss(X @ w + b, y)]
    for _ in range(max_steps):
        dw, db = linear.mse_gradients(X, y, w, b)
        w, b = w - learning_rate * dw, b - learning_rate * db
        history.append(linear.mse_loss(X @ w + b, y))
        if history[-2] - history[-1] < tolerance:
            break
    return w, b, history


def gd_forgets_bias(X, y, learning_rate, max_steps, tolerance):
    w, history = np.zeros(X.shape[1]), [linear.mse_loss(X @ np.zeros(X.shape[1]), y)]
    for _ in range(max_steps):
        w = w - learning_rate * linear.mse_gradients(X, y, w, 0.0)[0]
        history.append(linear.mse_loss(X @ w, y))
        if history[-2] - history[-1] < tolerance:
            break
    return w, 0.0, history


def gd_one_step_too_many(X, y, learning_rate, max_steps, tolerance):
    r = linear.train_gradient_descent(X, y, learning_rate, max_steps + 1, tolerance)
    return r.w, r.b, r.history


def sampler_independent_rows(X, y, batch_size, rng):
    return X[rng.choice(len(y), batch_size, replace=False)], y[rng.choice(len(y), batch_size, replace=False)]


def sampler_with_replacement(X, y, batch_size, rng):
    rows = rng.integers(0, len(y), size=batch_size)
    return X[rows], y[rows]


def sampler_first_rows(X, y, batch_size, rng):
    return X[:batch_size], y[:batch_size]


def sampler_global_random(X, y, batch_size, rng):
    rows = np.random.choice(len(y), batch_size, replace=False)
    return X[rows], y[rows]


def sampler_columns(X, y, batch_size, rng):
    rows = rng.choice(len(y), batch_size, replace=False)
    return X[:, rows % X.shape[1]], y[rows]


def sampler_transposed(X, y, batch_size, rng):
    rows = rng.choice(len(y), batch_size, replace=False)
    return X[rows].T, y[rows]


def sgd_one_batch_per_epoch(X, y, learning_rate, batch_size, num_epochs, seed):
    rng = np.random.default_rng(seed)
    w, b = np.zeros(X.shape[1]), 0.0
    history = [linear.mse_loss(X @ w + b, y)]
    for _ in range(num_epochs):
        Xb, yb = linear.sample_minibatch(X, y, batch_size, rng)
        dw, db = linear.mse_gradients(Xb, yb, w, b)
        w, b = w - learning_rate * dw, b - learning_rate * db
        history.append(linear.mse_loss(X @ w + b, y))
    return w, b, history


def sgd_unseeded(X, y, learning_rate, batch_size, num_epochs, seed):
    r = linear.train_sgd(X, y, learning_rate, batch_size, num_epochs, seed=np.random.randint(1 << 30))
    return r.w, r.b, r.history


def sgd_batch_loss_history(X, y, learning_rate, batch_size, num_epochs, seed):
    rng = np.random.default_rng(seed)
    w, b, history = np.zeros(X.shape[1]), 0.0, [linear.mse_loss(np.zeros(len(y)), y)]
    for _ in range(num_epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch_size):
            rows = order[start:start + batch_size]
            dw, db = linear.mse_gradients(X[rows], y[rows], w, b)
            w, b = w - learning_rate * dw, b - learning_rate * db
        history.append(linear.mse_loss(X[rows] @ w + b, y[rows]))   # the last batch only
    return w, b, history


def sgd_initial_loss_too(X, y, learning_rate, batch_size, num_epochs, seed):
    r = linear.train_sgd(X, y, learning_rate, batch_size, num_epochs, seed)
    return r.w, r.b, [linear.mse_loss(np.zeros(len(y)), y)] + r.history


def _sgd_loop(order_of, skip_last=False, rate=None):
    """SGD with the epoch's order from ``order_of(rng, epoch, N)``; optionally a mistake in the batches or the rate."""
    def train_sgd(X, y, learning_rate, batch_size, num_epochs, seed):
        rng = np.random.default_rng(seed)
        w, b, history = np.zeros(X.shape[1]), 0.0, []
        fixed = {"seed": seed}
        for epoch in range(num_epochs):
            order = order_of(rng, epoch, len(y), fixed)
            stop = len(y) - len(y) % batch_size if skip_last else len(y)
            for start in range(0, stop, batch_size):
                rows = order[start:start + batch_size]
                dw, db = linear.mse_gradients(X[rows], y[rows], w, b)
                w, b = w - (rate or learning_rate) * dw, b - (rate or learning_rate) * db
            history.append(linear.mse_loss(X @ w + b, y))
        return w, b, history
    return train_sgd


def _permute(rng, epoch, n, fixed):
    return rng.permutation(n)


def _permute_once(rng, epoch, n, fixed):
    return fixed.setdefault("order", rng.permutation(n))


def _reseeded(rng, epoch, n, fixed):
    return np.random.default_rng(fixed["seed"]).permutation(n)


def _global_permutation(rng, epoch, n, fixed):
    return np.random.permutation(n)


def _half_shuffled(rng, epoch, n, fixed):      # shuffles only within the first half
    order = np.arange(n)
    order[: n // 2] = rng.permutation(n // 2)
    return order


def sgd_ascent(X, y, learning_rate, batch_size, num_epochs, seed):
    r = linear.train_sgd(X, y, -learning_rate / 100, batch_size, num_epochs, seed)
    return r.w, r.b, r.history


def sgd_not_updating_bias(X, y, learning_rate, batch_size, num_epochs, seed):
    rng = np.random.default_rng(seed)
    w, history = np.zeros(X.shape[1]), [linear.mse_loss(np.zeros(len(y)), y)]
    for _ in range(num_epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch_size):
            rows = order[start:start + batch_size]
            w = w - learning_rate * linear.mse_gradients(X[rows], y[rows], w, 0.0)[0]
        history.append(linear.mse_loss(X @ w, y))
    return w, 0.0, history


WRONG = {
    "predict": {
        "missing bias": lambda X, w, b: X @ w,
        "bias subtracted": lambda X, w, b: X @ w - b,
        "column vector": lambda X, w, b: (X @ w + b).reshape(-1, 1),
        "sums everything": lambda X, w, b: np.sum(X * w) + b,
        "first feature only": lambda X, w, b: X[:, 0] * w[0] + b,
        "elementwise, no sum": lambda X, w, b: X * w + b,
        "bias per feature": lambda X, w, b: X @ (w + b),
    },
    "squared_errors": {
        "not squared": lambda p, y: p - y,
        "absolute": lambda p, y: np.abs(p - y),
        "averaged already": lambda p, y: np.mean((p - y) ** 2),
        "divided by N": lambda p, y: (p - y) ** 2 / len(y),
        "square root": lambda p, y: np.sqrt((p - y) ** 2 + 1e-3),
        "squares of values": lambda p, y: p ** 2 - y ** 2,
    },
    "mse_loss": {
        "sum (forgot 1/N)": lambda p, y: np.sum((p - y) ** 2),
        "RMSE": lambda p, y: np.sqrt(np.mean((p - y) ** 2)),
        "half MSE": lambda p, y: 0.5 * np.mean((p - y) ** 2),
        "N - 1": lambda p, y: np.sum((p - y) ** 2) / (len(y) - 1),
        "not squared": lambda p, y: np.mean(p - y),
        "per example": lambda p, y: (p - y) ** 2,
        "mean absolute": lambda p, y: np.mean(np.abs(p - y)),
    },
    "mse_gradients": {
        "forgot 1/N": lambda X, y, w, b: (2 * X.T @ (X @ w + b - y), 2 * np.sum(X @ w + b - y)),
        "forgot 2": lambda X, y, w, b: (X.T @ (X @ w + b - y) / len(y), np.mean(X @ w + b - y)),
        "wrong sign": lambda X, y, w, b: tuple(-g for g in linear.mse_gradients(X, y, w, b)),
        "missing bias gradient": lambda X, y, w, b: (linear.mse_gradients(X, y, w, b)[0], 0.0),
        "uses predictions instead of residual": lambda X, y, w, b: (2 * X.T @ (X @ w + b) / len(y), 2 * np.mean(X @ w + b)),
        "db without 2/N": lambda X, y, w, b: (linear.mse_gradients(X, y, w, b)[0], np.sum(X @ w + b - y)),
        "dw as column": lambda X, y, w, b: (linear.mse_gradients(X, y, w, b)[0].reshape(-1, 1), linear.mse_gradients(X, y, w, b)[1]),
        "per-example db": lambda X, y, w, b: (linear.mse_gradients(X, y, w, b)[0], 2 * (X @ w + b - y) / len(y)),
    },
    "gradient_descent_step": {
        "ascent": lambda w, b, dw, db, lr: (w + lr * dw, b + lr * db),
        "no learning rate": lambda w, b, dw, db, lr: (w - dw, b - db),
        "bias not updated": lambda w, b, dw, db, lr: (w - lr * dw, b),
        "returns the step": lambda w, b, dw, db, lr: (-lr * dw, -lr * db),
        "swapped outputs": lambda w, b, dw, db, lr: (b - lr * db, w - lr * dw),
        "divides by lr": lambda w, b, dw, db, lr: (w - dw / lr, b - db / lr),
    },
    "train_gradient_descent": {
        "never stops early": gd_never_stops_early,
        "history misses the initial loss": gd_no_initial_loss,
        "stops on the loss value": gd_stops_on_loss_value,
        "random start": gd_random_start,
        "bias never trained": gd_forgets_bias,
        "one step too many": gd_one_step_too_many,
    },
    "sample_minibatch": {
        "independent rows for X and y": sampler_independent_rows,
        "with replacement": sampler_with_replacement,
        "always the first rows": sampler_first_rows,
        "global np.random": sampler_global_random,
        "columns instead of rows": sampler_columns,
        "transposed batch": sampler_transposed,
    },
    "train_sgd": {
        "one batch per epoch": sgd_one_batch_per_epoch,
        "ignores the seed": sgd_unseeded,
        "history of the last batch": sgd_batch_loss_history,
        "history also holds the loss before training": sgd_initial_loss_too,
        "goes uphill": sgd_ascent,
        "bias never trained": sgd_not_updating_bias,
        "a fresh random minibatch per step": sgd_with_sampler,
        "shuffled once, not every epoch": _sgd_loop(_permute_once),
        "generator re-created every epoch": _sgd_loop(_reseeded),
        "skips the last, smaller batch": _sgd_loop(_permute, skip_last=True),
        "global np.random.permutation": _sgd_loop(_global_permutation),
        "shuffles only half the examples": _sgd_loop(_half_shuffled),
    },
}


def check_of(name):
    return getattr(checks, f"check_{name}")


@pytest.mark.parametrize("name,function", [(n, f) for n, fs in CORRECT.items() for f in fs])
@pytest.mark.parametrize("seed", [0, 5])
def test_check_accepts_correct_answers(name, function, seed):
    accepts(check_of(name), function, seed=seed)


@pytest.mark.parametrize("name,label", [(n, label) for n, ws in WRONG.items() for label in ws])
def test_check_rejects_realistic_mistakes(name, label):
    rejects(check_of(name), WRONG[name][label])


def test_sgd_check_varies_what_the_hidden_test_varies():
    """A learning rate hard-coded to the visible test's 0.05 passes there, and fails the hidden test's settings."""
    hard_coded = _sgd_loop(_permute, rate=0.05)
    hidden = dict(seed=32, num_examples=45, num_features=2, learning_rate=0.1, batch_size=7, num_epochs=4)
    accepts(checks.check_train_sgd, hard_coded)
    rejects(checks.check_train_sgd, hard_coded, **hidden)
    accepts(checks.check_train_sgd, sgd_shuffle_in_place, **hidden)


@pytest.mark.parametrize("label,message", [
    ("shuffled once, not every epoch", "same order"),
    ("generator re-created every epoch", "same order"),
    ("skips the last, smaller batch", "last, smaller minibatch"),
    ("a fresh random minibatch per step", "exactly once per"),
    ("history also holds the loss before training", "nothing before training"),
])
def test_sgd_check_names_the_mistake(label, message):
    rejects(checks.check_train_sgd, WRONG["train_sgd"][label], match=message)


def test_every_exercise_has_five_mistakes():
    assert set(WRONG) == set(CORRECT)
    assert all(len(ws) >= 5 for ws in WRONG.values())


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_unwritten_answer_says_what_to_do(name):
    rejects(check_of(name), unwritten, match="not written yet")


@pytest.mark.parametrize("name,label,message", [
    ("mse_loss", "sum (forgot 1/N)", "divide by N"),
    ("mse_loss", "RMSE", "square root"),
    ("mse_gradients", "forgot 1/N", "not divided by N"),
    ("mse_gradients", "forgot 2", "factor 2"),
    ("mse_gradients", "wrong sign", "sign is flipped"),
    ("mse_gradients", "missing bias gradient", "db is zero"),
    ("predict", "missing bias", "bias b is missing"),
    ("predict", "column vector", "shape (5, 1), expected (5,)"),
    ("gradient_descent_step", "ascent", "up the gradient"),
    ("sample_minibatch", "independent rows for X and y", "one set of row indices"),
    ("sample_minibatch", "with replacement", "without replacement"),
    ("train_gradient_descent", "history misses the initial loss", "history[0]"),
    ("train_gradient_descent", "never stops early", "never stops early"),
])
def test_failure_message_names_the_mistake(name, label, message):
    rejects(check_of(name), WRONG[name][label], match=message)


def test_a_crash_is_reported_in_plain_words():
    rejects(checks.check_predict, lambda X, w, b: X.T @ w + b, num_examples=5, num_features=3,
            match="raised ValueError")
