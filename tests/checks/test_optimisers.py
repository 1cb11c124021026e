"""Unit 05's checks accept correct answers written in several ways and reject realistic mistakes.

For every exercise: correct variants (the reference, in-place updates, float32 arithmetic,
loops, an equal formula, Keras's form where it differs from the textbook's) must pass,
and at least five wrong answers that students really write must fail. The reading
questions must reject every wrong answer without printing the right one.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from course_lib import optim
from tests.checks.conftest import accepts, f32, rejects
from course_lib.checks import optimisers as checks
from course_lib.checks import calling


# ------------------------------------------------------------------------------ SGD
def sgd_inplace(w, dw, learning_rate):
    w -= learning_rate * dw
    return w


SGD_RIGHT = [sgd_inplace, f32(lambda w, dw, lr: w - lr * dw),
             lambda w, dw, lr: np.subtract(w, np.multiply(lr, dw))]
SGD_WRONG = {"up the gradient": lambda w, dw, lr: w + lr * dw,
             "learning rate is missing": lambda w, dw, lr: w - dw,
             "did not change": lambda w, dw, lr: w,
             "returned the step": lambda w, dw, lr: -lr * dw,
             "divided": lambda w, dw, lr: w - dw / lr,
             "uses w instead": lambda w, dw, lr: w - lr * w,
             "": lambda w, dw, lr: w - lr * dw.T.reshape(w.shape)}


@pytest.mark.parametrize("answer", SGD_RIGHT)
def test_sgd_accepts(answer):
    accepts(checks.check_sgd_update, answer)
    accepts(checks.check_sgd_update, answer, seed=4, rows=5, cols=1)


@pytest.mark.parametrize("words", list(SGD_WRONG))
def test_sgd_rejects(words):
    rejects(checks.check_sgd_update, SGD_WRONG[words], match=words)


# ---------------------------------------------------------------------------- momentum
def momentum_inplace(w, dw, velocity, learning_rate, momentum=0.9):
    velocity *= momentum
    velocity -= learning_rate * dw
    w += velocity
    return w, velocity


MOMENTUM_RIGHT = [momentum_inplace, f32(momentum_inplace),
                  lambda w, dw, v, lr, mu: (w + np.dot(mu, v) - lr * dw, mu * v - lr * dw)]
MOMENTUM_WRONG = {
    "PyTorch": lambda w, dw, v, lr, mu: (w - lr * (mu * v + dw), mu * v + dw),
    "wrong sign": lambda w, dw, v, lr, mu: (w + mu * v + lr * dw, mu * v + lr * dw),
    "not multiplied by momentum": lambda w, dw, v, lr, mu: (w + v - lr * dw, v - lr * dw),
    "old velocity is forgotten": lambda w, dw, v, lr, mu: (w - lr * dw, -lr * dw),
    "(1 - momentum)": lambda w, dw, v, lr, mu: (w + mu * v - (1 - mu) * lr * dw, mu * v - (1 - mu) * lr * dw),
    "old velocity: update": lambda w, dw, v, lr, mu: (w + v, mu * v - lr * dw),
    "velocity is subtracted": lambda w, dw, v, lr, mu: (w - (mu * v - lr * dw), mu * v - lr * dw),
    "plain SGD step": lambda w, dw, v, lr, mu: (w - lr * dw, mu * v - lr * dw),
}


@pytest.mark.parametrize("answer", MOMENTUM_RIGHT)
def test_momentum_accepts(answer):
    accepts(checks.check_momentum_update, answer)
    accepts(checks.check_momentum_update, answer, seed=7, rows=2, cols=4)


@pytest.mark.parametrize("words", list(MOMENTUM_WRONG))
def test_momentum_rejects(words):
    rejects(checks.check_momentum_update, MOMENTUM_WRONG[words], match=words)


# ----------------------------------------------------------------------------- RMSProp
def rmsprop_textbook(w, dw, s, lr, rho=0.9, eps=1e-7):
    s = rho * s + (1 - rho) * dw * dw
    return w - lr * dw / (np.sqrt(s) + eps), s


def rmsprop_inplace(w, dw, s, lr, rho=0.9, eps=1e-7):
    s *= rho
    s += (1 - rho) * dw ** 2
    w -= lr * dw / np.sqrt(s + eps)
    return w, s


RMSPROP_RIGHT = [rmsprop_textbook, rmsprop_inplace, f32(rmsprop_textbook)]
RMSPROP_WRONG = {
    "not squared": lambda w, dw, s, lr, rho, eps: rmsprop_textbook(w, dw, s + 0 * dw, lr, rho, eps)[0:1]
    + (rho * s + (1 - rho) * dw,),
    "swapped": lambda w, dw, s, lr, rho, eps: rmsprop_textbook(w, dw, s, lr, 1 - rho, eps),
    "Adagrad": lambda w, dw, s, lr, rho, eps: (w - lr * dw / np.sqrt(s + dw ** 2), s + dw ** 2),
    "square root is missing": lambda w, dw, s, lr, rho, eps: (
        w - lr * dw / (rho * s + (1 - rho) * dw ** 2 + eps), rho * s + (1 - rho) * dw ** 2),
    "old mean_square": lambda w, dw, s, lr, rho, eps: (w - lr * dw / np.sqrt(s + eps), rho * s + (1 - rho) * dw ** 2),
    "uphill": lambda w, dw, s, lr, rho, eps: (2 * w - rmsprop_textbook(w, dw, s, lr, rho, eps)[0],
                                              rmsprop_textbook(w, dw, s, lr, rho, eps)[1]),
    "plain SGD": lambda w, dw, s, lr, rho, eps: (w - lr * dw, rho * s + (1 - rho) * dw ** 2),
    # epsilon forgotten or subtracted: invisible while mean_square is large, NaN where it is 0
    "epsilon": lambda w, dw, s, lr, rho, eps: rmsprop_textbook(w, dw, s, lr, rho, 0.0),
}


def rmsprop_epsilon_subtracted(w, dw, s, lr, rho, eps):
    s = rho * s + (1 - rho) * dw ** 2
    return w - lr * dw / np.sqrt(s - eps), s


@pytest.mark.parametrize("answer", RMSPROP_RIGHT)
def test_rmsprop_accepts(answer):
    accepts(checks.check_rmsprop_update, answer)
    accepts(checks.check_rmsprop_update, answer, seed=3, rows=4, cols=3)


@pytest.mark.parametrize("words", list(RMSPROP_WRONG))
def test_rmsprop_rejects(words):
    rejects(checks.check_rmsprop_update, RMSPROP_WRONG[words], match=words)


def test_rmsprop_needs_epsilon_inside_or_outside_the_root_but_added():
    with np.errstate(invalid="ignore", divide="ignore"):
        rejects(checks.check_rmsprop_update, rmsprop_epsilon_subtracted, match="epsilon added")
        rejects(checks.check_rmsprop_update, RMSPROP_WRONG["epsilon"], match="epsilon added")


# -------------------------------------------------------------------------------- Adam
def adam_paper(w, dw, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, eps=1e-7, *, correct=(True, True),
               eps_inside=False, return_hat=False, use_dw=False):
    m = beta_1 * m + (1 - beta_1) * dw
    v = beta_2 * v + (1 - beta_2) * dw ** 2
    m_hat = m / (1 - beta_1 ** t) if correct[0] else m
    v_hat = v / (1 - beta_2 ** t) if correct[1] else v
    root = np.sqrt(v_hat + eps) if eps_inside else np.sqrt(v_hat) + eps
    w = w - lr * (dw if use_dw else m_hat) / root
    return (w, m_hat, v_hat) if return_hat else (w, m, v)


def adam_keras_form(w, dw, m, v, t, lr, beta_1, beta_2, eps):
    m = m + (dw - m) * (1 - beta_1)
    v = v + (dw * dw - v) * (1 - beta_2)
    alpha = lr * math.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
    return w - alpha * m / (np.sqrt(v) + eps), m, v


def adam_inplace(w, dw, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, eps=1e-7):
    m *= beta_1
    m += (1 - beta_1) * dw
    v *= beta_2
    v += (1 - beta_2) * np.square(dw)
    w -= lr * (m / (1 - beta_1 ** t)) / (np.sqrt(v / (1 - beta_2 ** t)) + eps)
    return w, m, v


ADAM_RIGHT = [adam_paper, adam_keras_form, adam_inplace, f32(adam_paper)]
ADAM_WRONG = {
    "no bias correction": lambda *a: adam_paper(*a, correct=(False, False)),
    "epsilon is inside": lambda *a: adam_paper(*a, eps_inside=True),
    "bias-corrected m_hat": lambda *a: adam_paper(*a, return_hat=True),
    "only m is bias-corrected": lambda *a: adam_paper(*a, correct=(True, False)),
    "instead of the running mean": lambda *a: adam_paper(*a, use_dw=True),
    "t+1": lambda w, dw, m, v, t, *rest: adam_paper(w, dw, m, v, t + 1, *rest),
    "swapped": lambda w, dw, m, v, t, lr, b1, b2, eps: adam_paper(w, dw, m, v, t, lr, 1 - b1, b2, eps),
}


@pytest.mark.parametrize("answer", ADAM_RIGHT)
def test_adam_accepts(answer):
    accepts(checks.check_adam_update, answer)
    accepts(checks.check_adam_update, answer, seed=5, rows=2, cols=5, t=12)


@pytest.mark.parametrize("words", list(ADAM_WRONG))
def test_adam_rejects(words):
    message = rejects(checks.check_adam_update, ADAM_WRONG[words])
    if words not in ("t+1", "swapped"):
        assert words in message, message


# --------------------------------------------------------------------------- schedules
def step_decay_loop(epoch, lr, boundaries, factor=0.1):
    for boundary in boundaries:
        if epoch >= boundary:
            lr = lr * factor
    return lr


STEP_RIGHT = [step_decay_loop,
              lambda e, lr, b, f: lr * f ** np.searchsorted(np.asarray(b), e, side="right"),
              lambda e, lr, b, f: np.float32(step_decay_loop(e, lr, b, f))]
STEP_WRONG = {"one epoch late": lambda e, lr, b, f: lr * f ** sum(e > x for x in b),
              "only once": lambda e, lr, b, f: lr * f if e >= b[0] else lr,
              "multiplied by the number": lambda e, lr, b, f: lr * f * sum(e >= x for x in b) or lr,
              "grows": lambda e, lr, b, f: lr / f ** sum(e >= x for x in b),
              "never changes": lambda e, lr, b, f: lr,
              "": lambda e, lr, b, f: lr * f ** (e // b[0])}


@pytest.mark.parametrize("answer", STEP_RIGHT)
def test_step_decay_accepts(answer):
    accepts(checks.check_step_decay, answer)
    accepts(checks.check_step_decay, answer, seed=9, num_boundaries=2)


@pytest.mark.parametrize("words", list(STEP_WRONG))
def test_step_decay_rejects(words):
    rejects(checks.check_step_decay, STEP_WRONG[words], match=words)


def cosine_branches(step, peak, warmup_steps, decay_steps):
    if step < warmup_steps:
        return peak * step / warmup_steps
    progress = min(step - warmup_steps, decay_steps) / decay_steps
    return peak * (1 + math.cos(math.pi * progress)) / 2


def cosine_clipped(step, peak, warmup_steps, decay_steps):
    """Keras's way: clip the step first, then one formula per branch."""
    step = min(step, warmup_steps + decay_steps)
    if step < warmup_steps:
        return (peak - 0.0) * (step / warmup_steps) + 0.0
    return peak * 0.5 * (1.0 + np.cos(np.pi * (step - warmup_steps) / decay_steps))


def _cos(step, peak, warmup, decay, *, warm=True, shift=True, clamp=True, half=True, early=False, angle=1.0):
    if warm and step < warmup:
        return peak * (step + early) / warmup
    t = step - warmup if shift else step
    t = min(t, decay) if clamp else t
    return peak * (0.5 if half else 1.0) * (1 + math.cos(angle * math.pi * t / decay))


COSINE_RIGHT = [cosine_branches, cosine_clipped, lambda *a: np.float32(cosine_branches(*a))]
COSINE_WRONG = {"no warm-up": lambda *a: _cos(*a, warm=False, shift=False),
                "one step ahead": lambda *a: _cos(*a, early=True),
                "starts at step 0": lambda *a: _cos(*a, shift=False),
                "comes back up": lambda *a: _cos(*a, clamp=False),
                "0.5 is missing": lambda *a: _cos(*a, half=False),
                "full period": lambda *a: _cos(*a, angle=2.0)}


@pytest.mark.parametrize("answer", COSINE_RIGHT)
def test_cosine_accepts(answer):
    accepts(checks.check_cosine_with_warmup, answer)
    accepts(checks.check_cosine_with_warmup, answer, seed=2, warmup_steps=5, decay_steps=23)


@pytest.mark.parametrize("words", list(COSINE_WRONG))
def test_cosine_rejects(words):
    rejects(checks.check_cosine_with_warmup, COSINE_WRONG[words], match=words)


# -------------------------------------------------------------------------- batch size
SCALE_RIGHT = [lambda lr, b0, b: lr * b / b0, lambda lr, b0, b: lr * (b // b0) if b % b0 == 0 else lr * b / b0,
               lambda lr, b0, b: np.float32(lr) / b0 * b]
SCALE_WRONG = {"upside down": lambda lr, b0, b: lr * b0 / b, "square-root": lambda lr, b0, b: lr * math.sqrt(b / b0),
               "not scaled": lambda lr, b0, b: lr, "not by the batch size": lambda lr, b0, b: lr * b,
               "difference": lambda lr, b0, b: lr * (b - b0)}


@pytest.mark.parametrize("answer", SCALE_RIGHT)
def test_scaled_learning_rate_accepts(answer):
    accepts(checks.check_scaled_learning_rate, answer)
    accepts(checks.check_scaled_learning_rate, answer, seed=8, num_cases=10)


@pytest.mark.parametrize("words", list(SCALE_WRONG))
def test_scaled_learning_rate_rejects(words):
    rejects(checks.check_scaled_learning_rate, SCALE_WRONG[words], match=words)


# --------------------------------------------------------------------------- smoothing
def smooth_loop(values, beta=0.9):
    out, s = [], 0.0
    for t, value in enumerate(values, start=1):
        s = beta * s + (1 - beta) * value
        out.append(s / (1 - beta ** t))
    return out


def smooth_closed_form(values, beta=0.9):
    """The same average written as weights: sum_k beta**(t-k) (1-beta) v_k / (1 - beta**(t+1))."""
    values = np.asarray(values, dtype=np.float32)
    t = np.arange(len(values))
    weights = np.tril((1 - beta) * beta ** (t[:, None] - t[None, :]).astype(float))
    return weights @ values / (1 - beta ** (t + 1))


def _ema(values, beta, start=0.0, debias=True):
    out, s = [], start
    for t, value in enumerate(values):
        s = beta * s + (1 - beta) * value
        out.append(s / (1 - beta ** (t + 1)) if debias else s)
    return np.array(out)


SMOOTH_RIGHT = [smooth_loop, smooth_closed_form]
SMOOTH_WRONG = {"no bias correction": lambda v, b: _ema(v, b, debias=False),
                "starts at values[0]": lambda v, b: np.concatenate([[v[0]], _ema(v[1:], b, start=v[0], debias=False)]),
                "swapped": lambda v, b: _ema(v, 1 - b),
                "window average": lambda v, b: np.array([v[max(0, t - 9):t + 1].mean() for t in range(len(v))]),
                "not smoothed": lambda v, b: v,
                "shape": lambda v, b: _ema(v, b)[1:]}


@pytest.mark.parametrize("answer", SMOOTH_RIGHT)
def test_smooth_accepts(answer):
    accepts(checks.check_smooth, answer)
    accepts(checks.check_smooth, answer, seed=6, length=50, beta=0.8)


@pytest.mark.parametrize("words", list(SMOOTH_WRONG))
def test_smooth_rejects(words):
    rejects(checks.check_smooth, SMOOTH_WRONG[words], match=words)


REFERENCE_ANSWERS = [
    (checks.check_sgd_update, lambda w, dw, lr: optim.sgd(w, dw, {}, lr)[0]),
    (checks.check_momentum_update, lambda w, dw, v, lr, mu: (lambda r: (r[0], r[1]["velocity"]))(
        optim.momentum(w, dw, {"velocity": v}, lr, mu))),
    (checks.check_adam_update, lambda w, dw, m, v, t, lr, b1, b2, eps: (lambda r: (r[0], r[1]["m"], r[1]["v"]))(
        optim.adam(w, dw, {"m": m, "v": v, "t": t - 1}, lr, b1, b2, eps))),
    (checks.check_step_decay, optim.step_decay),
    (checks.check_smooth, lambda v, b: optim.ema_smooth(v, b)),
]


@pytest.mark.skipif(not hasattr(calling, "own_work"), reason="the own-work rule (checks/own_work.py) is not in this tree")
@pytest.mark.parametrize("check, answer", REFERENCE_ANSWERS)
def test_calling_the_course_reference_earns_nothing(check, answer):
    rejects(check, answer, match="No points")


# ----------------------------------------------------------------------- reading questions
def _never_tells(message, *secrets):
    for secret in secrets:
        assert secret not in message.lower(), message


def test_per_parameter_question():
    for right in ({"adagrad", "rmsprop", "adam"}, ["Adam", "RMSProp", "Adagrad"], ("adam", "adagrad", "rmsprop")):
        accepts(checks.check_per_parameter_optimisers, right)
    wrong = [{"adam"}, {"adam", "rmsprop"}, {"adam", "momentum", "rmsprop", "adagrad"}, {"sgd"}, set(),
             {"adam", "rmsprop", "adagrad", "nesterov"}, "adam", 3]
    for answer in wrong:
        message = rejects(checks.check_per_parameter_optimisers, answer)
        _never_tells(message, "adagrad, rmsprop, adam", "{'adagrad'")


def test_bias_correction_question():
    accepts(checks.check_bias_correction_reading, "b")
    accepts(checks.check_bias_correction_reading, " B ")
    for answer in ("a", "c", "d", "e", "", None, "b and c"):
        message = rejects(checks.check_bias_correction_reading, answer)
        _never_tells(message, "(b)", "\"b\"", "answer is")


def test_curve_labels_question():
    right = {"A": "too high", "B": "too low", "C": "good"}
    accepts(checks.check_curve_labels, right)
    accepts(checks.check_curve_labels, {"a": "Too High", "b": "too low ", "c": "GOOD"})
    wrong = [{"A": "too low", "B": "too high", "C": "good"}, {"A": "good", "B": "too low", "C": "too high"},
             {"A": "too high", "B": "good", "C": "too low"}, {"A": "too high", "B": "too low"},
             {"A": "too high", "B": "too low", "C": "fine"}, ["too high", "too low", "good"]]
    for answer in wrong:
        message = rejects(checks.check_curve_labels, answer)
        _never_tells(message, "should be 'good'", "is 'too high'", "\"a\": \"too high\"")


def test_every_check_is_graded_and_replayable():
    assert checks.TRUSTED_REPLAY
    public = [name for name in dir(checks) if name.startswith("check_")]
    assert len(public) >= 11 and all(getattr(getattr(checks, name), "graded_check", False) for name in public)


@pytest.mark.parametrize("grade_cell, answers", [
    ("check_per_parameter_optimisers(per_parameter_optimisers)",
     (["adam", "rmsprop", "adagrad"], ("adagrad", "adam", "rmsprop"), {"adam", "rmsprop", "adagrad"})),
    ("check_bias_correction_reading(per_parameter_optimisers)", ("b", "B")),
    ("check_curve_labels(per_parameter_optimisers)", ({"A": "too high", "B": "too low", "C": "good"},))])
def test_value_answers_replay_in_the_trusted_recheck_whatever_their_literal_form(tmp_path, grade_cell, answers):
    """A letter or a list is a literal in the kernel but a stand-in in the re-run: both must find the record."""
    from course_lib.checks import evidence
    from course_lib.grading import recheck as trusted

    name = grade_cell.split("(")[0]
    source = f"from course_lib.checks.optimisers import {name}\n{grade_cell}\n"
    assert trusted.is_replayable(source)
    for answer in answers:
        record = tmp_path / "evidence.jsonl"
        record.unlink(missing_ok=True)
        previous, evidence._recorder = evidence._recorder, evidence.Recorder(str(record))
        try:
            exec(source, {"per_parameter_optimisers": answer})
        finally:
            evidence._recorder = previous
        verdict = trusted.verdicts([("cell", source)], record)["cell"]
        assert verdict.replayed and verdict.passed, (answer, verdict)
