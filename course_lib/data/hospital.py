"""Simulated hospital length of stay: a linear regression problem with known answers.

What it is
    Synthetic electronic-health-record rows for adult inpatients. Each row has six
    clinical variables measured at admission and the length of stay in days. The
    stay is, by construction, a *linear* function of the standardised variables
    plus Gaussian noise, so linear regression is the right model and the
    notebook can compare learned weights with the true ones.

Where it comes from
    Generated here from a seed; no real patient is in it. The population means
    and standard deviations are plausible adult-inpatient values chosen for
    teaching, not estimates from a cohort. Licence: CC0 (it is our own
    simulation). A frozen copy of 200 rows ships as ``hospital_los_sample.csv``
    so that the data can be opened in a spreadsheet; :func:`load_sample`
    reads it after a SHA-256 check.

The model
    ``z_j = (x_j - mean_j) / sd_j`` with the fixed population constants in
    :data:`FEATURES`; ``length_of_stay = TRUE_BIAS + z @ TRUE_WEIGHTS + noise``,
    ``noise ~ Normal(0, NOISE_STD**2)``. With an intercept of 7 days, about one
    simulated stay in 150 comes out below zero: a reminder that a linear model
    knows nothing about the range of its target.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field

import numpy as np

from . import bundled_path

#: (name, unit, population mean, population standard deviation)
FEATURES: tuple[tuple[str, str, float, float], ...] = (
    ("age", "years", 62.0, 15.0),
    ("weight", "kg", 78.0, 16.0),
    ("temperature", "degC", 37.2, 0.7),
    ("oxygen_saturation", "%", 95.0, 3.0),
    ("heart_rate", "beats/min", 85.0, 14.0),
    ("comorbidities", "count", 1.5, 1.5 ** 0.5),
)
FEATURE_NAMES = tuple(name for name, *_ in FEATURES)
#: days of stay per standard deviation of each feature, in the order of FEATURES
TRUE_WEIGHTS = np.array([1.2, 0.3, 0.8, -1.5, 0.6, 1.0])
TRUE_BIAS = 7.0
NOISE_STD = 1.5
SAMPLE_FILE = "hospital_los_sample.csv"


@dataclass(frozen=True)
class RegressionData:
    """A regression dataset with its ground truth.

    Attributes:
        X: standardised features, shape (N, D).
        y: targets, shape (N,).
        feature_names: D names.
        X_raw: the same features in clinical units, shape (N, D).
        true_weights: shape (D,), the weights that generated ``y`` (None if unknown).
        true_bias: the intercept that generated ``y`` (None if unknown).
        noise_std: standard deviation of the noise added to ``y``.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    X_raw: np.ndarray
    true_weights: np.ndarray | None = None
    true_bias: float | None = None
    noise_std: float | None = None
    description: str = field(default="", repr=False)


def standardise(X_raw: np.ndarray) -> np.ndarray:
    """Raw clinical values (N, D) to z-scores (N, D) with the population constants."""
    means = np.array([mean for _, _, mean, _ in FEATURES])
    sds = np.array([sd for _, _, _, sd in FEATURES])
    return (X_raw - means) / sds


def _simulate_raw(num_patients: int, rng: np.random.Generator) -> np.ndarray:
    """Raw clinical values, shape (N, 6), drawn independently per feature."""
    columns = []
    for name, _, mean, sd in FEATURES:
        if name == "comorbidities":
            columns.append(rng.poisson(mean, size=num_patients).astype(float))
        else:
            columns.append(rng.normal(mean, sd, size=num_patients))
    X_raw = np.column_stack(columns)
    X_raw[:, 0] = np.clip(X_raw[:, 0], 18, 99)      # adults only
    X_raw[:, 3] = np.clip(X_raw[:, 3], 70, 100)     # saturation cannot pass 100 %
    return X_raw


def hospital_length_of_stay(num_patients: int = 400, seed: int = 0) -> RegressionData:
    """Simulate ``num_patients`` admissions (see the module docstring).

    Returns:
        :class:`RegressionData` with ``X`` (N, 6) standardised features, ``y`` (N,)
        length of stay in days, and the true weights, bias and noise level.
    """
    rng = np.random.default_rng(seed)
    X_raw = _simulate_raw(num_patients, rng)
    X = standardise(X_raw)
    y = TRUE_BIAS + X @ TRUE_WEIGHTS + rng.normal(0.0, NOISE_STD, size=num_patients)
    return RegressionData(X=X, y=y, feature_names=FEATURE_NAMES, X_raw=X_raw,
                          true_weights=TRUE_WEIGHTS.copy(), true_bias=TRUE_BIAS,
                          noise_std=NOISE_STD, description=__doc__)


def write_sample(path, num_patients: int = 200, seed: int = 2024) -> None:
    """Write the frozen CSV sample (raw units, rounded) that ships with the package."""
    data = hospital_length_of_stay(num_patients, seed)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([*FEATURE_NAMES, "length_of_stay_days"])
        for row, target in zip(data.X_raw, data.y):
            writer.writerow([f"{v:.3f}" for v in row] + [f"{target:.3f}"])


def load_sample() -> RegressionData:
    """The bundled 200-patient CSV (SHA-256 checked), as :class:`RegressionData`."""
    with open(bundled_path(SAMPLE_FILE), newline="") as handle:
        rows = list(csv.reader(handle))
    values = np.array(rows[1:], dtype=float)
    X_raw, y = values[:, :-1], values[:, -1]
    return RegressionData(X=standardise(X_raw), y=y, feature_names=FEATURE_NAMES, X_raw=X_raw,
                          true_weights=TRUE_WEIGHTS.copy(), true_bias=TRUE_BIAS,
                          noise_std=NOISE_STD, description=__doc__)
