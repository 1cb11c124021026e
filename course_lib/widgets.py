"""Interactive demos (ipywidgets): step sizes (unit 01) and filters on images (unit 04).

The widgets call the course's reference implementations, never a student's answer,
so they work before the exercises are done. In a non-interactive run (nbclient,
the grader) ``interact`` draws the default setting once and nothing else happens.
"""

from __future__ import annotations

import numpy as np

from . import conv, linear
from .data import images


def step_size_explorer(X: np.ndarray, y: np.ndarray, max_steps: int = 60):
    """A slider over the learning rate showing gradient descent's loss curve.

    X (N, D), y (N,). The slider spans three decades around the largest stable step
    size ``2 / lambda_max`` (see :func:`course_lib.linear.max_stable_learning_rate`):
    too small crawls, near the middle converges fast, above the limit diverges.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    limit = linear.max_stable_learning_rate(X)
    best = linear.mse_loss(linear.predict(X, *linear.least_squares(X, y)), y)

    def show(learning_rate: float):
        result = linear.train_gradient_descent(X, y, learning_rate, max_steps=max_steps, tolerance=-np.inf)
        losses = np.minimum(np.asarray(result.history), 1e6)
        verdict = ("diverges: each step overshoots" if learning_rate >= limit else
                   "crawls: steps are tiny" if losses[-1] > 2 * best else "converges")
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(losses, marker=".")
        ax.axhline(best, color="grey", linestyle="--", label="least-squares optimum")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("training MSE")
        ax.set_title(f"learning rate {learning_rate:.3g} (limit {limit:.3g}): {verdict}")
        ax.legend()
        plt.show()

    slider = widgets.FloatLogSlider(value=limit / 4, base=10, min=np.log10(limit) - 2.5,
                                    max=np.log10(limit) + 0.3, step=0.05, description="step size",
                                    continuous_update=False, readout_format=".3g")
    return widgets.interact(show, learning_rate=slider)


def _fit_to_stride(image: np.ndarray, kernel_size: int, stride: int, pad: int) -> np.ndarray:
    """Crop the bottom rows and right columns so the filter positions tile the image exactly."""
    def fitting(n: int) -> int:
        while (n + 2 * pad - kernel_size) % stride:
            n -= 1
        return n
    return image[:fitting(image.shape[0]), :fitting(image.shape[1])]


def filter_response(image: np.ndarray, kernel: np.ndarray, stride: int = 1, relu: bool = False,
                    pool: bool = False) -> np.ndarray:
    """One filter's activation map on one image, as the widget computes it.

    Args:
        image: (H, W) grayscale or (H, W, C) colour, channels last.
        kernel: (K, K) filter (K odd). On a colour image it is copied to every channel
            and divided by C (see :func:`course_lib.conv.filter_bank`): one filter spans
            the full depth of the input.
        stride: step between positions; padding is ``(K - 1) // 2`` ("same" at stride 1).
            The image is cropped by at most ``stride - 1`` rows and columns to fit.
        relu: apply ``max(0, .)`` to the map.
        pool: 2 x 2 max pooling with stride 2 after that (an odd last row or column is dropped).

    Returns:
        The activation map, shape (H_out, W_out).
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        image = image[:, :, None]
    kernel = np.asarray(kernel, dtype=np.float64)
    pad = (kernel.shape[0] - 1) // 2
    image = _fit_to_stride(image, kernel.shape[0], stride, pad)
    W = conv.filter_bank([kernel], channels=image.shape[2])
    out, _ = conv.conv2d_forward(image[None], W, np.zeros(1), stride=stride, pad=pad)
    if relu:
        out = np.maximum(out, 0.0)
    if pool:
        out = out[:, :out.shape[1] // 2 * 2, :out.shape[2] // 2 * 2]
        out, _ = conv.max_pool_forward(out, 2, 2)
    return out[0, :, :, 0]


def filter_explorer(image_names=images.IMAGE_NAMES, filter_names=tuple(conv.FILTERS)):
    """Dropdowns and toggles over image, filter, stride, ReLU and max pooling.

    Shows the input, the filter's 3 x 3 weights and the activation map side by side, with
    the shapes in the titles. The images are the bundled real ones
    (:func:`course_lib.data.images.load_image`).
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    loaded = {name: images.load_image(name) for name in image_names}

    def show(image_name: str, filter_name: str, stride: int, relu: bool, pool: bool):
        image = loaded[image_name]
        kernel = conv.FILTERS[filter_name]
        activation = filter_response(image, kernel, stride=stride, relu=relu, pool=pool)
        # a modest size and resolution: a large image inside a widget's output can stall
        # headless runs (nbclient waits for the cell until its timeout)
        fig, (left, middle, right) = plt.subplots(1, 3, figsize=(10, 3.4), dpi=72,
                                                  gridspec_kw={"width_ratios": [4, 1.4, 4]})
        left.imshow(image, cmap="gray" if image.ndim == 2 else None)
        left.set_title(f"{image_name}: {image.shape}")
        middle.imshow(kernel, cmap="coolwarm", vmin=-np.abs(kernel).max(), vmax=np.abs(kernel).max())
        for (row, column), value in np.ndenumerate(kernel):
            middle.text(column, row, f"{value:.2g}", ha="center", va="center", fontsize=9)
        middle.set_title(f"{filter_name} (3 x 3)")
        limit = np.abs(activation).max() or 1.0
        shown = right.imshow(activation, cmap="gray" if relu else "coolwarm",
                             vmin=0 if relu else -limit, vmax=limit)
        steps = " -> ReLU" * relu + " -> 2x2 max pool" * pool
        right.set_title(f"activation map {activation.shape}{steps}")
        fig.colorbar(shown, ax=right, fraction=0.046)
        for axis in (left, middle, right):
            axis.set_xticks([])
            axis.set_yticks([])
        plt.tight_layout()
        plt.show()

    return widgets.interact(
        show,
        image_name=widgets.Dropdown(options=list(image_names), value=image_names[0], description="image"),
        filter_name=widgets.Dropdown(options=list(filter_names),
                                     value="sobel_x" if "sobel_x" in filter_names else filter_names[0],
                                     description="filter"),
        stride=widgets.IntSlider(value=1, min=1, max=4, description="stride", continuous_update=False),
        relu=widgets.Checkbox(value=False, description="ReLU"),
        pool=widgets.Checkbox(value=False, description="max pool 2x2"),
    )
