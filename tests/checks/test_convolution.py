"""The unit 04 checks accept correct answers written in several ways and reject realistic
wrong ones with a message that names the mistake."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal

from tests.conftest import typed_by_a_student
from tests.checks.conftest import accepts, rejects, unwritten

ref = typed_by_a_student("course_lib.conv")
from course_lib.checks import convolution as checks


# ------------------------------------------------------------------ conv_output_size

def output_size_divmod(n, k, stride=1, pad=0):
    steps, remainder = divmod(n + 2 * pad - k, stride)
    if remainder or n + 2 * pad < k:
        raise ValueError("the filter positions do not tile the input")
    return steps + 1


@pytest.mark.parametrize("answer", [ref.conv_output_size, output_size_divmod])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_conv_output_size_accepts(answer, seed, capsys):
    accepts(checks.check_conv_output_size, answer, seed=seed)
    assert "conv_output_size" in capsys.readouterr().out


def _with_raise(formula):
    def answer(n, k, stride=1, pad=0):
        if (n + 2 * pad - k) % stride or n + 2 * pad < k:
            raise ValueError("does not divide")
        return formula(n, k, stride, pad)
    return answer


@pytest.mark.parametrize("answer, words", [
    (_with_raise(lambda n, k, s, p: (n + 2 * p - k) // s), ["+ 1 is missing"]),
    (_with_raise(lambda n, k, s, p: (n + p - k) // s + 1), ["counted once"]),
    (_with_raise(lambda n, k, s, p: (n - k) // s + 1), ["padding is ignored"]),
    (_with_raise(lambda n, k, s, p: n + 2 * p - k + 1), ["stride is ignored"]),
    (_with_raise(lambda n, k, s, p: (n + 2 * p - k) / s + 1), ["float", "//"]),
    (lambda n, k, stride=1, pad=0: (n + 2 * pad - k) // stride + 1, ["ValueError", "not a multiple"]),
    (lambda n, k, stride=1, pad=0: int(np.ceil((n + 2 * pad - k) / stride)) + 1, ["ValueError"]),
    (unwritten, ["not written yet"]),
])
def test_conv_output_size_rejects(answer, words):
    rejects(checks.check_conv_output_size, answer, match=words)


def test_conv_output_size_rejects_assert_instead_of_value_error():
    def answer(n, k, stride=1, pad=0):
        assert (n + 2 * pad - k) % stride == 0
        return (n + 2 * pad - k) // stride + 1
    rejects(checks.check_conv_output_size, answer, match=("AssertionError", "raise a ValueError"))


# ---------------------------------------------------------------------- hand result

@pytest.mark.parametrize("answer", [
    np.array([[5, 7], [-2, 2]]), [[5.0, 7.0], [-2.0, 2.0]], np.array([[5, 7], [-2, 2]], dtype=np.float32),
    signal.correlate2d(checks.HAND_IMAGE, checks.HAND_KERNEL, mode="valid"),
])
def test_hand_result_accepts(answer, capsys):
    accepts(checks.check_hand_result, answer)
    assert "hand_result" in capsys.readouterr().out


@pytest.mark.parametrize("answer, words", [
    (signal.convolve2d(checks.HAND_IMAGE, checks.HAND_KERNEL, mode="valid"), ["flipped", "cross-correlation"]),
    (np.array([[5, -2], [7, 2]]), ["swapped"]),
    (ref.correlate2d(checks.HAND_IMAGE, checks.HAND_KERNEL.T), ["transposed"]),
    (signal.correlate2d(checks.HAND_IMAGE, checks.HAND_KERNEL, mode="same"), ["2 x 2"]),
    (np.array([[5, 7], [-2, 3]]), ["wrong values"]),
    (None, ["numbers"]),
])
def test_hand_result_rejects(answer, words):
    rejects(checks.check_hand_result, answer, match=words)


# ----------------------------------------------------------------------- correlate2d

def correlate2d_windows(image, kernel):
    windows = sliding_window_view(np.asarray(image, dtype=np.float32), kernel.shape)
    return np.einsum("ijpq,pq->ij", windows, kernel.astype(np.float32))


@pytest.mark.parametrize("answer", [ref.correlate2d, correlate2d_windows,
                                    lambda image, kernel: signal.correlate2d(image, kernel, mode="valid")])
@pytest.mark.parametrize("kwargs", [{}, {"seed": 3, "height": 8, "width": 4, "kernel_size": 2}])
def test_correlate2d_accepts(answer, kwargs, capsys):
    accepts(checks.check_correlate2d, answer, **kwargs)
    assert "correlate2d" in capsys.readouterr().out


def correlate2d_off_by_one(image, kernel):
    k = kernel.shape[0]
    out = np.zeros((image.shape[0] - k, image.shape[1] - k))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(image[i:i + k, j:j + k] * kernel)
    return out


def correlate2d_swapped_axes(image, kernel):
    k = kernel.shape[0]
    out = np.zeros((image.shape[1] - k + 1, image.shape[0] - k + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(image[j:j + k, i:i + k] * kernel.T)
    return out


@pytest.mark.parametrize("answer, words", [
    (lambda image, kernel: signal.convolve2d(image, kernel, mode="valid"), ["flipped", "true convolution"]),
    (lambda image, kernel: signal.correlate2d(image, kernel, mode="same"), ["size of the image"]),
    (lambda image, kernel: signal.correlate2d(image, kernel, mode="full"), ["full"]),
    (correlate2d_off_by_one, ["one row and column short"]),
    (correlate2d_swapped_axes, ["axes are swapped"]),
    (lambda image, kernel: ref.correlate2d(image, kernel.T), ["transposed"]),
    (lambda image, kernel: ref.correlate2d(image, np.ones_like(kernel)), ["without multiplying"]),
    (unwritten, ["not written yet"]),
])
def test_correlate2d_rejects(answer, words):
    rejects(checks.check_correlate2d, answer, match=words)


# -------------------------------------------------------------------- conv2d_forward

def conv2d_forward_tf(x, W, b, stride=1, pad=0):
    import tensorflow as tf
    out = tf.nn.conv2d(tf.constant(x, tf.float32), tf.constant(W, tf.float32), strides=stride,
                       padding=[[0, 0], [pad, pad], [pad, pad], [0, 0]]) + b.astype(np.float32)
    return out.numpy(), (x, W, b, stride, pad)


def conv2d_forward_einsum(x, W, b, stride=1, pad=0):
    xpad = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    k = W.shape[0]
    windows = sliding_window_view(xpad, (k, k), axis=(1, 2))[:, ::stride, ::stride]
    return np.einsum("nhwcpq,pqcf->nhwf", windows, W) + b, (x, W, b, stride, pad)


def conv2d_forward_tap_loop(x, W, b, stride=1, pad=0):
    """Loops over the K x K taps only, in float32."""
    x, W = x.astype(np.float32), W.astype(np.float32)
    xpad = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    k = W.shape[0]
    out_h = (x.shape[1] + 2 * pad - k) // stride + 1
    out_w = (x.shape[2] + 2 * pad - k) // stride + 1
    out = np.zeros((x.shape[0], out_h, out_w, W.shape[3]), np.float32)
    for p in range(k):
        for q in range(k):
            out += xpad[:, p:p + stride * out_h:stride, q:q + stride * out_w:stride, :] @ W[p, q]
    return out + b, (x, W, b, stride, pad)


@pytest.mark.parametrize("answer", [ref.conv2d_forward, conv2d_forward_tf, conv2d_forward_einsum,
                                    conv2d_forward_tap_loop])
def test_conv2d_forward_accepts(answer, capsys):
    accepts(checks.check_conv2d_forward, answer)
    assert "conv2d_forward" in capsys.readouterr().out


@pytest.mark.parametrize("kwargs", [dict(seed=5, num_examples=3, height=8, width=6, channels=2, num_filters=3,
                                         kernel_size=2),
                                    dict(seed=9, height=9, width=9, channels=1, num_filters=2, kernel_size=5)])
def test_conv2d_forward_hidden_variants_accept(kwargs):
    accepts(checks.check_conv2d_forward, ref.conv2d_forward, **kwargs)
    accepts(checks.check_conv2d_forward, conv2d_forward_einsum, time_limit=None, **kwargs)


def _wrap(transform):
    def answer(x, W, b, stride=1, pad=0):
        return transform(x, W, b, stride, pad)
    return answer


@pytest.mark.parametrize("answer, words", [
    (_wrap(lambda x, W, b, s, p: ref.conv2d_forward(x, W[::-1, ::-1], b, s, p)), ["flipped", "cross-correlation"]),
    (_wrap(lambda x, W, b, s, p: ref.conv2d_forward(x, W, 0 * b, s, p)), ["bias b is missing"]),
    (_wrap(lambda x, W, b, s, p: ref.conv2d_forward(x, W, b, 1, p)), ["stride is ignored"]),
    (_wrap(lambda x, W, b, s, p: ref.conv2d_forward(x, W, b, s, 0) if (x.shape[1] - W.shape[0]) % s == 0
           else ref.conv2d_forward(x, W, b, 1, 0)), ["padding is ignored"]),
    (_wrap(lambda x, W, b, s, p: (ref.conv2d_forward(x, W, b, s, p)[0].transpose(0, 3, 1, 2), None)),
     ["channels first"]),
    (_wrap(lambda x, W, b, s, p: (ref.conv2d_forward(x, W, b, s, p)[0][:, :-1, :-1], None)), ["one row"]),
    (_wrap(lambda x, W, b, s, p: ref.conv2d_forward(x, W.transpose(1, 0, 2, 3), b, s, p)), ["swapped"]),
    (_wrap(lambda x, W, b, s, p: ref.conv2d_forward(x[..., :1], W[:, :, :1], b, s, p)), ["first input channel"]),
    (_wrap(lambda x, W, b, s, p: (np.maximum(ref.conv2d_forward(x, W, b, s, p)[0], 0), None)), ["ReLU"]),
    (_wrap(lambda x, W, b, s, p: ref.conv2d_forward(x, W, b, s, p)[0]), ["tuple (out, cache)"]),
    (unwritten, ["not written yet"]),
])
def test_conv2d_forward_rejects(answer, words):
    rejects(checks.check_conv2d_forward, answer, match=words)


def test_conv2d_forward_rejects_python_loops_over_pixels():
    message = rejects(checks.check_conv2d_forward, ref.conv2d_forward_naive, match=("vectorised", "sliding_window_view"))
    assert "took" in message


def conv2d_forward_loop_over_examples(x, W, b, stride=1, pad=0):     # vectorised per image only
    outs = [conv2d_forward_einsum(x[n:n + 1], W, b, stride, pad)[0][0] for n in range(x.shape[0])]
    return np.stack(outs), (x, W, b, stride, pad)


def conv2d_forward_loop_over_rows(x, W, b, stride=1, pad=0):         # vectorised along each output row only
    xpad = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    k = W.shape[0]
    out_h = (xpad.shape[1] - k) // stride + 1
    rows = [conv2d_forward_einsum(xpad[:, i * stride:i * stride + k], W, b, stride, 0)[0][:, 0] for i in range(out_h)]
    return np.stack(rows, axis=1), (x, W, b, stride, pad)


@pytest.mark.parametrize("answer, axis", [(conv2d_forward_loop_over_examples, "examples"),
                                          (conv2d_forward_loop_over_rows, "output rows")])
def test_conv2d_forward_rejects_half_vectorised_loops(answer, axis):
    accepts(checks.check_conv2d_forward, answer, time_limit=None)           # the numbers are right
    rejects(checks.check_conv2d_forward, answer, match=(f"loop over the {axis}", "sliding_window_view"))


# ------------------------------------------------------------------- conv2d_backward

def conv2d_backward_loops(dout, cache):
    """A correct loop version, computed in float32."""
    x, W, b, stride, pad = cache
    x, W, dout = x.astype(np.float32), W.astype(np.float32), dout.astype(np.float32)
    xpad = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dxpad, dW = np.zeros_like(xpad), np.zeros_like(W)
    k = W.shape[0]
    for n in range(dout.shape[0]):
        for i in range(dout.shape[1]):
            for j in range(dout.shape[2]):
                window = xpad[n, i * stride:i * stride + k, j * stride:j * stride + k, :]
                for f in range(dout.shape[3]):
                    dW[..., f] += window * dout[n, i, j, f]
                    dxpad[n, i * stride:i * stride + k, j * stride:j * stride + k, :] += W[..., f] * dout[n, i, j, f]
    return dxpad[:, pad:pad + x.shape[1], pad:pad + x.shape[2]], dW, dout.sum(axis=(0, 1, 2))


def conv2d_backward_tape(dout, cache):
    import tensorflow as tf
    x, W, b, stride, pad = (tf.Variable(v) if isinstance(v, np.ndarray) else v for v in cache)
    with tf.GradientTape() as tape:
        out = tf.nn.conv2d(x, W, strides=stride, padding=[[0, 0], [pad, pad], [pad, pad], [0, 0]]) + b
    return tuple(g.numpy() for g in tape.gradient(out, [x, W, b], output_gradients=tf.constant(dout)))


@pytest.mark.parametrize("answer", [ref.conv2d_backward, conv2d_backward_loops, conv2d_backward_tape])
def test_conv2d_backward_accepts(answer, capsys):
    accepts(checks.check_conv2d_backward, answer)
    accepts(checks.check_conv2d_backward, answer, seed=4, num_examples=3, height=7, width=7, channels=1, num_filters=2,
                                         kernel_size=3)
    assert "conv2d_backward" in capsys.readouterr().out


def _backward(transform):
    def answer(dout, cache):
        return transform(dout, cache, *ref.conv2d_backward(dout, cache))
    return answer


def _padded_dx(dout, cache):
    x, W, b, stride, pad = cache
    _, dW, db = ref.conv2d_backward(dout, cache)
    dx, _, _ = ref.conv2d_backward(dout, (np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0))), W, b, stride, 0))
    return dx, dW, db


@pytest.mark.parametrize("answer, words", [
    (_backward(lambda dout, cache, dx, dW, db: (dx, dW, np.zeros_like(db))), ["db is zero"]),
    (_backward(lambda dout, cache, dx, dW, db: (dx, dW, dout.mean(axis=(0, 1, 2)))), ["db is a mean"]),
    (_backward(lambda dout, cache, dx, dW, db: (dx, dW, dout.sum(axis=(1, 2)))), ["db", "has shape", "(3,)"]),
    (_backward(lambda dout, cache, dx, dW, db: (dx, dW / dout.shape[0], db)), ["divided by N"]),
    (_backward(lambda dout, cache, dx, dW, db: (dx, dW[::-1, ::-1], db)), ["dW is flipped"]),
    (_backward(lambda dout, cache, dx, dW, db: (ref.conv2d_backward(
        dout, (cache[0], cache[1][::-1, ::-1], *cache[2:]))[0], dW, db)), ["W is flipped in dx"]),
    (_backward(lambda dout, cache, dx, dW, db: (0 * dx, dW, db)), ["dx is all zeros"]),
    (_padded_dx, ["padded shape", "pad:-pad"]),
    (_backward(lambda dout, cache, dx, dW, db: (dx, dW.transpose(0, 1, 3, 2), db)), ["dW", "shape"]),
    (_backward(lambda dout, cache, dx, dW, db: (dx, dW)), ["tuple (dx, dW, db)"]),
    (unwritten, ["not written yet"]),
])
def test_conv2d_backward_rejects(answer, words):
    rejects(checks.check_conv2d_backward, answer, match=words)


# ------------------------------------------------------------------- activation maps

def activation_maps_ref(image, kernels):
    k = kernels[0].shape[0]
    W = ref.filter_bank(kernels)
    return ref.conv2d_forward(image[None, :, :, None], W, np.zeros(len(kernels)), pad=(k - 1) // 2)[0][0]


def activation_maps_scipy(image, kernels):
    return np.stack([signal.correlate2d(image, k, mode="same") for k in kernels], axis=-1).astype(np.float32)


@pytest.mark.parametrize("answer", [activation_maps_ref, activation_maps_scipy])
@pytest.mark.parametrize("kwargs", [{}, {"seed": 2, "height": 7, "width": 12, "kernel_size": 5}])
def test_activation_maps_accepts(answer, kwargs, capsys):
    accepts(checks.check_activation_maps, answer, **kwargs)
    assert "activation_maps" in capsys.readouterr().out


@pytest.mark.parametrize("answer, words", [
    (lambda image, kernels: np.stack([signal.convolve2d(image, k, mode="same") for k in kernels], -1),
     ["flipped", "cross-correlation"]),
    (lambda image, kernels: np.stack([signal.correlate2d(image, k, mode="same") for k in kernels], 0),
     ["last axis"]),
    (lambda image, kernels: np.stack([signal.correlate2d(image, k, mode="valid") for k in kernels], -1),
     ["no padding"]),
    (lambda image, kernels: np.maximum(activation_maps_ref(image, kernels), 0), ["ReLU"]),
    (lambda image, kernels: activation_maps_ref(image, kernels)[None], ["examples axis"]),
    (lambda image, kernels: np.abs(activation_maps_ref(image, kernels)), ["absolute"]),
    (lambda image, kernels: activation_maps_ref(image, [k.T for k in kernels]), ["transposed"]),
    (unwritten, ["not written yet"]),
])
def test_activation_maps_rejects(answer, words):
    rejects(checks.check_activation_maps, answer, match=words)


# ------------------------------------------------------------------------ max pooling

def max_pool_loops(x, size=2, stride=2):
    out_h, out_w = (x.shape[1] - size) // stride + 1, (x.shape[2] - size) // stride + 1
    out = np.zeros((x.shape[0], out_h, out_w, x.shape[3]), dtype=np.float32)
    for i in range(out_h):
        for j in range(out_w):
            out[:, i, j, :] = x[:, i * stride:i * stride + size, j * stride:j * stride + size, :].max(axis=(1, 2))
    return out, (x, size, stride)


def _windows(x, size, stride):
    return sliding_window_view(x, (size, size), axis=(1, 2))[:, ::stride, ::stride]


@pytest.mark.parametrize("answer", [ref.max_pool_forward, max_pool_loops])
@pytest.mark.parametrize("kwargs", [{}, {"seed": 3, "height": 9, "width": 5, "channels": 1}])
def test_max_pool_forward_accepts(answer, kwargs, capsys):
    accepts(checks.check_max_pool_forward, answer, **kwargs)
    assert "max_pool_forward" in capsys.readouterr().out


@pytest.mark.parametrize("answer, words", [
    (lambda x, size=2, stride=2: (_windows(x, size, stride).mean(axis=(4, 5)), None), ["average pooling"]),
    (lambda x, size=2, stride=2: (_windows(x, size, stride).sum(axis=(4, 5)), None), ["summed"]),
    (lambda x, size=2, stride=2: (_windows(x, size, stride).min(axis=(4, 5)), None), ["minimum"]),
    (lambda x, size=2, stride=2: (np.abs(_windows(x, size, stride)).max(axis=(4, 5)), None), ["absolute"]),
    (lambda x, size=2, stride=2: (_windows(x, size, stride).max(axis=(3, 4, 5)), None), ["over the channels"]),
    (lambda x, size=2, stride=2: (_windows(x, size, 1).max(axis=(4, 5)), None), ["stride is ignored"]),
    (lambda x, size=2, stride=2: (_windows(x, size, stride).max(axis=(4, 5)).transpose(0, 3, 1, 2), None),
     ["channels-first"]),
    (unwritten, ["not written yet"]),
])
def test_max_pool_forward_rejects(answer, words):
    rejects(checks.check_max_pool_forward, answer, match=words)


def max_pool_backward_loops(dout, cache):
    x, size, stride = cache
    dx = np.zeros_like(x)
    for n in range(dout.shape[0]):
        for i in range(dout.shape[1]):
            for j in range(dout.shape[2]):
                for c in range(dout.shape[3]):
                    window = x[n, i * stride:i * stride + size, j * stride:j * stride + size, c]
                    p, q = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, i * stride + p, j * stride + q, c] += dout[n, i, j, c]
    return dx


def max_pool_backward_tape(dout, cache):
    import tensorflow as tf
    x, size, stride = cache
    x_tf = tf.Variable(x.astype(np.float32))
    with tf.GradientTape() as tape:
        out = tf.nn.max_pool2d(x_tf, size, stride, "VALID")
    return tape.gradient(out, x_tf, output_gradients=tf.constant(dout, tf.float32)).numpy()


@pytest.mark.parametrize("answer", [ref.max_pool_backward, max_pool_backward_loops, max_pool_backward_tape])
def test_max_pool_backward_accepts(answer, capsys):
    accepts(checks.check_max_pool_backward, answer)
    accepts(checks.check_max_pool_backward, answer, seed=6, height=7, width=5)
    assert "max_pool_backward" in capsys.readouterr().out


def _pool_spread(pick, use_dout=True, accumulate="add"):
    """A wrong max_pool_backward, written here with plain loops (never with the checks' own helpers):
    ``pick(window)`` (size, size) -> the weights with which window (i, j) shares out its gradient;
    ``accumulate``: "add" (+=), "overwrite" (window = part) or "overwrite_max" (only the picked pixels)."""
    def answer(dout, cache):
        x, size, stride = cache
        upstream = dout if use_dout else np.ones_like(dout)
        dx = np.zeros_like(x)
        num_examples, out_height, out_width, channels = dout.shape
        for n in range(num_examples):
            for c in range(channels):
                for i in range(out_height):
                    for j in range(out_width):
                        rows, cols = slice(i * stride, i * stride + size), slice(j * stride, j * stride + size)
                        weights = pick(x[n, rows, cols, c])
                        part = upstream[n, i, j, c] * weights
                        if accumulate == "add":
                            dx[n, rows, cols, c] += part
                        elif accumulate == "overwrite":
                            dx[n, rows, cols, c] = part
                        else:
                            window = dx[n, rows, cols, c]
                            window[weights != 0] = part[weights != 0]
        return dx
    return answer


def _at_max(window):
    """1 at the window's (first) largest pixel, 0 elsewhere."""
    weights = np.zeros_like(window)
    weights[np.unravel_index(np.argmax(window), window.shape)] = 1.0
    return weights


def _at_min(window):
    """1 at the window's (first) smallest pixel, 0 elsewhere."""
    weights = np.zeros_like(window)
    weights[np.unravel_index(np.argmin(window), window.shape)] = 1.0
    return weights


@pytest.mark.parametrize("answer, words", [
    (_pool_spread(np.ones_like), ["every pixel of the window"]),
    (_pool_spread(lambda w: np.ones_like(w) / w.shape[-1] ** 2), ["average pooling"]),
    (_pool_spread(_at_min), ["smallest"]),
    (_pool_spread(_at_max, use_dout=False), ["multiply by the upstream gradient"]),
    (_pool_spread(_at_max, accumulate="overwrite"), ["+="]),
    (_pool_spread(_at_max, accumulate="overwrite_max"), ["+="]),
    # CS231n's classic mask: right without ties, k times dout where k pixels tie (zeros after a ReLU)
    (_pool_spread(lambda w: (w == w.max()).astype(float)), ["more gradient than it received"]),
    (lambda dout, cache: np.zeros_like(cache[0])[:, :-1], ["shape"]),
    (unwritten, ["not written yet"]),
])
def test_max_pool_backward_rejects(answer, words):
    rejects(checks.check_max_pool_backward, answer, match=words)


def test_max_pool_backward_accepts_any_split_among_tied_maxima():
    """Ties: the first maximum (argmax), the last one, or an even split (tf.reduce_max's gradient) are all gradients."""
    def last_max(window):
        weights = np.zeros_like(window)
        flat = window.ravel()
        weights.ravel()[len(flat) - 1 - np.argmax(flat[::-1])] = 1.0
        return weights

    def even_split(window):
        ties = (window == window.max()).astype(float)
        return ties / ties.sum()

    for pick in (last_max, even_split):
        accepts(checks.check_max_pool_backward, _pool_spread(pick))


# -------------------------------------------------------------------- parameter counts

def dense_float(num_inputs, num_units):
    return float(num_inputs * num_units + num_units)


def conv_numpy(kernel_size, in_channels, num_filters):
    return np.prod([kernel_size, kernel_size, in_channels, num_filters]) + num_filters


@pytest.mark.parametrize("dense, conv", [(ref.dense_num_params, ref.conv_num_params), (dense_float, conv_numpy)])
@pytest.mark.parametrize("seed", [0, 3])
def test_param_counts_accept(dense, conv, seed, capsys):
    accepts(checks.check_param_counts, dense, conv, seed=seed)
    assert "456" in capsys.readouterr().out


@pytest.mark.parametrize("dense, conv, words", [
    (lambda d, h: d * h, ref.conv_num_params, ["biases are missing"]),
    (lambda d, h: d * h + d, ref.conv_num_params, ["per *unit*"]),
    (lambda d, h: d + h, ref.conv_num_params, ["multiply"]),
    (ref.dense_num_params, lambda k, c, f: k * k * c * f, ["one bias per filter"]),
    (ref.dense_num_params, lambda k, c, f: k * k * f + f, ["input channels are missing"]),
    (ref.dense_num_params, lambda k, c, f: k * k * c * f + c, ["not per input channel"]),
    (ref.dense_num_params, lambda k, c, f: k * c * f + f, ["K x K, not K"]),
    (ref.dense_num_params, lambda k, c, f: (k * k * c * f + f) * 28 * 28, ["expected 456"]),
    (ref.dense_num_params, lambda k, c, f: str(k * k * c * f + f), ["whole number"]),
    (unwritten, ref.conv_num_params, ["not written yet"]),
])
def test_param_counts_reject(dense, conv, words):
    rejects(checks.check_param_counts, dense, conv, match=words)


# ------------------------------------------------------------------------- Keras CNN

@pytest.fixture(scope="module")
def keras_models():
    import keras
    from course_lib.data.images import cell_classification_data

    keras.utils.set_random_seed(0)
    train, _ = cell_classification_data(num_train=1200, num_validation=10, seed=11)
    layers = keras.layers

    def cnn():
        return keras.Sequential([keras.Input((32, 32, 1)),
                                 layers.Conv2D(16, 3, activation="relu", padding="same"), layers.MaxPooling2D(),
                                 layers.Conv2D(32, 3, activation="relu", padding="same"), layers.MaxPooling2D(),
                                 layers.Flatten(), layers.Dense(32, activation="relu"),
                                 layers.Dense(2, activation="softmax")])

    trained = cnn()
    trained.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    trained.fit(train.images, train.labels, epochs=6, batch_size=64, verbose=0)
    sigmoid_view = keras.Model(trained.inputs, trained.outputs[0][:, 1:2])
    dense_only = keras.Sequential([keras.Input((32, 32, 1)), layers.Flatten(), layers.Dense(2, activation="softmax")])
    channels_first = keras.Sequential([keras.Input((1, 32, 32)), layers.Conv2D(4, 3, padding="same"),
                                       layers.Flatten(), layers.Dense(2)])
    three_outputs = keras.Sequential([keras.Input((32, 32, 1)), layers.Conv2D(4, 3), layers.Flatten(),
                                      layers.Dense(3, activation="softmax")])
    constant = keras.Sequential([keras.Input((32, 32, 1)), layers.Conv2D(2, 3), layers.GlobalMaxPooling2D(),
                                 layers.Dense(2, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant([1.0, 0.0]))])
    return dict(trained=trained, sigmoid_view=sigmoid_view, untrained=cnn(), dense_only=dense_only,
                channels_first=channels_first, three_outputs=three_outputs, constant=constant)


def test_cnn_accuracy_accepts_trained_models(keras_models, capsys):
    accepts(checks.check_cnn_accuracy, keras_models["trained"])
    accepts(checks.check_cnn_accuracy, keras_models["trained"], seed=99, num_images=300)
    accepts(checks.check_cnn_accuracy, keras_models["sigmoid_view"])
    assert "CNN accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("name, words", [
    ("untrained", ["accuracy", "at least 0.9"]),
    ("dense_only", ["no convolutional layer"]),
    ("channels_first", ["input shape", "channels-last"]),
    ("three_outputs", ["outputs shape"]),
    ("constant", ["one class"]),
])
def test_cnn_accuracy_rejects(keras_models, name, words):
    rejects(checks.check_cnn_accuracy, keras_models[name], match=words)


def test_cnn_accuracy_holds_the_design_limit(keras_models, capsys):
    trained = keras_models["trained"]                 # about 70,000 parameters
    accepts(checks.check_cnn_accuracy, trained, max_params=100_000)
    assert "CNN accuracy" in capsys.readouterr().out
    rejects(checks.check_cnn_accuracy, trained, match=("parameters", "design limit"), max_params=50_000)


def test_cnn_accuracy_rejects_a_non_model():
    rejects(checks.check_cnn_accuracy, lambda images: images, match="Keras model")
