"""course_lib.regularization and the breast-cancer split against Keras and finite differences."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from course_lib import regularization as reg
from course_lib.data.breast_cancer import breast_cancer_split
from course_lib.gradcheck import numerical_gradient, rel_error


@pytest.mark.parametrize("l1, l2", [(0.0, 0.01), (0.03, 0.0), (0.02, 0.5)])
def test_penalties_match_keras_regularizers_and_their_gradients(l1, l2):
    W = np.random.default_rng(0).normal(size=(5, 4))
    penalty, dW = reg.elastic_net_penalty(W, l1, l2)
    assert penalty == pytest.approx(float(keras.regularizers.L1L2(l1=l1, l2=l2)(W)), rel=1e-6)
    assert rel_error(dW, numerical_gradient(lambda _: reg.elastic_net_penalty(W, l1, l2)[0], W)) < 1e-7
    assert reg.l2_penalty(W, l2)[0] == pytest.approx(float(keras.regularizers.L2(l2)(W)), rel=1e-6, abs=1e-12)
    assert reg.l1_penalty(W, l1)[0] == pytest.approx(float(keras.regularizers.L1(l1)(W)), rel=1e-6, abs=1e-12)
    assert reg.l2_penalty(W)[0] == pytest.approx(float(keras.regularizers.L2()(W)), rel=1e-6)   # same default


def test_logistic_loss_gradient_and_keras_cross_entropy():
    rng = np.random.default_rng(1)
    X, y, w, b = rng.normal(size=(12, 4)), rng.integers(0, 2, 12).astype(float), rng.normal(size=4), 0.3
    loss, dw, db = reg.logistic_loss(w, b, X, y, l1=0.01, l2=0.1)
    keras_bce = float(keras.losses.BinaryCrossentropy(from_logits=True)(y[:, None], (X @ w + b)[:, None]))
    assert loss - reg.elastic_net_penalty(w, 0.01, 0.1)[0] == pytest.approx(keras_bce, rel=1e-5)
    work = w.copy()
    assert rel_error(dw, numerical_gradient(lambda _: reg.logistic_loss(work, b, X, y, 0.01, 0.1)[0], work)) < 1e-6
    step = 1e-6
    numeric_db = (reg.logistic_loss(w, b + step, X, y, 0.01, 0.1)[0]
                  - reg.logistic_loss(w, b - step, X, y, 0.01, 0.1)[0]) / (2 * step)
    assert db == pytest.approx(numeric_db, rel=1e-5)


def test_stronger_l2_shrinks_trained_weights():
    split = breast_cancer_split(seed=0)
    norms = [np.linalg.norm(reg.train_logistic(split.X_train, split.y_train, l2=l2, num_epochs=100)[0])
             for l2 in (0.0, 0.01, 0.1)]
    assert norms[0] > norms[1] > norms[2]


_KERAS_NAMES = {"glorot_uniform": "GlorotUniform", "glorot_normal": "GlorotNormal", "he_uniform": "HeUniform",
                "he_normal": "HeNormal"}


@pytest.mark.parametrize("scheme", reg.INITIALIZERS)
def test_initializers_have_keras_scale_and_distribution(scheme):
    fan_in, fan_out = 300, 200
    ours = reg.initialize(fan_in, fan_out, scheme, seed=3)
    theirs = keras.ops.convert_to_numpy(getattr(keras.initializers, _KERAS_NAMES[scheme])(seed=3)((fan_in, fan_out)))
    assert ours.shape == theirs.shape == (fan_in, fan_out)
    assert ours.std() == pytest.approx(theirs.std(), rel=0.03)
    assert ours.std() == pytest.approx(reg.target_std(fan_in, fan_out, scheme), rel=0.03)
    assert np.abs(ours).max() == pytest.approx(np.abs(theirs).max(), rel=0.03)     # same bound or truncation
    assert abs(ours.mean()) < 0.01 and np.array_equal(ours, reg.initialize(fan_in, fan_out, scheme, seed=3))


def test_he_keeps_relu_activations_alive_and_rand_explodes():
    x = np.random.default_rng(0).normal(size=(200, 256))
    he = reg.activation_stds(x, scheme="he_normal")
    rand = reg.activation_stds(x, scheme=None)
    assert 0.3 < he[-1] / he[0] < 3
    assert rand[-1] / rand[0] > 1e10


def _keras_early_stopping(losses, patience):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    callback = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    model.stop_training = False
    callback.set_model(model)
    callback.on_train_begin()
    epoch = -1
    for epoch, loss in enumerate(losses):
        callback.on_epoch_end(epoch, {"val_loss": loss})
        if model.stop_training:
            break
    return callback.best_epoch, epoch


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("patience", [0, 1, 3])
def test_early_stopping_follows_keras(seed, patience):
    rng = np.random.default_rng(seed)
    losses = list(np.round(1 / (1 + np.arange(20)) + np.abs(np.arange(20) - 8) * 0.02
                           + rng.normal(0, 0.03, 20), 2))               # rounding makes ties happen
    assert reg.early_stopping_epochs(losses, patience) == _keras_early_stopping(losses, patience)


def test_early_stopping_keeps_the_best_weights():
    monitor = reg.EarlyStopping(patience=2)
    weights = np.zeros(3)
    stopped = []
    for epoch, loss in enumerate([3.0, 2.0, 2.5, 1.5, 1.6, 1.7, 1.0]):
        weights += 1                                          # changed in place, as a training loop does
        stopped.append(monitor.update(loss, weights))
        if stopped[-1]:
            break
    assert stopped == [False] * 5 + [True] and monitor.best_epoch == 3
    np.testing.assert_array_equal(monitor.best_weights, np.full(3, 4.0))


def test_breast_cancer_split_is_seeded_stratified_and_disjoint():
    split = breast_cancer_split(num_train=80, num_val=150, num_test=200, seed=0)
    assert split.X_train.shape == (80, 30) and split.X_val.shape == (150, 30) and split.X_test.shape == (200, 30)
    for labels in (split.y_train, split.y_val, split.y_test):
        assert abs(labels.mean() - 212 / 569) < 0.02                  # malignant share kept
    rows = [tuple(np.round(row, 8)) for part in (split.X_train, split.X_val, split.X_test) for row in part]
    assert len(set(rows)) == len(rows)
    np.testing.assert_allclose(split.X_train.mean(axis=0), 0, atol=1e-12)
    again = breast_cancer_split(seed=0)
    np.testing.assert_array_equal(again.X_val, split.X_val)
    assert not np.array_equal(breast_cancer_split(seed=1).X_train, split.X_train)
