"""Unit 06's learning curves and early stopping."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ... import regularization as ref
from ..calling import call_student, observe, student_value
from ..compare import CheckFailure, as_array, assert_close, assert_scalar, passed, random_state, unpack
from ..evidence import graded_check


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
        from ..calling import run_student

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
