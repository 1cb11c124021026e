"""course_lib.optim against independent oracles: Keras 3's optimisers and schedules.

Each optimiser runs 120 steps of a small least-squares problem next to the Keras optimiser
of the same name, on float64 variables, and must agree to rounding error. The learning
rates, momenta and betas are exact in float32 (powers of two, 0.875, 0.125, 1 - 2**-10) because
Keras keeps the learning rate in a float32 variable and casts Python floats such as the
momentum (and Adagrad's initial accumulator) through float32 before float64; with 0.9 the runs differ by about 1e-6, relative.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # noqa: E402

from course_lib import optim  # noqa: E402

NUM_STEPS = 120


def _problem(seed=0, num_examples=20, num_features=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(num_examples, num_features))
    y = X @ rng.normal(size=(num_features, 2)) + 0.1 * rng.normal(size=(num_examples, 2))
    W0 = rng.normal(size=(num_features, 2))

    def gradient(W):                   # of the mean squared error, (D, 2)
        return 2 * X.T @ (X @ W - y) / num_examples

    return W0, gradient


def _keras_path(optimizer, W0, gradient, num_steps=NUM_STEPS):
    variable = keras.Variable(W0.copy(), dtype="float64")
    path = []
    for _ in range(num_steps):
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient(variable.value.numpy())), variable)])
        path.append(variable.value.numpy())
    return np.array(path)


def _our_path(update, W0, gradient, num_steps=NUM_STEPS, **hyper):
    W, state, path = W0.copy(), {}, []
    for _ in range(num_steps):
        W, state = update(W, gradient(W), state, **hyper)
        path.append(W)
    return np.array(path)


CASES = {
    "sgd": (optim.sgd, dict(learning_rate=2 ** -4), lambda: keras.optimizers.SGD(2 ** -4)),
    "momentum": (optim.momentum, dict(learning_rate=2 ** -5, momentum=0.875),
                 lambda: keras.optimizers.SGD(2 ** -5, momentum=0.875)),
    "nesterov": (optim.momentum, dict(learning_rate=2 ** -5, momentum=0.75, nesterov=True),
                 lambda: keras.optimizers.SGD(2 ** -5, momentum=0.75, nesterov=True)),
    "adagrad": (optim.adagrad, dict(learning_rate=2 ** -3, initial_accumulator_value=0.125),
                lambda: keras.optimizers.Adagrad(2 ** -3, initial_accumulator_value=0.125)),
    "rmsprop": (optim.rmsprop, dict(learning_rate=2 ** -7, rho=0.875), lambda: keras.optimizers.RMSprop(2 ** -7, rho=0.875)),
    "adam": (optim.adam, dict(learning_rate=2 ** -6, beta_1=0.875, beta_2=1 - 2 ** -10),
             lambda: keras.optimizers.Adam(2 ** -6, beta_1=0.875, beta_2=1 - 2 ** -10)),
    "adam, other betas": (optim.adam, dict(learning_rate=2 ** -5, beta_1=0.75, beta_2=0.984375, epsilon=1e-4),
                          lambda: keras.optimizers.Adam(2 ** -5, beta_1=0.75, beta_2=0.984375, epsilon=1e-4)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_optimiser_matches_keras_over_120_steps(name):
    update, hyper, make = CASES[name]
    W0, gradient = _problem(seed=len(name))
    ours = _our_path(update, W0, gradient, **hyper)
    theirs = _keras_path(make(), W0, gradient)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    assert np.abs(ours[-1] - W0).max() > 1e-2          # it moved: the comparison means something


def test_adam_textbook_and_keras_epsilon_agree_closely_and_differ_with_large_epsilon():
    W0, gradient = _problem(seed=3)
    keras_form = _our_path(optim.adam, W0, gradient, learning_rate=0.01)
    paper_form = _our_path(optim.adam, W0, gradient, learning_rate=0.01, epsilon_hat=False)
    np.testing.assert_allclose(keras_form, paper_form, rtol=1e-4, atol=1e-5)
    big = dict(learning_rate=0.01, epsilon=0.1)
    assert not np.allclose(_our_path(optim.adam, W0, gradient, **big),
                           _our_path(optim.adam, W0, gradient, epsilon_hat=False, **big), rtol=1e-3)


def test_first_adam_step_has_size_learning_rate_in_every_coordinate():
    """Bias correction: the first step is learning_rate * sign(dw), whatever the gradient's scale."""
    dw = np.array([1e-4, -3.0, 250.0])
    w, state = optim.adam(np.zeros(3), dw, {}, learning_rate=0.01, epsilon=0.0)
    np.testing.assert_allclose(w, -0.01 * np.sign(dw))
    assert state["t"] == 1 and state["m"].shape == (3,)


def test_updates_leave_inputs_alone_and_step_walks_a_dict():
    params = {"W1": np.ones((3, 2)), "b1": np.zeros(2)}
    grads = {"W1": np.full((3, 2), 0.5), "b1": np.ones(2)}
    new, states = optim.step(params, grads, None, "momentum", learning_rate=0.1)
    assert params["W1"][0, 0] == 1.0 and set(states) == {"W1", "b1"}
    np.testing.assert_allclose(new["W1"], 0.95)
    np.testing.assert_allclose(states["b1"]["velocity"], -0.1)
    new, states = optim.step(new, grads, states, optim.momentum, learning_rate=0.1)
    np.testing.assert_allclose(states["b1"]["velocity"], -0.19)


# ------------------------------------------------------------------------------ schedules
STEPS = np.arange(0, 400)


def _keras_values(schedule, steps=STEPS):
    return np.array([float(schedule(int(s)).numpy()) for s in steps])


def test_step_decay_is_keras_piecewise_constant_one_step_earlier():
    boundaries, lr = (30, 60, 90), 0.1
    ours = [optim.step_decay(e, lr, boundaries) for e in range(120)]
    keras_schedule = keras.optimizers.schedules.PiecewiseConstantDecay(
        [b - 1 for b in boundaries], [lr, lr * 0.1, lr * 0.01, lr * 0.001])
    np.testing.assert_allclose(ours, _keras_values(keras_schedule, range(120)), rtol=1e-6)
    assert ours[29] == lr and math.isclose(ours[30], 0.01) and math.isclose(ours[119], 1e-4)


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay_matches_keras(staircase):
    ours = [optim.exponential_decay(s, 0.3, 50, 0.5, staircase) for s in STEPS]
    theirs = _keras_values(keras.optimizers.schedules.ExponentialDecay(0.3, 50, 0.5, staircase=staircase))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


@pytest.mark.parametrize("warmup", [None, (0.0, 40, 0.5), (0.05, 25, 0.2)])
def test_cosine_decay_with_and_without_warmup_matches_keras(warmup):
    if warmup is None:
        ours = [optim.cosine_decay(s, 0.4, 300, alpha=0.1) for s in STEPS]
        theirs = keras.optimizers.schedules.CosineDecay(0.4, 300, alpha=0.1)
    else:
        start, warmup_steps, target = warmup
        ours = [optim.cosine_decay(s, start, 300, warmup_steps=warmup_steps, warmup_target=target) for s in STEPS]
        theirs = keras.optimizers.schedules.CosineDecay(start, 300, warmup_target=target, warmup_steps=warmup_steps)
    np.testing.assert_allclose(ours, _keras_values(theirs), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("t_mul, m_mul", [(2.0, 1.0), (1.0, 0.5), (1.5, 0.8)])
def test_cosine_restarts_match_keras(t_mul, m_mul):
    ours = [optim.cosine_restarts(s, 0.2, 40, t_mul=t_mul, m_mul=m_mul, alpha=0.05) for s in STEPS]
    theirs = keras.optimizers.schedules.CosineDecayRestarts(0.2, 40, t_mul=t_mul, m_mul=m_mul, alpha=0.05)
    np.testing.assert_allclose(ours, _keras_values(theirs), rtol=1e-4, atol=1e-6)


def test_inverse_sqrt_and_constant():
    values = np.array([optim.inverse_sqrt(s, 1.0, warmup_steps=10) for s in range(100)])
    assert np.argmax(values) == 9 and values[9] == 1.0
    np.testing.assert_allclose(values[:10], np.arange(1, 11) / 10)
    np.testing.assert_allclose(values[39], math.sqrt(10 / 40))
    assert optim.constant(123, 0.05) == 0.05


def test_batch_size_rule_smoothers_and_ravine():
    assert math.isclose(optim.scaled_learning_rate(0.01, 32, 256), 0.08)
    values = np.array([4.0, 2.0, 3.0, 1.0])
    np.testing.assert_allclose(optim.moving_average(values, 2), [3.0, 2.5, 2.0])
    smoothed = optim.ema_smooth(values, beta=0.5)
    np.testing.assert_allclose(smoothed[:2], [4.0, (0.25 * 4 + 0.5 * 2) / 0.75])
    np.testing.assert_allclose(optim.ema_smooth(np.full(5, 7.0), 0.9), 7.0)
    np.testing.assert_allclose(optim.ema_smooth(values, 0.5, debias=False)[0], 2.0)
    path, losses = optim.optimise_path("sgd", np.array([2.0, 1.0]), 50, learning_rate=0.03)
    assert path.shape == (51, 2) and losses[-1] < losses[0]
    _, diverging = optim.optimise_path("sgd", np.array([2.0, 1.0]), 20, learning_rate=0.1)
    assert diverging[-1] > diverging[0]                 # above 2 / 25 the steep direction blows up


def test_train_network_with_a_schedule_is_reproducible():
    rng = np.random.default_rng(0)
    X, X_val = rng.normal(size=(64, 4)), rng.normal(size=(16, 4))
    y, y_val = X @ [1.0, -1.0, 0.5, 0.0], X_val @ [1.0, -1.0, 0.5, 0.0]
    schedule = lambda s: optim.cosine_decay(s, 0.0, 60, warmup_steps=10, warmup_target=0.05)  # noqa: E731
    first = optim.train_network(X, y, X_val, y_val, "adam", schedule, num_epochs=10, batch_size=8)
    again = optim.train_network(X, y, X_val, y_val, "adam", schedule, num_epochs=10, batch_size=8)
    assert len(first["loss"]) == 10 and len(first["batch_loss"]) == 80
    assert first["val_loss"] == again["val_loss"] and first["loss"][-1] < first["loss"][0]
