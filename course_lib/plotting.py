"""Plots the notebooks share: learning curves and learned-versus-true parameters.

Each function draws on a given matplotlib ``Axes`` (or a new one) and returns it,
so notebooks can combine plots.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=(6, 3.5))
    return ax


def plot_learning_curves(histories: Mapping[str, Sequence[float]], *, ax=None, log_scale: bool = True,
                         xlabel: str = "step", ylabel: str = "training MSE", title: str | None = None):
    """One line per history: ``{label: losses}``; losses (T,) each, plotted against 0..T-1."""
    ax = _axes(ax)
    for label, losses in histories.items():
        losses = np.asarray(losses, dtype=float)
        ax.plot(np.arange(losses.size), losses, label=label)
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if len(histories) > 1:
        ax.legend()
    ax.grid(alpha=0.3)
    return ax


def plot_weights(true_weights: np.ndarray, learned_weights: Mapping[str, np.ndarray],
                 feature_names: Sequence[str], *, ax=None, title: str = "learned vs true weights"):
    """Grouped bars: true weights (D,) next to each learned vector (D,) in ``{label: w}``."""
    ax = _axes(ax)
    series = {"true": np.asarray(true_weights), **{k: np.asarray(v) for k, v in learned_weights.items()}}
    positions = np.arange(len(feature_names))
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series.items()):
        ax.bar(positions + (i - (len(series) - 1) / 2) * width, values, width, label=label)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(positions, feature_names, rotation=30, ha="right")
    ax.set_ylabel("weight (days per SD)")
    ax.set_title(title)
    ax.legend()
    return ax
