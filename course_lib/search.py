"""Hyperparameter search: sanity checks, grid, random and log-uniform search, coarse to fine.

The references of unit 07. A search here is a loop over *trials*; each trial is one
setting of the hyperparameters (a dict ``{name: value}``) and one training that returns a
validation loss (lower is better; ``nan`` for a run that diverged counts as the worst).

Vocabulary: ``T`` trials, ``P`` hyperparameters, ``R`` repeats of a simulation. A *space*
maps each hyperparameter to how it is sampled:

* for :func:`grid_search`: ``{name: [value, value, ...]}``, every combination is tried;
* for :func:`random_search` and :func:`coarse_to_fine`: ``{name: (low, high, scale)}``
  with ``scale`` ``"log"`` (log-uniform, for learning rates and penalties that span
  several powers of ten) or ``"linear"``.

Everything is NumPy and seeded, so the same call gives the same table. The same code
scales to larger searches unchanged: more trials, or trials sent to a cluster (each is
independent), or a dedicated tool such as Keras Tuner or Optuna that adds early stopping
of bad trials.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from . import mlp

Trial = dict[str, Any]


# --------------------------------------------------------------------- step 0: sanity check
def overfit_tiny_batch(X: np.ndarray, y: np.ndarray, hidden_dim: int = 16, learning_rate: float = 0.5,
                       num_steps: int = 200, seed: int = 0, activation: str = "tanh") -> np.ndarray:
    """Full-batch gradient descent of :mod:`course_lib.mlp`'s two-layer network on a tiny set.

    The sanity check before any search: a network (and training code) that works drives
    the training loss on one or two minibatches close to zero.

    Args:
        X: a tiny training set (N, D), N about 8 to 64. y: targets (N,).
        hidden_dim: H. learning_rate: the step size. num_steps: gradient steps.
        seed: seed of :func:`course_lib.mlp.init_two_layer_params`.

    Returns:
        history (num_steps + 1,): the MSE before training, then after each step.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    params = mlp.init_two_layer_params(X.shape[1], hidden_dim, 1, activation, seed)
    history = []
    for _ in range(num_steps):
        loss, grads = mlp.two_layer_loss(X, y, params, activation)
        history.append(loss)
        for name in params:
            params[name] = params[name] - learning_rate * grads[name]
    history.append(mlp.two_layer_loss(X, y, params, activation)[0])
    return np.array(history)


# --------------------------------------------------------------------- step 1: learning rate
def lr_range(learning_rates: Sequence[float], losses: Sequence[float], initial_loss: float,
             drop: float = 0.1) -> tuple[float, float]:
    """Read a learning-rate range test.

    Args:
        learning_rates: (T,) increasing learning rates, each tried for the same few steps.
        losses: (T,) the training loss after those steps (``nan`` or ``inf`` where it diverged).
        initial_loss: the loss before training.
        drop: the loss "goes down" at a learning rate when it is below ``(1 - drop) * initial_loss``.

    Returns:
        ``(start, best)``: the smallest learning rate at which the loss goes down (``nan``
        if none does) and the learning rate of the lowest finite loss.
    """
    learning_rates = np.asarray(learning_rates, dtype=float)
    losses = np.asarray(losses, dtype=float)
    finite = np.isfinite(losses)
    down = finite & (losses < (1.0 - drop) * initial_loss)
    start = float(learning_rates[np.argmax(down)]) if down.any() else float("nan")
    scored = np.where(finite, losses, np.inf)
    return start, float(learning_rates[np.argmin(scored)])


# --------------------------------------------------------------------- sampling
def sample_log_uniform(low: float, high: float, size: int | tuple[int, ...], rng: np.random.Generator
                       ) -> np.ndarray:
    """Log-uniform samples in [low, high]: ``10 ** uniform(log10(low), log10(high))``, shape ``size``.

    Every power of ten in the range gets the same share of samples: for 1e-5 to 1, a fifth
    land in each of [1e-5, 1e-4), ..., [0.1, 1]. (``np.exp(rng.uniform(-5, 0))``, the
    lecture's formula, covers only e^-5 = 0.0067 to 1.)
    """
    return 10.0 ** rng.uniform(np.log10(low), np.log10(high), size=size)


def grid_points(*values: Sequence[float]) -> np.ndarray:
    """Every combination of the given values: (T, P) with T = the product of the lengths.

    ``grid_points([1, 2], [10, 20, 30])`` has 6 rows; the first column varies slowest
    (the order of ``itertools.product``).
    """
    return np.array(list(itertools.product(*[np.asarray(v, dtype=float) for v in values])), dtype=float
                    ).reshape(-1, len(values))


def random_points(low: Sequence[float], high: Sequence[float], num_trials: int,
                  rng: np.random.Generator) -> np.ndarray:
    """``num_trials`` points drawn uniformly in the box [low, high]: (T, P), low and high (P,)."""
    low = np.asarray(low, dtype=float)
    high = np.asarray(high, dtype=float)
    return low + (high - low) * rng.random((int(num_trials), low.size))


def _sample(space: Mapping[str, tuple], rng: np.random.Generator) -> Trial:
    """One trial drawn from a random-search space ``{name: (low, high, scale)}``."""
    trial = {}
    for name, (low, high, scale) in space.items():
        if scale == "log":
            trial[name] = float(sample_log_uniform(low, high, None, rng))
        elif scale == "linear":
            trial[name] = float(rng.uniform(low, high))
        elif scale == "int":
            trial[name] = int(rng.integers(low, high + 1))
        else:
            raise ValueError(f"scale of {name!r} should be 'log', 'linear' or 'int', not {scale!r}")
    return trial


# --------------------------------------------------------------------- searches
def _run(objective: Callable[..., float], trials: list[Trial]) -> list[Trial]:
    """Each trial with its ``loss`` (``objective(**trial)``; ``nan`` if it raised FloatingPointError)."""
    results = []
    for trial in trials:
        with np.errstate(all="ignore"):
            loss = float(objective(**trial))
        results.append({**trial, "loss": loss if math.isfinite(loss) else float("nan")})
    return results


def grid_search(objective: Callable[..., float], space: Mapping[str, Sequence[Any]]) -> list[Trial]:
    """Try every combination of ``space = {name: [values]}``; returns one dict per trial, with ``loss``."""
    names = list(space)
    trials = [dict(zip(names, combination)) for combination in itertools.product(*space.values())]
    return _run(objective, trials)


def random_search(objective: Callable[..., float], space: Mapping[str, tuple], num_trials: int,
                  seed: int = 0) -> list[Trial]:
    """``num_trials`` settings drawn from ``space = {name: (low, high, scale)}``; one dict per trial."""
    rng = np.random.default_rng(seed)
    return _run(objective, [_sample(space, rng) for _ in range(int(num_trials))])


def best_losses_first(results: Sequence[Trial]) -> list[Trial]:
    """The trials sorted by loss, best first; diverged trials (``nan``) last."""
    return sorted(results, key=lambda trial: (not math.isfinite(trial["loss"]), trial["loss"]
                                              if math.isfinite(trial["loss"]) else 0.0))


def narrow_range(values: Sequence[float], losses: Sequence[float], top_k: int = 3) -> tuple[float, float]:
    """The new range of one hyperparameter: the smallest and largest value among the ``top_k`` best trials.

    Args:
        values: (T,) the sampled values. losses: (T,) their validation losses (lower is
            better; ``nan`` counts as the worst). top_k: how many of the best trials to keep.
    """
    values = np.asarray(values, dtype=float)
    losses = np.asarray(losses, dtype=float)
    order = np.argsort(np.where(np.isfinite(losses), losses, np.inf), kind="stable")
    best = values[order[:int(top_k)]]
    return float(best.min()), float(best.max())


def coarse_to_fine(objective: Callable[..., float], space: Mapping[str, tuple], num_rounds: int = 2,
                   trials_per_round: int = 8, top_k: int = 3, seed: int = 0) -> list[Trial]:
    """Random search in rounds; after each, every range shrinks to the span of the ``top_k`` best trials.

    A log-scaled range keeps its scale. The budget is ``num_rounds * trials_per_round``
    trainings. Returns every trial with its ``loss`` and ``round`` (0, 1, ...).
    """
    rng = np.random.default_rng(seed)
    space = dict(space)
    results: list[Trial] = []
    for round_index in range(int(num_rounds)):
        found = _run(objective, [_sample(space, rng) for _ in range(int(trials_per_round))])
        results += [{**trial, "round": round_index} for trial in found]
        losses = [trial["loss"] for trial in results]
        for name, (low, high, scale) in space.items():
            new_low, new_high = narrow_range([trial[name] for trial in results], losses, top_k)
            if new_low == new_high:     # one distinct value among the best: keep a little room around it
                new_low, new_high = (new_low / 1.5, new_high * 1.5) if scale == "log" else (low, high)
            space[name] = (new_low, new_high, scale)
    return results


# --------------------------------------------------------------------- grid versus random
def toy_objective(points: np.ndarray, peak: float, width: float = 0.05, unimportant: float = 0.02
                  ) -> np.ndarray:
    """Bergstra and Bengio's picture as a function: a score (higher is better) for points (T, 2) in [0, 1]^2.

    Column 0 is the *important* hyperparameter (a narrow bump at ``peak``), column 1 the
    *unimportant* one (a small linear slope). Returns scores (T,) in [0, 1 + unimportant].
    """
    points = np.asarray(points, dtype=float)
    return np.exp(-0.5 * ((points[:, 0] - peak) / width) ** 2) + unimportant * points[:, 1]


def search_duel(peaks: Sequence[float], budget: int, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
    """Grid and random search with the same budget on :func:`toy_objective`, once per peak.

    The grid has ``k = isqrt(budget)`` evenly spaced values per axis (``linspace(0, 1, k)``),
    so ``k * k`` trials; random search draws ``budget`` points uniformly in [0, 1]^2 (new
    points for each peak, from ``rng``).

    Returns:
        ``(grid_best, random_best)``, each (R,): the best score each search found per peak.
    """
    peaks = np.asarray(peaks, dtype=float)
    k = math.isqrt(int(budget))
    axis = np.linspace(0.0, 1.0, k)
    grid = grid_points(axis, axis)
    grid_best = np.array([toy_objective(grid, peak).max() for peak in peaks])
    random_best = np.array([toy_objective(random_points([0, 0], [1, 1], budget, rng), peak).max()
                            for peak in peaks])
    return grid_best, random_best


# --------------------------------------------------------------------- reporting
def results_table(results: Sequence[Trial], max_rows: int | None = None) -> str:
    """The trials as a text table, best first: one column per hyperparameter, then the loss."""
    rows = best_losses_first(results)[:max_rows]
    names = [key for key in rows[0] if key != "loss"] + ["loss"] if rows else ["loss"]
    lines = ["  ".join(f"{name:>13}" for name in ["rank"] + names)]
    for rank, trial in enumerate(rows, start=1):
        cells = [f"{rank:>13d}"]
        for name in names:
            value = trial.get(name)
            cells.append(f"{value:>13d}" if isinstance(value, (int, np.integer)) and not isinstance(value, bool)
                         else f"{value:>13.4g}")
        lines.append("  ".join(cells))
    return "\n".join(lines)


def plot_results(results: Sequence[Trial], space: Mapping[str, Any], axes=None):
    """Loss against each hyperparameter, one panel each; log axes for ``(low, high, "log")`` entries."""
    import matplotlib.pyplot as plt

    names = list(space)
    if axes is None:
        _, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
        axes = axes[0]
    losses = np.array([trial["loss"] for trial in results], dtype=float)
    rounds = np.array([trial.get("round", 0) for trial in results])
    for ax, name in zip(axes, names):
        values = np.array([trial[name] for trial in results], dtype=float)
        ax.scatter(values, losses, c=rounds, cmap="viridis", s=22)
        spec = space[name]
        if isinstance(spec, tuple) and len(spec) == 3 and spec[2] == "log":
            ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel("validation loss")
        ax.grid(alpha=0.3)
    return axes
