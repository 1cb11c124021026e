"""Checks for unit 05: optimisers, learning-rate schedules, batch size and learning curves.

Every check builds fresh inputs from ``seed``, calls the student's function on copies
(:func:`~course_lib.checks.calling.call_student`) and compares with :mod:`course_lib.optim`
(float64; ``rtol=1e-5``, so float32 answers pass). Visible grade cells use the defaults;
hidden tests use other seeds and shapes.

Conventions graded here are Keras's: the momentum velocity holds the step
(``v = momentum * v - learning_rate * dw``, then ``w + v``). Where two correct forms exist,
both pass: RMSProp's epsilon inside or outside the square root (the checks use gradients
large enough that epsilon = 1e-7 cannot tell them apart), and Adam's epsilon added to
``sqrt(v_hat)`` (the paper's Algorithm 1) or Keras's "epsilon hat" form. The Adam check
passes a large epsilon on purpose, so that "epsilon inside the square root" is visible.

The reading questions are graded as data (:func:`~course_lib.checks.calling.observe`);
their messages explain the idea and never print the expected answer.

Replay: checks reach student code only through ``call_student`` and ``observe``, so the
grader re-checks them outside the kernel (``TRUSTED_REPLAY``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import optim as ref
from .calling import call_student, observe
from .compare import CheckFailure, as_array, assert_close, assert_scalar, passed, random_state, unpack
from .evidence import graded_check
from .exercises import value_check

#: the grader may re-run these checks outside the kernel from recorded results
#: (:mod:`course_lib.grading.recheck`): they reach student code only through call_student and observe
TRUSTED_REPLAY = True
#: the references that answer this unit's exercises (the own-work rule, :mod:`.own_work`);
#: the ravine, the schedules without an exercise and ``train_network`` stay free to use
REFERENCES = ("course_lib.optim.sgd", "course_lib.optim.momentum", "course_lib.optim.rmsprop",
              "course_lib.optim.adam", "course_lib.optim.step", "course_lib.optim.step_decay",
              "course_lib.optim.cosine_decay", "course_lib.optim.scaled_learning_rate",
              "course_lib.optim.ema_smooth")

OPTIMISER_NAMES = ("sgd", "momentum", "adagrad", "rmsprop", "adam")


def _weights(seed: int, shape: tuple[int, ...], scale: float = 1.0):
    rng = random_state(seed)
    return rng.normal(size=shape), scale * rng.normal(size=shape), rng


# ------------------------------------------------------------------------ the SGD step
@graded_check
def check_sgd_update(sgd_update, seed: int = 0, rows: int = 3, cols: int = 2) -> None:
    """``sgd_update(w, dw, learning_rate)`` returns ``w - learning_rate * dw``, shape of w."""
    w, dw, rng = _weights(seed, (rows, cols))
    learning_rate = float(rng.uniform(0.05, 0.5))
    got = call_student(sgd_update, w, dw, learning_rate, name="sgd_update")
    expected, _ = ref.sgd(w, dw, {}, learning_rate)
    assert_close("sgd_update(w, dw, learning_rate)", got, expected,
                 hint="take one step against the gradient, scaled by the learning rate.",
                 diagnoses=[(w + learning_rate * dw, "the step goes up the gradient: subtract learning_rate * dw."),
                            (w - dw, "the learning rate is missing: multiply dw by learning_rate."),
                            (w, "w did not change: return the updated weights."),
                            (-learning_rate * dw, "you returned the step, not w minus the step."),
                            (w - dw / learning_rate, "dw is divided by the learning rate: multiply instead."),
                            (w - learning_rate * w, "the step uses w instead of its gradient dw.")])
    passed(f"sgd_update: w - learning_rate * dw, shape {(rows, cols)}")


# ----------------------------------------------------------------------------- momentum
@graded_check
def check_momentum_update(momentum_update, seed: int = 0, rows: int = 3, cols: int = 2) -> None:
    """``momentum_update(w, dw, velocity, learning_rate, momentum)`` returns ``(w, velocity)``.

    ``velocity = momentum * velocity - learning_rate * dw``; ``w = w + velocity`` (Keras's convention).
    """
    w, dw, rng = _weights(seed, (rows, cols))
    velocity = 0.3 * rng.normal(size=(rows, cols))
    learning_rate, mu = float(rng.uniform(0.05, 0.3)), float(rng.uniform(0.6, 0.95))
    got = call_student(momentum_update, w, dw, velocity, learning_rate, mu, name="momentum_update")
    new_w, new_velocity = unpack("momentum_update", got, ("w", "velocity"))
    expected_w, state = ref.momentum(w, dw, {"velocity": velocity}, learning_rate, mu)
    expected_v = state["velocity"]
    assert_close("the new velocity", new_velocity, expected_v,
                 hint="velocity = momentum * velocity - learning_rate * dw.",
                 diagnoses=[(mu * velocity + dw, "that is PyTorch's form (a running sum of gradients). Here, as in "
                                                 "Keras, the velocity holds the step: momentum * velocity - "
                                                 "learning_rate * dw."),
                            (mu * velocity + learning_rate * dw, "the gradient term has the wrong sign: the "
                                                                 "velocity points downhill, - learning_rate * dw."),
                            (velocity - learning_rate * dw, "the old velocity is not multiplied by momentum."),
                            (-learning_rate * dw, "the old velocity is forgotten: keep momentum * velocity."),
                            (mu * velocity - (1 - mu) * learning_rate * dw,
                             "the gradient is weighted by (1 - momentum): that is a moving average, not "
                             "classical momentum."),
                            (mu * (velocity - learning_rate * dw), "momentum multiplies the gradient term too: "
                                                                   "only the old velocity decays.")])
    assert_close("the new w", new_w, expected_w,
                 hint="w moves by the *new* velocity: w + velocity.",
                 diagnoses=[(w + velocity, "w moved by the old velocity: update the velocity first, then add it."),
                            (w - learning_rate * dw, "w took a plain SGD step: add the velocity instead."),
                            (w - expected_v, "the velocity is subtracted: it already points downhill, so add it."),
                            (w - learning_rate * (mu * velocity + dw), "that is PyTorch's form; here w + velocity.")])
    passed("momentum_update: velocity = momentum * velocity - learning_rate * dw, then w + velocity")


# ------------------------------------------------------------------------------ RMSProp
@graded_check
def check_rmsprop_update(rmsprop_update, seed: int = 0, rows: int = 3, cols: int = 2) -> None:
    """``rmsprop_update(w, dw, mean_square, learning_rate, rho, epsilon)`` returns ``(w, mean_square)``."""
    w, dw, rng = _weights(seed, (rows, cols))
    dw = np.sign(dw) * (0.2 + np.abs(dw))           # away from 0, so that epsilon's place cannot matter
    mean_square = rng.uniform(0.05, 1.0, size=(rows, cols))
    learning_rate, rho, epsilon = float(rng.uniform(0.01, 0.1)), float(rng.uniform(0.8, 0.99)), 1e-7
    got = call_student(rmsprop_update, w, dw, mean_square, learning_rate, rho, epsilon, name="rmsprop_update")
    new_w, new_s = unpack("rmsprop_update", got, ("w", "mean_square"))
    expected_w, state = ref.rmsprop(w, dw, {"mean_square": mean_square}, learning_rate, rho, epsilon)
    s = state["mean_square"]
    assert_close("the new mean_square", new_s, s,
                 hint="mean_square = rho * mean_square + (1 - rho) * dw**2.",
                 diagnoses=[(rho * mean_square + (1 - rho) * dw, "the gradient is not squared: use dw**2."),
                            ((1 - rho) * mean_square + rho * dw ** 2,
                             "rho and 1 - rho are swapped: the old average keeps the weight rho."),
                            (mean_square + dw ** 2, "that is Adagrad's sum: RMSProp keeps a decaying average."),
                            (mean_square, "mean_square did not change: return the updated average."),
                            (rho * mean_square + (1 - rho) * np.abs(dw), "use the square of dw, not its size.")])
    assert_close("the new w", new_w, expected_w,
                 hint="w - learning_rate * dw / sqrt(mean_square + epsilon), with the new mean_square.",
                 diagnoses=[(w - learning_rate * dw / (s + epsilon), "the square root is missing."),
                            (w - learning_rate * dw / np.sqrt(mean_square + epsilon),
                             "the step uses the old mean_square: update it first."),
                            (w + learning_rate * dw / np.sqrt(s + epsilon), "the step goes uphill: subtract it."),
                            (w - learning_rate * dw * np.sqrt(s + epsilon), "multiply by dw and *divide* by the root."),
                            (w - learning_rate * dw, "that is a plain SGD step: divide by sqrt(mean_square).")])
    _check_rmsprop_never_moved(rmsprop_update, w, learning_rate, rho, epsilon)
    passed("rmsprop_update: a decaying mean of dw**2, and a step divided by its root")


def _check_rmsprop_never_moved(rmsprop_update, w: np.ndarray, learning_rate: float, rho: float,
                               epsilon: float) -> None:
    """Weights w (R, C) whose gradients have always been 0 (mean_square 0, dw 0) stay put.

    This is what epsilon is for: without it, or subtracted, the step is 0 / 0 or the root of a
    negative number, NaN either way (a dead ReLU unit's weights see exactly this).
    """
    w, zeros = w.copy(), np.zeros_like(w)
    got = call_student(rmsprop_update, w.copy(), zeros, zeros.copy(), learning_rate, rho, epsilon,
                       name="rmsprop_update")
    new_w, _ = unpack("rmsprop_update", got, ("w", "mean_square"))
    new_w = as_array("the new w", new_w)
    if new_w.shape == w.shape and not np.all(np.isfinite(new_w)):
        raise CheckFailure("a weight whose gradient has always been 0 (mean_square = 0, dw = 0) became NaN: "
                           "0 / sqrt(0) is undefined. That is what epsilon is for: divide by "
                           "sqrt(mean_square + epsilon), with epsilon added.")
    assert_close("the new w when dw and mean_square are 0", new_w, w,
                 hint="a zero gradient moves no weight: w - learning_rate * 0 / sqrt(0 + epsilon) = w.")


# --------------------------------------------------------------------------------- Adam
def _adam_forms(w, dw, m, v, t, learning_rate, beta_1, beta_2, epsilon):
    """The paper's Algorithm 1 and Keras's epsilon-hat form: both are correct."""
    state = {"m": m, "v": v, "t": t - 1}
    paper, new = ref.adam(w, dw, state, learning_rate, beta_1, beta_2, epsilon, epsilon_hat=False)
    keras_form, _ = ref.adam(w, dw, state, learning_rate, beta_1, beta_2, epsilon, epsilon_hat=True)
    return paper, keras_form, new["m"], new["v"]


@graded_check
def check_adam_update(adam_update, seed: int = 0, rows: int = 3, cols: int = 2, t: int = 3) -> None:
    """``adam_update(w, dw, m, v, t, learning_rate, beta_1, beta_2, epsilon)`` returns ``(w, m, v)``.

    Checked at step 1 from zero averages and at step ``t`` from random ones, with epsilon = 1e-4
    and small gradients, so that where epsilon sits shows.
    """
    rng = random_state(seed)
    w = rng.normal(size=(rows, cols))
    learning_rate, beta_1, beta_2, epsilon = float(rng.uniform(0.01, 0.1)), 0.9, 0.999, 1e-4
    cases = [(1, np.zeros((rows, cols)), np.zeros((rows, cols))),
             (t, 0.01 * rng.normal(size=(rows, cols)), rng.uniform(1e-5, 1e-4, size=(rows, cols)))]
    for step_number, m, v in cases:
        dw = 0.01 * rng.normal(size=(rows, cols))
        got = call_student(adam_update, w, dw, m, v, step_number, learning_rate, beta_1, beta_2, epsilon,
                           name="adam_update")
        new_w, new_m, new_v = unpack("adam_update", got, ("w", "m", "v"))
        paper, keras_form, m1, v1 = _adam_forms(w, dw, m, v, step_number, learning_rate, beta_1, beta_2, epsilon)
        where = f" at step t={step_number}"
        m_hat, v_hat = m1 / (1 - beta_1 ** step_number), v1 / (1 - beta_2 ** step_number)
        assert_close("the new m" + where, new_m, m1,
                     hint="m = beta_1 * m + (1 - beta_1) * dw: return the running mean itself, not m_hat.",
                     diagnoses=[(m_hat, "you returned the bias-corrected m_hat: keep m uncorrected in the state "
                                        "and correct only when computing the step."),
                                (beta_1 * dw + (1 - beta_1) * m, "beta_1 and 1 - beta_1 are swapped."),
                                (m + (1 - beta_1) * dw, "the old m is not multiplied by beta_1.")])
        assert_close("the new v" + where, new_v, v1,
                     hint="v = beta_2 * v + (1 - beta_2) * dw**2.",
                     diagnoses=[(v_hat, "you returned the bias-corrected v_hat: keep v uncorrected in the state."),
                                (beta_2 * v + (1 - beta_2) * dw, "the gradient is not squared in v: use dw**2."),
                                (beta_1 * v + (1 - beta_1) * dw ** 2, "v uses beta_1: its decay rate is beta_2.")])
        new_w = as_array("the new w" + where, new_w)
        if new_w.shape == paper.shape and np.allclose(new_w, keras_form, rtol=1e-5, atol=1e-5 * max(1, np.abs(paper).max())):
            continue                     # Keras's "epsilon hat" form: also right
        assert_close("the new w" + where, new_w, paper,
                     hint="w - learning_rate * m_hat / (sqrt(v_hat) + epsilon) with m_hat = m / (1 - beta_1**t) "
                          "and v_hat = v / (1 - beta_2**t), using the new m and v.",
                     diagnoses=[(w - learning_rate * m1 / (np.sqrt(v1) + epsilon),
                                 "no bias correction: divide m by (1 - beta_1**t) and v by (1 - beta_2**t). "
                                 "Without it the first steps are far too small or too large, because m and v "
                                 "start at zero."),
                                (w - learning_rate * m_hat / np.sqrt(v_hat + epsilon),
                                 "epsilon is inside the square root: add it after, sqrt(v_hat) + epsilon."),
                                (w - learning_rate * m_hat / (v_hat + epsilon), "the square root of v_hat is missing."),
                                (w - learning_rate * dw / (np.sqrt(v_hat) + epsilon),
                                 "the step uses dw instead of the running mean m_hat."),
                                (w + learning_rate * m_hat / (np.sqrt(v_hat) + epsilon), "the step goes uphill."),
                                (w - learning_rate * (m1 / (1 - beta_1 ** step_number)) / (np.sqrt(v1) + epsilon),
                                 "only m is bias-corrected: correct v too, v / (1 - beta_2**t).")])
    passed("adam_update: running means m and v, bias correction, and epsilon outside the root")


# ---------------------------------------------------------------------------- schedules
def _values(function, name: str, steps, *args) -> np.ndarray:
    """The student's schedule at every step, as an array (T,)."""
    __tracebackhide__ = True
    return np.array([assert_scalar(f"{name}({s}, ...)", call_student(function, int(s), *args, name=name))
                     for s in steps])


@graded_check
def check_step_decay(step_decay, seed: int = 0, num_boundaries: int = 3) -> None:
    """``step_decay(epoch, initial_learning_rate, boundaries, factor)`` multiplies by factor at each boundary."""
    rng = random_state(seed)
    boundaries = tuple(int(b) for b in np.cumsum(rng.integers(3, 12, size=num_boundaries)))
    initial, factor = float(rng.uniform(0.05, 1.0)), float(rng.choice([0.1, 0.2, 0.5]))
    epochs = np.arange(boundaries[-1] + 5)
    got = _values(step_decay, "step_decay", epochs, initial, boundaries, factor)
    drops = np.array([sum(e >= b for b in boundaries) for e in epochs])
    late = np.array([sum(e > b for b in boundaries) for e in epochs])
    expected = [ref.step_decay(int(e), initial, boundaries, factor) for e in epochs]
    assert_close(f"step_decay over epochs 0-{epochs[-1]} (boundaries {boundaries}, factor {factor})", got, expected,
                 hint="count the boundaries b with epoch >= b, and multiply by factor once for each.",
                 diagnoses=[(initial * factor ** late, "the rate drops one epoch late: at a boundary epoch b the "
                                                       "new rate already applies (use epoch >= b)."),
                            (np.where(drops > 0, initial * factor, initial),
                             "the rate drops only once: multiply by factor again at every boundary."),
                            (np.where(drops > 0, initial * factor * drops, initial),
                             "factor is multiplied by the number of drops: raise it to that power instead."),
                            (initial / factor ** drops, "the rate grows: multiply by factor, do not divide."),
                            (np.full(len(epochs), initial), "the rate never changes: compare epoch with the boundaries.")])
    passed(f"step_decay: x{factor} at epochs {boundaries}")


@graded_check
def check_cosine_with_warmup(cosine_with_warmup, seed: int = 0, warmup_steps: int = 10,
                             decay_steps: int = 40) -> None:
    """``cosine_with_warmup(step, peak_learning_rate, warmup_steps, decay_steps)``: Keras's ``CosineDecay``.

    Linear from 0 to the peak over ``warmup_steps``, then half a cosine down to 0 over
    ``decay_steps``, then 0.
    """
    rng = random_state(seed)
    peak = float(rng.uniform(0.01, 1.0))
    steps = np.arange(warmup_steps + decay_steps + 8)
    got = _values(cosine_with_warmup, "cosine_with_warmup", steps, peak, warmup_steps, decay_steps)
    expected = [ref.cosine_decay(int(s), 0.0, decay_steps, warmup_steps=warmup_steps, warmup_target=peak)
                for s in steps]
    after = np.minimum(np.maximum(steps - warmup_steps, 0), decay_steps)
    cosine = peak * 0.5 * (1 + np.cos(np.pi * after / decay_steps))
    warm = steps < warmup_steps
    unclamped = np.where(warm, peak * steps / warmup_steps,
                         peak * 0.5 * (1 + np.cos(np.pi * (steps - warmup_steps) / decay_steps)))
    assert_close(f"cosine_with_warmup over steps 0-{steps[-1]}", got, expected,
                 hint="steps below warmup_steps: peak * step / warmup_steps; then "
                      "peak * 0.5 * (1 + cos(pi * min(step - warmup_steps, decay_steps) / decay_steps)).",
                 diagnoses=[(peak * 0.5 * (1 + np.cos(np.pi * np.minimum(steps, decay_steps) / decay_steps)),
                             "there is no warm-up: start at 0 and rise linearly for warmup_steps steps."),
                            (np.where(warm, peak * (steps + 1) / warmup_steps, cosine),
                             "the warm-up is one step ahead: at step 0 the rate is 0 (step / warmup_steps)."),
                            (np.where(warm, peak * steps / warmup_steps,
                                      peak * 0.5 * (1 + np.cos(np.pi * np.minimum(steps, decay_steps) / decay_steps))),
                             "the cosine starts at step 0: count its steps from the end of the warm-up, "
                             "step - warmup_steps."),
                            (unclamped, "after decay_steps the cosine comes back up: hold it at its end with "
                                        "min(step - warmup_steps, decay_steps)."),
                            (np.where(warm, peak * steps / warmup_steps, 2 * cosine),
                             "the factor 0.5 is missing: 0.5 * (1 + cos(...)) runs from 1 down to 0."),
                            (np.where(warm, peak * steps / warmup_steps,
                                      peak * 0.5 * (1 + np.cos(2 * np.pi * after / decay_steps))),
                             "the angle runs to 2 pi, a full period: half a cosine goes from 0 to pi.")])
    passed(f"cosine_with_warmup: linear warm-up over {warmup_steps} steps, then half a cosine over {decay_steps}")


# ------------------------------------------------------------------------- batch size
@graded_check
def check_scaled_learning_rate(scaled_learning_rate, seed: int = 0, num_cases: int = 4) -> None:
    """``scaled_learning_rate(base_learning_rate, base_batch_size, batch_size)``: the linear scaling rule."""
    rng = random_state(seed)
    for _ in range(num_cases):
        base_lr = float(rng.uniform(0.001, 0.1))
        base_batch, batch = (int(2 ** k) for k in rng.choice(np.arange(3, 10), size=2, replace=False))
        got = assert_scalar("scaled_learning_rate(...)",
                            call_student(scaled_learning_rate, base_lr, base_batch, batch, name="scaled_learning_rate"))
        ratio = batch / base_batch
        assert_close(f"scaled_learning_rate({base_lr:.4g}, {base_batch}, {batch})", got,
                     ref.scaled_learning_rate(base_lr, base_batch, batch),
                     hint="k = batch_size / base_batch_size; multiply the base learning rate by k.",
                     diagnoses=[(base_lr / ratio, "the ratio is upside down: a larger batch gets a *larger* rate."),
                                (base_lr * np.sqrt(ratio), "that is the square-root rule; this exercise asks for "
                                                           "the linear rule of thumb."),
                                (base_lr, "the learning rate is not scaled."),
                                (base_lr * batch, "multiply by the *ratio* of the batch sizes, not by the batch size."),
                                (base_lr * (batch - base_batch), "scale by the ratio, not the difference.")])
    passed("scaled_learning_rate: k times the batch, k times the learning rate")


# --------------------------------------------------------------------- smoothing curves
@graded_check
def check_smooth(smooth, seed: int = 0, length: int = 30, beta: float = 0.9) -> None:
    """``smooth(values, beta)``: the bias-corrected exponential moving average, (T,) -> (T,)."""
    rng = random_state(seed)
    values = 2.0 * np.exp(-np.arange(length) / 15) + 0.3 * rng.random(length) + 0.5
    got = call_student(smooth, values, beta, name="smooth")
    expected = ref.ema_smooth(values, beta)
    biased = ref.ema_smooth(values, beta, debias=False)
    from_first = np.empty(length)
    average = values[0]
    for t, value in enumerate(values):
        average = beta * average + (1 - beta) * value if t else average
        from_first[t] = average
    swapped = ref.ema_smooth(values, 1 - beta)
    window = max(1, int(round(1 / (1 - beta))))
    trailing = np.array([values[max(0, t - window + 1):t + 1].mean() for t in range(length)])
    assert_close(f"smooth(values, beta={beta})", got, expected,
                 hint="s = beta * s + (1 - beta) * value from s = 0, and store s / (1 - beta**(t + 1)).",
                 diagnoses=[(biased, "no bias correction: the first points are pulled towards 0. Divide the "
                                     "average by 1 - beta**(t + 1), as Adam does."),
                            (from_first, "the average starts at values[0]: start at 0 and correct the bias, "
                                         "as Adam does."),
                            (swapped, "beta and 1 - beta are swapped: beta is the weight of the old average."),
                            (trailing, "that is a window average: this exercise asks for the exponential one."),
                            (values, "the values are not smoothed.")])
    passed(f"smooth: a bias-corrected moving average, length {length}")


# --------------------------------------------------------------------- reading questions
def _names(answer: Any) -> list[str]:
    if isinstance(answer, str) or not hasattr(answer, "__iter__"):
        raise CheckFailure("per_parameter_optimisers should be a set of names such as {\"sgd\", ...}, "
                           f"not a {type(answer).__name__}.")
    return sorted({str(name).strip().lower() for name in answer})


@value_check
def check_per_parameter_optimisers(per_parameter_optimisers) -> None:
    """Which optimisers give each parameter its own step size? A set of names from OPTIMISER_NAMES."""
    names = observe("per_parameter_optimisers", lambda: _names(per_parameter_optimisers.value))
    unknown = [name for name in names if name not in OPTIMISER_NAMES]
    if unknown:
        raise CheckFailure(f"unknown names {unknown}: use only these names: "
                           f"{' '.join(repr(name) for name in OPTIMISER_NAMES)}.")
    adaptive = {"adagrad", "rmsprop", "adam"}
    if "sgd" in names or "momentum" in names:
        raise CheckFailure("per_parameter_optimisers includes an optimiser whose step is learning_rate times "
                           "the gradient (or a velocity built from it) for every parameter alike. Momentum keeps "
                           "a velocity per parameter, but it never divides by anything that depends on that "
                           "parameter's own history.")
    if set(names) != adaptive:
        raise CheckFailure("per_parameter_optimisers misses an optimiser that divides each parameter's step "
                           "by the root of its own accumulated squared gradients. Look again at every "
                           "update rule with a square root in it.")
    passed("per_parameter_optimisers: the adaptive methods divide each step by that parameter's own history")


@value_check
def check_bias_correction_reading(bias_correction_answer) -> None:
    """The letter of the reason why Adam divides m by (1 - beta_1**t)."""
    answer = observe("bias_correction_answer", lambda: str(bias_correction_answer.value).strip().lower())
    explanations = {
        "a": "a schedule makes steps smaller over time; the correction factor tends to 1, so late steps are "
             "unchanged by it. Look at the first steps instead.",
        "c": "dividing by sqrt(v) is what adapts the step to each parameter's scale; (1 - beta_1**t) is the "
             "same number for every parameter.",
        "d": "the running mean m is already the momentum part; the correction does not add any.",
    }
    if answer not in ("a", "b", "c", "d"):
        raise CheckFailure(f"bias_correction_answer should be one letter, \"a\" to \"d\", not {answer!r:.40}.")
    if answer in explanations:
        raise CheckFailure(f"not ({answer}): {explanations[answer]}")
    passed("bias_correction_answer: m and v start at 0, and the correction undoes that pull towards 0")


CURVE_LABELS = ("too high", "too low", "good")


@value_check
def check_curve_labels(curve_labels) -> None:
    """Labels for the three learning curves A, B, C: "too high", "too low" or "good"."""
    def measure():
        answer = curve_labels.value
        if not isinstance(answer, dict):
            raise CheckFailure(f"curve_labels should be a dict like {{\"A\": ..., \"B\": ..., \"C\": ...}}, "
                               f"not a {type(answer).__name__}.")
        return {str(key).strip().upper(): str(value).strip().lower() for key, value in answer.items()}

    labels = observe("curve_labels", measure)
    if sorted(labels) != ["A", "B", "C"]:
        raise CheckFailure(f"curve_labels should have the keys \"A\", \"B\" and \"C\", not {sorted(labels)}.")
    for key, value in sorted(labels.items()):
        if value not in CURVE_LABELS:
            raise CheckFailure(f"curve {key}: {value!r:.30} is not one of {', '.join(map(repr, CURVE_LABELS))}.")
    reasons = {  # why a label does not fit a curve, without saying which one does
        ("A", "too low"): "curve A jumps up and down from one epoch to the next: small steps give a smooth curve.",
        ("A", "good"): "curve A stalls high and jumps around: it never settles into the minimum.",
        ("B", "too high"): "curve B is smooth and still falling at the end: large steps would bounce.",
        ("B", "good"): "curve B is still falling steadily at the end of training: it has not arrived.",
        ("C", "too high"): "curve C settles low and stays there: too large a step would not.",
        ("C", "too low"): "curve C reaches a low loss early: its steps are not too small.",
    }
    for key, value in sorted(labels.items()):
        if (key, value) in reasons:
            raise CheckFailure(f"not {value!r} for curve {key}: {reasons[(key, value)]}")
    passed("curve_labels: you can read the learning rate off a learning curve")

