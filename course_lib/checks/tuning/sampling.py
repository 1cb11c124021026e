"""Unit 07, searching: log-uniform sampling, grid and random points, grid versus random search,
narrowing a range. Random answers are judged by what any correct sampler must do."""

from __future__ import annotations

import math

import numpy as np

from ... import search as ref
from ..calling import call_student
from ..compare import CheckFailure, as_array, assert_close, assert_scalar, assert_shape, passed, random_state, unpack
from ..evidence import graded_check

#: the largest Kolmogorov-Smirnov distance a correct sampler may show. With n draws a correct
#: sampler exceeds d with probability about 2 exp(-2 n d^2): for n = 8000 and d = 0.03, 1e-6.
KS_BOUND = 0.03


def _ks_distance_uniform(u: np.ndarray) -> float:
    """Kolmogorov-Smirnov distance between the sample ``u`` (n,) and Uniform[0, 1]."""
    u = np.sort(np.asarray(u, dtype=float).ravel())
    n = u.size
    above = np.arange(1, n + 1) / n - u
    below = u - np.arange(0, n) / n
    return float(max(above.max(), below.max()))


# --------------------------------------------------------------------- 3. log-uniform sampling
@graded_check
def check_sample_log_uniform(sample_log_uniform, seed: int = 0, low: float = 1e-5, high: float = 1.0,
                             num_samples: int = 8000) -> None:
    """``sample_log_uniform(low, high, size, rng)``: log-uniform in [low, high], reproducible with ``rng``."""
    def draw(generator_seed):
        got = call_student(sample_log_uniform, low, high, num_samples, np.random.default_rng(generator_seed),
                           name="sample_log_uniform")
        return assert_shape("the samples", got, (num_samples,),
                            hint="return `size` numbers, e.g. 10 ** rng.uniform(a, b, size=size).").astype(float)

    samples = draw(seed)
    if not np.all(np.isfinite(samples)):
        raise CheckFailure("some samples are nan or infinite.")
    smallest, largest = float(samples.min()), float(samples.max())
    if smallest <= 0:
        raise CheckFailure(f"the smallest sample is {smallest:.3g}: a learning rate must be positive. "
                           "Did you return the exponent instead of 10 ** exponent?")
    if smallest < low * (1 - 1e-9) or largest > high * (1 + 1e-9):
        raise CheckFailure(f"the samples run from {smallest:.3g} to {largest:.3g}, outside [{low:g}, {high:g}].\n"
                           "Hint: the exponent is uniform between log10(low) and log10(high), not between "
                           "low and high.")
    decades = math.log10(high / low)
    u = (np.log10(samples) - math.log10(low)) / decades          # uniform on [0, 1] for a correct sampler
    distance = _ks_distance_uniform(u)
    if distance > KS_BOUND:
        top = float(np.mean(samples >= high / 10))
        lines = [f"the samples are in range but not log-uniform: {distance:.2f} is the largest gap between "
                 f"their distribution and a log-uniform one (a correct sampler stays under {KS_BOUND}).",
                 f"  share of samples in the top power of ten [{high / 10:g}, {high:g}]: {top:.0%} "
                 f"(log-uniform: {1 / decades:.0%})."]
        if abs(math.log(smallest) - math.log10(low)) < 0.05 and abs(math.log(largest) - math.log10(high)) < 0.05:
            lines.append(f"Likely mistake: the smallest sample is {smallest:.2g}, about e^{math.log(smallest):.1f}: "
                         "that is e ** uniform(...) with the exponents of ten. e**-5 = 0.0067, so the range "
                         "1e-5 to 1e-2 is never tried (the lecture's formula has this bug). Use 10 ** uniform(...).")
        elif top > 0.5:
            lines.append("Likely mistake: most samples are in the top power of ten: that is uniform sampling "
                         "between low and high. Sample the exponent uniformly instead.")
        else:
            lines.append("Hint: draw the exponent uniformly in [log10(low), log10(high)], then raise 10 to it.")
        raise CheckFailure("\n".join(lines))
    if not np.array_equal(samples, draw(seed)):
        raise CheckFailure("two generators with the same seed gave different samples: draw with the `rng` "
                           "argument (rng.uniform), not np.random.*, so that a search can be repeated.")
    if np.array_equal(samples, draw(seed + 1)):
        raise CheckFailure("generators with different seeds gave the same samples: the samples must be random, "
                           "drawn from `rng` (np.logspace is a grid, not a sample).")
    passed(f"sample_log_uniform: {num_samples} samples in [{low:g}, {high:g}], log-uniform "
           f"(KS distance {distance:.3f} < {KS_BOUND}), reproducible")


# --------------------------------------------------------------------- 4. grid and random points
@graded_check
def check_grid_points(grid_points, seed: int = 0, num_first: int = 3, num_second: int = 4) -> None:
    """``grid_points(values_1, values_2)`` returns every pair, shape (len1 * len2, 2), in any row order."""
    rng = random_state(seed)
    first = np.sort(rng.uniform(0.0, 1.0, num_first)) * 10.0 ** rng.integers(-3, 0)
    second = np.sort(rng.uniform(1.0, 5.0, num_second))
    got = call_student(grid_points, first, second, name="grid_points")
    expected = ref.grid_points(first, second)
    points = as_array("the grid", got).astype(float)
    if points.shape == expected.shape[::-1] and points.shape != expected.shape:
        raise CheckFailure(f"the grid has shape {points.shape}; it should have one row per trial, "
                           f"{expected.shape}: transpose it.")
    if points.shape == (min(num_first, num_second), 2):
        raise CheckFailure(f"the grid has only {points.shape[0]} rows: that pairs the i-th value of one list with "
                           "the i-th of the other (zip). A grid tries every combination.")
    assert_shape("the grid", points, expected.shape,
                 hint=f"{num_first} x {num_second} = {num_first * num_second} combinations, one row each.")

    def rows(a):
        return a[np.lexsort(a.T[::-1])]

    if np.allclose(rows(points[:, ::-1]), rows(expected)):
        raise CheckFailure("the columns are swapped: column 0 holds values_1 and column 1 values_2.")
    if len(np.unique(points.round(12), axis=0)) < len(points):
        raise CheckFailure("the grid repeats a combination: each pair should appear exactly once.")
    assert_close("the grid (rows sorted)", rows(points), rows(expected),
                 hint="every value of values_1 paired with every value of values_2 "
                      "(np.meshgrid, itertools.product or two loops).")
    passed(f"grid_points: all {len(expected)} combinations, each once")


@graded_check
def check_random_points(random_points, seed: int = 0, num_trials: int = 4000) -> None:
    """``random_points(low, high, num_trials, rng)``: uniform in the box [low, high], (T, P)."""
    low, high = np.array([0.1, -2.0]), np.array([0.5, 3.0])

    def draw(generator_seed):
        got = call_student(random_points, low, high, num_trials, np.random.default_rng(generator_seed),
                           name="random_points")
        points = as_array("the points", got).astype(float)
        if points.shape == (2, num_trials):
            raise CheckFailure(f"the points have shape {points.shape}: one row per trial, shape "
                               f"{(num_trials, 2)}. Transpose them.")
        return assert_shape("the points", points, (num_trials, 2))

    points = draw(seed)
    if np.any(points < low - 1e-12) or np.any(points > high + 1e-12):
        raise CheckFailure(f"some points are outside the box: column 0 runs from {points[:, 0].min():.3g} to "
                           f"{points[:, 0].max():.3g} (allowed {low[0]} to {high[0]}), column 1 from "
                           f"{points[:, 1].min():.3g} to {points[:, 1].max():.3g} (allowed {low[1]} to {high[1]}).\n"
                           "Hint: low + (high - low) * u with u uniform in [0, 1), or rng.uniform(low, high, "
                           "size=(num_trials, len(low))).")
    u = (points - low) / (high - low)
    for column in range(2):
        distance = _ks_distance_uniform(u[:, column])
        if distance > 0.04:
            raise CheckFailure(f"column {column} is not uniform between low and high (KS distance {distance:.2f}, "
                               "a uniform sampler stays under 0.04). Draw with rng.uniform or rng.random, not "
                               "rng.normal.")
    correlation = float(np.corrcoef(u[:, 0], u[:, 1])[0, 1])
    if abs(correlation) > 0.1:
        raise CheckFailure(f"the two columns are correlated ({correlation:.2f}): they come from the same random "
                           "numbers. Draw each hyperparameter independently.")
    if not np.array_equal(points, draw(seed)):
        raise CheckFailure("two generators with the same seed gave different points: draw with the `rng` argument.")
    passed(f"random_points: {num_trials} independent uniform points in the box, reproducible")


# --------------------------------------------------------------------- 5. grid versus random
@graded_check
def check_search_duel(search_duel, seed: int = 0, num_repeats: int = 300, budget: int = 16) -> None:
    """``search_duel(peaks, budget, rng)`` returns ``(grid_best, random_best)``, each (R,)."""
    rng = random_state(seed)
    peaks = rng.uniform(0.1, 0.9, num_repeats)
    got = call_student(search_duel, peaks, budget, np.random.default_rng(seed + 100), name="search_duel")
    grid_best, random_best = unpack("search_duel", got, ("grid_best", "random_best"))
    grid_best = assert_shape("grid_best", grid_best, (num_repeats,)).astype(float)
    random_best = assert_shape("random_best", random_best, (num_repeats,)).astype(float)
    expected_grid, _ = ref.search_duel(peaks, budget, np.random.default_rng(0))
    k = math.isqrt(budget)
    if np.allclose(random_best, expected_grid, rtol=1e-6) and not np.allclose(grid_best, expected_grid, rtol=1e-6):
        raise CheckFailure("grid_best and random_best are swapped: return (grid_best, random_best).")
    wide = ref.grid_points(np.linspace(0, 1, budget), np.linspace(0, 1, budget))
    assert_close("grid_best", grid_best, expected_grid, rtol=1e-6,
                 hint=f"the grid has k = isqrt(budget) = {k} values per axis, np.linspace(0, 1, k), so k * k "
                      f"trials; score every point with search.toy_objective and keep the largest score.",
                 diagnoses=[(np.array([ref.toy_objective(wide, p).max() for p in peaks]),
                             f"that grid has {budget} values per axis, {budget * budget} trials: over the "
                             f"budget of {budget}. Use k = isqrt(budget) values per axis."),
                            (np.array([ref.toy_objective(ref.grid_points(np.linspace(0, 1, k), np.linspace(0, 1, k)),
                                                         p).min() for p in peaks]),
                             "that is the worst score of each search: keep the best (largest).")])
    if np.any(random_best > 1.02 + 1e-9) or np.any(random_best < 0):
        raise CheckFailure("random_best holds scores outside [0, 1.02], the range of toy_objective on [0, 1]^2.")
    # any correct random search: the mean best score and how often it beats the grid, within a bound
    reference_rng = np.random.default_rng(1)
    samples = np.concatenate([ref.search_duel(peaks, budget, reference_rng)[1] for _ in range(8)])
    expected_mean = float(samples.mean())
    spread = float(samples.std()) / math.sqrt(num_repeats)
    mean = float(random_best.mean())
    if abs(mean - expected_mean) > 5 * spread + 0.01:
        more = "higher" if mean > expected_mean else "lower"
        raise CheckFailure(f"random search's best scores average {mean:.3f}, {more} than a random search with a "
                           f"budget of {budget} can give on these peaks (5 standard errors away).\n"
                           f"Hint: draw exactly {budget} points per peak, uniform in [0, 1]^2 with "
                           f"random_points([0, 0], [1, 1], budget, rng), score them and keep the largest.")
    _check_unimportant_axis(search_duel, budget, seed)
    wins = float(np.mean(random_best > grid_best))
    passed(f"search_duel: random search beats the grid on {wins:.0%} of {num_repeats} peaks "
           f"with {budget} trials each")


def _check_unimportant_axis(search_duel, budget: int, seed: int, num_repeats: int = 200) -> None:
    """Random search's points fill the unimportant axis [0, 1], seen through its best scores alone.

    With every peak far outside [0, 1] the bump scores 0 everywhere, so a best score is
    ``unimportant * max(column 1)`` over the ``budget`` points: for uniform points the
    maximum of ``budget`` uniforms, mean n / (n + 1) and variance n / ((n + 1)^2 (n + 2)).
    Points drawn on a narrower, wider or shifted column 1 move that mean many standard errors.
    """
    far = np.full(num_repeats, 5.0)
    got = call_student(search_duel, far, budget, np.random.default_rng(seed + 200), name="search_duel")
    _, random_best = unpack("search_duel", got, ("grid_best", "random_best"))
    top = assert_shape("random_best", random_best, (num_repeats,)).astype(float) / 0.02
    n = budget
    expected, standard_error = n / (n + 1), math.sqrt(n / ((n + 1) ** 2 * (n + 2)) / num_repeats)
    if abs(float(top.mean()) - expected) > 5 * standard_error:
        raise CheckFailure(
            f"with the optimum out of reach (peak = 5), random search's best scores come from column 1 alone: "
            f"they average {0.02 * top.mean():.5f}, but the best of {n} points uniform in [0, 1] on that axis "
            f"gives {0.02 * expected:.5f} on average.\nHint: draw every point in the whole square, "
            f"random_points([0, 0], [1, 1], budget, rng), on both axes.")


# --------------------------------------------------------------------- 6. coarse to fine
@graded_check
def check_narrow_range(narrow_range, seed: int = 0, num_trials: int = 12, top_k: int = 3) -> None:
    """``narrow_range(values, losses, top_k)`` returns the ``(low, high)`` of the top_k best values."""
    rng = random_state(seed)
    values = 10 ** rng.uniform(-4, 0, num_trials)
    losses = 0.3 + (np.log10(values) + 1.5 + 0.4 * rng.normal(size=num_trials)) ** 2
    losses[int(rng.integers(num_trials))] = np.nan                       # one run diverged
    got = call_student(narrow_range, values, losses, top_k, name="narrow_range")
    low, high = unpack("narrow_range", got, ("low", "high"))
    got_pair = np.array([assert_scalar("low", low), assert_scalar("high", high)])
    expected = np.array(ref.narrow_range(values, losses, top_k))
    order = np.argsort(np.where(np.isfinite(losses), losses, np.inf))

    def span(indices):
        chosen = values[indices]
        return np.array([chosen.min(), chosen.max()])

    as_zero = np.argsort(np.nan_to_num(losses), kind="stable")
    assert_close("(low, high)", got_pair, expected, rtol=1e-6,
                 hint="sort the trials by loss (lowest first; nan counts as the worst), keep the first top_k, "
                      "and return the smallest and largest of their values.",
                 diagnoses=[(span(order[-top_k:]), "those are the trials with the highest losses: lower is better."),
                            (span(np.argsort(-np.where(np.isfinite(losses), losses, -np.inf))[:top_k]),
                             "those are the trials with the highest losses: lower is better."),
                            (span(order[:top_k + 1]), f"that keeps {top_k + 1} trials: keep top_k = {top_k}."),
                            (span(order[:top_k - 1]) if top_k > 1 else expected * np.nan,
                             f"that keeps {top_k - 1} trials: keep top_k = {top_k}."),
                            (np.sort(values)[[0, top_k - 1]], "those are the smallest values, not the values "
                                                              "of the best trials: sort by the losses."),
                            (span(as_zero[:top_k]), "the diverged trial (nan loss) is counted among the best: "
                                                    "treat nan as the worst loss."),
                            (values[order[[0, top_k - 1]]], "those are the values of the best and the top_k-th "
                                                            "trial: return the smallest and largest of the top_k.")])
    if top_k > 1:      # the best trial alone: low == high (catches keeping one trial too many)
        got = call_student(narrow_range, values, losses, 1, name="narrow_range")
        low, high = unpack("narrow_range", got, ("low", "high"))
        best = values[order[0]]
        assert_close("(low, high) with top_k=1", np.array([assert_scalar("low", low), assert_scalar("high", high)]),
                     np.array([best, best]), rtol=1e-6,
                     hint="with top_k=1 only the best trial is kept, so low and high are both its value.",
                     diagnoses=[(span(order[:2]), "that keeps 2 trials: keep exactly top_k.")])
    passed(f"narrow_range: the new range spans the {top_k} best of {num_trials} trials")
