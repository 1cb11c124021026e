"""The unit 06 checks accept correct answers written in several ways and reject realistic
wrong ones (at least five per exercise) with a message that names the mistake; answers that
are values on fixed inputs never see the expected answer in a failure message."""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest

from tests.conftest import typed_by_a_student
from tests.checks.conftest import accepts, rejects, unwritten
from course_lib.checks import generalisation as checks
from course_lib.checks.compare import CheckFailure

# answers built from the references as a student who typed the same code would hand them in
ref = typed_by_a_student("course_lib.regularization")
ref_layers = typed_by_a_student("course_lib.layers")


# ------------------------------------------------------------------ values on fixed inputs
RIGHT_LABELS = {"A": "underfitting", "B": "overfitting", "C": "healthy", "D": "overfitting", "E": "underfitting"}
RIGHT_CHOICES = {"cell_flip": True, "cell_rotate_90": True, "cell_small_shift": True, "histology_rotate_90": True,
                 "xray_flip": False, "xray_rotate_90": False, "xray_small_shift": True, "xray_brightness": True}


def test_value_answers_accept_equivalent_spellings(capsys):
    accepts(checks.check_curve_labels, RIGHT_LABELS)
    accepts(checks.check_curve_labels, {key: value.replace("fitting", "-fitting").upper().replace("HEALTHY", "good")
                                       for key, value in RIGHT_LABELS.items()})
    accepts(checks.check_augmentation_choices, RIGHT_CHOICES)
    accepts(checks.check_augmentation_choices, {key: np.bool_(value) for key, value in RIGHT_CHOICES.items()})
    accepts(checks.check_augmentation_choices, {key: "yes" if value else "no" for key, value in RIGHT_CHOICES.items()})
    assert capsys.readouterr().out.count("✓") == 5


@pytest.mark.parametrize("wrong", [
    {**RIGHT_LABELS, "A": "overfitting", "B": "underfitting"},                   # the two swapped
    {key: "healthy" for key in RIGHT_LABELS},                                   # "training loss falls: fine"
    {**RIGHT_LABELS, "D": "healthy"},                                           # a low training loss is not health
    {**RIGHT_LABELS, "E": "healthy"},                                           # still falling slowly
    {**RIGHT_LABELS, "C": "overfitting"},                                       # any gap read as over-fitting
    {key: value for key, value in RIGHT_LABELS.items() if key != "C"},          # a curve left out
    {**RIGHT_LABELS, "B": "bad"},                                               # not one of the labels
    [("A", "underfitting")],                                                    # not a dict
])
def test_curve_labels_rejects_without_revealing_the_answer(wrong):
    message = rejects(checks.check_curve_labels, wrong)
    for label in ("'underfitting'", "'overfitting'", "'healthy'"):
        assert message.count(label) <= 1                                         # the label list, at most
    assert "A:" not in message and "should be 'h" not in message


@pytest.mark.parametrize("wrong", [
    {key: True for key in RIGHT_CHOICES},                                       # everything allowed
    {**RIGHT_CHOICES, "xray_flip": True},                                       # mirrored chest X-ray
    {**RIGHT_CHOICES, "xray_rotate_90": True},
    {**RIGHT_CHOICES, "cell_flip": False},                                      # a cell has no left or right
    {**RIGHT_CHOICES, "histology_rotate_90": False},
    {key: not value for key, value in RIGHT_CHOICES.items()},
    {key: None for key in RIGHT_CHOICES},                                       # the untouched template
])
def test_augmentation_choices_rejects_without_revealing_the_answer(wrong):
    message = rejects(checks.check_augmentation_choices, wrong, match="not right")
    assert "True" not in message and "False" not in message and "xray_flip" not in message


# ---------------------------------------------------------------------------- early stopping
def early_stopping_loop(val_losses, weights, patience):
    best, best_epoch, waited = float("inf"), 0, 0
    for epoch, loss in enumerate(val_losses):
        if loss < best:
            best, best_epoch, waited = loss, epoch, 0
        else:
            waited += 1
            if waited == patience:
                return best_epoch, epoch, weights[best_epoch]
    return best_epoch, len(val_losses) - 1, weights[best_epoch]


def early_stopping_helper(val_losses, weights, patience):
    monitor = ref.EarlyStopping(patience)
    for epoch, loss in enumerate(val_losses):
        if monitor.update(loss, weights[epoch]):
            return monitor.best_epoch, epoch, monitor.best_weights
    return monitor.best_epoch, len(val_losses) - 1, monitor.best_weights


@pytest.mark.parametrize("answer", [early_stopping_loop, early_stopping_helper])
@pytest.mark.parametrize("seed, patience", [(0, 3), (4, 5), (9, 1), (2, 2)])
def test_early_stopping_accepts(answer, seed, patience):
    accepts(checks.check_early_stopping, answer, seed=seed, patience=patience)


def first_rise(val_losses, weights, patience):
    for epoch in range(1, len(val_losses)):
        if val_losses[epoch] > val_losses[epoch - 1]:
            return epoch - 1, epoch, weights[epoch - 1]
    return len(val_losses) - 1, len(val_losses) - 1, weights[-1]


def last_weights(val_losses, weights, patience):
    best_epoch, stop_epoch, _ = early_stopping_loop(val_losses, weights, patience)
    return best_epoch, stop_epoch, weights[stop_epoch]


def one_late(val_losses, weights, patience):
    return early_stopping_loop(val_losses, weights, patience + 1)


def one_early(val_losses, weights, patience):
    return early_stopping_loop(val_losses, weights, max(patience - 1, 0))


def global_best(val_losses, weights, patience):
    best_epoch, stop_epoch, _ = early_stopping_loop(val_losses, weights, patience)
    best_epoch = int(np.argmin(val_losses))
    return best_epoch, stop_epoch, weights[best_epoch]


def never_reset(val_losses, weights, patience):            # counts every non-improving epoch since the start
    best, best_epoch, waited = float("inf"), 0, 0
    for epoch, loss in enumerate(val_losses):
        if loss < best:
            best, best_epoch = loss, epoch
        else:
            waited += 1
            if waited >= patience:
                return best_epoch, epoch, weights[best_epoch]
    return best_epoch, len(val_losses) - 1, weights[best_epoch]


@pytest.mark.parametrize("answer, words", [
    (first_rise, ["first epoch whose loss rose"]),
    (last_weights, ["last epoch"]),
    (one_late, ["one epoch too late"]),
    (one_early, ["one epoch too early"]),
    (never_reset, ["should stop after epoch"]),
    (lambda losses, weights, patience: (0, 0), ["should return a tuple"]),
    (unwritten, ["not written yet"]),
])
def test_early_stopping_rejects(answer, words):
    rejects(checks.check_early_stopping, answer, match=words)


def test_early_stopping_rejects_a_look_into_the_future():
    rejects(checks.check_early_stopping, global_best, seed=4, num_epochs=40, patience=5)


# ------------------------------------------------------------------------ Keras callback
def test_early_stopping_callback_accepts(capsys):
    accepts(checks.check_early_stopping_callback, lambda patience: keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=patience, restore_best_weights=True), patience=5)
    accepts(checks.check_early_stopping_callback, lambda p: keras.callbacks.EarlyStopping(
                "val_loss", patience=p, mode="min", restore_best_weights=True, verbose=0), patience=2, seed=3)
    assert capsys.readouterr().out.count("✓") == 2


@pytest.mark.parametrize("answer, words", [
    (lambda p: keras.callbacks.EarlyStopping(patience=p, restore_best_weights=True, monitor="loss"), ["validation"]),
    (lambda p: keras.callbacks.EarlyStopping(monitor="val_loss", patience=p), ["restore_best_weights"]),
    (lambda p: keras.callbacks.EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True),
     ["patience=10"]),
    (lambda p: keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=p, restore_best_weights=True),
     ["val_accuracy"]),
    (lambda p: keras.callbacks.EarlyStopping(monitor="val_loss", patience=p, restore_best_weights=True,
                                             min_delta=0.5), ["min_delta"]),
    (lambda p: keras.callbacks.ModelCheckpoint("best.keras"), ["EarlyStopping"]),
    (lambda p: None, ["NoneType"]),
    (unwritten, ["not written yet"]),
])
def test_early_stopping_callback_rejects(answer, words):
    rejects(checks.check_early_stopping_callback, answer, match=words, patience=5)


# ----------------------------------------------------------------------------- penalties
def l2_dot(W, l2):
    flat = W.ravel()
    return l2 * np.dot(flat, flat), l2 * W * 2


def l2_float32(W, l2):
    W = W.astype(np.float32)
    return np.float32(l2) * np.sum(W * W), (2 * np.float32(l2)) * W


def l2_inplace(W, l2):
    penalty = l2 * np.linalg.norm(W) ** 2
    W *= 2 * l2                                      # reuses the input's memory
    return penalty, W


@pytest.mark.parametrize("answer", [lambda W, l2: ref.l2_penalty(W, l2), l2_dot, l2_float32, l2_inplace])
def test_l2_penalty_accepts(answer):
    accepts(checks.check_l2_penalty, answer)
    accepts(checks.check_l2_penalty, answer, seed=3, rows=1, columns=7, l2=0.3)


@pytest.mark.parametrize("answer, words", [
    (lambda W, l2: (0.5 * l2 * np.sum(W ** 2), l2 * W), ["1/2"]),
    (lambda W, l2: (l2 * np.sum(W ** 2), l2 * W), ["factor 2"]),
    (lambda W, l2: (l2 * np.mean(W ** 2), 2 * l2 * W), ["mean"]),
    (lambda W, l2: (l2 * np.linalg.norm(W), 2 * l2 * W), ["square root"]),
    (lambda W, l2: (l2 * np.sum(np.abs(W)), l2 * np.sign(W)), ["L1"]),
    (lambda W, l2: (l2 * np.sum(W ** 2), -2 * l2 * W), ["sign"]),
    (lambda W, l2: (l2 * np.sum(W ** 2), 2 * l2 * W.T), ["shape"]),
    (lambda W, l2: l2 * np.sum(W ** 2), ["tuple"]),
])
def test_l2_penalty_rejects(answer, words):
    rejects(checks.check_l2_penalty, answer, match=words)


def elastic_float32(W, l1, l2):
    W = np.asarray(W, dtype=np.float32)
    return l1 * np.abs(W).sum() + l2 * (W ** 2).sum(), l1 * np.sign(W) + 2 * l2 * W


def elastic_where(W, l1, l2):
    sign = np.where(W > 0, 1.0, np.where(W < 0, -1.0, 0.0))
    return l1 * np.sum(np.abs(W)) + l2 * np.sum(W * W), l1 * sign + 2 * l2 * W


@pytest.mark.parametrize("answer", [ref.elastic_net_penalty, elastic_float32, elastic_where])
@pytest.mark.parametrize("kwargs", [{}, {"seed": 5, "rows": 3, "columns": 5, "l1": 0.1, "l2": 0.0}])
def test_elastic_net_accepts(answer, kwargs):
    accepts(checks.check_elastic_net_penalty, answer, **kwargs)


@pytest.mark.parametrize("answer, words", [
    (lambda W, l1, l2: ref.elastic_net_penalty(W, l2, l1), ["swapped"]),
    (lambda W, l1, l2: (ref.elastic_net_penalty(W, l1, l2)[0], l1 * np.abs(W) + 2 * l2 * W), ["sign(w)"]),
    (lambda W, l1, l2: (ref.elastic_net_penalty(W, l1, l2)[0], l1 * W + 2 * l2 * W), ["sign(w)"]),
    (lambda W, l1, l2: (ref.elastic_net_penalty(W, l1, l2)[0], l1 * np.sign(W) + l2 * W), ["factor 2"]),
    (lambda W, l1, l2: (ref.l1_penalty(W, l1)[0], ref.elastic_net_penalty(W, l1, l2)[1]), ["only the L1"]),
    (lambda W, l1, l2: (ref.elastic_net_penalty(W, l1, l2)[0], 2 * l2 * W), ["l1 * sign(W)"]),
    (lambda W, l1, l2: (l1 * np.sum(np.abs(W)) + 0.5 * l2 * np.sum(W ** 2), l1 * np.sign(W) + l2 * W), ["1/2"]),
])
def test_elastic_net_rejects(answer, words):
    rejects(checks.check_elastic_net_penalty, answer, match=words)


# ------------------------------------------------------------------------ logistic loss
def logistic_logaddexp(w, b, X, y, l1, l2):
    z = X @ w + b
    p = 0.5 * (1 + np.tanh(z / 2))                   # the sigmoid, written another way
    grad = (p - y) / len(y)
    return (np.mean(np.logaddexp(0, z) - y * z) + l1 * np.abs(w).sum() + l2 * w @ w,
            np.dot(X.T, grad) + l1 * np.sign(w) + 2 * l2 * w, grad.sum())


@pytest.mark.parametrize("answer", [ref.logistic_loss, logistic_logaddexp])
def test_logistic_loss_accepts(answer):
    accepts(checks.check_logistic_loss, answer)
    accepts(checks.check_logistic_loss, answer, seed=3, num_examples=3, input_dim=1, l1=0.2, l2=0.0)


def _naive(w, b, X, y, l1, l2):
    p = 1 / (1 + np.exp(-(X @ w + b)))
    with np.errstate(all="ignore"):
        loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    return (loss + ref.elastic_net_penalty(w, l1, l2)[0], X.T @ (p - y) / len(y) + ref.elastic_net_penalty(w, l1, l2)[1],
            np.mean(p - y))


def _shifted(change):
    def answer(w, b, X, y, l1, l2):
        loss, dw, db = ref.logistic_loss(w, b, X, y, l1, l2)
        return change(loss, dw, db, w, b, X, y, l1, l2)
    return answer


@pytest.mark.parametrize("answer, words", [
    (_naive, ["stable"]),
    (_shifted(lambda loss, dw, db, w, b, X, y, l1, l2: (ref.logistic_loss(w, b, X, y)[0], dw, db)),
     ["penalty is missing"]),
    (_shifted(lambda loss, dw, db, w, b, X, y, l1, l2: (loss, ref.logistic_loss(w, b, X, y)[1], db)),
     ["missing from dw"]),
    (_shifted(lambda loss, dw, db, w, b, X, y, l1, l2: (loss + l1 * abs(b) + l2 * b ** 2, dw,
                                                        db + l1 * np.sign(b) + 2 * l2 * b)), ["bias is penalised"]),
    (_shifted(lambda loss, dw, db, w, b, X, y, l1, l2: (loss, -dw, db)), ["sign"]),
    (_shifted(lambda loss, dw, db, w, b, X, y, l1, l2: ((loss - ref.elastic_net_penalty(w, l1, l2)[0]) * len(y)
                                                        + ref.elastic_net_penalty(w, l1, l2)[0], dw, db)), ["mean"]),
    (_shifted(lambda loss, dw, db, w, b, X, y, l1, l2: (loss, dw, -db)), ["sign"]),
])
def test_logistic_loss_rejects(answer, words):
    rejects(checks.check_logistic_loss, answer, match=words)


# --------------------------------------------------------------------------------- dropout
def dropout_float32(x, rate, training, seed=0):
    x = np.asarray(x, dtype=np.float32)
    if not training:
        return x.copy(), {"training": False}
    keep = (np.random.default_rng(seed).random(x.shape) >= rate).astype(np.float32)
    return x * keep / np.float32(1 - rate), {"training": True, "mask": keep, "rate": rate}


def dropout_backward_dict(dout, cache):
    return dout * cache["mask"] / (1 - cache["rate"]) if cache["training"] else dout


def dropout_other_rng(x, rate, training, seed=0):           # another generator: any fair mask passes
    if not training:
        return x, None
    mask = (np.random.RandomState(seed).uniform(size=x.shape) > rate) / (1 - rate)
    return x * mask, mask


@pytest.mark.parametrize("forward, backward", [(ref_layers.dropout_forward, ref_layers.dropout_backward),
                                               (dropout_float32, dropout_backward_dict),
                                               (dropout_other_rng, ref_layers.dropout_backward)])
@pytest.mark.parametrize("rate", [0.2, 0.75])
def test_dropout_accepts(forward, backward, rate):
    accepts(checks.check_dropout_forward, forward, seed=3, rate=rate)
    accepts(checks.check_dropout_backward, forward, backward, seed=5, rate=rate)


def _dropout(scale_train=lambda rate: 1 / (1 - rate), keep_share=lambda rate: 1 - rate,
             test=lambda x, rate: x):
    def forward(x, rate, training, seed=0):
        if not training:
            return test(x, rate), None
        keep = np.random.default_rng(seed).random(x.shape) < keep_share(rate)
        return x * keep * scale_train(rate), keep * scale_train(rate)
    return forward


@pytest.mark.parametrize("answer, words", [
    (_dropout(scale_train=lambda rate: 1.0, test=lambda x, rate: x * (1 - rate)), ["1 - rate", "old"]),
    (_dropout(scale_train=lambda rate: 1.0), ["not scaled"]),
    (_dropout(keep_share=lambda rate: rate), ["swapped"]),
    (_dropout(scale_train=lambda rate: 1 - rate), ["multiplied by 1 - rate"]),
    (_dropout(scale_train=lambda rate: 1 / rate, keep_share=lambda rate: rate), ["swapped"]),
    (_dropout(test=lambda x, rate: x / (1 - rate)), ["nothing is scaled"]),
    (lambda x, rate, training, seed=0: ref_layers.dropout_forward(x, rate, True, seed), ["test"]),
    (unwritten, ["not written yet"]),
])
def test_dropout_forward_rejects(answer, words):
    rejects(checks.check_dropout_forward, answer, match=words)


@pytest.mark.parametrize("backward, words", [
    (lambda dout, cache: dout if cache is None else dout * (cache != 0), ["not the 1 / (1 - rate)"]),
    (lambda dout, cache: dout, ["not applied"]),
    (lambda dout, cache: dout if cache is None else dout * (cache == 0) / 0.6, ["inverted"]),
    (lambda dout, cache: dout * 0.6 if cache is None else dout * cache, ["unscaled"]),
    (lambda dout, cache: dout if cache is None else dout / cache, ["dx (training)"]),
    (unwritten, ["not written yet"]),
])
def test_dropout_backward_rejects(backward, words):
    rejects(functools.partial(checks.check_dropout_backward, ref_layers.dropout_forward), backward, match=words)


def test_dropout_backward_asks_for_a_working_forward_first():
    rejects(functools.partial(checks.check_dropout_backward, _dropout(scale_train=lambda rate: 1.0)),
            ref_layers.dropout_backward, match="fix it first")


# ----------------------------------------------------------------------------- batch norm
def batchnorm_einsum(x, gamma, beta, state, training, momentum=0.99, epsilon=1e-3):
    x = np.asarray(x, dtype=np.float32)
    if training:
        mean = np.einsum("nd->d", x) / len(x)
        var = np.einsum("nd,nd->d", x - mean, x - mean) / len(x)
        state["moving_mean"] *= momentum
        state["moving_mean"] += (1 - momentum) * mean                # in place, the arrays themselves
        state["moving_var"] *= momentum
        state["moving_var"] += (1 - momentum) * var
    else:
        mean, var = state["moving_mean"], state["moving_var"]
    x_hat = (x - mean) / np.sqrt(var + epsilon)
    return gamma * x_hat + beta, (x, x_hat, mean, var, gamma, epsilon)


def batchnorm_backward_steps(dout, cache):                      # the long way, node by node
    x, x_hat, mean, var, gamma, epsilon = cache
    N = x.shape[0]
    dx_hat = dout * gamma
    dvar = np.sum(dx_hat * (x - mean) * -0.5 * (var + epsilon) ** -1.5, axis=0)
    dmean = np.sum(-dx_hat / np.sqrt(var + epsilon), axis=0) + dvar * np.mean(-2 * (x - mean), axis=0)
    dx = dx_hat / np.sqrt(var + epsilon) + dvar * 2 * (x - mean) / N + dmean / N
    return dx, np.sum(dout * x_hat, axis=0), np.sum(dout, axis=0)


def _ref_bn(x, gamma, beta, state, training):
    return ref_layers.batchnorm_forward(x, gamma, beta, state, training)


@pytest.mark.parametrize("forward, backward", [(_ref_bn, ref_layers.batchnorm_backward),
                                               (batchnorm_einsum, batchnorm_backward_steps)])
def test_batchnorm_accepts(forward, backward):
    for kwargs in ({}, {"seed": 6, "num_examples": 3, "num_features": 7}):
        accepts(checks.check_batchnorm_forward, forward, **kwargs)
    accepts(checks.check_batchnorm_backward, forward, backward, seed=9, num_examples=20, num_features=6)


def _bn(ddof=0, momentum=0.99, epsilon=1e-3, update=True, test_batch=False, sqrt=True, axis=0):
    def forward(x, gamma, beta, state, training):
        if training or test_batch:
            mean, var = x.mean(axis=axis, keepdims=axis == 1), x.var(axis=axis, ddof=ddof, keepdims=axis == 1)
            if training and update:
                state["moving_mean"] = momentum * state["moving_mean"] + (1 - momentum) * mean
                state["moving_var"] = momentum * state["moving_var"] + (1 - momentum) * var
        else:
            mean, var = state["moving_mean"], state["moving_var"]
        spread = np.sqrt(var + epsilon) if sqrt else var + epsilon
        return gamma * (x - mean) / spread + beta, None
    return forward


@pytest.mark.parametrize("answer, words", [
    (_bn(ddof=1), ["N - 1"]),
    (_bn(momentum=0.01), ["0.99 of the old"]),
    (_bn(epsilon=0.0), ["epsilon"]),
    (_bn(update=False), ["did not change"]),
    (_bn(test_batch=True), ["batch's own statistics"]),
    (_bn(sqrt=False), ["standard deviation"]),
    (_bn(axis=1), ["per example"]),
    (lambda x, gamma, beta, state, training: _bn()(x, beta, gamma, state, training), ["swapped"]),
])
def test_batchnorm_forward_rejects(answer, words):
    rejects(checks.check_batchnorm_forward, answer, match=words)


def _bn_backward(change):
    def backward(dout, cache):
        dx, dgamma, dbeta = ref_layers.batchnorm_backward(dout, cache)
        x_hat, gamma, inv_std, _ = cache
        return change(dx, dgamma, dbeta, dout, x_hat, gamma, inv_std)
    return backward


@pytest.mark.parametrize("backward, words", [
    (_bn_backward(lambda dx, dg, db, dout, x_hat, gamma, inv_std: (dout * gamma * inv_std, dg, db)), ["constants"]),
    (_bn_backward(lambda dx, dg, db, dout, x_hat, gamma, inv_std: (dx, db, dg)), ["swapped"]),
    (_bn_backward(lambda dx, dg, db, dout, x_hat, gamma, inv_std: (dx, dg, db / len(dout))), ["sum over the batch"]),
    (_bn_backward(lambda dx, dg, db, dout, x_hat, gamma, inv_std: (dx / gamma, dg, db)), ["gamma is missing"]),
    (_bn_backward(lambda dx, dg, db, dout, x_hat, gamma, inv_std: (dx, dg / len(dout), db)), ["sum over the batch"]),
    (_bn_backward(lambda dx, dg, db, dout, x_hat, gamma, inv_std: (dx.T, dg, db)), ["shape"]),
    (unwritten, ["not written yet"]),
])
def test_batchnorm_backward_rejects(backward, words):
    rejects(functools.partial(checks.check_batchnorm_backward, _ref_bn), backward, match=words)


# ------------------------------------------------------------------------- initialisation
def init_keras_exact(fan_in, fan_out, scheme, seed=0):
    return ref.initialize(fan_in, fan_out, scheme, seed)


def init_float32(fan_in, fan_out, scheme, seed=0):
    rng = np.random.default_rng(seed)
    fan = fan_in + fan_out if "glorot" in scheme else fan_in
    if "uniform" in scheme:
        return (rng.random((fan_in, fan_out), dtype=np.float32) * 2 - 1) * np.float32(np.sqrt(6 / fan))
    return rng.standard_normal((fan_in, fan_out), dtype=np.float32) * np.float32(np.sqrt(2 / fan))


@pytest.mark.parametrize("answer", [init_keras_exact, init_float32])
def test_init_weights_accepts(answer):
    accepts(checks.check_init_weights, answer)
    accepts(checks.check_init_weights, answer, fan_in=60, fan_out=90, seed=3)


def _init(std=lambda fan_in, fan_out, scheme: regularization_std(fan_in, fan_out, scheme), uniform_limit=np.sqrt(3),
          kind=None, use_seed=True):
    def answer(fan_in, fan_out, scheme, seed=0):
        rng = np.random.default_rng(seed if use_seed else None)
        scale = std(fan_in, fan_out, scheme)
        if (kind or scheme.split("_")[1]) == "uniform":
            return rng.uniform(-uniform_limit * scale, uniform_limit * scale, size=(fan_in, fan_out))
        return rng.normal(0, scale, size=(fan_in, fan_out))
    return answer


def regularization_std(fan_in, fan_out, scheme):
    return ref.target_std(fan_in, fan_out, scheme)


@pytest.mark.parametrize("answer, words", [
    (lambda fan_in, fan_out, scheme, seed=0: np.random.default_rng(seed).random((fan_in, fan_out)),
     ["np.random.rand"]),
    (_init(std=lambda fi, fo, s: ref.target_std(fi, fo, "he_normal" if s.startswith("glorot") else "glorot_normal")),
     ["scale"]),
    (_init(std=lambda fi, fo, s: np.sqrt(2 / fo) if s.startswith("he") else ref.target_std(fi, fo, s)), ["fan_out"]),
    (_init(std=lambda fi, fo, s: ref.target_std(fi, fo, s) ** 2), ["variance"]),
    (_init(uniform_limit=1.0), ["sqrt(3)"]),
    (_init(std=lambda fi, fo, s: 1.0), ["standard normal"]),
    (_init(kind="normal"), ["limit"]),
    (_init(kind="uniform"), ["look uniform"]),
    (_init(use_seed=False), ["seed"]),
    (lambda fan_in, fan_out, scheme, seed=0: ref.initialize(fan_out, fan_in, scheme, seed), ["shape"]),
])
def test_init_weights_rejects(answer, words):
    rejects(checks.check_init_weights, answer, match=words)


# --------------------------------------------------------------------------- augmentation
def _augmentation(flip="horizontal_and_vertical", shift=0.1, value_range=(0.0, 1.0), extra=(), drop=(),
                  width_shift=None, brightness=0.15):
    layers = {"flip": keras.layers.RandomFlip(flip),
              "rotation": keras.layers.RandomRotation(0.25, fill_mode="reflect"),
              "shift": keras.layers.RandomTranslation(shift, shift if width_shift is None else width_shift,
                                                      fill_mode="reflect"),
              "brightness": keras.layers.RandomBrightness(brightness, value_range=value_range)}
    return keras.Sequential([layer for name, layer in layers.items() if name not in drop] + list(extra))


def test_augmentation_accepts(capsys):
    accepts(checks.check_augmentation_model, _augmentation())
    accepts(checks.check_augmentation_model, keras.Sequential([
                keras.Input((None, None, 1)), keras.layers.RandomRotation((-0.5, 0.5)), keras.layers.RandomFlip(),
                keras.layers.RandomBrightness((-0.1, 0.1), value_range=[0, 1]),
                keras.layers.RandomTranslation((-0.05, 0.05), 0.05)]), seed=5, num_images=4, image_size=32)
    assert capsys.readouterr().out.count("✓") == 2


@pytest.mark.parametrize("answer, words", [
    (_augmentation(value_range=(0, 255)), ["value_range=(0, 1)"]),
    (_augmentation(flip="horizontal"), ["horizontal_and_vertical"]),
    (_augmentation(shift=0.5), ["small"]),
    (_augmentation(width_shift=-0.9), ["small"]),                       # the width's shift counts too
    (_augmentation(brightness=-0.85), ["brightness"]),
    (_augmentation(value_range=(0.0, 2.0)), ["value_range=(0, 1)"]),
    (_augmentation(drop=("brightness",)), ["brightness"]),
    (_augmentation(drop=("rotation", "shift")), ["rotations", "small shifts"]),
    (_augmentation(extra=(keras.layers.RandomCrop(16, 16),)), ["image size"]),
    (None, ["NoneType"]),
])
def test_augmentation_rejects(answer, words):
    rejects(checks.check_augmentation_model, answer, match=words)


# ------------------------------------------------------------------ the grader's re-check
@pytest.mark.parametrize("source, right, wrong", [
    ("check_curve_labels(curve_labels)", RIGHT_LABELS, {**RIGHT_LABELS, "D": "healthy"}),
    ("check_dropout_forward(answer, seed=3, rate=0.2)", ref_layers.dropout_forward,
     _dropout(scale_train=lambda rate: 1.0)),
    ("check_early_stopping_callback(answer, patience=2)",
     lambda p: keras.callbacks.EarlyStopping(monitor="val_loss", patience=p, restore_best_weights=True),
     lambda p: keras.callbacks.EarlyStopping(monitor="val_loss", patience=p)),
    ("check_augmentation_model(answer, image_size=16)", _augmentation(), _augmentation(flip="vertical")),
])
def test_the_recheck_replays_the_record_and_reaches_the_same_verdict(tmp_path, source, right, wrong):
    from course_lib.checks import evidence
    from course_lib.grading import recheck as trusted

    name = source.split("(")[0]
    cell = f"from course_lib.checks.generalisation import {name}\n{source}\n"
    for answer, passes in ((right, True), (wrong, False)):
        record = tmp_path / f"{passes}.jsonl"
        previous, evidence._recorder = evidence._recorder, evidence.Recorder(str(record))
        try:
            exec(cell, {"answer": answer, "curve_labels": answer})
            here = True
        except CheckFailure:
            here = False
        finally:
            evidence._recorder = previous
        verdict = trusted.verdicts([("cell", cell)], record)["cell"]
        assert here is passes and verdict.replayed and verdict.passed is passes, verdict


def test_an_answer_that_calls_its_reference_earns_nothing():
    from course_lib import layers, regularization

    rejects(checks.check_l2_penalty, lambda W, l2: regularization.l2_penalty(W, l2), match=("No points", "l2_penalty"))
    rejects(functools.partial(checks.check_batchnorm_backward, _ref_bn), layers.batchnorm_backward, match="No points")
    rejects(checks.check_batchnorm_forward, lambda *args: layers.batchnorm_forward(*args), match="No points")
    rejects(functools.partial(checks.check_dropout_backward, layers.dropout_forward), ref_layers.dropout_backward,
            match=("No points", "dropout_forward"))
    rejects(checks.check_dropout_forward, layers.dropout_forward, match="No points")
