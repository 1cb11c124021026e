"""Interactive demos (ipywidgets) for the NumPy units.

The widgets call the course's reference implementations, never a student's answer,
so they work before the exercises are done. In a non-interactive run (nbclient,
the grader) ``interact`` draws the default setting once and nothing else happens.
"""

from __future__ import annotations

import numpy as np

from . import linear


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
