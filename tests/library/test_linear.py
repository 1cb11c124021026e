"""course_lib.linear against independent oracles: finite differences and numpy.linalg.lstsq."""

import numpy as np
import pytest

from course_lib import linear


def problem(seed, num_examples=30, num_features=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(num_examples, num_features))
    y = X @ rng.normal(size=num_features) + 2.0 + 0.1 * rng.normal(size=num_examples)
    return X, y, rng.normal(size=num_features), float(rng.normal())


def numerical_gradient(f, x, h=1e-6):
    """Centred differences of scalar f at vector x."""
    grad = np.zeros_like(x)
    for i in range(x.size):
        step = np.zeros_like(x)
        step[i] = h
        grad[i] = (f(x + step) - f(x - step)) / (2 * h)
    return grad


@pytest.mark.parametrize("seed,num_examples,num_features", [(0, 30, 4), (1, 1, 1), (2, 7, 12)])
def test_gradients_match_finite_differences(seed, num_examples, num_features):
    X, y, w, b = problem(seed, num_examples, num_features)
    dw, db = linear.mse_gradients(X, y, w, b)
    params = np.append(w, b)
    loss = lambda p: linear.mse_loss(linear.predict(X, p[:-1], p[-1]), y)
    numeric = numerical_gradient(loss, params)
    np.testing.assert_allclose(dw, numeric[:-1], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(db, numeric[-1], rtol=1e-6, atol=1e-8)


def test_mse_is_mean_of_squared_errors():
    y_pred, y = np.array([1.0, 2.0, 4.0]), np.array([0.0, 2.0, 1.0])
    np.testing.assert_allclose(linear.squared_errors(y_pred, y), [1.0, 0.0, 9.0])
    assert linear.mse_loss(y_pred, y) == pytest.approx(10.0 / 3)


def test_gradient_descent_reaches_least_squares():
    X, y, _, _ = problem(3)
    result = linear.train_gradient_descent(X, y, learning_rate=0.1, max_steps=5000, tolerance=1e-15)
    design = np.column_stack([X, np.ones(len(y))])
    exact = np.linalg.lstsq(design, y, rcond=None)[0]
    np.testing.assert_allclose(np.append(result.w, result.b), exact, rtol=1e-6, atol=1e-8)
    assert result.converged and np.all(np.diff(result.history) <= 1e-12)


def test_stopping_rule_and_budget():
    X, y, _, _ = problem(4)
    budget = linear.train_gradient_descent(X, y, 0.1, max_steps=5, tolerance=0.0)
    assert len(budget.history) == 6 and not budget.converged
    loose = linear.train_gradient_descent(X, y, 0.1, max_steps=5000, tolerance=1e-2)
    assert loose.converged and len(loose.history) < 100
    assert loose.history[-2] - loose.history[-1] < 1e-2 <= loose.history[-3] - loose.history[-2]


def test_stable_learning_rate_limit_is_sharp():
    X, y, _, _ = problem(5)
    limit = linear.max_stable_learning_rate(X)
    below = linear.train_gradient_descent(X, y, 0.95 * limit, max_steps=400, tolerance=-np.inf)
    above = linear.train_gradient_descent(X, y, 1.05 * limit, max_steps=400, tolerance=-np.inf)
    assert below.history[-1] < below.history[0] and above.history[-1] > 1e3 * above.history[0]


def test_sample_minibatch_rows_match_without_replacement():
    X, y, _, _ = problem(6, num_examples=50)
    X_batch, y_batch = linear.sample_minibatch(X, y, 20, np.random.default_rng(0))
    rows = [int(np.flatnonzero((X == row).all(axis=1))[0]) for row in X_batch]
    assert len(set(rows)) == 20 and np.allclose(y[rows], y_batch)


def test_sgd_gets_close_to_optimum_and_is_reproducible():
    X, y, _, _ = problem(7, num_examples=300)
    first = linear.train_sgd(X, y, learning_rate=0.05, batch_size=16, num_epochs=20, seed=1)
    again = linear.train_sgd(X, y, learning_rate=0.05, batch_size=16, num_epochs=20, seed=1)
    best = linear.mse_loss(linear.predict(X, *linear.least_squares(X, y)), y)
    assert first.history[-1] < 1.05 * best and np.array_equal(first.w, again.w)
    assert len(first.history) == 20                # one full-data loss per epoch
