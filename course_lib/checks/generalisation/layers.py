"""Unit 06's dropout, batch normalisation and initialisation checks."""

from __future__ import annotations

import types
from typing import Any, Callable

import numpy as np

from ... import layers as ref_layers
from ... import regularization as ref
from ..calling import call_student
from ..compare import CheckFailure, as_array, assert_close, assert_shape, passed, random_state, unpack
from ..evidence import graded_check


def _as_students(wrapper: Callable[..., Any]) -> Callable[..., Any]:
    """``wrapper`` (a check's small function that only calls the student's functions) with globals
    named outside ``course_lib``, so that the own-work rule counts its calls as the student's."""
    globals_ = {**wrapper.__globals__, "__name__": "__answer__"}
    return types.FunctionType(wrapper.__code__, globals_, wrapper.__name__, wrapper.__defaults__, wrapper.__closure__)


# ============================================================================ dropout
def _dropout_input(seed: int, num_examples: int, num_units: int) -> np.ndarray:
    """Positive inputs well away from 0, so that a dropped entry is told from a kept one."""
    rng = random_state(seed)
    return (rng.uniform(0.5, 2.0, size=(num_examples, num_units)) * rng.choice([-1.0, 1.0], size=(num_examples,
                                                                                                    num_units)))


def _dropout_modes(dropout_forward: Callable[..., Any]) -> Callable[..., Any]:
    """One call of the student's forward in each mode: (training output, test output)."""
    def both_modes(x: np.ndarray, rate: float, seed: int) -> tuple[Any, Any]:
        return dropout_forward(x, rate, True, seed)[0], dropout_forward(x, rate, False, seed)[0]

    return _as_students(both_modes)


@graded_check
def check_dropout_forward(dropout_forward: Callable[..., Any], seed: int = 0, num_examples: int = 60,
                          num_units: int = 50, rate: float = 0.3) -> None:
    """Check inverted dropout ``dropout_forward(x, rate, training, seed) -> (out, cache)``.

    x (N, H); ``rate`` the probability of dropping. Training: about ``rate`` of the entries
    are 0 and the others are ``x / (1 - rate)``. Test: ``out == x``.
    """
    name = "dropout_forward"
    x = _dropout_input(seed, num_examples, num_units)
    train_out, test_out = call_student(_dropout_modes(dropout_forward), x, rate, seed + 1, name=name)
    train_out = assert_shape("out (training)", train_out, x.shape)
    test_out = assert_shape("out (test)", test_out, x.shape)
    assert_close("out (test)", test_out, x, diagnoses=[
        (x * (1 - rate), "at test time the output is scaled by 1 - rate: that is the old (non-inverted) "
                         "convention. Inverted dropout scales in training, so test time is the identity."),
        (x / (1 - rate), "at test time nothing is scaled: return x unchanged.")],
        hint="at test time (training=False) inverted dropout returns x unchanged, with no mask.")
    dropped = np.isclose(train_out, 0.0)
    share = float(dropped.mean())
    standard_error = np.sqrt(rate * (1 - rate) / x.size)
    if abs(share - (1 - rate)) < 4 * standard_error and abs(rate - 0.5) > 8 * standard_error:
        raise CheckFailure(f"{share:.2f} of the entries are dropped with rate={rate}.\nLikely mistake: keep and "
                           "drop are swapped. In Keras's Dropout(rate), rate is the probability of DROPPING a "
                           "unit: keep = rng.random(x.shape) >= rate.")
    if abs(share - rate) > 5 * standard_error:
        raise CheckFailure(f"{share:.2f} of the entries are dropped in training; with rate={rate} about "
                           f"{rate:.2f} should be.")
    kept = ~dropped
    assert_close("out (training), kept entries", train_out[kept], x[kept] / (1 - rate), diagnoses=[
        (x[kept], "kept entries are not scaled. Inverted dropout divides them by 1 - rate, so that the "
                  "expected output equals x and test time needs no change."),
        (x[kept] * (1 - rate), "kept entries are multiplied by 1 - rate; divide by it instead."),
        (x[kept] / rate, "kept entries are divided by rate; divide by the keep probability, 1 - rate.")])
    passed(f"{name}: drops {share:.2f} of the entries (rate {rate}), scales the rest by 1/(1 - rate), "
           "identity at test time.")


@graded_check
def check_dropout_backward(dropout_forward: Callable[..., Any], dropout_backward: Callable[..., Any],
                           seed: int = 0, num_examples: int = 6, num_units: int = 5, rate: float = 0.4) -> None:
    """Check ``dropout_backward(dout, cache) -> dx`` (N, H) in both modes, on the student's own forward pass."""
    name = "dropout_backward"
    x = _dropout_input(seed, num_examples, num_units)
    dout = random_state(seed + 7).normal(size=x.shape)

    def forward_backward(x: np.ndarray, dout: np.ndarray, rate: float, seed: int) -> tuple[Any, ...]:
        out, cache = dropout_forward(x, rate, True, seed)
        test_out, test_cache = dropout_forward(x, rate, False, seed)
        return out, dropout_backward(dout, cache), dropout_backward(dout, test_cache)

    out, dx, dx_test = unpack(name, call_student(_as_students(forward_backward), x, dout, rate, seed + 3, name=name),
                              ("out", "dx (training)", "dx (test)"))
    out = assert_shape("out", out, x.shape)
    scale = out / x                                 # 0 where dropped, 1 / (1 - rate) where kept
    if not np.all(np.isclose(scale, 0) | np.isclose(scale, 1 / (1 - rate))):
        raise CheckFailure("dropout_forward does not pass its check yet: fix it first (kept entries are "
                           "x / (1 - rate), dropped ones 0).")
    assert_close("dx (training)", dx, dout * scale, diagnoses=[
        (dout * (scale != 0), "the mask is applied but not the 1 / (1 - rate) scale: the forward pass "
                              "multiplied by it, so the backward pass must too."),
        (dout, "the mask is not applied: a dropped unit passes no gradient back."),
        (dout * (scale == 0) / (1 - rate), "the mask is inverted: the gradient flows where units were dropped.")],
        hint="dx = dout * mask / (1 - rate), with the same mask as the forward pass (keep it in the cache).")
    assert_close("dx (test)", dx_test, dout, diagnoses=[
        (dout * (1 - rate), "at test time dropout is the identity, so dx = dout, unscaled.")],
        hint="at test time dropout is the identity: dx = dout.")
    passed(f"{name}: the training mask and scale reach the gradient; dx = dout at test time.")


# ====================================================================== batch normalisation
def batchnorm_problem(seed: int, num_examples: int, num_features: int):
    """x (N, D), gamma (D,), beta (D,), state (moving statistics (D,)) and a second batch x2 (N, D)."""
    rng = random_state(seed)
    x = rng.normal(2.0, 3.0, size=(num_examples, num_features))
    gamma, beta = rng.uniform(0.5, 2.0, size=num_features), rng.normal(size=num_features)
    state = {"moving_mean": rng.normal(size=num_features), "moving_var": rng.uniform(0.5, 2.0, size=num_features)}
    x2 = rng.normal(1.0, 2.0, size=(num_examples, num_features))
    return x, gamma, beta, state, x2


def _batchnorm_variant(x, gamma, beta, state, x2, ddof=0, momentum=0.99, epsilon=1e-3, test_batch=False):
    """(out in training, state after, out at test time) for the rule and its usual wrong versions."""
    mean, var = x.mean(axis=0), x.var(axis=0, ddof=ddof)
    out = gamma * (x - mean) / np.sqrt(var + epsilon) + beta
    after = {"moving_mean": momentum * state["moving_mean"] + (1 - momentum) * mean,
             "moving_var": momentum * state["moving_var"] + (1 - momentum) * var}
    if test_batch:
        test_mean, test_var = x2.mean(axis=0), x2.var(axis=0)
    else:
        test_mean, test_var = after["moving_mean"], after["moving_var"]
    return out, after, gamma * (x2 - test_mean) / np.sqrt(test_var + epsilon) + beta


@graded_check
def check_batchnorm_forward(batchnorm_forward: Callable[..., Any], seed: int = 0, num_examples: int = 8,
                            num_features: int = 3) -> None:
    """Check ``batchnorm_forward(x, gamma, beta, state, training) -> (out, cache)`` (Keras's conventions).

    One training call on x (N, D), which must update ``state`` in place with momentum 0.99,
    then one test call on x2 (N, D), which must use the moving averages. epsilon = 1e-3.
    """
    name = "batchnorm_forward"
    x, gamma, beta, state, x2 = batchnorm_problem(seed, num_examples, num_features)

    def train_then_test(x, gamma, beta, state, x2):
        out = batchnorm_forward(x, gamma, beta, state, True)[0]
        after = {key: np.array(state[key], dtype=float) for key in ("moving_mean", "moving_var")}
        return out, after, batchnorm_forward(x2, gamma, beta, state, False)[0]

    out, after, test_out = unpack(name, call_student(_as_students(train_then_test), x, gamma, beta, state, x2, name=name),
                                  ("out (training)", "state after training", "out (test)"))
    right = _batchnorm_variant(x, gamma, beta, state, x2)
    unbiased = _batchnorm_variant(x, gamma, beta, state, x2, ddof=1)
    torch_like = _batchnorm_variant(x, gamma, beta, state, x2, momentum=0.01)
    assert_close("out (training)", out, right[0], diagnoses=[
        (unbiased[0], "the variance divides by N - 1 (ddof=1); batch norm uses the batch's variance over N."),
        (_batchnorm_variant(x, gamma, beta, state, x2, epsilon=0.0)[0], "epsilon is missing inside the sqrt."),
        (gamma * (x - x.mean(axis=0)) / (x.var(axis=0) + 1e-3) + beta, "divide by the standard deviation, "
                                                                       "sqrt(var + epsilon), not the variance."),
        (beta * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + 1e-3) + gamma, "gamma and beta are swapped: "
                                                                              "gamma scales, beta shifts."),
        ((x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True) + 1e-3) * gamma + beta,
         "the statistics are taken per example (axis=1); batch norm takes them per feature over the batch "
         "(axis=0).")])
    for key in ("moving_mean", "moving_var"):
        if not isinstance(after, dict) or key not in after:
            raise CheckFailure(f"after a training call, state should still hold '{key}'.")
        assert_close(f"state['{key}'] after one training call", after[key], right[1][key], diagnoses=[
            (state[key], "the moving averages did not change: update state in place in training mode."),
            (torch_like[1][key], "the momentum is applied to the batch statistic: Keras keeps 0.99 of the old "
                                 "moving average, moving = 0.99 * moving + 0.01 * batch."),
            (unbiased[1][key], "the variance divides by N - 1; Keras averages the batch variance over N.")])
    assert_close("out (test)", test_out, right[2], diagnoses=[
        (_batchnorm_variant(x, gamma, beta, state, x2, test_batch=True)[2],
         "at test time the batch's own statistics are used; use the moving averages in state."),
        (gamma * (x2 - state["moving_mean"]) / np.sqrt(state["moving_var"] + 1e-3) + beta,
         "the test call used the moving averages from before the training call: update state in training.")])
    passed(f"{name}: batch statistics and moving averages (momentum 0.99) in training, moving averages at test.")


@graded_check
def check_batchnorm_backward(batchnorm_forward: Callable[..., Any], batchnorm_backward: Callable[..., Any],
                             seed: int = 0, num_examples: int = 6, num_features: int = 4) -> None:
    """Check ``batchnorm_backward(dout, cache) -> (dx (N, D), dgamma (D,), dbeta (D,))`` in training mode."""
    name = "batchnorm_backward"
    x, gamma, beta, state, _ = batchnorm_problem(seed, num_examples, num_features)
    dout = random_state(seed + 11).normal(size=x.shape)

    def forward_backward(x, gamma, beta, state, dout):
        return batchnorm_backward(dout, batchnorm_forward(x, gamma, beta, state, True)[1])

    dx, dgamma, dbeta = unpack(name, call_student(_as_students(forward_backward), x, gamma, beta, state, dout, name=name),
                               ("dx", "dgamma", "dbeta"))
    _, cache = ref_layers.batchnorm_forward(x, gamma, beta, dict(state), True)
    ref_dx, ref_dgamma, ref_dbeta = ref_layers.batchnorm_backward(dout, cache)
    x_hat, _, inv_std, _ = cache
    assert_close("dbeta", dbeta, ref_dbeta, diagnoses=[
        (ref_dgamma, "dbeta and dgamma are swapped."), (ref_dbeta / num_examples, "a mean; sum over the batch.")])
    assert_close("dgamma", dgamma, ref_dgamma, diagnoses=[
        (ref_dbeta, "dgamma and dbeta are swapped: dgamma = sum(dout * x_hat, axis=0)."),
        (ref_dgamma / num_examples, "a mean; sum over the batch."),
        (np.sum(dout * x, axis=0), "use the normalised input x_hat, not x.")])
    assert_close("dx", dx, ref_dx, diagnoses=[
        (dout * gamma * inv_std, "the batch mean and variance are treated as constants. In training they "
                                 "depend on every example: dx = gamma * inv_std / N * (N * dout - sum(dout) - "
                                 "x_hat * sum(dout * x_hat))."),
        (ref_dx / gamma, "gamma is missing from dx."),
        (dout * inv_std - inv_std * dout.mean(axis=0), "the variance's path is missing (and gamma).")],
        hint="check it numerically with course_lib.gradcheck.numerical_gradient.")
    passed(f"{name}: dx, dgamma and dbeta match the reference (and finite differences) on x {x.shape}.")


# ====================================================================== initialisation
@graded_check
def check_init_weights(init_weights: Callable[..., Any], fan_in: int = 100, fan_out: int = 50, seed: int = 0) -> None:
    """Check ``init_weights(fan_in, fan_out, scheme, seed) -> W (fan_in, fan_out)`` for the four Keras schemes.

    Judged by statistics: mean near 0, standard deviation within 8 % of the scheme's
    (sqrt(2 / (fan_in + fan_out)) Glorot, sqrt(2 / fan_in) He), uniform draws bounded by
    sqrt(3) standard deviations, normal ones not; the same seed gives the same weights.
    """
    name = "init_weights"
    for scheme in ref.INITIALIZERS:
        W = assert_shape(f"{scheme} weights", call_student(init_weights, fan_in, fan_out, scheme, seed, name=name),
                         (fan_in, fan_out), hint="W has shape (fan_in, fan_out).").astype(float)
        target = ref.target_std(fan_in, fan_out, scheme)
        if np.all(W >= 0):
            raise CheckFailure(f"{scheme}: every weight is >= 0, as with np.random.rand (uniform on [0, 1)). "
                               "Initial weights must have mean 0.")
        if abs(W.mean()) > 5 * W.std() / np.sqrt(W.size):
            raise CheckFailure(f"{scheme}: the weights have mean {W.mean():.3g}; they should have mean 0.")
        ratio = W.std() / target
        if not 0.92 < ratio < 1.08:
            other = "he" if scheme.startswith("glorot") else "glorot"
            guesses = {ref.target_std(fan_in, fan_out, other + "_normal"): f"that is {other}'s scale; {scheme} "
                       "uses " + ("sqrt(2 / (fan_in + fan_out))." if other == "he" else "sqrt(2 / fan_in)."),
                       np.sqrt(2.0 / fan_out): "the scale uses fan_out; He uses fan_in.",
                       target ** 2: "this is the variance; the standard deviation is its square root.",
                       target / np.sqrt(3): "the uniform limit is sqrt(3) standard deviations: "
                                            "limit = sqrt(6 / fan_in) (He) or sqrt(6 / (fan_in + fan_out)).",
                       1.0: "standard normal weights: scale them."}
            reason = next((text for value, text in guesses.items() if 0.92 < W.std() / value < 1.08),
                          "see the table of scales above the exercise.")
            raise CheckFailure(f"{scheme}: standard deviation {W.std():.3g}, expected about {target:.3g}.\n"
                               f"Likely mistake: {reason}")
        bounded = np.abs(W).max() <= np.sqrt(3) * target * 1.001
        if scheme.endswith("uniform") and not bounded:
            raise CheckFailure(f"{scheme}: some weights lie beyond the uniform limit sqrt(3) * std; draw them "
                               "with rng.uniform(-limit, limit).")
        if scheme.endswith("normal") and bounded:
            raise CheckFailure(f"{scheme}: the weights look uniform; draw them from a normal distribution.")
    first, again, other = (as_array("W", call_student(init_weights, 6, 4, "he_normal", run_seed, name=name))
                           for run_seed in (seed, seed, seed + 1))
    if not np.array_equal(first, again) or np.array_equal(first, other):
        raise CheckFailure("the weights should depend on the seed, and only on it: draw them from "
                           "np.random.default_rng(seed).")
    passed(f"{name}: Glorot and He, uniform and normal, with Keras's scales on ({fan_in}, {fan_out}).")
