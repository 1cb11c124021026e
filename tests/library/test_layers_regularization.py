"""Dropout and batch normalisation of course_lib.layers against Keras's layers and finite differences."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from course_lib import layers
from course_lib.gradcheck import numerical_gradient, rel_error


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_inverted_dropout_matches_keras_convention(rate):
    x = np.random.default_rng(0).normal(size=(400, 50)) + 3.0
    out, cache = layers.dropout_forward(x, rate, training=True, seed=1)
    theirs = keras.ops.convert_to_numpy(keras.layers.Dropout(rate, seed=1)(x.astype("float32"), training=True))
    for result in (out, theirs):                   # every entry: dropped, or scaled by 1 / (1 - rate)
        kept = result != 0
        np.testing.assert_allclose(result[kept], x[kept] / (1 - rate), rtol=1e-5)
        assert abs(1 - kept.mean() - rate) < 0.02  # rate = share dropped
    assert abs(out.mean() / x.mean() - 1) < 0.05
    test_out, test_cache = layers.dropout_forward(x, rate, training=False)
    np.testing.assert_array_equal(test_out, x)
    np.testing.assert_allclose(keras.layers.Dropout(rate)(x.astype("float32"), training=False), x, rtol=1e-6)
    dout = np.random.default_rng(2).normal(size=x.shape)
    np.testing.assert_array_equal(layers.dropout_backward(dout, test_cache), dout)


def test_dropout_backward_by_finite_differences():
    rng = np.random.default_rng(3)
    x, dout = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    out, cache = layers.dropout_forward(x, 0.4, seed=7)
    numeric = numerical_gradient(lambda v: np.sum(layers.dropout_forward(v, 0.4, seed=7)[0] * dout), x)
    assert rel_error(layers.dropout_backward(dout, cache), numeric) < 1e-8


def test_batchnorm_matches_keras_in_both_modes():
    rng = np.random.default_rng(4)
    x, gamma, beta = rng.normal(2, 3, size=(16, 5)), rng.normal(size=5), rng.normal(size=5)
    bn = keras.layers.BatchNormalization()
    bn.build((None, 5))
    bn.gamma.assign(gamma.astype("float32"))
    bn.beta.assign(beta.astype("float32"))
    state = layers.batchnorm_state(5)
    for _ in range(3):                                    # three training steps update the moving averages
        out, _ = layers.batchnorm_forward(x, gamma, beta, state, training=True)
        theirs = keras.ops.convert_to_numpy(bn(x.astype("float32"), training=True))
        np.testing.assert_allclose(out, theirs, rtol=1e-4, atol=1e-4)
        x = x * 1.1 + 0.5
    np.testing.assert_allclose(state["moving_mean"], bn.moving_mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(state["moving_var"], bn.moving_variance.numpy(), rtol=1e-5)
    frozen = {key: value.copy() for key, value in state.items()}
    out, _ = layers.batchnorm_forward(x, gamma, beta, state, training=False)
    np.testing.assert_allclose(out, bn(x.astype("float32"), training=False), rtol=1e-4, atol=1e-4)
    assert all(np.array_equal(frozen[key], state[key]) for key in state)


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_backward_by_finite_differences(training):
    rng = np.random.default_rng(5)
    x, gamma, beta, dout = (rng.normal(size=(6, 4)), rng.normal(size=4), rng.normal(size=4),
                            rng.normal(size=(6, 4)))
    state = {"moving_mean": rng.normal(size=4), "moving_var": rng.uniform(0.5, 2, size=4)}

    def loss(_):
        return np.sum(layers.batchnorm_forward(x, gamma, beta, dict(state), training)[0] * dout)

    _, cache = layers.batchnorm_forward(x, gamma, beta, dict(state), training)
    dx, dgamma, dbeta = layers.batchnorm_backward(dout, cache)
    for analytic, variable in ((dx, x), (dgamma, gamma), (dbeta, beta)):
        assert rel_error(analytic, numerical_gradient(loss, variable)) < 1e-6


def test_binary_cross_entropy_is_stable_and_matches_keras():
    z = np.array([-800.0, -3.0, 0.0, 2.0, 800.0])
    y = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    loss, dz = layers.binary_cross_entropy_with_logits(z, y)
    assert np.isfinite(loss) and loss == pytest.approx((800 + np.log1p(np.exp(-3)) + np.log(2)
                                                        + np.log1p(np.exp(-2)) + 800) / 5)
    small = z[1:4]
    theirs = float(keras.losses.BinaryCrossentropy(from_logits=True)(y[1:4, None], small[:, None]))
    assert layers.binary_cross_entropy_with_logits(small, y[1:4])[0] == pytest.approx(theirs, rel=1e-5)
    assert rel_error(dz, numerical_gradient(lambda v: layers.binary_cross_entropy_with_logits(v, y)[0],
                                            z.copy())) < 1e-6
