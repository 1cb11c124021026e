"""course_lib.conv against independent oracles: tf.nn.conv2d, GradientTape, Keras pooling,
scipy.signal, and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from course_lib import conv, gradcheck

import tensorflow as tf  # noqa: E402 (a dependency: a broken install must fail, not skip)
import keras  # noqa: E402

# (N, H, W, C, F, K, stride, pad): shapes where (H + 2 pad - K) % stride == 0
CASES = [
    (2, 5, 5, 1, 1, 3, 1, 0),
    (2, 7, 9, 3, 4, 3, 2, 1),
    (1, 8, 6, 2, 3, 2, 2, 0),
    (3, 6, 6, 2, 5, 1, 1, 0),
    (2, 9, 7, 3, 2, 5, 2, 2),
    (1, 10, 10, 4, 2, 4, 3, 0),
    (2, 6, 8, 1, 3, 3, 1, 2),
]


def _problem(case, seed=0):
    num_examples, height, width, channels, num_filters, kernel_size, stride, pad = case
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_examples, height, width, channels))
    W = rng.normal(size=(kernel_size, kernel_size, channels, num_filters))
    b = rng.normal(size=num_filters)
    return x, W, b, stride, pad


def _tf_conv(x, W, b, stride, pad):
    return tf.nn.conv2d(x, W, strides=stride, padding=[[0, 0], [pad, pad], [pad, pad], [0, 0]]) + b


@pytest.mark.parametrize("case", CASES)
def test_forward_matches_tf_conv2d(case):
    x, W, b, stride, pad = _problem(case)
    expected = _tf_conv(tf.constant(x), tf.constant(W), tf.constant(b), stride, pad).numpy()
    out, cache = conv.conv2d_forward(x, W, b, stride, pad)
    assert out.dtype == np.float64
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)
    naive, _ = conv.conv2d_forward_naive(x, W, b, stride, pad)
    np.testing.assert_allclose(naive, expected, rtol=1e-10, atol=1e-10)
    assert len(cache) == 5 and cache[3:] == (stride, pad)


@pytest.mark.parametrize("case", CASES)
def test_backward_matches_gradient_tape(case):
    x, W, b, stride, pad = _problem(case, seed=1)
    dout = np.random.default_rng(2).normal(size=conv.conv2d_forward(x, W, b, stride, pad)[0].shape)
    x_tf, W_tf, b_tf = tf.Variable(x), tf.Variable(W), tf.Variable(b)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(_tf_conv(x_tf, W_tf, b_tf, stride, pad) * dout)
    expected = [g.numpy() for g in tape.gradient(loss, [x_tf, W_tf, b_tf])]
    for forward in (conv.conv2d_forward, conv.conv2d_forward_naive):
        _, cache = forward(x, W, b, stride, pad)
        for got, want, name in zip(conv.conv2d_backward(dout, cache), expected, ("dx", "dW", "db")):
            assert got.shape == want.shape, name
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10, err_msg=name)


def test_backward_passes_finite_difference_gradient_check():
    x, W, b, stride, pad = _problem((2, 5, 5, 2, 3, 3, 2, 1), seed=3)
    dout = np.random.default_rng(4).normal(size=(2, 3, 3, 3))

    def loss(_):
        return float(np.sum(conv.conv2d_forward(x, W, b, stride, pad)[0] * dout))

    dx, dW, db = conv.conv2d_backward(dout, conv.conv2d_forward(x, W, b, stride, pad)[1])
    for analytic, array in ((dx, x), (dW, W), (db, b)):
        assert gradcheck.rel_error(analytic, gradcheck.numerical_gradient(loss, array)) < 1e-7


def test_correlate2d_matches_scipy_and_is_not_convolution():
    rng = np.random.default_rng(5)
    image, kernel = rng.normal(size=(7, 6)), rng.normal(size=(3, 3))
    np.testing.assert_allclose(conv.correlate2d(image, kernel), signal.correlate2d(image, kernel, mode="valid"))
    np.testing.assert_allclose(conv.correlate2d(image, kernel[::-1, ::-1]),
                               signal.convolve2d(image, kernel, mode="valid"))
    assert not np.allclose(conv.correlate2d(image, kernel), signal.convolve2d(image, kernel, mode="valid"))
    # single channel, single filter conv2d is the same correlate2d
    out, _ = conv.conv2d_forward(image[None, :, :, None], kernel[:, :, None, None], np.zeros(1))
    np.testing.assert_allclose(out[0, :, :, 0], conv.correlate2d(image, kernel))


def test_multichannel_forward_is_sum_of_per_channel_correlations():
    rng = np.random.default_rng(6)
    x, W, b = rng.normal(size=(1, 6, 5, 3)), rng.normal(size=(3, 3, 3, 2)), rng.normal(size=2)
    out, _ = conv.conv2d_forward(x, W, b)
    for f in range(2):
        expected = sum(signal.correlate2d(x[0, :, :, c], W[:, :, c, f], mode="valid") for c in range(3)) + b[f]
        np.testing.assert_allclose(out[0, :, :, f], expected)


@pytest.mark.parametrize("n, k, stride, pad, expected", [
    (32, 5, 1, 0, 28), (32, 5, 1, 2, 32), (32, 3, 1, 1, 32), (7, 3, 2, 0, 3), (7, 3, 2, 1, 4),
    (32, 4, 2, 1, 16), (5, 5, 1, 0, 1), (227, 11, 4, 0, 55), (28, 2, 2, 0, 14),
])
def test_conv_output_size(n, k, stride, pad, expected):
    size = conv.conv_output_size(n, k, stride, pad)
    assert size == expected and isinstance(size, int)


@pytest.mark.parametrize("n, k, stride, pad, words", [
    (32, 5, 2, 0, "stride 2"), (7, 3, 3, 0, "not a whole number"), (3, 5, 1, 0, "does not fit"),
    (32, 5, 0, 0, "stride"), (32, 5, 1, -1, "pad"), (32.5, 5, 1, 0, "whole number"),
])
def test_conv_output_size_rejects_sizes_that_do_not_divide(n, k, stride, pad, words):
    with pytest.raises(ValueError, match=words):
        conv.conv_output_size(n, k, stride, pad)


def test_forward_rejects_bad_shapes():
    x = np.zeros((1, 5, 5, 3))
    with pytest.raises(ValueError, match="input channels"):
        conv.conv2d_forward(x, np.zeros((3, 3, 2, 4)), np.zeros(4))
    with pytest.raises(ValueError, match="b must have shape"):
        conv.conv2d_forward(x, np.zeros((3, 3, 3, 4)), np.zeros(3))
    with pytest.raises(ValueError, match="not a whole number"):
        conv.conv2d_forward(x, np.zeros((2, 2, 3, 4)), np.zeros(4), stride=2)
    with pytest.raises(ValueError, match="N, H, W, C"):
        conv.conv2d_forward(np.zeros((5, 5, 3)), np.zeros((3, 3, 3, 4)), np.zeros(4))


@pytest.mark.parametrize("shape, size, stride", [
    ((2, 4, 6, 3), 2, 2), ((1, 6, 6, 2), 3, 3), ((2, 5, 7, 2), 3, 2), ((1, 5, 5, 1), 3, 1), ((2, 8, 8, 4), 2, 2),
])
def test_max_pool_matches_keras_forward_and_backward(shape, size, stride):
    rng = np.random.default_rng(7)
    x = rng.normal(size=shape)
    layer = keras.layers.MaxPooling2D(pool_size=size, strides=stride, padding="valid", dtype="float64")
    x_tf = tf.Variable(x)
    with tf.GradientTape() as tape:
        expected = layer(x_tf)
        dout = rng.normal(size=expected.shape)
        loss = tf.reduce_sum(expected * dout)
    expected_dx = tape.gradient(loss, x_tf).numpy()
    out, cache = conv.max_pool_forward(x, size, stride)
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-12)
    dx = conv.max_pool_backward(dout, cache)
    assert dx.shape == x.shape
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-12, atol=1e-12)


def test_max_pool_gradient_goes_to_the_maximum_only():
    x = np.array([[1.0, 3.0], [2.0, 0.5]]).reshape(1, 2, 2, 1)
    out, cache = conv.max_pool_forward(x)
    assert out.ravel().tolist() == [3.0]
    dx = conv.max_pool_backward(np.full((1, 1, 1, 1), 5.0), cache)
    assert dx.ravel().tolist() == [0.0, 5.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="not a whole number"):
        conv.max_pool_forward(np.zeros((1, 5, 5, 1)))


def test_filters_behave_as_described():
    assert set(conv.FILTERS) >= {"identity", "laplacian", "edge", "sobel_x", "sobel_y", "box_blur",
                                 "gaussian_blur", "sharpen"}
    for name, kernel in conv.FILTERS.items():
        assert kernel.shape == (3, 3) and kernel.dtype == np.float64, name
        assert not kernel.flags.writeable
    for name in ("laplacian", "edge", "sobel_x", "sobel_y"):
        assert conv.FILTERS[name].sum() == 0  # flat regions give zero
    for name in ("identity", "box_blur", "gaussian_blur", "sharpen"):
        assert np.isclose(conv.FILTERS[name].sum(), 1)  # flat regions keep their value
    ramp = np.tile(np.arange(6.0), (6, 1))  # brightness increases left to right
    W = conv.filter_bank(["sobel_x", "sobel_y", "laplacian", "identity"])
    out, _ = conv.conv2d_forward(ramp[None, :, :, None], W, np.zeros(4))
    assert np.all(out[..., 0] == 8) and np.all(out[..., 1] == 0) and np.all(out[..., 2] == 0)
    np.testing.assert_allclose(out[0, :, :, 3], ramp[1:-1, 1:-1])
    # true convolution flips the Sobel filter, and with it the sign
    flipped = signal.convolve2d(ramp, conv.FILTERS["sobel_x"], mode="valid")
    assert np.all(flipped == -8)


def test_filter_bank_shapes_and_channel_mean():
    W = conv.filter_bank(["box_blur", np.ones((3, 3))], channels=3)
    assert W.shape == (3, 3, 3, 2)
    np.testing.assert_allclose(W[:, :, :, 0].sum(), 1.0)
    with pytest.raises(ValueError):
        conv.filter_bank([np.ones((3, 3)), np.ones((5, 5))])


@pytest.mark.parametrize("kernel_size, channels, num_filters", [(5, 3, 6), (3, 1, 8), (1, 16, 4)])
def test_conv_num_params_matches_keras(kernel_size, channels, num_filters):
    layer = keras.layers.Conv2D(num_filters, kernel_size)
    layer.build((None, 32, 32, channels))
    assert conv.conv_num_params(kernel_size, channels, num_filters) == layer.count_params()
    dense = keras.layers.Dense(num_filters)
    dense.build((None, 32 * 32 * channels))
    assert conv.dense_num_params(32 * 32 * channels, num_filters) == dense.count_params()


def test_lecture_example_dense_vs_conv():
    # a 32x32x3 image to a 28x28x6 volume: six 5x5x3 filters, or one dense layer
    assert conv.conv_num_params(5, 3, 6) == 456
    assert conv.dense_num_params(32 * 32 * 3, 28 * 28 * 6) == 3072 * 4704 + 4704


def test_import_course_lib_conv_does_not_import_tensorflow():
    import subprocess
    import sys
    code = "import sys, course_lib.conv, course_lib.data.images; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
