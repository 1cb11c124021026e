"""Convolution and max pooling from scratch, channels-last, in NumPy (float64).

Vocabulary and shapes (the same as Keras and ``tf.nn.conv2d``, "NHWC"):

* ``x``: input images, shape ``(N, H, W, C)``: N examples, H rows, W columns, C channels.
* ``W``: filters (weights), shape ``(K, K, C, F)``: F filters of K x K pixels, each as
  deep as the input (C channels). A filter always spans every input channel.
* ``b``: biases, shape ``(F,)``: one number per filter.
* ``out``: activation maps, shape ``(N, H_out, W_out, F)``: one map per filter, stacked
  along the last axis like the channels of a new image.

``stride`` is the step between two filter positions; ``pad`` is the number of rows and
columns of zeros added on every side of the image before sliding.

Cross-correlation, not convolution
    What deep learning calls "convolution" is, in mathematical terms, *cross-correlation*:
    the filter is slid over the image **as it is**,

    ``out[n, i, j, f] = b[f] + sum_{p, q, c} xpad[n, i*stride + p, j*stride + q, c] * W[p, q, c, f]``.

    The convolution of signal processing (``scipy.signal.convolve2d``) flips the filter
    left-right and up-down first. For a symmetric filter (blur, Laplacian) the two agree;
    for an asymmetric one (Sobel) the flip changes the sign of the answer. A network learns
    its filters, so it does not matter which one a framework computes, as long as forward
    and backward agree; TensorFlow, PyTorch and this module all compute cross-correlation.

Output size
    Along one axis an input of n pixels, filter size k, padding p and stride s gives
    ``(n + 2p - k) / s + 1`` outputs (:func:`conv_output_size`). The functions here refuse
    sizes where this is not a whole number; Keras's ``padding="valid"`` instead silently
    drops the last rows and columns that do not fit.

Layer contract (as in the rest of the course): ``*_forward(...) -> (out, cache)`` and
``*_backward(dout, cache) -> gradients``. The cache of both conv forward functions is
``(x, W, b, stride, pad)``, so :func:`conv2d_backward` works with either.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "FILTERS", "conv_output_size", "conv2d_forward_naive", "conv2d_forward", "conv2d_backward",
    "max_pool_forward", "max_pool_backward", "filter_bank", "correlate2d", "conv_num_params",
    "dense_num_params",
]


def _as_int(name: str, value, minimum: int) -> int:
    """``value`` as a Python int, or a ValueError naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def conv_output_size(n: int, k: int, stride: int = 1, pad: int = 0) -> int:
    """Number of filter positions along one axis: ``(n + 2*pad - k) // stride + 1``.

    Args:
        n: input size along the axis (H or W), at least 1.
        k: filter (or pooling window) size K along that axis, at least 1.
        stride: step between two positions, at least 1.
        pad: zeros added on each side, at least 0.

    Returns:
        The output size H_out (or W_out), an ``int``.

    Raises:
        ValueError: when the filter does not fit (``k > n + 2*pad``) or the positions do
            not tile the padded input exactly (``(n + 2*pad - k) % stride != 0``).

    Example: a 32 x 32 image and 5 x 5 filters give ``conv_output_size(32, 5) == 28``.
    """
    n = _as_int("n", n, 1)
    k = _as_int("k", k, 1)
    stride = _as_int("stride", stride, 1)
    pad = _as_int("pad", pad, 0)
    span = n + 2 * pad - k
    if span < 0:
        raise ValueError(f"a filter of size {k} does not fit in an input of size {n} "
                         f"with padding {pad} (padded size {n + 2 * pad})")
    if span % stride != 0:
        raise ValueError(
            f"stride {stride} does not tile an input of size {n} with filter size {k} and "
            f"padding {pad}: (n + 2*pad - k) / stride = {span}/{stride} is not a whole number. "
            "Change the padding or the stride (Keras's padding='valid' would silently drop "
            "the last rows)")
    return span // stride + 1


def _check_conv_inputs(x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int, pad: int):
    """Validate shapes; return the float64 arrays and (H_out, W_out)."""
    x = np.asarray(x, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, H, W, C), got {x.shape}")
    if W.ndim != 4:
        raise ValueError(f"W must have shape (K, K, C, F), got {W.shape}")
    if W.shape[2] != x.shape[3]:
        raise ValueError(f"W has {W.shape[2]} input channels but x has {x.shape[3]} "
                         f"(x is (N, H, W, C) = {x.shape}, W is (K, K, C, F) = {W.shape})")
    if b.shape != (W.shape[3],):
        raise ValueError(f"b must have shape (F,) = ({W.shape[3]},), got {b.shape}")
    out_height = conv_output_size(x.shape[1], W.shape[0], stride, pad)
    out_width = conv_output_size(x.shape[2], W.shape[1], stride, pad)
    return x, W, b, out_height, out_width


def _pad(x: np.ndarray, pad: int) -> np.ndarray:
    """Zero-pad the two spatial axes of x (N, H, W, C) by ``pad`` on every side."""
    if pad == 0:
        return x
    return np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))


def conv2d_forward_naive(x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int = 1,
                         pad: int = 0) -> tuple[np.ndarray, tuple]:
    """Convolutional layer forward pass with explicit loops (slow, for reading).

    Args:
        x: images, shape (N, H, W, C).
        W: filters, shape (K, K, C, F).
        b: biases, shape (F,).
        stride: step between filter positions.
        pad: zeros added on every side of each image.

    Returns:
        out: activation maps, shape (N, H_out, W_out, F) with
            ``H_out = conv_output_size(H, K, stride, pad)``.
        cache: ``(x, W, b, stride, pad)`` for :func:`conv2d_backward`.
    """
    x, W, b, out_height, out_width = _check_conv_inputs(x, W, b, stride, pad)
    kernel_height, kernel_width, _, num_filters = W.shape
    xpad = _pad(x, pad)
    out = np.zeros((x.shape[0], out_height, out_width, num_filters))
    for n in range(x.shape[0]):
        for i in range(out_height):
            for j in range(out_width):
                top, left = i * stride, j * stride
                window = xpad[n, top:top + kernel_height, left:left + kernel_width, :]  # (K, K, C)
                for f in range(num_filters):
                    out[n, i, j, f] = np.sum(window * W[:, :, :, f]) + b[f]
    return out, (x, W, b, stride, pad)


def _windows(xpad: np.ndarray, kernel_height: int, kernel_width: int, stride: int) -> np.ndarray:
    """Every filter position of xpad (N, Hp, Wp, C), as a view (N, H_out, W_out, C, K, K)."""
    view = sliding_window_view(xpad, (kernel_height, kernel_width), axis=(1, 2))
    return view[:, ::stride, ::stride]


def conv2d_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int = 1,
                   pad: int = 0) -> tuple[np.ndarray, tuple]:
    """Convolutional layer forward pass, vectorised with ``sliding_window_view``.

    The windows view (N, H_out, W_out, C, K, K) holds every filter position without
    copying; one ``tensordot`` then takes all the dot products with the filters at once
    (the "im2col" idea: a convolution is a matrix product of patches and filters).

    Args:
        x: images, shape (N, H, W, C).
        W: filters, shape (K, K, C, F).
        b: biases, shape (F,).
        stride: step between filter positions.
        pad: zeros added on every side of each image.

    Returns:
        out: activation maps, shape (N, H_out, W_out, F).
        cache: ``(x, W, b, stride, pad)`` for :func:`conv2d_backward`.
    """
    x, W, b, _, _ = _check_conv_inputs(x, W, b, stride, pad)
    windows = _windows(_pad(x, pad), W.shape[0], W.shape[1], stride)  # (N, H_out, W_out, C, K, K)
    # contract channels and the two filter axes: windows axes (3, 4, 5) with W axes (2, 0, 1)
    out = np.tensordot(windows, W, axes=([3, 4, 5], [2, 0, 1])) + b
    return out, (x, W, b, stride, pad)


def conv2d_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Convolutional layer backward pass.

    Args:
        dout: upstream gradient dL/dout, shape (N, H_out, W_out, F).
        cache: ``(x, W, b, stride, pad)`` from :func:`conv2d_forward` or
            :func:`conv2d_forward_naive`.

    Returns:
        dx: shape (N, H, W, C). Every input pixel collects ``dout * W`` from each filter
            position that covered it (the padding's share is dropped).
        dW: shape (K, K, C, F): for each filter, the sum over examples and positions of
            the input window times ``dout``.
        db: shape (F,): ``dout`` summed over N, H_out and W_out.
    """
    x, W, b, stride, pad = cache
    dout = np.asarray(dout, dtype=np.float64)
    kernel_height, kernel_width, _, _ = W.shape
    out_height = conv_output_size(x.shape[1], kernel_height, stride, pad)
    out_width = conv_output_size(x.shape[2], kernel_width, stride, pad)
    expected = (x.shape[0], out_height, out_width, W.shape[3])
    if dout.shape != expected:
        raise ValueError(f"dout must have shape (N, H_out, W_out, F) = {expected}, got {dout.shape}")

    xpad = _pad(x, pad)
    windows = _windows(xpad, kernel_height, kernel_width, stride)  # (N, H_out, W_out, C, K, K)
    db = dout.sum(axis=(0, 1, 2))
    dW = np.tensordot(windows, dout, axes=([0, 1, 2], [0, 1, 2]))  # (C, K, K, F)
    dW = dW.transpose(1, 2, 0, 3)

    dxpad = np.zeros_like(xpad)
    for p in range(kernel_height):
        for q in range(kernel_width):
            # the input pixels that filter tap (p, q) touched, one per output position
            dxpad[:, p:p + stride * out_height:stride, q:q + stride * out_width:stride, :] += dout @ W[p, q].T
    dx = dxpad[:, pad:pad + x.shape[1], pad:pad + x.shape[2], :]
    return dx, dW, db


def max_pool_forward(x: np.ndarray, size: int = 2, stride: int = 2) -> tuple[np.ndarray, tuple]:
    """Max pooling: the largest value in each ``size x size`` window, channel by channel.

    Args:
        x: activation maps, shape (N, H, W, C).
        size: window size (a square window).
        stride: step between windows (``stride == size``: windows do not overlap).

    Returns:
        out: shape (N, H_out, W_out, C) with ``H_out = conv_output_size(H, size, stride)``;
            the number of channels does not change.
        cache: ``(x, size, stride)`` for :func:`max_pool_backward`.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, H, W, C), got {x.shape}")
    conv_output_size(x.shape[1], size, stride)
    conv_output_size(x.shape[2], size, stride)
    windows = _windows(x, size, size, stride)  # (N, H_out, W_out, C, size, size)
    return windows.max(axis=(4, 5)), (x, size, stride)


def max_pool_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Max pooling backward: each window's gradient goes to its maximum only.

    The other pixels of the window did not change the output, so their gradient is 0.
    With ties, the first maximum in row-major order within the window gets it. When
    windows overlap (``stride < size``) a pixel collects the gradient of every window it
    is the maximum of.

    Args:
        dout: upstream gradient, shape (N, H_out, W_out, C).
        cache: ``(x, size, stride)`` from :func:`max_pool_forward`.

    Returns:
        dx: shape (N, H, W, C).
    """
    x, size, stride = cache
    dout = np.asarray(dout, dtype=np.float64)
    windows = _windows(x, size, size, stride)
    out_height, out_width = windows.shape[1:3]
    if dout.shape != windows.shape[:4]:
        raise ValueError(f"dout must have shape (N, H_out, W_out, C) = {windows.shape[:4]}, got {dout.shape}")
    flat = windows.reshape(*windows.shape[:4], size * size)
    argmax = flat.argmax(axis=-1)  # (N, H_out, W_out, C), index p * size + q
    dx = np.zeros_like(x)
    for p in range(size):
        for q in range(size):
            routed = np.where(argmax == p * size + q, dout, 0.0)
            dx[:, p:p + stride * out_height:stride, q:q + stride * out_width:stride, :] += routed
    return dx


#: Classic 3 x 3 image filters, written as cross-correlation kernels (the way
#: :func:`conv2d_forward` and Keras apply them). Shape (K, K) = (3, 3), float64.
FILTERS: dict[str, np.ndarray] = {
    # leaves the image as it is
    "identity": np.array([[0.0, 0.0, 0.0],
                          [0.0, 1.0, 0.0],
                          [0.0, 0.0, 0.0]]),
    # 4-neighbour Laplacian: zero on flat areas and ramps, large at edges and spots
    "laplacian": np.array([[0.0, 1.0, 0.0],
                           [1.0, -4.0, 1.0],
                           [0.0, 1.0, 0.0]]),
    # 8-neighbour edge detector (outline): centre against its eight neighbours
    "edge": np.array([[-1.0, -1.0, -1.0],
                      [-1.0, 8.0, -1.0],
                      [-1.0, -1.0, -1.0]]),
    # horizontal gradient: positive where brightness increases from left to right
    "sobel_x": np.array([[-1.0, 0.0, 1.0],
                         [-2.0, 0.0, 2.0],
                         [-1.0, 0.0, 1.0]]),
    # vertical gradient: positive where brightness increases from top to bottom
    "sobel_y": np.array([[-1.0, -2.0, -1.0],
                         [0.0, 0.0, 0.0],
                         [1.0, 2.0, 1.0]]),
    # mean of the 3 x 3 neighbourhood
    "box_blur": np.full((3, 3), 1.0 / 9.0),
    # binomial approximation of a Gaussian (sigma about 0.85 pixels)
    "gaussian_blur": np.array([[1.0, 2.0, 1.0],
                               [2.0, 4.0, 2.0],
                               [1.0, 2.0, 1.0]]) / 16.0,
    # identity plus the negative Laplacian: boosts edges, keeps flat areas
    "sharpen": np.array([[0.0, -1.0, 0.0],
                         [-1.0, 5.0, -1.0],
                         [0.0, -1.0, 0.0]]),
}
for _kernel in FILTERS.values():
    _kernel.setflags(write=False)
del _kernel


def filter_bank(names_or_kernels, channels: int = 1) -> np.ndarray:
    """Stack 2-D filters into a conv weight array.

    Args:
        names_or_kernels: F items, each a key of :data:`FILTERS` or a (K, K) array.
        channels: C, the number of input channels. Each filter is copied to every
            channel and divided by C, so on a colour image it acts on the channel mean.

    Returns:
        W: shape (K, K, C, F), float64, ready for :func:`conv2d_forward`.
    """
    kernels = [np.asarray(FILTERS[item] if isinstance(item, str) else item, dtype=np.float64)
               for item in names_or_kernels]
    if not kernels:
        raise ValueError("give at least one filter")
    if any(kernel.ndim != 2 or kernel.shape != kernels[0].shape for kernel in kernels):
        raise ValueError("every filter must be a 2-D array of the same shape (K, K)")
    stacked = np.stack(kernels, axis=-1)  # (K, K, F)
    return np.repeat(stacked[:, :, None, :], channels, axis=2) / channels


def correlate2d(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """One filter slid over one grayscale image, no padding, stride 1 (loops).

    Args:
        image: shape (H, W).
        kernel: shape (K, K) (a (K_h, K_w) rectangle works too).

    Returns:
        out: shape (H - K + 1, W - K + 1) with
            ``out[i, j] = sum(image[i:i+K, j:j+K] * kernel)``: cross-correlation, the
            filter is not flipped.
    """
    image = np.asarray(image, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    kernel_height, kernel_width = kernel.shape
    out = np.zeros((conv_output_size(image.shape[0], kernel_height),
                    conv_output_size(image.shape[1], kernel_width)))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(image[i:i + kernel_height, j:j + kernel_width] * kernel)
    return out


def conv_num_params(kernel_size: int, in_channels: int, num_filters: int) -> int:
    """Trainable parameters of a conv layer: ``K*K*C*F`` weights plus ``F`` biases.

    Independent of the image size: the same filters slide over every position.
    """
    return kernel_size * kernel_size * in_channels * num_filters + num_filters


def dense_num_params(num_inputs: int, num_units: int) -> int:
    """Trainable parameters of a fully connected layer: ``D*H`` weights plus ``H`` biases.

    For an image, ``num_inputs = H * W * C`` (the flattened image).
    """
    return num_inputs * num_units + num_units
