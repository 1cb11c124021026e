"""Checks for unit 07: hyperparameter search, test-time augmentation and ensembles.

Deterministic exercises (the sanity run, reading a learning-rate range test, the grid,
narrowing a range, the ten crops, an ensemble's scores, the cyclic schedule) are compared
with :mod:`course_lib.search` and :mod:`course_lib.ensembles` on inputs drawn from
``seed``. Random ones (the log-uniform sampler, random search, the grid-versus-random
simulation) are judged by what any correct sampler must do: stay in range, follow the
right distribution over many draws (a Kolmogorov-Smirnov distance with a stated bound),
and give the same draws for the same generator. The reading question is data
(:func:`.calling.student_value`); its failure message never names the right answer.
"""

from __future__ import annotations

import math

import numpy as np

from .. import ensembles as ens_ref
from .. import search as ref
from .calling import call_student, student_value
from .compare import CheckFailure, as_array, assert_close, assert_scalar, assert_shape, passed, random_state, unpack
from .evidence import graded_check
from .exercises import value_check

#: the grader may re-run these checks outside the kernel from recorded results
#: (:mod:`course_lib.grading.recheck`): they reach student code only through call_student
#: and student_value
TRUSTED_REPLAY = True
#: the references that answer this unit's exercises (the own-work rule, :mod:`.own_work`);
#: ``search.toy_objective``, the data and the metrics stay free to use
REFERENCES = ("course_lib.search.overfit_tiny_batch", "course_lib.search.lr_range",
              "course_lib.search.sample_log_uniform", "course_lib.search.grid_points",
              "course_lib.search.random_points", "course_lib.search.grid_search", "course_lib.search.random_search",
              "course_lib.search.search_duel", "course_lib.search.narrow_range", "course_lib.search.coarse_to_fine",
              "course_lib.ensembles.ten_crops", "course_lib.ensembles.tta_predict",
              "course_lib.ensembles.ensemble_report", "course_lib.ensembles.cosine_restarts")

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


# --------------------------------------------------------------------- 1. the sanity check
@graded_check
def check_overfit_tiny_batch(overfit_tiny_batch, seed: int = 0, num_examples: int = 8,
                             num_features: int = 3, num_steps: int = 40) -> None:
    """``overfit_tiny_batch(X, y, hidden_dim, learning_rate, num_steps, seed)`` returns the loss history."""
    rng = random_state(seed)
    X = rng.normal(size=(num_examples, num_features))
    y = rng.normal(size=num_examples)
    options = dict(hidden_dim=8, learning_rate=0.3, num_steps=num_steps, seed=seed + 1)
    got = call_student(overfit_tiny_batch, X, y, name="overfit_tiny_batch", **options)
    history = as_array("the history", got).astype(float).ravel()
    expected = ref.overfit_tiny_batch(X, y, **options)
    if history.size == num_steps:
        raise CheckFailure(f"the history has {num_steps} losses after {num_steps} steps; it should have "
                           f"{num_steps + 1}: the loss before the first step, then one after every step.")
    assert_shape("the history", history, expected.shape,
                 hint="one loss before training and one after each of the num_steps steps.")
    no_steps = np.full_like(expected, expected[0])
    assert_close("the history", history, expected, rtol=1e-6,
                 hint="start from mlp.init_two_layer_params(D, hidden_dim, 1, 'tanh', seed) and take "
                      "full-batch steps param - learning_rate * grad on every parameter.",
                 diagnoses=[(no_steps, "the loss never changes: update the parameters after each gradient."),
                            (ref.overfit_tiny_batch(X, y, **{**options, "learning_rate": -0.3}),
                             "the step goes uphill: subtract learning_rate * grad."),
                            (ref.overfit_tiny_batch(X, y, **{**options, "seed": 0}),
                             "the initial weights differ: pass the `seed` argument to init_two_layer_params."),
                            (ref.overfit_tiny_batch(X, y, **{**options, "learning_rate": 1.0}),
                             "the learning rate is ignored: use the `learning_rate` argument.")])
    passed(f"overfit_tiny_batch: {num_steps} steps of gradient descent, the loss going from {expected[0]:.3g} "
           f"to {expected[-1]:.3g} step for step as expected")


#: the buggy training function's lines, and why each is or is not what stops it overfitting
SANITY_OPTIONS = {
    "A": "a learning rate of 0.1 is a normal step size for this small network (yours uses the same).",
    "B": None,
    "C": "looping over the parameters and subtracting learning_rate * grad is the right update.",
    "D": "recording the loss before the step is what the working version does too.",
}
_SANITY_ANSWER = "B"


@value_check
def check_sanity_bug(sanity_bug) -> None:
    """The reading question: which marked line stops the buggy network from overfitting two minibatches.

    The answer (a letter) is held out of the check's identity (:func:`~course_lib.checks.exercises.value_check`)
    and reaches the check only through ``student_value``.
    """
    __tracebackhide__ = True
    answer = student_value("sanity_bug", sanity_bug.value)
    if not isinstance(answer, str) or answer.strip().upper() not in SANITY_OPTIONS:
        raise CheckFailure(f"sanity_bug should be one of the letters {', '.join(SANITY_OPTIONS)} (a string), "
                           f"not {answer!r}.")
    letter = answer.strip().upper()
    if letter != _SANITY_ANSWER:
        raise CheckFailure(f"Line {letter} is not the bug: {SANITY_OPTIONS[letter]} Run the buggy function "
                           "with each line changed back to the working version and watch which change "
                           "lets the loss reach zero.")
    passed("sanity_bug: that line is why the network could not overfit")


# --------------------------------------------------------------------- 2. learning-rate range test
def _range_test(seed: int, num_rates: int, none_goes_down: bool = False):
    """Inputs of a learning-rate range test: rates (T,), losses (T,) with NaN where it diverged."""
    rng = random_state(seed)
    rates = np.logspace(-5, 1, num_rates)
    initial = 0.6 + 0.2 * rng.random()
    knee = int(rng.integers(2, num_rates - 5))
    losses = np.empty(num_rates)
    losses[:knee] = initial * (1 - 0.05 * np.linspace(0.1, 1, knee))          # down, but by less than 10 %
    fall = num_rates - 3 - knee
    losses[knee:knee + fall] = initial * np.linspace(0.7, 0.2, fall) * (1 + 0.05 * rng.random(fall))
    losses[-3] = 1.5 * initial                                               # too large: the loss grows
    losses[-2:] = np.nan                                                     # and then diverges
    if none_goes_down:
        losses[:-2] = initial * (1 - 0.05 * rng.random(num_rates - 2))
    return rates, losses, initial


@graded_check
def check_lr_range(lr_range, seed: int = 0, num_rates: int = 13) -> None:
    """``lr_range(learning_rates, losses, initial_loss, drop)`` returns ``(start, best)``."""
    found = []
    for case, none_down in (("", False), (" (no rate makes the loss go down)", True)):
        rates, losses, initial = _range_test(seed, num_rates, none_down)
        got = call_student(lr_range, rates, losses, initial, drop=0.1, name="lr_range")
        start, best = unpack("lr_range", got, ("start", "best"))
        start, best = assert_scalar("start", start), assert_scalar("best", best)
        expected_start, expected_best = ref.lr_range(rates, losses, initial, drop=0.1)
        found.append(expected_start)
        if math.isnan(expected_start):
            if not math.isnan(start):
                raise CheckFailure(f"start{case}: no loss is 10 % below the initial loss here, so start "
                                   f"should be nan (float('nan')), but it is {start:.3g}.")
        else:
            index = int(np.argmin(np.abs(rates - expected_start)))
            if best == expected_best and start == expected_best:
                raise CheckFailure("start and best are the same rate: start is the *smallest* rate whose loss "
                                   "is below (1 - drop) * initial_loss, not the best one.")
            assert_close(f"start{case}", start, expected_start, rtol=1e-6,
                         hint="the smallest learning rate whose loss is below (1 - drop) * initial_loss.",
                         diagnoses=[(rates[0], "every loss here is a little below initial_loss; the loss counts "
                                               "as going down only once it is below (1 - drop) * initial_loss."),
                                    (float(index), "that is the position in the array: return the learning rate."),
                                    (rates[max(index - 1, 0)], "that is the rate just before: return the first "
                                                               "rate where the test holds."),
                                    (rates[min(index + 1, num_rates - 1)], "that is the rate just after the first "
                                                                           "one that passes the test.")])
        if math.isnan(best):
            raise CheckFailure(f"best{case} is nan: give the rate of the lowest *finite* loss.")
        nan_index = int(np.argmax(np.isnan(losses)))
        assert_close(f"best{case}", best, expected_best, rtol=1e-6,
                     hint="the learning rate whose loss is lowest, ignoring nan (diverged) runs.",
                     diagnoses=[(rates[nan_index], "np.argmin returns the position of the first nan when the "
                                                   "losses contain nan: use np.nanargmin or replace nan by inf."),
                                (float(np.nanargmin(losses)), "that is the position: return the learning rate."),
                                (rates[-3], "that is the rate of the largest finite loss: take the minimum.")])
    passed(f"lr_range: the loss starts to go down at {found[0]:.3g} and the best rate is found; "
           "start is nan when the loss never goes down")


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
    wins = float(np.mean(random_best > grid_best))
    passed(f"search_duel: random search beats the grid on {wins:.0%} of {num_repeats} peaks "
           f"with {budget} trials each")


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


# --------------------------------------------------------------------- 7. test-time augmentation
@graded_check
def check_ten_crops(ten_crops, seed: int = 0, num_images: int = 2, image_size: int = 7, crop_size: int = 4,
                    channels: int = 0) -> None:
    """``ten_crops(images, crop_size)`` returns (10, N, S, S[, C]): corners, centre and their mirror images."""
    rng = random_state(seed)
    shape = (num_images, image_size, image_size + 1) + ((channels,) if channels else ())
    images = rng.normal(size=shape)
    got = call_student(ten_crops, images, crop_size, name="ten_crops")
    expected = ens_ref.ten_crops(images, crop_size)
    crops = as_array("the crops", got).astype(float)
    if crops.shape[:2] == (num_images, 10) and crops.shape[2:] == expected.shape[2:] and num_images != 10:
        raise CheckFailure(f"the crops have shape {crops.shape}: put the ten views first, {expected.shape} "
                           "(np.stack(views) with axis=0).")
    if crops.shape[0] == 5 and crops.shape[1:] == expected.shape[1:]:
        raise CheckFailure("there are 5 views: add the horizontally mirrored copy of each of the five crops.")
    assert_shape("the crops", crops, expected.shape,
                 hint="ten views of every image, each crop_size x crop_size.")
    missing = []
    names = ["top-left", "top-right", "bottom-left", "bottom-right", "centre"]
    names += [f"{name} mirrored" for name in names]
    for name, view in zip(names, expected):
        if not any(np.allclose(view, crop, rtol=1e-6, atol=1e-9) for crop in crops):
            missing.append(name)
    if missing:
        hints = []
        height, width = shape[1], shape[2]
        if any("mirrored" in name for name in missing) and len(missing) == 5:
            flipped_rows = [np.allclose(crops_view, np.flip(view, axis=1)) for view in expected[:5]
                            for crops_view in crops]
            hints.append("the mirrored views are flipped upside down, or along the wrong axis: a horizontal "
                         "mirror reverses the columns, crop[:, :, ::-1] for (N, S, S) and (N, S, S, C)"
                         if any(flipped_rows) or channels else
                         "a horizontal mirror reverses the columns of each crop: crop[:, :, ::-1].")
        if "centre" in missing:
            hints.append(f"the centre crop starts at row (H - S) // 2 = {(height - crop_size) // 2} and column "
                         f"(W - S) // 2 = {(width - crop_size) // 2}.")
        if any(name in missing for name in names[:4]):
            hints.append("the corners start at rows 0 and H - S and columns 0 and W - S (H and W can differ).")
        raise CheckFailure(f"these views are missing: {', '.join(missing)}.\n"
                           + "\n".join(f"Hint: {hint}" for hint in hints))
    passed(f"ten_crops: all ten views of {num_images} images of {shape[1]} x {shape[2]}, crops of {crop_size}")


# --------------------------------------------------------------------- 8. an ensemble's scores
@graded_check
def check_ensemble_report(ensemble_report, seed: int = 0, num_models: int = 4, num_examples: int = 30) -> None:
    """``ensemble_report(member_probabilities (M, N), labels (N,))`` returns the dict of four scores."""
    rng = random_state(seed)
    labels = rng.integers(0, 2, num_examples)
    logits = (2 * labels - 1) * 1.2 + rng.normal(scale=1.5, size=(num_models, num_examples))
    members = 1 / (1 + np.exp(-logits))
    members[:, 0] = 0.5            # a tie: "above 0.5" is class 1, so exactly 0.5 is class 0
    members[0, 1] = 0.5
    got = call_student(ensemble_report, members, labels, name="ensemble_report")
    if not isinstance(got, dict):
        raise CheckFailure(f"ensemble_report should return a dict, not a {type(got).__name__}.")
    expected = ens_ref.ensemble_report(members, labels)
    missing = [key for key in expected if key not in got]
    if missing:
        raise CheckFailure(f"the dict lacks the keys {missing}; it should have {sorted(expected)}.")
    assert_close("member_accuracy", got["member_accuracy"], expected["member_accuracy"],
                 hint="for each model, the share of examples where (probability > 0.5) equals the label.",
                 diagnoses=[(1 - expected["member_accuracy"], "that is the error rate: accuracy counts the "
                                                              "correct predictions.")])
    assert_close("member_log_loss", got["member_log_loss"], expected["member_log_loss"],
                 hint="-mean(log p) of the probability each model gives the true label, natural logarithm.",
                 diagnoses=[(expected["member_log_loss"] / np.log(10), "that uses log10: use the natural "
                                                                       "logarithm np.log.")])
    ensemble = members.mean(axis=0)
    votes = np.mean(((members > 0.5).mean(axis=0) > 0.5) == labels)
    geometric = np.exp(np.log(members).mean(axis=0))
    assert_close("ensemble_accuracy", assert_scalar("ensemble_accuracy", got["ensemble_accuracy"]),
                 expected["ensemble_accuracy"],
                 hint="average the members' probabilities first, then threshold the average at 0.5.",
                 diagnoses=[(expected["member_accuracy"].mean(), "that is the mean of the members' accuracies: "
                                                                 "score the averaged probabilities instead."),
                            (votes, "that is a majority vote of the thresholded members: average the "
                                    "probabilities, then threshold."),
                            (ens_ref.accuracy(geometric, labels), "that averages the log probabilities "
                                                                  "(geometric mean): take the plain mean.")])
    assert_close("ensemble_log_loss", assert_scalar("ensemble_log_loss", got["ensemble_log_loss"]),
                 expected["ensemble_log_loss"],
                 hint="the log loss of the averaged probabilities.",
                 diagnoses=[(expected["member_log_loss"].mean(), "that is the mean of the members' log losses: "
                                                                 "compute the log loss of the averaged "
                                                                 "probabilities (it is never larger)."),
                            (ens_ref.log_loss(geometric, labels), "that averages log probabilities: take the "
                                                                  "plain mean of the probabilities."),
                            (ens_ref.log_loss(ensemble, labels) / np.log(10), "that uses log10: use np.log.")])
    passed(f"ensemble_report: {num_models} members and their average scored correctly")


# --------------------------------------------------------------------- 9. the cyclic schedule
@graded_check
def check_cosine_restarts(cosine_restarts, seed: int = 0, cycle_steps: int = 10, num_steps: int = 35) -> None:
    """``cosine_restarts(steps, initial_learning_rate, cycle_steps)`` returns the rate at each step, (T,)."""
    rng = random_state(seed)
    initial = float(10 ** rng.uniform(-3, 0))
    steps = np.arange(num_steps)
    got = call_student(cosine_restarts, steps, initial, cycle_steps, name="cosine_restarts")
    expected = ens_ref.cosine_restarts(steps, initial, cycle_steps)
    fraction = (steps % cycle_steps) / cycle_steps
    assert_close("the learning rates", got, expected,
                 hint="within a cycle f = (step mod B) / B; lr = initial * 0.5 * (1 + cos(pi * f)).",
                 diagnoses=[(ens_ref.cosine_restarts(steps, initial, num_steps),
                             "the rate never restarts: take the step modulo cycle_steps."),
                            (ens_ref.cosine_restarts(steps + 1, initial, cycle_steps),
                             "the schedule is one step ahead: step 0 should have the full initial rate."),
                            (initial * np.cos(np.pi * fraction), "the rate goes negative: use 0.5 * (1 + cos(pi f)), "
                                                                  "which falls from 1 to 0."),
                            (initial * (1 - fraction), "that is a linear decay: use the cosine."),
                            (initial * 0.5 * (1 + np.cos(fraction)), "the cosine's argument lacks the factor pi."),
                            (initial * 0.5 * (1 + np.cos(np.pi * (steps % cycle_steps) / max(cycle_steps - 1, 1))),
                             "divide by cycle_steps, not cycle_steps - 1: the minimum is reached at the restart.")])
    passed(f"cosine_restarts: {num_steps} steps with restarts every {cycle_steps}, "
           "as keras.optimizers.schedules.CosineDecayRestarts(t_mul=1)")
