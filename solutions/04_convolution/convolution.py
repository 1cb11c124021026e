# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Unit 04 · Convolutional networks on biomedical images
#
# A fully connected layer flattens an image into one long vector and connects every
# pixel to every unit: it forgets which pixels were neighbours and needs a weight for
# each pair. A *convolutional* layer keeps the image's grid. It slides a small filter
# over the image and computes, at every position, the dot product of the filter with the
# patch under it. The same few weights are used everywhere, so a filter that finds the
# edge of a nucleus finds it wherever the nucleus is.
#
# **Learning goals.** After this unit you can
# 1. compute the output size of a convolution from the input size, filter size, stride and padding;
# 2. slide one filter over an image by hand and in code, and say why deep learning's
#    "convolution" is really cross-correlation;
# 3. write the forward pass of a convolutional layer for N images, C channels and F filters,
#    vectorised, and check it against TensorFlow's `tf.nn.conv2d`;
# 4. derive and code its backward pass and verify it with a gradient check;
# 5. apply classic edge and blur filters to a microscopy image and read the activation maps;
# 6. write max pooling forward and backward;
# 7. compare the parameter count of a fully connected layer and a convolutional layer;
# 8. build and train a small ConvNet with Keras that classifies cells.
#
# **How to work.** Fill in each cell marked `# YOUR CODE HERE` (delete the
# `raise NotImplementedError()` line), run it, then run the check cell below it. A check
# prints a line starting with ✓ when it passes and explains what is wrong when it fails.
# Before you submit, run every cell from the top (*Kernel → Restart Kernel and Run All
# Cells*) or, in a terminal, `dlcourse check notebooks/04_convolution/convolution.ipynb`.
# Grading runs more tests of the same kind with other data.
#
# **Data.** Four *real* biomedical images that ship with the course (a cell in
# quantitative phase microscopy, a retinal fundus crop with microaneurysms, a
# stained tissue section, a retina photograph; public domain or no known restrictions)
# for the filter exercises, and *simulated* fluorescence images of cell nuclei, either in
# interphase or dividing (mitosis), for the classifier. The simulator is documented in
# `course_lib.data.images`.
#
# **Arrays are channels-last**, as in Keras: images `x` have shape `(N, H, W, C)`
# (N images, H rows, W columns, C channels), filters `W` have shape `(K, K, C, F)`
# (F filters of K × K pixels, each as deep as the input) and biases `b` shape `(F,)`.
#
# This notebook runs on the GPU kernel when there is one; everything also runs on a laptop
# CPU in well under a minute.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import time

import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
import keras

from course_lib.conv import FILTERS, filter_bank   # classic filters; the exercises are yours
from course_lib.data import images

gpus = tf.config.list_physical_devices("GPU")
if gpus:
    device = tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
else:
    device = "CPU"
print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}; TensorFlow will use: {device}")
keras.utils.set_random_seed(0)   # the same weights and batches on every run

# %% [markdown]
# ## 1 · From fully connected to convolutional layers
#
# Take a small colour image of 32 × 32 pixels with 3 channels (red, green, blue), an
# array of shape `(32, 32, 3)`. A fully connected layer first flattens it into
# $32 \cdot 32 \cdot 3 = 3072$ numbers and then gives *each* of its units 3072 weights.
#
# A convolutional layer instead uses a **filter**, say of size 5 × 5 × 3: 5 × 5 pixels and
# as deep as the input, because a filter always spans every input channel. We place the
# filter on the top-left 5 × 5 patch, multiply the 75 pairs of numbers, add them up and
# add a bias: one number. Then we slide the filter one pixel to the right and repeat,
# row by row. The grid of results is an **activation map**. A 5 × 5 filter fits at
# $32 - 5 + 1 = 28$ positions along each axis, so the map is 28 × 28. With 6 different
# filters we get 6 maps, stacked like the channels of a new image: a `(28, 28, 6)` volume.
#
# Two more settings change the size:
# * **stride** $s$: the filter jumps $s$ pixels at a time instead of 1;
# * **padding** $p$: we add $p$ rows and columns of zeros around every side first, so the
#   filter can also sit over the border (with $p = (K - 1)/2$ and stride 1 the map keeps
#   the image size: "same" padding).
#
# Along one axis, with input size $n$, filter size $k$, padding $p$ and stride $s$,
#
# $$n_{\text{out}} = \frac{n + 2p - k}{s} + 1 .$$
#
# When $s$ does not divide $n + 2p - k$, the last positions would stick out of the image.
# Keras (`padding="valid"`) then silently drops the last rows; in this course we refuse.
#
# **Exercise 1.** Write `conv_output_size(n, k, stride=1, pad=0)` returning the output size
# as an `int`. Raise a `ValueError` when the filter does not fit (`k > n + 2 * pad`) or when
# `(n + 2 * pad - k)` is not a multiple of `stride`.
# *Hint:* `%` gives the remainder and `//` the integer quotient.

# %% nbgrader={"grade": false, "grade_id": "conv_output_size_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv_output_size(n, k, stride=1, pad=0):
    """Output size along one axis: n input pixels, filter k, stride, pad -> int."""
    ### BEGIN SOLUTION
    span = n + 2 * pad - k
    if span < 0:
        raise ValueError(f"a filter of size {k} does not fit in {n} pixels with padding {pad}")
    if span % stride != 0:
        raise ValueError(f"(n + 2*pad - k) = {span} is not a multiple of the stride {stride}")
    return span // stride + 1
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "conv_output_size", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.convolution import check_conv_output_size

check_conv_output_size(conv_output_size)
### BEGIN HIDDEN TESTS
check_conv_output_size(conv_output_size, seed=11, num_cases=20)
check_conv_output_size(conv_output_size, seed=12, num_cases=20)
### END HIDDEN TESTS

# %% [markdown]
# The lecture's example and a few variations:

# %%
for n, k, stride, pad in [(32, 5, 1, 0), (32, 5, 1, 2), (32, 4, 2, 1), (28, 2, 2, 0)]:
    print(f"{n}x{n} input, {k}x{k} filter, stride {stride}, padding {pad} -> "
          f"{conv_output_size(n, k, stride, pad)}x{conv_output_size(n, k, stride, pad)}")
try:
    conv_output_size(32, 5, stride=2)
except ValueError as error:
    print("32x32 input, 5x5 filter, stride 2 ->", error)

# %% [markdown]
# ## 2 · One filter, by hand
#
# Here is a 4 × 4 grayscale image and a 3 × 3 filter (no padding, stride 1). The filter
# fits at $4 - 3 + 1 = 2$ positions along each axis, so the activation map is 2 × 2.

# %%
from course_lib.checks.convolution import HAND_IMAGE, HAND_KERNEL

print("image (4, 4):\n", HAND_IMAGE.astype(int))
print("filter (3, 3):\n", HAND_KERNEL.astype(int))

# %% [markdown]
# The top-left output uses rows 0–2 and columns 0–2 of the image. Multiply entry by entry
# and add:
#
# $$\text{out}[0, 0] = 1\cdot 1 + 2 \cdot 0 + 0 \cdot (-1) + 0 \cdot 0 + 1 \cdot 2 + 3 \cdot 0 + 2 \cdot 1 + 0 \cdot 0 + 1 \cdot 0 = 5 .$$
#
# **Exercise 2.** On paper, compute the other three outputs: `out[0, 1]` (filter moved one
# column right), `out[1, 0]` (one row down) and `out[1, 1]`. Store the 2 × 2 result in
# `hand_result` as a NumPy array. Do not turn the filter around: use it exactly as printed.

# %% nbgrader={"grade": false, "grade_id": "hand_result_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
hand_result = np.array([[5.0, 7.0],
                        [-2.0, 2.0]])
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "hand_result", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.convolution import check_hand_result

check_hand_result(hand_result)

# %% [markdown]
# **Exercise 3.** Now in code: write `correlate2d(image, kernel)` for one grayscale image
# `(H, W)` and one filter `(K, K)`, without padding and with stride 1, returning the map of
# shape `(H - K + 1, W - K + 1)` with
#
# $$\text{out}[i, j] = \sum_{p=0}^{K-1} \sum_{q=0}^{K-1} \text{image}[i + p,\, j + q]\; \text{kernel}[p, q] .$$
#
# *Hint:* each output is the sum of an elementwise product of one K × K patch with the kernel.

# %% nbgrader={"grade": false, "grade_id": "correlate2d_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def correlate2d(image, kernel):
    """One filter over one image, no padding, stride 1: image (H, W), kernel (K, K) -> (H-K+1, W-K+1)."""
    ### BEGIN SOLUTION
    kernel_size = kernel.shape[0]
    out = np.zeros((image.shape[0] - kernel_size + 1, image.shape[1] - kernel_size + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(image[i:i + kernel_size, j:j + kernel_size] * kernel)
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "correlate2d", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.convolution import check_correlate2d

check_correlate2d(correlate2d)
### BEGIN HIDDEN TESTS
check_correlate2d(correlate2d, seed=5, height=9, width=4, kernel_size=2)
check_correlate2d(correlate2d, seed=6, height=7, width=8, kernel_size=5)
### END HIDDEN TESTS

# %% [markdown]
# **Convolution or cross-correlation?** What you just wrote slides the filter *as it is*.
# In mathematics and signal processing, a *convolution* first flips the filter left–right
# and up–down (`scipy.signal.convolve2d` does). Deep-learning libraries compute the
# unflipped version, *cross-correlation*, and still call it convolution. For a symmetric
# filter (a blur) the two agree; for an asymmetric one they differ, as here. A network learns
# its filters, so either convention works as long as the forward and backward passes use
# the same one.

# %%
from scipy import signal

demo_image = np.arange(16.0).reshape(4, 4) % 5                 # not the exercise-2 example
demo_kernel = np.array([[0.0, 1.0, 2.0], [0.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])
print("your correlate2d:          ", correlate2d(demo_image, demo_kernel).ravel())
print("scipy.signal.correlate2d:  ", signal.correlate2d(demo_image, demo_kernel, mode="valid").ravel())
print("scipy.signal.convolve2d:   ", signal.convolve2d(demo_image, demo_kernel, mode="valid").ravel(),
      "(the flipped filter)")

# %% [markdown]
# ## 3 · A convolutional layer: many images, channels and filters, vectorised
#
# A layer processes a batch `x` of shape `(N, H, W, C)` with F filters `W` of shape
# `(K, K, C, F)` and biases `b` of shape `(F,)`. After padding, `xpad` has shape
# `(N, H + 2p, W + 2p, C)` and
#
# $$\text{out}[n, i, j, f] = b[f] + \sum_{p=0}^{K-1}\sum_{q=0}^{K-1}\sum_{c=0}^{C-1}
#   \text{xpad}[n,\, i s + p,\, j s + q,\, c]\; W[p, q, c, f],$$
#
# so `out` has shape `(N, H_out, W_out, F)`: one activation map per filter, for every image.
#
# Four nested Python loops are slow (`course_lib.conv.conv2d_forward_naive` does that, for
# reading). NumPy can instead build a *view* of every patch without copying:
# `np.lib.stride_tricks.sliding_window_view(xpad, (K, K), axis=(1, 2))` has shape
# `(N, H + 2p - K + 1, W + 2p - K + 1, C, K, K)`; keeping every `stride`-th position
# (`[:, ::stride, ::stride]`) gives `(N, H_out, W_out, C, K, K)`. One `np.einsum` (or
# `np.tensordot`) then multiplies every patch with every filter and sums over `c, p, q`.
# This is the idea behind "im2col": a convolution is one big matrix product of patches and filters.
#
# **Exercise 4.** Write `conv2d_forward(x, W, b, stride=1, pad=0)` returning `(out, cache)`
# with `cache = (x, W, b, stride, pad)`. No Python loops over images or pixels (a loop over the
# K × K filter taps is fine); the check times it on a larger batch.
# *Hint:* once every window is in one array, a single contraction over `c, p, q` with the
# filters gives all outputs (`np.einsum` or `np.tensordot`).

# %% nbgrader={"grade": false, "grade_id": "conv2d_forward_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
from numpy.lib.stride_tricks import sliding_window_view


def conv2d_forward(x, W, b, stride=1, pad=0):
    """Conv layer forward: x (N, H, W, C), W (K, K, C, F), b (F,) -> (out (N, H_out, W_out, F), cache)."""
    ### BEGIN SOLUTION
    kernel_size = W.shape[0]
    xpad = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    windows = sliding_window_view(xpad, (kernel_size, kernel_size), axis=(1, 2))[:, ::stride, ::stride]
    out = np.einsum("nhwcpq,pqcf->nhwf", windows, W, optimize=True) + b
    return out, (x, W, b, stride, pad)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "conv2d_forward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.convolution import check_conv2d_forward

check_conv2d_forward(conv2d_forward)
### BEGIN HIDDEN TESTS
check_conv2d_forward(conv2d_forward, seed=3, num_examples=3, height=8, width=6, channels=2, num_filters=5,
                     kernel_size=2, time_limit=None)
check_conv2d_forward(conv2d_forward, seed=4, num_examples=1, height=9, width=9, channels=1, num_filters=1,
                     kernel_size=5, time_limit=None)
### END HIDDEN TESTS

# %% [markdown]
# The same numbers as TensorFlow's own convolution, in float64, on random inputs
# (TensorFlow takes the padding as a list of (before, after) pairs per axis):

# %%
from course_lib.conv import conv2d_forward_naive   # four nested loops, to time against yours

rng = np.random.default_rng(0)
x_demo = rng.normal(size=(4, 9, 9, 3))
W_demo = rng.normal(size=(3, 3, 3, 5))
b_demo = rng.normal(size=5)
for stride, pad in [(1, 0), (1, 1), (2, 1)]:
    ours, _ = conv2d_forward(x_demo, W_demo, b_demo, stride=stride, pad=pad)
    theirs = tf.nn.conv2d(x_demo, W_demo, strides=stride, padding=[[0, 0], [pad, pad], [pad, pad], [0, 0]]) + b_demo
    print(f"stride {stride}, pad {pad}: out {ours.shape}, largest difference from tf.nn.conv2d "
          f"{np.max(np.abs(ours - theirs.numpy())):.1e}")

start = time.perf_counter()
conv2d_forward_naive(x_demo, W_demo, b_demo, 1, 1)
loops = time.perf_counter() - start
start = time.perf_counter()
conv2d_forward(x_demo, W_demo, b_demo, 1, 1)
vectorised = time.perf_counter() - start
print(f"four Python loops: {1e3 * loops:.1f} ms; vectorised: {1e3 * vectorised:.2f} ms")

# %% [markdown]
# ## 4 · The backward pass
#
# Given the upstream gradient `dout` $= \partial L / \partial\,\text{out}$, shape
# `(N, H_out, W_out, F)`, follow each term of the forward formula back:
#
# * each bias was added at every position of its map:
#   $\;db[f] = \sum_{n,i,j} \text{dout}[n, i, j, f]$, shape `(F,)`;
# * each weight met one input pixel at every position:
#   $\;dW[p, q, c, f] = \sum_{n,i,j} \text{xpad}[n, is + p, js + q, c]\; \text{dout}[n, i, j, f]$,
#   shape `(K, K, C, F)`;
# * each input pixel was used by every filter position that covered it:
#   $\;d\text{xpad}[n, is + p, js + q, c] \mathrel{+}= \sum_f W[p, q, c, f]\; \text{dout}[n, i, j, f]$,
#   then cut the padding off to get `dx` of shape `(N, H, W, C)`.
#
# The windows overlap, so the pieces of `dxpad` must be *added* (`+=`), not assigned.
#
# **Exercise 5.** Write `conv2d_backward(dout, cache)` returning `(dx, dW, db)`, where `cache` is
# `(x, W, b, stride, pad)`.
# *Hint:* every output was a window times a filter, so `dout` flows back twice: to the
# filters through the windows, and to the pixels through the filters, added where windows overlap.

# %% nbgrader={"grade": false, "grade_id": "conv2d_backward_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv2d_backward(dout, cache):
    """Conv layer backward: dout (N, H_out, W_out, F), cache -> dx (N, H, W, C), dW (K, K, C, F), db (F,)."""
    ### BEGIN SOLUTION
    x, W, b, stride, pad = cache
    kernel_size = W.shape[0]
    out_height, out_width = dout.shape[1:3]
    xpad = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    windows = sliding_window_view(xpad, (kernel_size, kernel_size), axis=(1, 2))[:, ::stride, ::stride]
    db = dout.sum(axis=(0, 1, 2))
    dW = np.einsum("nhwcpq,nhwf->pqcf", windows, dout, optimize=True)
    dxpad = np.zeros_like(xpad, dtype=float)
    for p in range(kernel_size):
        for q in range(kernel_size):
            dxpad[:, p:p + stride * out_height:stride, q:q + stride * out_width:stride, :] += dout @ W[p, q].T
    dx = dxpad[:, pad:pad + x.shape[1], pad:pad + x.shape[2], :]
    return dx, dW, db
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "conv2d_backward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.convolution import check_conv2d_backward

check_conv2d_backward(conv2d_backward)
### BEGIN HIDDEN TESTS
check_conv2d_backward(conv2d_backward, seed=8, num_examples=3, height=8, width=6, channels=3, num_filters=2,
                      kernel_size=2)
check_conv2d_backward(conv2d_backward, seed=9, num_examples=1, height=9, width=7, channels=1, num_filters=4,
                      kernel_size=5)
### END HIDDEN TESTS

# %% [markdown]
# **Gradient check.** Do not trust a backward pass until finite differences agree with it.
# Take the scalar loss $L = \sum \text{out} \odot \text{dout}$ for a fixed random `dout`
# (its gradient with respect to `out` is exactly `dout`), nudge each entry of `x`, `W`
# and `b` by $\pm h$ and compare. `course_lib.gradcheck` does the bookkeeping; relative
# errors around 1e-9 or smaller mean the analytic gradients are right.

# %%
from course_lib.gradcheck import gradient_check_report

rng = np.random.default_rng(1)
params = {"x": rng.normal(size=(2, 5, 5, 2)), "W": rng.normal(size=(3, 3, 2, 3)), "b": rng.normal(size=3)}
stride, pad = 2, 1
dout_demo = rng.normal(size=conv2d_forward(params["x"], params["W"], params["b"], stride, pad)[0].shape)


def conv_loss(params):
    out, cache = conv2d_forward(params["x"], params["W"], params["b"], stride, pad)
    dx, dW, db = conv2d_backward(dout_demo, cache)
    return np.sum(out * dout_demo), {"x": dx, "W": dW, "b": db}


gradient_check_report(conv_loss, params)

# %% [markdown]
# ## 5 · Classic filters on a microscopy image
#
# Before networks learned their filters, image analysts designed them by hand. Each
# 3 × 3 filter below is written the way `conv2d_forward` applies it (cross-correlation):
#
# * `sobel_x` and `sobel_y` respond where brightness changes from left to right or from top
#   to bottom (positive where it increases), zero on flat areas;
# * `laplacian` and `edge` respond to edges and small spots in every direction;
# * `box_blur` and `gaussian_blur` average a neighbourhood (their weights sum to 1);
# * `sharpen` is the identity plus a negative Laplacian: it boosts edges.

# %%
fig, axes = plt.subplots(1, len(FILTERS), figsize=(16, 2.3))
for axis, (name, kernel) in zip(axes, FILTERS.items()):
    axis.imshow(kernel, cmap="coolwarm", vmin=-np.abs(kernel).max(), vmax=np.abs(kernel).max())
    for (row, column), value in np.ndenumerate(kernel):
        axis.text(column, row, f"{value:.2g}", ha="center", va="center", fontsize=8)
    axis.set_title(name)
    axis.set_xticks([])
    axis.set_yticks([])
plt.show()

# %% [markdown]
# **Exercise 6.** Write `activation_maps(image, kernels)`: apply each of the F filters in the
# list `kernels` (each `(K, K)`, K odd) to one grayscale `image` `(H, W)` with stride 1, padding
# `(K - 1) // 2` and zero bias, and return the maps stacked on the last axis, shape `(H, W, F)`.
# No ReLU yet: return the raw responses.
# *Hint:* `np.stack(kernels, axis=-1)` has shape `(K, K, F)`; add the channel axis to get
# `(K, K, 1, F)`, and turn the image into a batch of one, `image[None, :, :, None]`
# (`(1, H, W, 1)`), for your `conv2d_forward`: this exercise builds on it, so make its check
# pass first.

# %% nbgrader={"grade": false, "grade_id": "activation_maps_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def activation_maps(image, kernels):
    """F filters on one grayscale image, 'same' padding: image (H, W), kernels F x (K, K) -> (H, W, F)."""
    ### BEGIN SOLUTION
    W = np.stack(kernels, axis=-1)[:, :, None, :]
    pad = (W.shape[0] - 1) // 2
    out, _ = conv2d_forward(image[None, :, :, None], W, np.zeros(W.shape[-1]), stride=1, pad=pad)
    return out[0]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "activation_maps", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.convolution import check_activation_maps

check_activation_maps(activation_maps)
### BEGIN HIDDEN TESTS
check_activation_maps(activation_maps, seed=4, height=12, width=7, kernel_size=5)
check_activation_maps(activation_maps, seed=5, height=5, width=5)
### END HIDDEN TESTS

# %% [markdown]
# Here they are on a real image: a cell floating in saline, seen by quantitative phase
# microscopy (320 × 320 pixels of 0.107 µm). Red is positive, blue negative. The Sobel
# maps light up on opposite sides of the cell, the Laplacian traces its outline, the blur
# softens the fine background texture and the sharpening filter strengthens it. The thin
# frame around some maps comes from the zero padding: at the border the filter sees a jump
# from the image to zeros.

# %%
def show_map(axis, activation, title, signed=True):
    """Draw one activation map; the colour range ignores the 2-pixel frame that padding affects."""
    limit = np.percentile(np.abs(activation[2:-2, 2:-2]), 99.5)
    if signed:
        axis.imshow(activation, cmap="coolwarm", vmin=-limit, vmax=limit)
    else:
        axis.imshow(activation, cmap="gray", vmin=0, vmax=limit)
    axis.set_title(title)
    axis.set_xticks([])
    axis.set_yticks([])


cell_image = images.load_image("cell")
names = ["sobel_x", "sobel_y", "laplacian", "gaussian_blur", "sharpen"]
maps = activation_maps(cell_image, [FILTERS[name] for name in names])
print("image", cell_image.shape, "-> activation maps", maps.shape)

fig, axes = plt.subplots(1, 1 + len(names), figsize=(18, 3.4))
show_map(axes[0], cell_image, f"input {cell_image.shape}", signed=False)
for index, (axis, name) in enumerate(zip(axes[1:], names)):
    show_map(axis, maps[:, :, index], f"{name}: map {index}", signed="blur" not in name and name != "sharpen")
plt.tight_layout()
plt.show()

# %% [markdown]
# **Stacking layers.** In a ConvNet, each map goes through an activation function (ReLU
# keeps the positive part) and becomes an input channel of the next layer. Two 3 × 3
# layers in a row see a 5 × 5 patch of the original image, three see 7 × 7; deeper layers
# see more and can combine simple features (edges) into complex ones (a whole nucleus).
# Below, on the retinal image with microaneurysms (the two dark dots), the edge filter
# alone picks up pixel noise; two blurs followed by the same edge filter (three layers)
# outline the vessels and the dots cleanly. A ReLU keeps one sign only: applied to the
# negated map (a filter with the opposite sign), it keeps the dark vessels and dots.
#
# A filter spans *all* input channels. On the colour tissue image (3 channels: red, green,
# blue) each filter has shape `(3, 3, 3)`; `filter_bank` copies a 2-D filter to the
# three channels (divided by 3), so it acts on the average colour.

# %%
retina_crop = images.load_image("microaneurysms")      # (102, 102), green channel of a fundus photo
edge_only = activation_maps(retina_crop, [FILTERS["edge"]])[:, :, 0]
blurred = activation_maps(retina_crop, [FILTERS["gaussian_blur"]])[:, :, 0]
blurred = activation_maps(blurred, [FILTERS["gaussian_blur"]])[:, :, 0]
blur_then_edge = activation_maps(blurred, [FILTERS["edge"]])[:, :, 0]

tissue = images.load_image("ihc")                     # (256, 256, 3): brown stain, blue nuclei
W_colour = filter_bank(["sobel_x", "sobel_y"], channels=3)
tissue_maps, _ = conv2d_forward(tissue[None], W_colour, np.zeros(2), stride=1, pad=1)
print("tissue", tissue.shape, "* filters", W_colour.shape, "->", tissue_maps.shape)

fig, axes = plt.subplots(1, 6, figsize=(20, 3.5))
show_map(axes[0], retina_crop, f"retina crop {retina_crop.shape}", signed=False)
show_map(axes[1], edge_only, "edge filter alone")
show_map(axes[2], blur_then_edge, "blur, blur, then edge")
show_map(axes[3], np.maximum(-blur_then_edge, 0), "ReLU(-map): dark lines, dots", signed=False)
axes[4].imshow(tissue)
axes[4].set_title(f"stained tissue {tissue.shape}")
axes[4].set_xticks([])
axes[4].set_yticks([])
show_map(axes[5], tissue_maps[0, :, :, 1], "sobel_y on all 3 channels")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 6 · Max pooling
#
# A pooling layer shrinks each activation map, channel by channel, so that later layers
# see a larger part of the image for the same cost. Max pooling with window `size` and
# `stride` keeps the largest value of each window:
#
# $$\text{out}[n, i, j, c] = \max_{0 \le p, q < \text{size}} x[n,\, is + p,\, js + q,\, c],$$
#
# `x` of shape `(N, H, W, C)` becomes `(N, H_out, W_out, C)` with the same output-size formula
# (no padding); the number of channels does not change. It has no parameters. The usual
# choice, `size=2, stride=2`, halves the height and the width.
#
# **Exercise 7.** Write `max_pool_forward(x, size=2, stride=2)` returning `(out, cache)` with
# `cache = (x, size, stride)`.
# *Hint:* the windows of exercise 4, now per channel.

# %% nbgrader={"grade": false, "grade_id": "max_pool_forward_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def max_pool_forward(x, size=2, stride=2):
    """Max pooling: x (N, H, W, C) -> (out (N, H_out, W_out, C), cache)."""
    ### BEGIN SOLUTION
    windows = sliding_window_view(x, (size, size), axis=(1, 2))[:, ::stride, ::stride]
    return windows.max(axis=(4, 5)), (x, size, stride)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "max_pool_forward", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.convolution import check_max_pool_forward

check_max_pool_forward(max_pool_forward)
### BEGIN HIDDEN TESTS
check_max_pool_forward(max_pool_forward, seed=3, num_examples=1, height=9, width=5, channels=4)
check_max_pool_forward(max_pool_forward, seed=4, num_examples=3, height=4, width=4, channels=1)
### END HIDDEN TESTS

# %% [markdown]
# **The gradient of a maximum.** Inside one window, only the pixel that was the maximum
# changed the output; nudging any other pixel a little changes nothing. So the backward
# pass sends each `dout[n, i, j, c]` to the position of that window's maximum and 0 to the
# other pixels. (Average pooling, by contrast, spreads `dout / size**2` over the whole
# window.) When windows overlap (`stride < size`), a pixel can be the maximum of several
# windows and collects all their gradients. When several pixels of one window tie for the
# maximum (common after a ReLU, where a whole window can be 0), send `dout` to one of them:
# a mask `window == window.max()` would hand each tied pixel the full `dout`, k times the
# gradient the window received.
#
# **Exercise 8.** Write `max_pool_backward(dout, cache)` returning `dx` of shape `(N, H, W, C)`.
# *Hint:* `argmax` tells which pixel of each window was the maximum. (Loops over the windows
# are fine on these small inputs.)

# %% nbgrader={"grade": false, "grade_id": "max_pool_backward_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def max_pool_backward(dout, cache):
    """Max pooling backward: dout (N, H_out, W_out, C), cache -> dx (N, H, W, C)."""
    ### BEGIN SOLUTION
    x, size, stride = cache
    windows = sliding_window_view(x, (size, size), axis=(1, 2))[:, ::stride, ::stride]
    out_height, out_width = windows.shape[1:3]
    argmax = windows.reshape(*windows.shape[:4], size * size).argmax(axis=-1)
    dx = np.zeros(x.shape)
    for p in range(size):
        for q in range(size):
            routed = np.where(argmax == p * size + q, dout, 0.0)
            dx[:, p:p + stride * out_height:stride, q:q + stride * out_width:stride, :] += routed
    return dx
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "max_pool_backward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.convolution import check_max_pool_backward

check_max_pool_backward(max_pool_backward)
### BEGIN HIDDEN TESTS
check_max_pool_backward(max_pool_backward, seed=3, num_examples=1, height=7, width=9, channels=2)
check_max_pool_backward(max_pool_backward, seed=4, num_examples=3, height=4, width=6, channels=1)
### END HIDDEN TESTS

# %% [markdown]
# A ReLU and two rounds of 2 × 2 max pooling turn the 320 × 320 Sobel map of the cell into
# 80 × 80: coarser, but the strong edges survive, and each pooled pixel summarises a
# 4 × 4 patch of the map.

# %%
rectified = np.maximum(maps[None, :, :, :1], 0.0)           # (1, 320, 320, 1): ReLU(sobel_x)
pooled_once, _ = max_pool_forward(rectified)
pooled_twice, _ = max_pool_forward(pooled_once)
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
for axis, volume in zip(axes, [rectified, pooled_once, pooled_twice]):
    show_map(axis, volume[0, :, :, 0], f"shape {volume.shape}", signed=False)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 7 · How many parameters? Fully connected versus convolutional
#
# * A fully connected layer from $D$ inputs to $H$ units has a weight for every pair and a
#   bias per unit: $D \cdot H + H$ parameters. For an image, $D = H_{\text{img}} \cdot W_{\text{img}} \cdot C$.
# * A convolutional layer with $F$ filters of size $K \times K \times C$ has
#   $K \cdot K \cdot C \cdot F + F$ parameters, *whatever the image size*: the same filters are
#   reused at every position (weight sharing).
#
# **Exercise 9.** Write `dense_num_params(num_inputs, num_units)` and
# `conv_num_params(kernel_size, in_channels, num_filters)`, each returning an `int`.

# %% nbgrader={"grade": false, "grade_id": "param_counts_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def dense_num_params(num_inputs, num_units):
    """Weights plus biases of a fully connected layer: D inputs -> H units."""
    ### BEGIN SOLUTION
    return num_inputs * num_units + num_units
    ### END SOLUTION


def conv_num_params(kernel_size, in_channels, num_filters):
    """Weights plus biases of a conv layer with F filters of K x K x C."""
    ### BEGIN SOLUTION
    return kernel_size * kernel_size * in_channels * num_filters + num_filters
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "param_counts", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.convolution import check_param_counts

check_param_counts(dense_num_params, conv_num_params)
### BEGIN HIDDEN TESTS
check_param_counts(dense_num_params, conv_num_params, seed=5)
### END HIDDEN TESTS

# %% [markdown]
# The lecture's example: mapping a 32 × 32 × 3 image to a 28 × 28 × 6 volume. Keras agrees
# with both counts.

# %%
dense_layer = keras.layers.Dense(28 * 28 * 6)
dense_layer.build((None, 32 * 32 * 3))
conv_layer = keras.layers.Conv2D(6, 5)
conv_layer.build((None, 32, 32, 3))
print(f"fully connected: {dense_num_params(32 * 32 * 3, 28 * 28 * 6):>12,} parameters (Keras: {dense_layer.count_params():,})")
print(f"six 5x5 filters: {conv_num_params(5, 3, 6):>12,} parameters (Keras: {conv_layer.count_params():,})")
del dense_layer   # 14 million weights: free the memory

# %% [markdown]
# ## 8 · A ConvNet with Keras: interphase or mitosis?
#
# Counting dividing cells (the *mitotic index*) is a routine measurement in pathology and
# cell biology. Our images are **simulated** 32 × 32 fluorescence images of a nuclear stain:
# an *interphase* nucleus is a smooth, moderately bright oval; a *mitotic* one shows
# condensed chromosomes (a bright cluster, a bar, or two bars moving apart). Position, size,
# brightness, neighbours, blur and noise vary, and the brightness ranges of the two classes
# overlap, so shape matters. Training and validation images are drawn independently.

# %%
train, validation = images.cell_classification_data(num_train=2000, num_validation=500, seed=0)
print("train:", train.images.shape, train.labels.shape, "| validation:", validation.images.shape,
      "| classes:", train.class_names, "| share mitotic:", round(train.labels.mean(), 2))
fig, axes = plt.subplots(2, 8, figsize=(13, 3.7))
for axis, index in zip(axes.ravel(), range(16)):
    axis.imshow(train.images[index, :, :, 0], cmap="gray", vmin=0, vmax=1)
    axis.set_title(train.class_names[train.labels[index]], fontsize=9)
    axis.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# A ConvNet is a stack of convolutional layers with activation functions, usually with
# pooling in between, and one or two fully connected layers at the end that turn the last
# feature maps into class scores. Early layers find edges and spots; later ones, seeing a
# larger area, combine them into shapes such as "a bar of bright granules".
#
# **Exercise 10 (design).** Design, compile and train a Keras model called `cnn` for this
# task, and keep the `fit` result in `history`. The architecture is yours to choose; the
# limits are:
#
# * input `keras.Input(shape=(32, 32, 1))` and at least one `Conv2D` layer;
# * at most **100,000 parameters** (`cnn.count_params()`);
# * training within about **30 seconds on 2 CPU cores** (time your `fit`);
# * at least **0.90 accuracy** on 400 *new* simulated cells, which the grader draws; watch
#   `validation` while you design, and do not tune on anything else.
#
# The output and the loss must match, as in unit 03's sections 7 and 8. For these two classes
# (labels 0 and 1) the check accepts `Dense(2)` logits with
# `keras.losses.SparseCategoricalCrossentropy(from_logits=True)`, `Dense(2, activation="softmax")`
# with `"sparse_categorical_crossentropy"`, `Dense(1)` logits with
# `keras.losses.BinaryCrossentropy(from_logits=True)`, or `Dense(1, activation="sigmoid")` with
# `"binary_crossentropy"`. As optimiser, `keras.optimizers.Adam(learning_rate=1e-3)` is a
# robust start; unit 05 explains what Adam does and how to choose its learning rate.
#
# *Hint:* section 6's pooling halves the maps cheaply; count where your parameters go with
# `cnn.summary()`.

# %% nbgrader={"grade": false, "grade_id": "cnn_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
cnn = keras.Sequential([
    keras.Input(shape=(32, 32, 1)),
    keras.layers.Conv2D(16, 3, activation="relu", padding="same"),
    keras.layers.MaxPooling2D(),
    keras.layers.Conv2D(32, 3, activation="relu", padding="same"),
    keras.layers.MaxPooling2D(),
    keras.layers.Flatten(),
    keras.layers.Dense(32, activation="relu"),
    keras.layers.Dense(2, activation="softmax"),
])
cnn.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3),
            loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = cnn.fit(train.images, train.labels, validation_data=(validation.images, validation.labels),
                  epochs=8, batch_size=64, verbose=0)
### END SOLUTION
print(f"validation accuracy after {len(history.history['loss'])} epochs: {history.history['val_accuracy'][-1]:.3f}")

# %% nbgrader={"grade": true, "grade_id": "cnn", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.convolution import check_cnn_accuracy

check_cnn_accuracy(cnn, threshold=0.9, max_params=100_000)
### BEGIN HIDDEN TESTS
check_cnn_accuracy(cnn, threshold=0.9, seed=77, num_images=600, max_params=100_000)
### END HIDDEN TESTS

# %% [markdown]
# The learning curves, the model's layers with their output shapes and parameter counts,
# and what the first layer learned: its 16 filters (3 × 3) and their activation maps on one
# validation cell. Some filters look like the edge and spot detectors of section 5.

# %%
cnn.summary()
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
for key, label in [("loss", "training"), ("val_loss", "validation")]:
    axes[0].plot(np.arange(1, len(history.history[key]) + 1), history.history[key], marker=".", label=label)
for key, label in [("accuracy", "training"), ("val_accuracy", "validation")]:
    axes[1].plot(np.arange(1, len(history.history[key]) + 1), history.history[key], marker=".", label=label)
axes[0].set_ylabel("cross-entropy loss")
axes[1].set_ylabel("accuracy")
for axis in axes:
    axis.set_xlabel("epoch")
    axis.legend()
plt.tight_layout()
plt.show()

first_layer = next(layer for layer in cnn.layers if isinstance(layer, keras.layers.Conv2D))
learned_W, learned_b = (np.asarray(v) for v in first_layer.get_weights())    # (3, 3, 1, F), (F,)
shown = int(np.argmax(validation.labels == 1))                                # the first mitotic cell
example = validation.images[shown:shown + 1].astype(np.float64)               # (1, 32, 32, 1)
from course_lib.conv import conv2d_forward as reference_conv2d_forward    # after every exercise

learned_maps = np.maximum(reference_conv2d_forward(example, learned_W, learned_b, stride=1, pad=1)[0], 0)
num_shown = min(8, learned_W.shape[-1])
fig, axes = plt.subplots(2, num_shown + 1, figsize=(14, 3.6))
axes[0, 0].imshow(example[0, :, :, 0], cmap="gray")
axes[0, 0].set_title(validation.class_names[validation.labels[shown]], fontsize=9)
axes[1, 0].axis("off")
for f in range(num_shown):
    limit = np.abs(learned_W[:, :, 0, f]).max()
    axes[0, f + 1].imshow(learned_W[:, :, 0, f], cmap="coolwarm", vmin=-limit, vmax=limit)
    axes[0, f + 1].set_title(f"filter {f}", fontsize=9)
    axes[1, f + 1].imshow(learned_maps[0, :, :, f], cmap="gray")
for axis in axes.ravel():
    axis.set_xticks([])
    axis.set_yticks([])
plt.tight_layout()
plt.show()

# %% [markdown]
# **Fully connected, for comparison.** A network without convolutions, with about as many
# parameters, sees each pixel position as a separate feature: a nucleus shifted by a few
# pixels looks new to it. Trained the same way, it stays well behind the ConvNet.

# %%
dense_model = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Flatten(),
                                keras.layers.Dense(64, activation="relu"), keras.layers.Dense(2, activation="softmax")])
dense_model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"])
dense_history = dense_model.fit(train.images, train.labels, epochs=8, batch_size=64, verbose=0,
                                validation_data=(validation.images, validation.labels))
print(f"fully connected: {dense_model.count_params():>6,} parameters, validation accuracy "
      f"{dense_history.history['val_accuracy'][-1]:.3f}")
print(f"ConvNet:         {cnn.count_params():>6,} parameters, validation accuracy "
      f"{history.history['val_accuracy'][-1]:.3f}")

# %% [markdown]
# ## 9 · Explore: filters on images
#
# *Optional, interactive:* choose an image, a filter, the stride, and whether to apply a
# ReLU and a 2 × 2 max pooling; the titles show the shapes. (When the notebook runs without
# a browser, only the first setting is drawn.)

# %%
from course_lib.widgets import filter_explorer

filter_explorer();

# %% [markdown]
# ## Summary
#
# * A convolutional layer slides F filters of shape `(K, K, C)` over an image `(H, W, C)`; each
#   position gives a dot product plus a bias, and the maps stack into `(H_out, W_out, F)`.
# * Along each axis $n_{\text{out}} = (n + 2p - k)/s + 1$: 32 × 32 × 3 with six 5 × 5 filters gives 28 × 28 × 6.
# * Deep learning's "convolution" is cross-correlation: the filter is not flipped.
# * Vectorised with `sliding_window_view` and `einsum`, the forward pass matches `tf.nn.conv2d`; the
#   backward pass sums `dout` for `db`, correlates inputs with `dout` for `dW`, and adds `dout · W`
#   back onto overlapping windows for `dx`, and a gradient check confirms it.
# * Max pooling keeps the largest value per window and channel; its gradient goes to that value only.
# * A conv layer's parameter count, $K^2 C F + F$, does not depend on the image size; a dense layer's does.
# * A small ConvNet tells interphase from mitotic nuclei far better than a dense network with as many
#   parameters, because the same filters look for the same shapes everywhere.
#
# Next, unit 05 looks at how to train such networks: optimisers, learning-rate schedules and batch size.
