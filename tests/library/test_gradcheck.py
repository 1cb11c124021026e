"""course_lib.gradcheck: numerical gradients, relative errors and the per-parameter report."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib import gradcheck
from course_lib.gradcheck import gradient_check_report, norm_rel_error, numerical_gradient, rel_error
from course_lib.mlp import TwoLayerNet, two_layer_loss


# ---------------------------------------------------------------------- numerical_gradient
def test_centred_differences_are_exact_on_a_quadratic():
    rng = np.random.default_rng(0)
    A, B, x = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    grad = numerical_gradient(lambda v: np.sum(A * v ** 2 + B * v), x, h=1e-3)
    np.testing.assert_allclose(grad, 2 * A * x + B, rtol=1e-9, atol=1e-9)
    assert grad.shape == x.shape and grad.dtype == np.float64


def test_error_shrinks_like_h_squared():
    x = np.array([0.7, -1.3])
    exact = np.cos(x)
    errors = [np.max(np.abs(numerical_gradient(lambda v: np.sum(np.sin(v)), x.copy(), h) - exact))
              for h in (1e-2, 1e-3)]
    assert errors[0] / errors[1] == pytest.approx(100, rel=0.05)


def test_x_is_restored_exactly_and_a_closure_sees_the_changes():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 2))
    original = x.copy()
    weights = rng.normal(size=x.shape)
    grad = numerical_gradient(lambda _: float(np.sum(np.exp(x) * weights)), x)    # ignores its argument
    assert np.array_equal(x, original)                                           # bit for bit
    np.testing.assert_allclose(grad, np.exp(original) * weights, rtol=1e-8)


def test_numerical_gradient_refuses_integer_arrays_and_non_scalar_functions():
    with pytest.raises(TypeError):
        numerical_gradient(lambda v: float(v.sum()), np.arange(3))
    with pytest.raises(ValueError, match="scalar"):
        numerical_gradient(lambda v: v * 2, np.ones(3))


def test_numerical_gradient_accepts_a_loss_and_grads_tuple():
    x = np.array([1.0, 2.0])
    np.testing.assert_allclose(numerical_gradient(lambda v: (np.sum(v ** 2), None), x), 2 * x, rtol=1e-9)


# --------------------------------------------------------------------------- rel_error
def test_rel_error_is_the_largest_elementwise_relative_error():
    a = np.array([1.0, 2.0, 0.0])
    b = np.array([1.0, 2.2, 0.0])
    assert rel_error(a, b) == pytest.approx(0.2 / 4.2)
    assert rel_error(b, a) == rel_error(a, b)
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error(np.array([1e-12]), np.array([0.0])) == pytest.approx(1e-4)   # the 1e-8 floor
    with pytest.raises(ValueError):
        rel_error(np.zeros(3), np.zeros((3, 1)))


def test_norm_rel_error():
    a, b = np.array([3.0, 0.0]), np.array([3.0, 4.0])
    assert norm_rel_error(a, b) == pytest.approx(4.0 / 8.0)
    assert norm_rel_error(np.zeros(2), np.zeros(2)) == 0.0
    assert norm_rel_error(a, a) == 0.0


# -------------------------------------------------------------------------------- report
def small_problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(6, 3)), rng.normal(size=6)
    params = TwoLayerNet(3, 4, seed=seed).params
    for value in params.values():
        value += rng.normal(0, 0.3, size=value.shape)
    return X, y, params


def test_report_passes_correct_gradients_from_every_interface():
    X, y, params = small_problem()
    _, grads = two_layer_loss(X, y, params)
    reports = [
        gradient_check_report(lambda p: two_layer_loss(X, y, p)[0], params, grads),   # f(params) -> loss
        gradient_check_report(lambda p: two_layer_loss(X, y, p), params),             # f(params) -> (loss, grads)
        gradient_check_report(lambda: two_layer_loss(X, y, params)[0], params, grads),  # f() -> loss
    ]
    net = TwoLayerNet(3, 4, seed=0)
    reports.append(gradient_check_report(net, X=X, y=y))                              # a model
    for report in reports:
        assert report.passed, str(report)
        assert report.threshold == 1e-7
        assert list(report.errors) == ["W1", "b1", "W2", "b2"]
        assert all(error < 1e-8 for error in report.errors.values())


def test_report_catches_the_lectures_bugs():
    X, y, params = small_problem(1)
    _, grads = two_layer_loss(X, y, params)
    N = X.shape[0]
    z = X @ params["W1"] + params["b1"]
    h = 1 / (1 + np.exp(-z))
    dscores = 2 * (h @ params["W2"] + params["b2"] - y[:, None]) / N
    dz = dscores @ params["W2"].T * h * (1 - h)
    wrong = dict(grads)
    wrong["W1"] = (dz @ params["W1"].T).T @ dz           # bug 2: from dX instead of X
    wrong["b2"] = dscores                               # bug 1: not summed over the batch (shape (N, 1))
    report = gradient_check_report(lambda p: two_layer_loss(X, y, p)[0], params, wrong)
    assert not report.passed
    assert report["W1"].relative_error > 1e-2 and not report["W1"].passed
    assert report["b2"].relative_error == np.inf and not report["b2"].passed
    assert report["W2"].passed and report["b1"].passed
    text = str(report)
    assert "FAIL" in text and "some gradients FAIL" in text


def test_report_prints_a_table_and_states_its_threshold():
    X, y, params = small_problem(2)
    report = gradient_check_report(lambda p: two_layer_loss(X, y, p), params)
    text = str(report)
    lines = text.splitlines()
    assert lines[0].split()[:5] == ["parameter", "shape", "|analytic|", "|numerical|", "rel."]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert len(lines) == 2 + 4 + 1
    assert "1e-07" in lines[-1] and "h = 1e-05" in lines[-1]
    assert repr(report) == text
    html = report._repr_html_()
    assert html.startswith("<table>") and html.count("<tr") == 5


def test_float32_parameters_get_the_float32_threshold_and_custom_threshold_wins():
    x = np.array([1.0, 2.0], dtype=np.float32)
    report = gradient_check_report(lambda p: float(np.sum(p["x"].astype(np.float64) ** 2)), {"x": x},
                                   {"x": 2 * x.astype(np.float64)}, h=1e-2)
    assert report.threshold == gradcheck.THRESHOLDS["float32"]
    report = gradient_check_report(lambda p: float(np.sum(p["x"] ** 2)), {"x": x.astype(float)},
                                   {"x": 2 * x}, threshold=1e-3)
    assert report.threshold == 1e-3 and report.passed


def test_a_correct_network_passes_reliably_over_many_seeds():
    """The documented error sizes: correct gradients give norm errors far below 1e-7."""
    worst = 0.0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        X, y = rng.normal(size=(20, 8)), 3 * rng.normal(size=20)
        net = TwoLayerNet(8, 16, activation=("sigmoid", "tanh", "relu")[seed % 3], seed=seed)
        report = gradient_check_report(net, X=X, y=y)
        assert report.passed, str(report)
        worst = max(worst, *report.errors.values())
    assert worst < 1e-8


def test_model_without_data_is_refused():
    with pytest.raises(ValueError, match="X and y"):
        gradient_check_report(TwoLayerNet(2, 3))
