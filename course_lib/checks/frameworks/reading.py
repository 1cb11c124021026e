"""Unit 03's reading questions."""

from __future__ import annotations

from typing import Any

from ..compare import passed
from ..evidence import graded_check
from ..exercises import assert_choice


# ================================================================== reading questions
@graded_check
def check_why_average(why_average: Any) -> None:
    """Reading question: why the MSE averages over the N examples instead of summing (the answer is ``"b"``)."""
    assert_choice("why_average", why_average, "b", {
        "a": "A sum and a mean have the same minimiser; being smaller is not what matters. Think about what "
             "happens to the gradient, and so to a good learning rate, when N doubles.",
        "c": "A sum is as differentiable as a mean (its gradient is just N times larger). What does that factor "
             "N do to the step size?",
        "d": "Averaging the loss does not remove noise from the targets; the minimiser is the same either way. "
             "What does N do to the size of the gradient?",
    })
    passed("why_average: the mean keeps the gradient's size independent of N, so one learning rate works for "
           "any data set size (and for any batch size).")


@graded_check
def check_why_shuffle(why_shuffle: Any) -> None:
    """Reading question: why SGD shuffles the examples before cutting them into minibatches (``"a"``)."""
    assert_choice("why_shuffle", why_shuffle, "a", {
        "b": "Shuffling does not reduce the number of epochs by itself; think of data stored sorted, e.g. by age "
             "or by hospital: what would consecutive minibatches look like?",
        "c": "NumPy slices any order; nothing requires a shuffle. Think of data stored sorted.",
        "d": "A shuffle makes results depend on the seed; reproducibility comes from seeding it, not from "
             "shuffling. Think of data stored sorted.",
    })
    passed("why_shuffle: each minibatch should be a fair sample of the data, whatever order the file is in.")
