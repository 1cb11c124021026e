"""course_lib.data.genes: the simulated target gene and the bundled diabetes data."""

from __future__ import annotations

import socket
import subprocess
import sys

import numpy as np
import pytest

from course_lib.data import genes
from course_lib.data.hospital import RegressionData
from course_lib.linear import least_squares


def test_simulation_is_seeded_and_shaped():
    a, b, c = genes.gene_expression(50, seed=3), genes.gene_expression(50, seed=3), genes.gene_expression(50, seed=4)
    assert isinstance(a, RegressionData)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)
    assert a.X.shape == a.X_raw.shape == (50, 8) and a.y.shape == (50,)
    assert a.feature_names == tuple(f"landmark_{j}" for j in range(1, 9))
    assert a.true_weights is None and a.true_bias is None and a.noise_std == genes.NOISE_STD
    assert "simulat" in a.description.lower() and "CC0" in a.description
    wide = genes.gene_expression(10, num_landmarks=12)
    assert wide.X.shape == (10, 12) and len(wide.feature_names) == 12
    with pytest.raises(ValueError):
        genes.gene_expression(10, num_landmarks=4)


def test_the_documented_generating_process():
    data = genes.gene_expression(20000, noise_std=0.25, seed=0)
    residual = data.y - genes.true_expression(data.X)
    assert residual.std() == pytest.approx(0.25, rel=0.03)
    assert abs(residual.mean()) < 0.01
    correlation = np.corrcoef(data.X, rowvar=False)
    np.testing.assert_allclose(correlation, genes.correlation_matrix(8), atol=0.03)
    np.testing.assert_allclose(data.X_raw, genes.landmark_means(8) + genes.landmark_sds(8) * data.X, rtol=1e-12)
    np.testing.assert_allclose(data.X_raw.mean(axis=0), genes.LANDMARK_MEANS, atol=0.05)
    np.testing.assert_allclose(data.X_raw.std(axis=0), genes.LANDMARK_SDS, rtol=0.03)


def test_true_expression_follows_the_docstring_formula():
    X = np.zeros((3, 6))
    X[:, 0] = [0.0, 1.0, -1.0]
    X[1, 3], X[2, 4], X[2, 5] = 2.0, 1.0, 5.0                # column 5 (landmark_6) has no effect
    sigmoid = lambda v: 1 / (1 + np.exp(-v))
    expected = (1.5 * np.tanh(2 * X[:, 0]) - 2.0 * sigmoid(2 * X[:, 1] + 2 * X[:, 2] - 2)
                + 1.5 * np.exp(-X[:, 3] ** 2) + 0.5 * X[:, 4])
    np.testing.assert_allclose(genes.true_expression(X), expected, rtol=1e-12)


def test_target_is_nonlinear_a_linear_model_explains_about_two_thirds():
    data = genes.gene_expression(5000, seed=1)
    w, b = least_squares(data.X, data.y)
    r_squared = 1 - np.var(data.y - data.X @ w - b) / np.var(data.y)
    assert 0.6 < r_squared < 0.78
    noise_share = genes.NOISE_STD ** 2 / np.var(data.y)
    assert 0.02 < noise_share < 0.04
    assert abs(w[3]) < 0.1                                   # the bump of landmark_4 is invisible to a line


def test_diabetes_loads_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the diabetes loader tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    data = genes.load_diabetes_progression()
    assert isinstance(data, RegressionData)
    assert data.X.shape == data.X_raw.shape == (442, 10) and data.y.shape == (442,)
    assert data.feature_names == ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")
    np.testing.assert_allclose(data.X.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(data.X.std(axis=0), 1, rtol=1e-12)
    assert data.y.min() == 25 and data.y.max() == 346
    assert set(np.unique(data.X_raw[:, 1])) == {1.0, 2.0}
    assert data.true_weights is None and data.noise_std is None
    assert "Efron" in data.description and "BSD" in data.description
    scaled = genes.load_diabetes_progression(standardise_target=True)
    assert scaled.y.mean() == pytest.approx(0, abs=1e-12) and scaled.y.std() == pytest.approx(1)


def test_importing_the_unit_02_modules_loads_neither_sklearn_nor_tensorflow():
    code = ("import sys, course_lib.data.genes, course_lib.layers, course_lib.mlp, course_lib.gradcheck, "
            "course_lib.checks.backprop; "
            "print(sorted(m for m in ('sklearn', 'tensorflow', 'keras', 'jax', 'torch') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
