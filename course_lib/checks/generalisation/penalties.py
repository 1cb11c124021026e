"""Unit 06's weight penalties and the regularised logistic loss."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ... import regularization as ref
from ..calling import call_student
from ..compare import CheckFailure, assert_close, assert_scalar, assert_shape, passed, random_state, unpack
from ..evidence import graded_check


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
