"""Breast-cancer diagnosis from cell-nucleus measurements (unit 06), split for generalisation studies.

**What it is.** The Wisconsin Diagnostic Breast Cancer data (W. H. Wolberg, W. N. Street,
O. L. Mangasarian, University of Wisconsin, 1995): 569 fine-needle aspirates of breast
masses, each described by 30 numbers computed from a digitised image of its cell nuclei
(mean, standard error and worst value of ten features such as radius, texture,
concavity), labelled malignant (212) or benign (357).

**Where it comes from.** scikit-learn ships a copy inside its wheel
(``sklearn.datasets.load_breast_cancer``), so nothing is downloaded. Licence: CC BY 4.0
(UCI Machine Learning Repository).

**Labels.** scikit-learn codes 0 = malignant, 1 = benign. This module flips them so that
the *disease* is the positive class: ``y = 1`` means malignant, as a clinician would
expect from a test that "comes back positive".

**The split** (:func:`breast_cancer_split`): seeded and stratified (each part keeps the
share of malignant cases), into training, validation and test sets that share no
example. The training set is small on purpose (default 80 examples), so that a
network with a few thousand weights can memorise it and over-fitting shows within a few
seconds of training. Features are standardised with the **training** set's mean and
standard deviation only, so nothing about the validation or test examples leaks into
training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASS_NAMES = ("benign", "malignant")


@dataclass(frozen=True)
class TabularSplit:
    """Training, validation and test arrays: X_* (N_part, 30) float64, y_* (N_part,) int64 (1 = malignant)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    feature_names: tuple[str, ...]


def load_breast_cancer_arrays() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """All 569 examples: X (569, 30) float64, y (569,) int64 with 1 = malignant, and the feature names."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    return (np.asarray(bunch.data, dtype=np.float64), (1 - np.asarray(bunch.target)).astype(np.int64),
            tuple(str(name) for name in bunch.feature_names))


def breast_cancer_split(num_train: int = 80, num_val: int = 150, num_test: int = 200, seed: int = 0,
                        standardize: bool = True) -> TabularSplit:
    """A seeded, stratified split of the breast-cancer data into disjoint train, validation and test sets.

    Args:
        num_train, num_val, num_test: sizes of the three parts (at most 569 together).
        seed: seed of the split; the same seed gives the same split on every machine.
        standardize: scale every feature to mean 0 and standard deviation 1 on the
            training part (the same shift and scale applied to all three parts).

    Returns:
        :class:`TabularSplit`.
    """
    from sklearn.model_selection import train_test_split

    X, y, names = load_breast_cancer_arrays()
    if num_train + num_val + num_test > len(y):
        raise ValueError(f"the three parts need {num_train + num_val + num_test} examples; there are {len(y)}")
    rest_size = len(y) - num_train
    X_train, X_rest, y_train, y_rest = train_test_split(X, y, train_size=num_train, test_size=rest_size,
                                                        stratify=y, random_state=seed)
    X_val, X_rest, y_val, y_rest = train_test_split(X_rest, y_rest, train_size=num_val,
                                                    test_size=rest_size - num_val, stratify=y_rest,
                                                    random_state=seed + 1)
    if num_test < len(y_rest):
        X_test, _, y_test, _ = train_test_split(X_rest, y_rest, train_size=num_test, stratify=y_rest,
                                                random_state=seed + 2)
    else:
        X_test, y_test = X_rest, y_rest
    if standardize:
        mean, std = X_train.mean(axis=0), X_train.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        X_train, X_val, X_test = ((part - mean) / std for part in (X_train, X_val, X_test))
    return TabularSplit(X_train, y_train, X_val, y_val, X_test, y_test, names)
