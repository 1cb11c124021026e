"""Unit 03's cross-entropy from logits, stable for any logit size."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..calling import call_student
from ..compare import CheckFailure, assert_close, assert_scalar, passed, random_state
from ..evidence import graded_check


# ============================================================ 9 · cross-entropy from logits
def _bce_from_logits(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean binary cross-entropy of labels y (N,) in {0, 1} given logits (N,), in the stable form."""
    return float(np.mean(np.maximum(logits, 0.0) - logits * y + np.log1p(np.exp(-np.abs(logits)))))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax of logits (N, C) along the classes, with the row maximum subtracted first."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _ce_from_logits(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean categorical cross-entropy of integer labels (N,) given logits (N, C)."""
    return float(-np.mean(_log_softmax(logits)[np.arange(len(labels)), labels]))


def _clipped_bce(logits: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(1.0 / (1.0 + np.exp(-np.clip(logits, -700, 700))), 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _cross_entropy_cases(seed: int, num_examples: int, num_classes: int) -> list[dict[str, Any]]:
    """Moderate logits (scale 2), extreme ones (|z| from 700 to 900, where exp overflows and sigmoid rounds to 1),
    and rows of unequal size (near +800 and -800), where only a per-row maximum keeps every row finite."""
    rng = random_state(seed)
    cases = []
    for label, scale in (("moderate", None), ("extreme", (700.0, 900.0))):
        def draw(shape):
            if scale is None:
                return rng.normal(0.0, 2.0, size=shape)
            return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(*scale, size=shape)
        cases.append({"label": label, "z": draw(num_examples), "y": rng.integers(0, 2, num_examples).astype(float),
                      "logits": draw((num_examples, num_classes)),
                      "labels": rng.integers(0, num_classes, num_examples)})
    # rows of very different size (around +800 and -800): one maximum for the whole batch is not enough
    offsets = np.where(np.arange(num_examples) % 2 == 0, 800.0, -800.0)
    cases.append({"label": "unequal rows", "z": rng.normal(0.0, 2.0, num_examples) + offsets,
                  "y": rng.integers(0, 2, num_examples).astype(float),
                  "logits": rng.normal(0.0, 2.0, (num_examples, num_classes)) + offsets[:, None],
                  "labels": rng.integers(0, num_classes, num_examples)})
    return cases


_UNSTABLE = ("a loss of {value} on logits from 700 to 900 in size: exp overflows there, and sigmoid(z) or softmax "
             "rounds to exactly 1 or 0, whose log is -inf. Compute from the logits: {stable}.")


@graded_check
def check_cross_entropy_from_logits(binary_cross_entropy: Callable[..., Any], categorical_cross_entropy: Callable[..., Any],
                                    seed: int = 0, num_examples: int = 8, num_classes: int = 3) -> None:
    """Check ``binary_cross_entropy(logits (N,), y (N,)) -> float`` and ``categorical_cross_entropy(logits (N, C),
    labels (N,)) -> float``: mean cross-entropies computed from logits, stable for any logit size.

    Compared (``rtol=1e-5``) with float64 references on moderate logits, on logits of size 700
    to 900, where a formula through probabilities overflows or takes ``log(0)``, and on a batch
    whose rows lie near +800 and -800, where one maximum for the whole batch is not enough.
    """
    for case in _cross_entropy_cases(seed, num_examples, num_classes):
        z, y, logits, labels = case["z"], case["y"], case["logits"], case["labels"]
        where = f"({case['label']} logits)"
        value = call_student(binary_cross_entropy, z, y, name="binary_cross_entropy")
        value = assert_scalar(f"binary_cross_entropy {where}", value)
        expected = _bce_from_logits(z, y)
        if not np.isfinite(value):
            raise CheckFailure(_UNSTABLE.format(value=value, stable="max(z, 0) - z * y + log(1 + exp(-|z|))"))
        sigmoid_z = 1.0 / (1.0 + np.exp(-np.clip(z, -700, 700)))
        assert_close(f"binary_cross_entropy {where}", value, expected, rtol=1e-5, diagnoses=[
            (expected * num_examples, "the losses are summed; take their mean over the N examples."),
            (_bce_from_logits(z, 1.0 - y), "the labels are swapped: the loss of label 1 is -log(sigmoid(z))."),
            (_bce_from_logits(sigmoid_z, y), "the sigmoid is applied twice: the function receives logits; do not "
                                             "squash them before the stable formula."),
            (_clipped_bce(z, y), "the probabilities are clipped (as Keras does without from_logits), which caps "
                                 "each loss near -log(1e-7) = 16.1. Compute from the logits instead."),
            (expected / np.log(10.0), "log base 10: cross-entropy uses the natural log, np.log."),
        ])
        value = call_student(categorical_cross_entropy, logits, labels, name="categorical_cross_entropy")
        value = assert_scalar(f"categorical_cross_entropy {where}", value)
        expected = _ce_from_logits(logits, labels)
        if not np.isfinite(value) and case["label"] == "unequal rows":
            raise CheckFailure(f"a loss of {value} on a batch whose rows' logits lie near +800 and near -800: one "
                               "maximum for the whole batch leaves exp(-1600) = 0 in the small rows, whose log is "
                               "-inf. Subtract each row's own maximum, logits.max(axis=1, keepdims=True).")
        if not np.isfinite(value):
            raise CheckFailure(_UNSTABLE.format(
                value=value, stable="subtract each row's maximum before exp, then log_softmax = z - log(sum(exp(z)))"))
        log_probs = _log_softmax(logits)
        assert_close(f"categorical_cross_entropy {where}", value, expected, rtol=1e-5, diagnoses=[
            (expected * num_examples, "the losses are summed; take their mean over the N examples."),
            (float(-np.mean(log_probs)), "the loss averages -log p over every class; it takes only the true "
                                         "class's: -log p[n, labels[n]]."),
            (_ce_from_logits(np.exp(log_probs), labels), "the softmax is applied twice: the function receives "
                                                         "logits."),
            (float(-np.mean(log_probs[np.arange(num_examples), 0])), "the labels are not used: pick each row's "
                                                                     "true class, log_probs[np.arange(N), labels]."),
            (expected / np.log(10.0), "log base 10: cross-entropy uses the natural log, np.log."),
        ])
    passed("binary_cross_entropy and categorical_cross_entropy: the mean losses from logits, finite and exact "
           "even for logits of size 900.")
