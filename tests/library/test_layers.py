"""course_lib.layers against two independent oracles: centred finite differences and tf.GradientTape."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from course_lib import layers
from course_lib.gradcheck import numerical_gradient, rel_error

ACTIVATION_ORACLES = {          # name -> TensorFlow function of x
    "sigmoid": lambda tf, x: tf.math.sigmoid(x),
    "tanh": lambda tf, x: tf.math.tanh(x),
    "relu": lambda tf, x: tf.nn.relu(x),
    # tf.nn.leaky_relu rounds alpha to float32 (0.01 -> 0.0099999998): use the max form instead
    "leaky_relu": lambda tf, x: tf.maximum(layers.DEFAULT_NEGATIVE_SLOPE * x, x),
}


def away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random inputs with |x| >= 0.1, so a +-1e-5 step never crosses the ReLU kink."""
    x = rng.normal(size=shape)
    return np.where(np.abs(x) < 0.1, np.sign(x + 1e-12) * 0.1 + x, x)


# ----------------------------------------------------------------------- forward values
def test_sigmoid_values_and_stability():
    x = np.array([-1000.0, -30.0, -1.0, 0.0, 1.0, 30.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no overflow warning for large |x|
        out, cache = layers.sigmoid_forward(x)
    expected = np.array([0.0, 1 / (1 + np.exp(30)), 1 / (1 + np.e), 0.5, 1 / (1 + np.exp(-1)),
                         1 / (1 + np.exp(-30)), 1.0])
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-300)
    assert cache is out


def test_activation_forward_values(tf):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 3, size=(6, 5))
    for name, oracle in ACTIVATION_ORACLES.items():
        forward, _ = layers.ACTIVATIONS[name]
        out, _ = forward(x)
        np.testing.assert_allclose(out, oracle(tf, tf.constant(x)).numpy(), rtol=1e-12, atol=1e-15, err_msg=name)


def test_leaky_relu_slopes_are_stated_and_match_keras():
    assert layers.DEFAULT_NEGATIVE_SLOPE == 0.01
    assert layers.LECTURE_NEGATIVE_SLOPE == 0.1
    import keras
    assert keras.layers.LeakyReLU().negative_slope == pytest.approx(layers.KERAS_NEGATIVE_SLOPE)
    out, _ = layers.leaky_relu_forward(np.array([-2.0, 3.0]), negative_slope=0.1)
    np.testing.assert_allclose(out, [-0.2, 3.0])
    for text in ("0.01", "0.3", "0.1"):
        assert text in layers.leaky_relu_forward.__doc__


def test_affine_forward_values_and_shape_errors():
    rng = np.random.default_rng(1)
    x, W, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
    out, cache = layers.affine_forward(x, W, b)
    manual = np.array([[sum(x[n, d] * W[d, h] for d in range(3)) + b[h] for h in range(2)] for n in range(4)])
    np.testing.assert_allclose(out, manual, rtol=1e-12)
    out_row_bias, _ = layers.affine_forward(x, W, b.reshape(1, 2))      # the lecture's (1, H) bias
    np.testing.assert_allclose(out_row_bias, out)
    with pytest.raises(ValueError):
        layers.affine_forward(x, W.T, b)
    with pytest.raises(ValueError):
        layers.affine_forward(x, W, np.zeros(3))


# ------------------------------------------------------------ backward vs finite differences
def _layer_cases(rng: np.random.Generator):
    """(name, forward of the inputs, backward, inputs) for every layer."""
    x = away_from_zero(rng, (4, 5))
    cases = []
    for name, (forward, backward) in layers.ACTIVATIONS.items():
        cases.append((name, lambda v, f=forward: f(v), lambda d, c, b=backward: (b(d, c),), [x.copy()]))
    cases.append(("leaky_relu slope 0.3", lambda v: layers.leaky_relu_forward(v, 0.3),
                  lambda d, c: (layers.leaky_relu_backward(d, c),), [x.copy()]))
    W, b = rng.normal(size=(5, 3)), rng.normal(size=3)
    cases.append(("affine", layers.affine_forward, layers.affine_backward, [x.copy(), W, b]))
    cases.append(("affine (1, H) bias", layers.affine_forward, layers.affine_backward,
                  [x.copy(), W.copy(), b.reshape(1, 3).copy()]))
    return cases


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_backward_matches_finite_differences(seed):
    rng = np.random.default_rng(seed)
    for name, forward, backward, inputs in _layer_cases(rng):
        out, cache = forward(*inputs)
        dout = rng.normal(size=out.shape)
        analytic = backward(dout, cache)
        assert len(analytic) == len(inputs)
        for position, (value, grad) in enumerate(zip(inputs, analytic)):
            assert grad.shape == value.shape, (name, position)

            def scalar(_: np.ndarray) -> float:          # L = sum(out * dout): dL/dout = dout
                return float(np.sum(forward(*inputs)[0] * dout))

            numerical = numerical_gradient(scalar, value)
            assert rel_error(grad, numerical) < 1e-7, (name, position, rel_error(grad, numerical))


@pytest.mark.parametrize("shape", [(5,), (5, 1), (5, 3)])     # (N, C): the mean over every entry, like Keras
def test_mse_loss_matches_finite_differences(shape):
    rng = np.random.default_rng(3)
    y_pred, y = rng.normal(size=shape), rng.normal(size=shape)
    loss, dy_pred = layers.mse_loss(y_pred, y)
    assert loss == pytest.approx(np.mean((y_pred - y) ** 2), rel=1e-12)
    assert dy_pred.shape == shape
    numerical = numerical_gradient(lambda v: layers.mse_loss(v, y)[0], y_pred)
    assert rel_error(dy_pred, numerical) < 1e-7


def test_mse_loss_refuses_broadcasting_shapes():
    with pytest.raises(ValueError, match="same shape"):
        layers.mse_loss(np.zeros((4, 1)), np.zeros(4))


# ---------------------------------------------------------------- backward vs GradientTape
@pytest.mark.parametrize("seed", [0, 1])
def test_activation_backward_matches_gradient_tape(tf, seed):
    rng = np.random.default_rng(seed)
    x = away_from_zero(rng, (6, 4))
    dout = rng.normal(size=x.shape)
    for name, oracle in ACTIVATION_ORACLES.items():
        forward, backward = layers.ACTIVATIONS[name]
        _, cache = forward(x)
        x_tf = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x_tf)
            out = oracle(tf, x_tf)
        expected = tape.gradient(out, x_tf, output_gradients=tf.constant(dout)).numpy()
        assert rel_error(backward(dout, cache), expected) < 1e-7, name


def test_affine_and_mse_backward_match_gradient_tape(tf):
    rng = np.random.default_rng(4)
    x, W, b = rng.normal(size=(5, 3)), rng.normal(size=(3, 1)), rng.normal(size=1)
    y = rng.normal(size=(5, 1))
    out, cache = layers.affine_forward(x, W, b)
    loss, dout = layers.mse_loss(out, y)
    dx, dW, db = layers.affine_backward(dout, cache)
    x_tf, W_tf, b_tf = (tf.Variable(v) for v in (x, W, b))
    with tf.GradientTape() as tape:
        loss_tf = tf.reduce_mean((tf.matmul(x_tf, W_tf) + b_tf - y) ** 2)
    expected = tape.gradient(loss_tf, [x_tf, W_tf, b_tf])
    assert loss == pytest.approx(float(loss_tf), rel=1e-12)
    for mine, theirs in zip((dx, dW, db), expected):
        assert mine.shape == tuple(theirs.shape)
        assert rel_error(mine, theirs.numpy()) < 1e-7


def test_every_public_function_documents_shapes():
    for name in dir(layers):
        obj = getattr(layers, name)
        if callable(obj) and not name.startswith("_") and getattr(obj, "__module__", "") == layers.__name__:
            assert obj.__doc__ and ("shape" in obj.__doc__ or "(N" in obj.__doc__), name
