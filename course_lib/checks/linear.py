"""Checks for unit 01: a one-layer network is linear regression.

Every check builds fresh inputs from ``seed``, calls the student's function on
copies, and compares with :mod:`course_lib.linear`. The visible grade cells call
each check with its defaults; hidden tests call it with other seeds and shapes.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from .. import linear as ref
from .calling import call_student
from .compare import CheckFailure, assert_close, assert_scalar, assert_shape, passed, random_state, unpack
from .evidence import graded_check

#: the grader may re-run these checks outside the kernel from recorded results
#: (:mod:`course_lib.grading.recheck`): they reach student code only through call_student
TRUSTED_REPLAY = True
#: the references that answer this unit's exercises (the own-work rule, :mod:`.own_work`)
REFERENCES = ("course_lib.linear",)


def _problem(seed: int, num_examples: int, num_features: int):
    """A small random regression problem: X (N, D), y (N,), w (D,), b."""
    rng = random_state(seed)
    X = rng.normal(size=(num_examples, num_features))
    w = rng.normal(size=num_features)
    b = float(rng.normal())
    y = X @ rng.normal(size=num_features) + 0.5 + 0.3 * rng.normal(size=num_examples)
    return X, y, w, b


@graded_check
def check_predict(predict, seed: int = 0, num_examples: int = 5, num_features: int = 3) -> None:
    """``predict(X, w, b)`` returns ``X @ w + b`` with shape (N,)."""
    X, _, w, b = _problem(seed, num_examples, num_features)
    got = call_student(predict, X, w, b, name="predict")
    assert_close("predict(X, w, b)", got, ref.predict(X, w, b),
                 hint="each prediction is the dot product of one row of X with w, plus b.",
                 diagnoses=[(X @ w, "the bias b is missing: add `+ b`."),
                            (X @ w - b, "the bias is subtracted: it should be `+ b`."),
                            (X @ w + num_features * b, "b is added once per feature; add it once per example.")])
    passed(f"predict: shape {(num_examples,)} and values match X @ w + b")


@graded_check
def check_squared_errors(squared_errors, seed: int = 0, num_examples: int = 6) -> None:
    """``squared_errors(y_pred, y)`` returns one loss per example, shape (N,)."""
    rng = random_state(seed)
    y_pred, y = rng.normal(size=num_examples), rng.normal(size=num_examples)
    got = call_student(squared_errors, y_pred, y, name="squared_errors")
    residual = y_pred - y
    assert_close("squared_errors(y_pred, y)", got, ref.squared_errors(y_pred, y),
                 hint="square the difference for each example separately; do not average here.",
                 diagnoses=[(residual, "the difference is not squared: use `** 2`."),
                            (np.abs(residual), "that is the absolute error; the MSE squares the difference."),
                            (residual ** 2 / num_examples, "this exercise wants one loss per example: no division by N yet.")])
    passed(f"squared_errors: one loss per example, shape {(num_examples,)}")


@graded_check
def check_mse_loss(mse_loss, seed: int = 0, num_examples: int = 7) -> None:
    """``mse_loss(y_pred, y)`` returns the mean of the squared errors, a scalar."""
    rng = random_state(seed)
    y_pred, y = rng.normal(size=num_examples), rng.normal(size=num_examples)
    got = call_student(mse_loss, y_pred, y, name="mse_loss")
    value = assert_scalar("mse_loss(y_pred, y)", got)
    squares = (y_pred - y) ** 2
    assert_close("mse_loss(y_pred, y)", value, ref.mse_loss(y_pred, y),
                 hint="the MSE is the mean over the N examples of (y_pred - y)**2.",
                 diagnoses=[(squares.sum(), "that is the sum of squared errors: divide by N (use a mean)."),
                            (np.sqrt(squares.mean()), "that is the root of the MSE (RMSE): drop the square root."),
                            (0.5 * squares.mean(), "there is an extra factor 1/2: the course's MSE has none."),
                            (squares.sum() / (num_examples - 1), "divide by N, not N - 1."),
                            (np.mean(y_pred - y), "the differences are not squared before averaging.")])
    passed("mse_loss: a scalar equal to mean((y_pred - y)**2)")


@graded_check
def check_mse_gradients(mse_gradients, seed: int = 0, num_examples: int = 8, num_features: int = 3) -> None:
    """``mse_gradients(X, y, w, b)`` returns ``(dw, db)`` with dw (D,) and db a scalar."""
    X, y, w, b = _problem(seed, num_examples, num_features)
    got = call_student(mse_gradients, X, y, w, b, name="mse_gradients")
    dw, db = unpack("mse_gradients", got, ("dw", "db"))
    expected_dw, expected_db = ref.mse_gradients(X, y, w, b)
    residual = X @ w + b - y
    assert_close("dw", dw, expected_dw,
                 hint="dw = 2/N * X.T @ (y_pred - y), one entry per feature.",
                 diagnoses=[(X.T @ residual, "the factor 2/N is missing: average over the examples and keep the 2."),
                            (X.T @ residual / num_examples, "the factor 2 from the derivative of the square is missing."),
                            (-expected_dw, "the sign is flipped: the residual is (y_pred - y), not (y - y_pred)."),
                            (2 * X.T @ residual, "the sum over examples is not divided by N.")])
    db_value = assert_scalar("db", db)
    assert_close("db", db_value, expected_db,
                 hint="db = 2/N * sum(y_pred - y).",
                 diagnoses=[(0.0, "db is zero: the bias has a gradient too, 2/N * sum(y_pred - y)."),
                            (np.sum(residual), "the factor 2/N is missing in db."),
                            (np.mean(residual), "the factor 2 is missing in db."),
                            (-expected_db, "the sign of db is flipped.")])
    passed(f"mse_gradients: dw shape {(num_features,)} and db match 2/N X^T (y_pred - y), 2/N sum(y_pred - y)")


@graded_check
def check_gradient_descent_step(gradient_descent_step, seed: int = 0, num_features: int = 4) -> None:
    """``gradient_descent_step(w, b, dw, db, learning_rate)`` returns the new ``(w, b)``."""
    rng = random_state(seed)
    w, dw = rng.normal(size=num_features), rng.normal(size=num_features)
    b, db = float(rng.normal()), float(rng.normal())
    learning_rate = 0.1 + 0.2 * float(rng.random())
    got = call_student(gradient_descent_step, w, b, dw, db, learning_rate, name="gradient_descent_step")
    new_w, new_b = unpack("gradient_descent_step", got, ("w", "b"))
    expected_w, expected_b = ref.gradient_descent_step(w, b, dw, db, learning_rate)
    assert_close("the new w", new_w, expected_w,
                 diagnoses=[(w + learning_rate * dw, "the step goes up the gradient: subtract learning_rate * dw."),
                            (w - dw, "the learning rate is missing: multiply the gradient by learning_rate."),
                            (w, "w did not change: return the updated weights."),
                            (-learning_rate * dw, "you returned the step, not w minus the step.")])
    assert_close("the new b", assert_scalar("the new b", new_b), expected_b,
                 diagnoses=[(b, "b did not change: the bias takes a step too."),
                            (b + learning_rate * db, "the bias step goes up the gradient: subtract."),
                            (b - db, "the learning rate is missing in the bias step.")])
    passed("gradient_descent_step: w - learning_rate * dw and b - learning_rate * db")


@graded_check
def check_train_gradient_descent(train_gradient_descent, seed: int = 0, num_examples: int = 60,
                                 num_features: int = 3) -> None:
    """``train_gradient_descent(X, y, learning_rate, max_steps, tolerance)`` returns ``(w, b, history)``.

    Checked three ways: with ``tolerance=0`` it takes exactly ``max_steps`` steps and matches
    the reference step for step; with a loose tolerance it stops early (within one step
    of the reference); run long, it reaches the least-squares optimum.
    """
    X, y, _, _ = _problem(seed, num_examples, num_features)
    learning_rate = 0.1

    def run(max_steps, tolerance):
        got = call_student(train_gradient_descent, X, y, learning_rate=learning_rate,
                           max_steps=max_steps, tolerance=tolerance, name="train_gradient_descent")
        return unpack("train_gradient_descent", got, ("w", "b", "history"))

    # 1. a fixed number of steps: the same numbers as the reference, and no extra steps
    w, b, history = run(max_steps=7, tolerance=0.0)
    expected = ref.train_gradient_descent(X, y, learning_rate, max_steps=7, tolerance=0.0)
    history = np.asarray(history, dtype=float).ravel()
    if history.size == 7:
        raise CheckFailure("history has 7 losses after 7 steps; it should have 8: history[0] is the "
                           "loss before the first step, then one loss after each step.")
    assert_shape("history (7 steps, tolerance 0)", history, (8,),
                 hint="history[0] is the loss at w = 0, b = 0; append the loss after every step; stop after max_steps.")
    assert_close("history (7 steps, tolerance 0)", history, expected.history,
                 hint="start from w = zeros(D), b = 0 and record the full-data MSE.")
    assert_close("w after 7 steps", w, expected.w)
    assert_close("b after 7 steps", assert_scalar("b", b), expected.b)

    # 2. the stopping rule fires: stop as soon as one step improves the loss by less than tolerance
    tolerance = 1e-3
    expected = ref.train_gradient_descent(X, y, learning_rate, max_steps=5000, tolerance=tolerance)
    _, _, history = run(max_steps=5000, tolerance=tolerance)
    steps = len(history) - 1
    expected_steps = len(expected.history) - 1
    if abs(steps - expected_steps) > 1:
        raise CheckFailure(
            f"with tolerance={tolerance} your loop took {steps} steps; the stopping rule "
            f"(stop when history[-2] - history[-1] < tolerance) stops after {expected_steps}.\n"
            + ("Hint: the loop never stops early: test the improvement after each step and `break`."
               if steps >= 5000 else
               "Hint: compare the improvement of the last step with tolerance, not the loss itself."))

    # 3. run long enough, gradient descent reaches the exact least-squares solution
    w, b, _ = run(max_steps=2000, tolerance=1e-12)
    best_w, best_b = ref.least_squares(X, y)
    assert_close("w after convergence", w, best_w, rtol=1e-4,
                 hint="gradient descent should reach the least-squares weights.")
    assert_close("b after convergence", assert_scalar("b", b), best_b, rtol=1e-4)
    passed(f"train_gradient_descent: matches step for step, stops after {expected_steps} steps "
           f"with tolerance {tolerance}, and converges to the least-squares optimum")


@graded_check
def check_sample_minibatch(sample_minibatch, seed: int = 0, num_examples: int = 40,
                           num_features: int = 3, batch_size: int = 8) -> None:
    """``sample_minibatch(X, y, batch_size, rng)`` draws matching rows without replacement.

    Any correct sampler passes (``rng.choice``, ``rng.permutation(N)[:B]``, ...): the check
    tests properties, not particular rows.
    """
    rng = random_state(seed)
    X = rng.normal(size=(num_examples, num_features))
    y = np.arange(num_examples, dtype=float) + 0.5       # y tells which row was drawn
    X[:, 0] = y                                          # and so does the first column

    def draw(generator_seed, size=batch_size):
        got = call_student(sample_minibatch, X, y, size, np.random.default_rng(generator_seed),
                           name="sample_minibatch")
        X_batch, y_batch = unpack("sample_minibatch", got, ("X_batch", "y_batch"))
        X_batch = assert_shape("X_batch", X_batch, (size, num_features),
                               hint="take batch_size rows of X, all columns.")
        y_batch = assert_shape("y_batch", y_batch, (size,), hint="take the same rows of y.")
        if not np.all(np.isin(y_batch, y)):
            raise CheckFailure("y_batch contains values that are not in y.")
        if not np.allclose(X_batch[:, 0], y_batch):
            raise CheckFailure("the rows of X_batch do not match y_batch: use one set of row indices "
                               "for both X and y.")
        if len(np.unique(y_batch)) < size:
            raise CheckFailure("the minibatch repeats an example: sample without replacement "
                               "(`rng.choice(N, size=batch_size, replace=False)` or "
                               "`rng.permutation(N)[:batch_size]`).")
        return X_batch, y_batch

    # a large batch makes repeats near certain for a sampler that draws with replacement
    draw(0, size=max(batch_size, (3 * num_examples) // 4))
    X_batch, y_batch = draw(1)
    batches = [draw(s)[1] for s in range(2, 8)]
    if all(np.array_equal(np.sort(batch), np.sort(y_batch)) for batch in batches):
        raise CheckFailure("every call returns the same examples: draw random rows with the `rng` argument.")
    if not np.array_equal(draw(3)[1], draw(3)[1]):
        raise CheckFailure("two generators with the same seed gave different batches: draw with the `rng` "
                           "argument (not `np.random.*`), so that results are reproducible.")
    passed(f"sample_minibatch: {batch_size} matching rows, no repeats, random and reproducible with rng")


def sgd_epochs(num_examples: int, batch_size: int, num_epochs: int, seed: int,
               mistake: str | None = None) -> Iterator[list[np.ndarray]]:
    """The minibatches of each epoch, as lists of row indices, in the order the exercise fixes.

    ``rng = np.random.default_rng(seed)`` once; each epoch one ``rng.permutation(N)`` cut into
    consecutive slices of ``batch_size`` (the last one shorter). ``mistake`` (a key of
    :data:`_SGD_MISTAKES`) gives the batches of one realistic slip instead. Unit 02's
    training check walks the same batches.
    """
    rng = np.random.default_rng(seed)
    order = np.arange(num_examples)
    stop = num_examples - num_examples % batch_size if mistake == "drop_last" else num_examples
    for epoch in range(num_epochs):
        if mistake in (None, "drop_last") or (mistake == "shuffled_once" and epoch == 0):
            order = rng.permutation(num_examples)
        yield [rng.choice(num_examples, batch_size, replace=False) if mistake == "sampled"
               else order[begin:begin + batch_size] for begin in range(0, stop, batch_size)]


def _sgd_variant(X: np.ndarray, y: np.ndarray, learning_rate: float, batch_size: int, num_epochs: int,
                 seed: int, mistake: str | None = None) -> tuple[np.ndarray, float, list[float]]:
    """Unit 01's SGD (:func:`course_lib.linear.train_sgd`) in float64, optionally with one realistic mistake.

    X (N, D), y (N,) -> (w (D,), b, history of num_epochs full-data losses).
    """
    w, b, history = np.zeros(X.shape[1]), 0.0, []
    for batches in sgd_epochs(X.shape[0], batch_size, num_epochs, seed, mistake):
        for rows in batches:
            dw, db = ref.mse_gradients(X[rows], y[rows], w, b)
            w, b = ref.gradient_descent_step(w, b, dw, db, learning_rate)
        history.append(ref.mse_loss(ref.predict(X, w, b), y))
    return w, b, history


_SGD_MISTAKES = {
    "shuffled_once": "every epoch visits the examples in the same order (shuffled once, or a generator created "
                     "again inside the loop). Create rng = np.random.default_rng(seed) once, before the epochs, "
                     "and draw a new rng.permutation(N) at the start of every epoch.",
    "no_shuffle": "the examples are never shuffled: each epoch starts with order = rng.permutation(N).",
    "drop_last": "the last, smaller minibatch is skipped: when N is not a multiple of batch_size the slice "
                 "order[start:start + batch_size] is shorter, and it still takes a step.",
    "sampled": "each step draws a fresh random minibatch; this exercise visits every example exactly once per "
               "epoch: slice one permutation into consecutive minibatches.",
}


def _differ(a, b) -> bool:
    """Whether two weight vectors differ by more than rounding. Written without np.allclose on purpose:
    an inverted comparison ("different seeds must differ") that a notebook's patched NumPy answers would
    fail the check in the kernel before its hidden tests run, leaving them no record to re-check."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape != b.shape or bool(np.max(np.abs(a - b)) > 1e-9 * (1.0 + np.max(np.abs(b))))


@graded_check
def check_train_sgd(train_sgd, seed: int = 0, num_examples: int = 200, num_features: int = 4,
                    learning_rate: float = 0.05, batch_size: int = 16, num_epochs: int = 15) -> None:
    """``train_sgd(X, y, learning_rate, batch_size, num_epochs, seed)`` returns ``(w, b, history)``.

    The exercise fixes every number (``np.random.default_rng(seed)``, one ``rng.permutation(N)``
    per epoch, consecutive slices, the last one shorter), so the result must match
    :func:`course_lib.linear.train_sgd` step for step (``rtol=1e-6``): weights, bias and the
    history of ``num_epochs`` full-data losses, one after each epoch.
    """
    X, y, _, _ = _problem(seed, num_examples, num_features)
    arguments = dict(learning_rate=learning_rate, batch_size=batch_size, num_epochs=num_epochs)

    def run(run_seed):
        got = call_student(train_sgd, X, y, seed=run_seed, name="train_sgd", **arguments)
        w, b, history = unpack("train_sgd", got, ("w", "b", "history"))
        return (assert_shape("w", w, (num_features,)), assert_scalar("b", b),
                np.asarray(history, dtype=float).ravel())

    w, b, history = run(1)
    if history.size == num_epochs + 1:
        raise CheckFailure(f"history has {num_epochs + 1} losses for num_epochs={num_epochs}: record one full-data "
                           "loss after each epoch and nothing before training (the course's convention for epochs, "
                           "as in units 02 and 03 and Keras).")
    assert_shape("history", history, (num_epochs,), hint="one full-data loss after each epoch.")
    final = ref.mse_loss(ref.predict(X, w, b), y)
    if not np.isclose(history[-1], final, rtol=1e-4):
        raise CheckFailure(f"history[-1] = {history[-1]:.5g} but the MSE of the returned w, b on all of X is "
                           f"{final:.5g}: record the loss on the whole training set after each epoch.")
    again = run(1)
    if _differ(again[0], w):
        raise CheckFailure("two runs with the same seed gave different weights: create one "
                           "`np.random.default_rng(seed)` and draw every permutation from it.")
    expected_w, expected_b, expected_history = _sgd_variant(X, y, seed=1, **arguments)
    if not _differ(run(2)[0], w):
        raise CheckFailure("two different seeds gave the same weights: shuffle with "
                           "`rng = np.random.default_rng(seed)`, not a fixed generator or the data's order.")
    variants = {mistake: _sgd_variant(X, y, seed=1, mistake=mistake, **arguments) for mistake in _SGD_MISTAKES}
    assert_close("w", w, expected_w, rtol=1e-6,
                 hint=f"{num_epochs} epochs of {-(-num_examples // batch_size)} steps each, learning_rate="
                      f"{learning_rate}, in the order of rng.permutation(N) drawn anew each epoch.",
                 diagnoses=[(variant[0], _SGD_MISTAKES[mistake]) for mistake, variant in variants.items()])
    assert_close("b", b, expected_b, rtol=1e-6)
    assert_close("history", history, expected_history, rtol=1e-6,
                 hint="after each epoch, append the MSE of the current w, b on all of X.")
    best = ref.mse_loss(ref.predict(X, *ref.least_squares(X, y)), y)
    passed(f"train_sgd: matches the reference step for step ({num_epochs} epochs, batch {batch_size}, "
           f"learning rate {learning_rate}); the loss falls to {final:.4g} (optimum {best:.4g})")
