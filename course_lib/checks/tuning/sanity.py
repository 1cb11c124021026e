"""Unit 07, first steps of a search: the sanity run on a tiny batch, its reading question, and
reading a learning-rate range test."""

from __future__ import annotations

import math

import numpy as np

from ... import search as ref
from ..calling import call_student, student_value
from ..compare import CheckFailure, as_array, assert_close, assert_scalar, assert_shape, passed, random_state, unpack
from ..evidence import graded_check
from ..exercises import value_check


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
