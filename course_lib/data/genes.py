"""Gene-expression regression: a simulated target gene, and the real diabetes-progression data.

Simulated target-gene expression (:func:`gene_expression`)
    What it is
        Samples (think: cell lines after different treatments) in which we measured a
        handful of *landmark* genes and want to predict the expression of one
        *target* gene from them. The idea comes from the L1000 assay of the
        LINCS/Connectivity Map project, which measures about 1,000 landmark genes
        and infers most of the rest of the transcriptome from them. **No real data
        is used**: the landmark genes are anonymous (``landmark_1`` ... ``landmark_D``)
        and the target is a known *nonlinear* function of them, so a linear model
        falls short and a network with a hidden layer does well.

    Where it comes from
        Generated here from a seed. Licence: CC0 (our own simulation).

    The model
        Landmark log2 expression values are correlated Gaussians: the standardised
        values ``X`` (N, D) have correlation ``0.3 ** |j - k|`` between landmarks j and
        k (neighbours are co-regulated), and ``X_raw = mean_j + sd_j * X`` with the
        constants :data:`LANDMARK_MEANS` and :data:`LANDMARK_SDS` (in log2 units).
        The target's log2 fold change is :func:`true_expression` plus Gaussian noise
        (``noise_std``, 0.25 by default)::

            y = 1.5 * tanh(2 x1)                      landmark_1, an activator with a switch
              - 2.0 * sigmoid(2 x2 + 2 x3 - 2)        landmarks 2 and 3 repress together
              + 1.5 * exp(-x4 ** 2)                   landmark_4: highest at moderate levels
              + 0.5 * x5                              landmark_5: a plain linear effect
              + noise                                 landmarks 6 ... D: no effect at all

        (``x1`` is column 0 of ``X``.) About 97 % of the variance of ``y`` comes from
        the function and 3 % from the noise; a linear model explains only about two
        thirds of it.

Diabetes progression (:func:`load_diabetes_progression`)
    What it is
        Real, de-identified data on 442 diabetes patients: age, sex, body-mass index,
        mean blood pressure and six blood-serum measurements at baseline, and a
        quantitative measure of disease progression one year later (25 to 346).

    Where it comes from
        Efron, Hastie, Johnstone and Tibshirani (2004), "Least Angle Regression",
        *Annals of Statistics* 32(2): 407-499. It ships inside scikit-learn
        (``sklearn.datasets.load_diabetes``), so loading it needs no network.
        Licence: redistributed with scikit-learn under its BSD 3-Clause licence; the
        original authors attach no separate licence, so cite the paper when you use it.
"""

from __future__ import annotations

import numpy as np

from .hospital import RegressionData

NOISE_STD = 0.25
MIN_LANDMARKS = 5
#: correlation between landmark j and landmark k is CORRELATION ** |j - k|
CORRELATION = 0.3


def landmark_names(num_landmarks: int) -> tuple[str, ...]:
    """``("landmark_1", ..., "landmark_D")`` for D = num_landmarks."""
    return tuple(f"landmark_{j + 1}" for j in range(num_landmarks))


def landmark_means(num_landmarks: int) -> np.ndarray:
    """Population mean log2 expression of each landmark gene, shape (D,)."""
    return 7.0 + 0.5 * (np.arange(num_landmarks) % 5)


def landmark_sds(num_landmarks: int) -> np.ndarray:
    """Population standard deviation (log2 units) of each landmark gene, shape (D,)."""
    return 0.8 + 0.1 * (np.arange(num_landmarks) % 4)


LANDMARK_MEANS = landmark_means(8)
LANDMARK_SDS = landmark_sds(8)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))           # equals 1 / (1 + exp(-x)), never overflows


def true_expression(X: np.ndarray) -> np.ndarray:
    """The noiseless target (log2 fold change) for standardised landmarks X (N, D), D >= 5: shape (N,).

    See the module docstring for the formula; only the first five columns matter.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] < MIN_LANDMARKS:
        raise ValueError(f"X should have shape (N, D) with D >= {MIN_LANDMARKS}; got {X.shape}")
    x1, x2, x3, x4, x5 = (X[:, j] for j in range(MIN_LANDMARKS))
    return (1.5 * np.tanh(2.0 * x1)
            - 2.0 * _sigmoid(2.0 * x2 + 2.0 * x3 - 2.0)
            + 1.5 * np.exp(-x4 ** 2)
            + 0.5 * x5)


def correlation_matrix(num_landmarks: int) -> np.ndarray:
    """Correlation of the standardised landmarks, (D, D): ``CORRELATION ** |j - k|``."""
    index = np.arange(num_landmarks)
    return CORRELATION ** np.abs(np.subtract.outer(index, index))


def gene_expression(num_samples: int = 400, num_landmarks: int = 8, noise_std: float = NOISE_STD,
                    seed: int = 0) -> RegressionData:
    """Simulate ``num_samples`` samples of the target gene (see the module docstring).

    Args:
        num_samples: N. num_landmarks: D, at least 5 (landmarks 6 ... D are noise features).
        noise_std: standard deviation of the Gaussian noise added to the target.
        seed: seed of the generator; the same seed gives the same data.

    Returns:
        :class:`~course_lib.data.hospital.RegressionData` with ``X`` (N, D) standardised
        landmark expression, ``X_raw`` (N, D) log2 expression, ``y`` (N,) the target's
        log2 fold change, ``true_weights=None`` and ``true_bias=None`` (the truth is
        nonlinear: use :func:`true_expression`) and ``noise_std``.
    """
    if num_landmarks < MIN_LANDMARKS:
        raise ValueError(f"num_landmarks must be at least {MIN_LANDMARKS}")
    rng = np.random.default_rng(seed)
    cholesky = np.linalg.cholesky(correlation_matrix(num_landmarks))
    X = rng.standard_normal((num_samples, num_landmarks)) @ cholesky.T
    X_raw = landmark_means(num_landmarks) + landmark_sds(num_landmarks) * X
    y = true_expression(X) + rng.normal(0.0, noise_std, size=num_samples)
    return RegressionData(X=X, y=y, feature_names=landmark_names(num_landmarks), X_raw=X_raw,
                          true_weights=None, true_bias=None, noise_std=float(noise_std),
                          description=__doc__)


#: the diabetes data's columns, as scikit-learn names them, with their meaning
DIABETES_FEATURES: tuple[tuple[str, str], ...] = (
    ("age", "age in years"),
    ("sex", "sex (coded 1 or 2)"),
    ("bmi", "body-mass index"),
    ("bp", "average blood pressure"),
    ("s1", "tc, total serum cholesterol"),
    ("s2", "ldl, low-density lipoproteins"),
    ("s3", "hdl, high-density lipoproteins"),
    ("s4", "tch, total cholesterol / HDL"),
    ("s5", "ltg, log of serum triglycerides"),
    ("s6", "glu, blood sugar level"),
)


def load_diabetes_progression(standardise_target: bool = False) -> RegressionData:
    """The real diabetes-progression data bundled with scikit-learn (no download).

    Args:
        standardise_target: if True, ``y`` is z-scored (mean 0, standard deviation 1)
            with the sample's own mean and standard deviation, which makes learning
            rates comparable with the simulated data.

    Returns:
        :class:`~course_lib.data.hospital.RegressionData` with ``X`` (442, 10) the
        features z-scored with the sample's mean and standard deviation, ``X_raw``
        (442, 10) in original units, ``y`` (442,) the progression one year after
        baseline, and no ground truth (``true_weights``, ``true_bias`` and
        ``noise_std`` are None). See the module docstring for source and licence.
    """
    from sklearn.datasets import load_diabetes   # scikit-learn only when this data is asked for

    bunch = load_diabetes(scaled=False)
    X_raw = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.float64)
    X = (X_raw - X_raw.mean(axis=0)) / X_raw.std(axis=0)
    if standardise_target:
        y = (y - y.mean()) / y.std()
    return RegressionData(X=X, y=y, feature_names=tuple(name for name, _ in DIABETES_FEATURES),
                          X_raw=X_raw, true_weights=None, true_bias=None, noise_std=None,
                          description=__doc__)
