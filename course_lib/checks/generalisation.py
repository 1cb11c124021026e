"""Checks for unit 06: generalisation (learning curves, early stopping, penalties, dropout,
batch normalisation, initialisation, augmentation).

Every ``check_*`` builds its inputs from its literal arguments (seed, shapes, rates), calls
the student's code only through :func:`~course_lib.checks.calling.call_student` (or measures
it with :func:`~course_lib.checks.calling.observe`, or takes an answer that is a value with
:func:`~course_lib.checks.calling.student_value`), compares with the references in
:mod:`course_lib.regularization` and :mod:`course_lib.layers`, prints one line when it
passes and raises :class:`~course_lib.checks.compare.CheckFailure` naming the likely
mistake when it does not. So the grader can re-run every check outside the kernel
(``TRUSTED_REPLAY``).

Tolerances: values ``rtol=1e-5`` (float32 work passes); random quantities (the share of
dropped units, the spread of initial weights) are judged with bounds several standard
errors wide for the sample sizes used here.

Answers that are values on fixed inputs (the learning-curve labels, the augmentation
choices) are reported as a count of wrong entries: a failure never prints the expected
answer.
"""

from __future__ import annotations

import types
from typing import Any, Callable

import numpy as np

from .. import layers as ref_layers
from .. import regularization as ref
from .calling import call_student, observe, student_value
from .compare import CheckFailure, as_array, assert_close, assert_scalar, assert_shape, passed, random_state, unpack
from .evidence import graded_check

#: the grader may re-run these checks outside the kernel from recorded results
TRUSTED_REPLAY = True

#: the references that answer this unit's exercises: calling them from an answer earns nothing
#: (:mod:`.own_work`). The stable cross-entropy, the data and the plots stay allowed.
REFERENCES = ("course_lib.regularization.l2_penalty", "course_lib.regularization.l1_penalty",
              "course_lib.regularization.elastic_net_penalty", "course_lib.regularization.logistic_loss",
              "course_lib.regularization.initialize", "course_lib.regularization.early_stopping_epochs",
              "course_lib.regularization.EarlyStopping", "course_lib.layers.dropout_forward",
              "course_lib.layers.dropout_backward", "course_lib.layers.batchnorm_forward",
              "course_lib.layers.batchnorm_backward")

def _as_students(wrapper: Callable[..., Any]) -> Callable[..., Any]:
    """``wrapper`` (a check's small function that only calls the student's functions) with globals
    named outside ``course_lib``, so that the own-work rule counts its calls as the student's."""
    globals_ = {**wrapper.__globals__, "__name__": "__answer__"}
    return types.FunctionType(wrapper.__code__, globals_, wrapper.__name__, wrapper.__defaults__, wrapper.__closure__)


# ==================================================================== learning curves
CURVE_LABELS = ("underfitting", "overfitting", "healthy")
_SYNONYMS = {"underfit": "underfitting", "under-fitting": "underfitting", "under fitting": "underfitting",
             "overfit": "overfitting", "over-fitting": "overfitting", "over fitting": "overfitting",
             "good": "healthy", "good fit": "healthy", "fine": "healthy"}


def learning_curves() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Five pairs of (training loss, validation loss) over 60 epochs, arrays (60,), for the diagnosis exercise."""
    epochs = np.arange(60.0)
    wiggle = 0.012 * np.sin(1.7 * epochs) + 0.008 * np.cos(3.1 * epochs)   # fixed "noise"
    decay = np.exp(-epochs / 8)
    return {
        "A": (0.62 + 0.08 * decay + wiggle * 0.5, 0.64 + 0.08 * decay + wiggle),
        "B": (0.05 + 0.6 * np.exp(-epochs / 6), 0.30 + 0.4 * np.exp(-epochs / 5) + 0.006 * epochs + wiggle),
        "C": (0.18 + 0.5 * decay + wiggle * 0.3, 0.21 + 0.5 * decay + wiggle),
        "D": (0.6 * np.exp(-epochs / 3) + 0.002, 0.55 + 0.2 * decay + wiggle),
        "E": (0.55 + 0.15 * np.exp(-epochs / 20), 0.57 + 0.15 * np.exp(-epochs / 20) + wiggle),
    }


_CURVE_TRUTH = {"A": "underfitting", "B": "overfitting", "C": "healthy", "D": "overfitting", "E": "underfitting"}


def _normalised_label(value: Any) -> str:
    text = str(value).strip().lower()
    return _SYNONYMS.get(text, text)


def _count_wrong(answers: Any, truth: dict[str, Any], what: str, normalise: Callable[[Any], Any]) -> int:
    """How many entries of the dict ``answers`` differ from ``truth``; fails clearly on a malformed dict."""
    if not isinstance(answers, dict):
        raise CheckFailure(f"{what} should be a dict, not a {type(answers).__name__}.")
    missing = [key for key in truth if key not in answers]
    if missing:
        raise CheckFailure(f"{what} has no entry for {missing}: answer every one of {list(truth)}.")
    return sum(normalise(answers[key]) != value for key, value in truth.items())


@graded_check
def check_curve_labels(curve_labels: dict[str, str]) -> None:
    """``curve_labels`` maps each curve of :func:`learning_curves` to 'underfitting', 'overfitting' or 'healthy'."""
    curve_labels = student_value("curve_labels", curve_labels)
    if isinstance(curve_labels, dict):
        unknown = [value for value in curve_labels.values() if _normalised_label(value) not in CURVE_LABELS]
        if unknown:
            raise CheckFailure(f"use only the labels {CURVE_LABELS}; got {unknown[0]!r}.")
    wrong = _count_wrong(curve_labels, _CURVE_TRUTH, "curve_labels", _normalised_label)
    if wrong:
        raise CheckFailure(
            f"{wrong} of the {len(_CURVE_TRUTH)} labels are not right.\nHint: under-fitting: both losses stay "
            "high and close together; over-fitting: the training loss keeps falling while the validation loss "
            "stops falling or rises, so the gap grows; healthy: both fall to a low level with a small gap.")
    passed(f"all {len(_CURVE_TRUTH)} learning curves are diagnosed correctly.")


# ===================================================================== early stopping
def early_stopping_problem(seed: int = 0, num_epochs: int = 30, num_weights: int = 4
                           ) -> tuple[np.ndarray, list[np.ndarray]]:
    """A noisy validation curve (E,) that falls, rises and dips again at the very end, and one weight vector
    (num_weights,) per epoch."""
    rng = random_state(seed)
    epochs = np.arange(num_epochs)
    turn = rng.integers(num_epochs // 4, num_epochs // 2)
    losses = 0.3 + 0.5 * np.exp(-epochs / 4) + 0.004 * np.maximum(epochs - turn, 0) ** 1.5
    late_dip = 1.0 / (1.0 + np.exp(-(epochs - 0.9 * num_epochs) / 1.5))   # a late second descent, past any stop
    losses = losses - (losses.max() - 0.2) * late_dip
    losses = np.round(losses + rng.normal(0, 0.02, num_epochs), 3)
    weights = [rng.normal(size=num_weights) for _ in epochs]
    return losses, weights


def _early_stopping_variants(losses: np.ndarray, patience: int) -> dict[str, tuple[int, int]]:
    """(best_epoch, stop_epoch) for the rule and for realistic wrong rules."""
    first_rise = next((epoch for epoch in range(1, len(losses)) if losses[epoch] > losses[epoch - 1]),
                      len(losses) - 1)
    return {"right": ref.early_stopping_epochs(losses, patience),
            "first rise": (first_rise - 1, first_rise),
            "patience + 1": ref.early_stopping_epochs(losses, patience + 1),
            "patience - 1": ref.early_stopping_epochs(losses, max(patience - 1, 0)),
            "ties reset": _stopping_on_ties(losses, patience)}


def _stopping_on_ties(losses: np.ndarray, patience: int) -> tuple[int, int]:
    """(best_epoch, stop_epoch) of the wrong rule that takes a loss equal to the best as a new best."""
    best_loss, best_epoch, waited = np.inf, 0, 0
    for epoch, loss in enumerate(losses):
        if loss <= best_loss:
            best_loss, best_epoch, waited = loss, epoch, 0
        else:
            waited += 1
            if waited >= patience:
                return best_epoch, epoch
    return best_epoch, len(losses) - 1


@graded_check
def check_early_stopping(early_stopping: Callable[..., Any], seed: int = 0, num_epochs: int = 30,
                         patience: int = 3) -> None:
    """Check ``early_stopping(val_losses, weights, patience) -> (best_epoch, stop_epoch, best_weights)``.

    val_losses (E,), weights a list of E arrays (D,) (the weights after each epoch); epochs count
    from 0. The rule is Keras's: stop after ``patience`` epochs in a row without a new best
    validation loss; return the best epoch's weights.
    """
    name = "early_stopping"
    losses, weights = early_stopping_problem(seed, num_epochs)
    best, stop = ref.early_stopping_epochs(losses, patience)
    if best + 1 < stop:
        losses[best + 1] = losses[best]      # a tie with the best: not a new best (strictly lower only)
    result = call_student(early_stopping, losses, weights, patience, name=name)
    best_epoch, stop_epoch, best_weights = unpack(name, result, ("best_epoch", "stop_epoch", "best_weights"))
    variants = _early_stopping_variants(losses, patience)
    expected_best, expected_stop = variants["right"]
    got = (int(assert_scalar("best_epoch", best_epoch)), int(assert_scalar("stop_epoch", stop_epoch)))
    if got != (expected_best, expected_stop):
        reason = {"first rise": "training stopped at the first epoch whose loss rose: that is noise, not "
                                "over-fitting. Wait `patience` epochs without a new best before stopping.",
                  "patience + 1": "one epoch too late: stop when the count of epochs without improvement "
                                  "reaches `patience` (>=), not when it exceeds it.",
                  "patience - 1": "one epoch too early: count every epoch without improvement since the best, "
                                  "and stop when the count reaches `patience`.",
                  "ties reset": "a loss equal to the best is not an improvement: a new best must be strictly "
                                "lower (`<`, not `<=`)."}
        diagnosis = next((text for label, text in reason.items() if variants[label] == got
                          and variants[label] != variants["right"]), None)
        if got[0] == int(np.argmin(losses)) and got[0] > expected_stop:
            diagnosis = "the best epoch was looked up over all epochs, even those after training had stopped."
        raise CheckFailure(
            f"with patience={patience} and the validation losses of seed {seed}, training should stop after "
            f"epoch {expected_stop} with the best epoch {expected_best}; the answer gives stop {got[1]}, best "
            f"{got[0]}.\n" + (f"Likely mistake: {diagnosis}" if diagnosis else
                              "Hint: keep the best loss so far and a counter of epochs since it; a new best "
                              "(strictly lower) resets the counter."))
    best_weights = as_array("best_weights", best_weights)
    assert_close("best_weights", best_weights, weights[expected_best], diagnoses=[
        (weights[expected_stop], "these are the weights of the last epoch trained; return (a copy of) the "
                                 "weights of the best epoch."),
        (weights[min(expected_best + 1, num_epochs - 1)], "the weights of the epoch after the best one.")])
    passed(f"{name}: stops after epoch {expected_stop} (patience {patience}), best epoch {expected_best}, "
           "its weights returned.")


def _early_stopping_run(callback: Any, losses: list[float]) -> dict[str, Any]:
    """Feed ``losses`` as val_loss to a Keras callback; what it decided (kernel side, needs Keras)."""
    import keras

    config = {"type": type(callback).__name__, "module": type(callback).__module__,
              "monitor": getattr(callback, "monitor", None), "patience": getattr(callback, "patience", None),
              "restore_best_weights": getattr(callback, "restore_best_weights", None)}
    if not isinstance(callback, keras.callbacks.EarlyStopping):
        return {**config, "is_early_stopping": False}
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.stop_training = False
    callback.set_model(model)
    callback.on_train_begin()
    stop = len(losses) - 1
    try:
        for epoch, loss in enumerate(losses):
            callback.on_epoch_end(epoch, {"loss": 0.1, "val_loss": loss, "accuracy": 0.9, "val_accuracy": 0.8})
            if model.stop_training:
                stop = epoch
                break
    except Exception as error:       # e.g. a monitor whose direction Keras cannot guess
        return {**config, "is_early_stopping": True, "error": f"{type(error).__name__}: {error}"}
    return {**config, "is_early_stopping": True, "stop_epoch": stop, "best_epoch": int(callback.best_epoch)}


@graded_check
def check_early_stopping_callback(make_early_stopping: Callable[..., Any], patience: int = 5,
                                  seed: int = 0) -> None:
    """``make_early_stopping(patience)`` returns a Keras ``EarlyStopping`` on val_loss that restores the best weights."""
    name = "make_early_stopping"
    losses, _ = early_stopping_problem(seed, 40)
    losses = [float(loss) for loss in losses]

    def measure() -> dict[str, Any]:
        from .calling import run_student

        return _early_stopping_run(run_student(make_early_stopping, patience, name=name), losses)

    seen = observe(name, measure, np.asarray(losses), patience)
    if not seen["is_early_stopping"]:
        raise CheckFailure(f"`{name}` should return keras.callbacks.EarlyStopping(...); it returned a "
                           f"{seen['type']}.")
    if seen["monitor"] != "val_loss":
        raise CheckFailure(f"the callback monitors {seen['monitor']!r}; early stopping watches the *validation* "
                           "loss: monitor='val_loss' (the training loss keeps falling while the model over-fits).")
    if seen["patience"] != patience:
        raise CheckFailure(f"the callback has patience={seen['patience']}; use the argument: "
                           f"patience={patience} here.")
    if not seen["restore_best_weights"]:
        raise CheckFailure("restore_best_weights is off, so the model keeps the weights of the last epoch, "
                           f"{patience} epochs past the best one. Pass restore_best_weights=True.")
    if "error" in seen:
        raise CheckFailure(f"the callback failed on a test curve: {seen['error']}")
    expected = ref.early_stopping_epochs(losses, patience)
    if (seen["best_epoch"], seen["stop_epoch"]) != expected:
        raise CheckFailure(f"on a test curve the callback stopped after epoch {seen['stop_epoch']} (best "
                           f"{seen['best_epoch']}); the rule gives {expected[1]} (best {expected[0]}). Keep the "
                           "other settings at their defaults (min_delta=0, mode='auto').")
    passed(f"{name}: EarlyStopping(monitor='val_loss', patience={patience}, restore_best_weights=True).")


# ========================================================================== penalties
def _weights(seed: int, rows: int, columns: int) -> np.ndarray:
    return random_state(seed).normal(size=(rows, columns))


def _penalty_result(name: str, result: Any, shape: tuple[int, int]) -> tuple[float, np.ndarray]:
    penalty, dW = unpack(name, result, ("penalty", "dW"))
    return assert_scalar("penalty", penalty), assert_shape("dW", dW, shape, hint="dW has the shape of W.")


@graded_check
def check_l2_penalty(l2_penalty: Callable[..., Any], seed: int = 0, rows: int = 4, columns: int = 3,
                     l2: float = 0.05) -> None:
    """Check ``l2_penalty(W, l2) -> (penalty, dW)`` against ``keras.regularizers.L2``'s convention.

    W (rows, columns); penalty ``l2 * sum(W**2)`` (a float); dW ``2 * l2 * W`` (rows, columns).
    """
    name = "l2_penalty"
    W = _weights(seed, rows, columns)
    penalty, dW = _penalty_result(name, call_student(l2_penalty, W, l2, name=name), W.shape)
    expected, dexpected = ref.l2_penalty(W, l2)
    assert_close("penalty", penalty, expected, diagnoses=[
        (expected / 2, "this is (l2 / 2) * sum(W**2), another textbook's convention; Keras's L2(l2) adds "
                       "l2 * sum(W**2) with no 1/2."),
        (expected / W.size, "a mean over the weights; the penalty is a sum."),
        (l2 * np.sqrt(np.sum(W ** 2)), "the norm without squaring: sum the squares, no square root."),
        (l2 * np.sum(np.abs(W)), "that is the L1 penalty (absolute values); L2 squares the weights.")])
    assert_close("dW", dW, dexpected, diagnoses=[
        (l2 * W, "the derivative of l2 * W**2 is 2 * l2 * W: the factor 2 is missing."),
        (2 * l2 * np.sum(W) * np.ones_like(W), "every entry gets its own gradient, 2 * l2 * W[i, j]; no sum."),
        (l2 * np.sign(W), "that is the L1 gradient; L2's is 2 * l2 * W."),
        (-dexpected, "the sign: the penalty grows with |W|, so its gradient points along W.")])
    passed(f"{name}: penalty and gradient match keras.regularizers.L2({l2}) on W {W.shape}.")


@graded_check
def check_elastic_net_penalty(elastic_net_penalty: Callable[..., Any], seed: int = 0, rows: int = 4,
                              columns: int = 3, l1: float = 0.02, l2: float = 0.05) -> None:
    """Check ``elastic_net_penalty(W, l1, l2) -> (penalty, dW)`` as ``keras.regularizers.L1L2(l1, l2)``.

    W (rows, columns); penalty ``l1 * sum|W| + l2 * sum W**2``; dW ``l1 * sign(W) + 2 * l2 * W``.
    """
    name = "elastic_net_penalty"
    W = _weights(seed, rows, columns)
    W[0, 0] = 0.0                                  # the L1 gradient at exactly 0 is taken as 0, as np.sign does
    penalty, dW = _penalty_result(name, call_student(elastic_net_penalty, W, l1, l2, name=name), W.shape)
    expected, dexpected = ref.elastic_net_penalty(W, l1, l2)
    assert_close("penalty", penalty, expected, diagnoses=[
        (ref.elastic_net_penalty(W, l2, l1)[0], "l1 and l2 are swapped: l1 multiplies sum|W|, l2 sum W**2."),
        (l1 * np.sum(np.abs(W)), "only the L1 part: add l2 * sum(W**2)."),
        (l2 * np.sum(W ** 2), "only the L2 part: add l1 * sum(|W|)."),
        (l1 * np.sum(np.abs(W)) + l2 * np.sum(W ** 2) / 2, "the L2 part has a 1/2 that Keras does not use.")])
    assert_close("dW", dW, dexpected, diagnoses=[
        (l1 * np.abs(W) + 2 * l2 * W, "the derivative of |w| is sign(w), not |w|."),
        (l1 * W + 2 * l2 * W, "the derivative of |w| is sign(w) (+1 or -1), not w."),
        (l1 * np.sign(W) + l2 * W, "the L2 part's derivative is 2 * l2 * W: the factor 2 is missing."),
        (ref.elastic_net_penalty(W, l2, l1)[1], "l1 and l2 are swapped."),
        (2 * l2 * W, "the L1 part's gradient, l1 * sign(W), is missing.")])
    passed(f"{name}: penalty and gradient match keras.regularizers.L1L2(l1={l1}, l2={l2}).")


# ================================================================ regularised logistic loss
def logistic_problem(seed: int, num_examples: int, input_dim: int, scale: float = 1.0):
    """X (N, D), y (N,) in {0, 1}, w (D,) and b for the logistic-loss check."""
    rng = random_state(seed)
    X = rng.normal(size=(num_examples, input_dim)) * scale
    y = (rng.random(num_examples) < 0.5).astype(np.float64)
    return X, y, rng.normal(size=input_dim), float(rng.normal())


@graded_check
def check_logistic_loss(logistic_loss: Callable[..., Any], seed: int = 0, num_examples: int = 8,
                        input_dim: int = 3, l1: float = 0.01, l2: float = 0.1) -> None:
    """Check ``logistic_loss(w, b, X, y, l1, l2) -> (loss, dw, db)``: mean BCE on logits plus elastic net on w.

    w (D,), b a float, X (N, D), y (N,); dw (D,), db a float. Also checks a case with very large
    logits, where an unstable formula returns inf or NaN.
    """
    name = "logistic_loss"
    for scale in (1.0, 300.0):
        X, y, w, b = logistic_problem(seed, num_examples, input_dim, scale)
        result = call_student(logistic_loss, w, b, X, y, l1, l2, name=name)
        loss, dw, db = unpack(name, result, ("loss", "dw", "db"))
        loss, db = assert_scalar("loss", loss), assert_scalar("db", db)
        if scale > 1 and not np.isfinite(loss):
            raise CheckFailure(f"with large logits (|X @ w + b| in the hundreds) the loss is {loss}.\nLikely "
                               "mistake: log(sigmoid(z)) underflows to log(0). Use the stable form "
                               "max(z, 0) - z * y + log1p(exp(-|z|)) (or np.logaddexp(0, z) - z * y).")
        expected, dexpected, dbexpected = ref.logistic_loss(w, b, X, y, l1, l2)
        data_loss, ddata, _ = ref.logistic_loss(w, b, X, y)
        penalty, dpenalty = ref.elastic_net_penalty(w, l1, l2)
        assert_close("loss", loss, expected, diagnoses=[
            (data_loss, "the penalty is missing from the loss: add l1 * sum|w| + l2 * sum(w**2)."),
            (data_loss * num_examples + penalty, "a sum of the cross-entropies; take their mean over the N examples."),
            (expected + l1 * abs(b) + l2 * b ** 2, "the bias is penalised too; penalise the weights w only.")])
        assert_close("dw", dw, dexpected, diagnoses=[
            (ddata, "the penalty's gradient is missing from dw: add l1 * sign(w) + 2 * l2 * w."),
            (-dexpected, "the sign: the gradient of the mean BCE is X.T @ (sigmoid(z) - y) / N."),
            (ddata * num_examples + dpenalty, "the cross-entropy part is a sum over examples; divide by N.")])
        assert_close("db", db, dbexpected, diagnoses=[
            (dbexpected + l1 * np.sign(b) + 2 * l2 * b, "the bias is penalised too; penalise w only."),
            (-dbexpected, "the sign: db = sum(sigmoid(z) - y) / N.")])
    passed(f"{name}: mean cross-entropy plus elastic net on w, stable for large logits, with the right gradients.")


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


# ======================================================================= augmentation
#: which augmentation keeps an image realistic (True) or makes one that cannot occur (False)
_AUGMENTATION_TRUTH = {"cell_flip": True, "cell_rotate_90": True, "cell_small_shift": True,
                       "histology_rotate_90": True, "xray_flip": False, "xray_rotate_90": False,
                       "xray_small_shift": True, "xray_brightness": True}
AUGMENTATION_QUESTIONS = tuple(_AUGMENTATION_TRUTH)


def _as_bool(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().lower()
    return {"true": True, "yes": True, "false": False, "no": False}.get(text, text)


@graded_check
def check_augmentation_choices(augmentation_choices: dict[str, bool]) -> None:
    """``augmentation_choices`` maps each of :data:`AUGMENTATION_QUESTIONS` to True (realistic) or False."""
    augmentation_choices = student_value("augmentation_choices", augmentation_choices)
    wrong = _count_wrong(augmentation_choices, _AUGMENTATION_TRUTH, "augmentation_choices", _as_bool)
    if wrong:
        raise CheckFailure(
            f"{wrong} of the {len(_AUGMENTATION_TRUTH)} answers are not right.\nHint: ask whether the augmented "
            "image could come out of the same scanner or microscope. A cell on a slide has no up, down, left or "
            "right; a chest X-ray does (the heart lies on the left, and patients are imaged upright).")
    passed(f"all {len(_AUGMENTATION_TRUTH)} augmentation choices are right.")


def _describe_augmentation(model: Any, images: np.ndarray) -> dict[str, Any]:
    """Kernel side: the layers of a Keras augmentation model and what it does to ``images`` (N, H, W, 1)."""
    import keras

    if not isinstance(model, keras.Model):
        return {"kind": type(model).__name__}
    layer_info = []
    for layer in model.layers:
        config = layer.get_config()
        factors = [config.get(key) for key in ("factor", "height_factor", "width_factor") if key in config]
        layer_info.append({"type": type(layer).__name__, "mode": str(config.get("mode", "")),
                           "factor": str(config.get("factor", config.get("height_factor", ""))),
                           "factors": [abs(float(v)) for f in factors if f is not None
                                       for v in (f if isinstance(f, (list, tuple)) else [f])],
                           "value_range": [float(v) for v in config.get("value_range", (0, 0))]})
    keras.utils.set_random_seed(0)
    trained = [keras.ops.convert_to_numpy(model(images, training=True)) for _ in range(2)]
    inferred = keras.ops.convert_to_numpy(model(images, training=False))
    return {"kind": None, "layers": layer_info, "train": np.asarray(trained[0], dtype=np.float32),
            "train_again": np.asarray(trained[1], dtype=np.float32), "inference": np.asarray(inferred, np.float32)}


@graded_check
def check_augmentation_model(augmentation: Any, seed: int = 0, num_images: int = 6, image_size: int = 24) -> None:
    """A Keras model of preprocessing layers for cell images: flips both ways, a rotation, a small shift
    (factor at most 0.2) and a brightness change on the [0, 1] scale; shape kept; identity at inference."""
    from ..data.images import simulate_cells

    images = simulate_cells(num_images, image_size, seed=seed).images
    seen = observe("augmentation", lambda: _describe_augmentation(augmentation, images), images)
    if seen["kind"] is not None:
        raise CheckFailure(f"augmentation should be a Keras model (keras.Sequential of layers); it is a "
                           f"{seen['kind']}.")
    types = [layer["type"] for layer in seen["layers"]]
    needed = {"RandomFlip": "flips", "RandomRotation": "rotations", "RandomTranslation": "small shifts",
              "RandomBrightness": "brightness changes"}
    missing = [f"{what} ({layer})" for layer, what in needed.items() if layer not in types]
    if missing:
        raise CheckFailure(f"the model has no layer for {', '.join(missing)}; it has {types}.")
    flip = next(layer for layer in seen["layers"] if layer["type"] == "RandomFlip")
    if flip["mode"] != "horizontal_and_vertical":
        raise CheckFailure(f"RandomFlip has mode {flip['mode']!r}; a cell has no up or down either: "
                           "mode='horizontal_and_vertical'.")
    layer_of = {layer["type"]: layer for layer in seen["layers"]}
    limits = {"RandomTranslation": (0.2, "shifts by up to {} of the image: that can push the cell out of the "
                                         "picture. Keep shifts small (0.1 of the height and the width)."),
              "RandomBrightness": (0.3, "changes the brightness by up to {} of the value range: a cell image that "
                                        "bright or dark is no longer realistic. Keep it small (0.15).")}
    for layer_type, (limit, message) in limits.items():
        factors = layer_of[layer_type]["factors"]
        if not factors or max(factors) > limit or min(factors) == 0:
            raise CheckFailure(f"{layer_type} {message.format(max(factors) if factors else 0)}")
    if layer_of["RandomBrightness"]["value_range"] != [0.0, 1.0]:
        raise CheckFailure(f"RandomBrightness has value_range={tuple(layer_of['RandomBrightness']['value_range'])}; "
                           "the images hold values in [0, 1]: value_range=(0, 1).")
    train = as_array("augmented images", seen["train"])
    assert_shape("augmented images", train, images.shape, hint="augmentation must keep the image size "
                 "(no RandomCrop or Resizing here).")
    if train.min() < -0.05 or train.max() > 1.05:
        raise CheckFailure(f"augmented pixel values span [{train.min():.3g}, {train.max():.3g}], outside the "
                           "images' [0, 1].\nLikely mistake: RandomBrightness assumes value_range=(0, 255) "
                           "by default; pass value_range=(0, 1).")
    if np.allclose(train, images, atol=1e-6):
        raise CheckFailure("in training mode the model returned the images unchanged: no augmentation happened.")
    assert_close("images at inference (training=False)", seen["inference"], images, rtol=1e-4,
                 hint="preprocessing layers must pass images through unchanged at inference.")
    passed(f"augmentation: {', '.join(types)}; shape and [0, 1] range kept; identity at inference.")
