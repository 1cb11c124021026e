"""course_lib.ensembles against hand-computed cases, scikit-learn's log loss and Keras's schedule."""

import numpy as np
import pytest

import keras
from sklearn.metrics import log_loss as sklearn_log_loss

from course_lib import ensembles


def test_average_accuracy_and_log_loss_by_hand():
    members = np.array([[0.9, 0.2, 0.6], [0.7, 0.4, 0.2]])
    labels = np.array([1, 0, 1])
    np.testing.assert_allclose(ensembles.average_predictions(members), [0.8, 0.3, 0.4])
    report = ensembles.ensemble_report(members, labels)
    np.testing.assert_allclose(report["member_accuracy"], [1.0, 2 / 3])
    assert report["ensemble_accuracy"] == pytest.approx(2 / 3)
    assert report["ensemble_log_loss"] == pytest.approx(-(np.log(0.8) + np.log(0.7) + np.log(0.4)) / 3)
    for p in members:
        assert ensembles.log_loss(p, labels) == pytest.approx(sklearn_log_loss(labels, p, labels=[0, 1]))
    three = np.array([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])
    assert ensembles.accuracy(three, [1, 2]) == 1.0
    assert ensembles.log_loss(three, [1, 2]) == pytest.approx(sklearn_log_loss([1, 2], three, labels=[0, 1, 2]))


def test_ensemble_log_loss_never_exceeds_the_members_mean():
    rng = np.random.default_rng(0)
    members = rng.uniform(0.01, 0.99, size=(5, 40))
    labels = rng.integers(0, 2, 40)
    report = ensembles.ensemble_report(members, labels)
    assert report["ensemble_log_loss"] <= report["member_log_loss"].mean() + 1e-12   # Jensen


def test_ten_crops_by_hand():
    image = np.arange(20.0).reshape(1, 4, 5)          # rows 0..3, columns 0..4
    crops = ensembles.ten_crops(image, 3)
    assert crops.shape == (10, 1, 3, 3)
    np.testing.assert_array_equal(crops[0, 0], [[0, 1, 2], [5, 6, 7], [10, 11, 12]])      # top-left
    np.testing.assert_array_equal(crops[3, 0], [[7, 8, 9], [12, 13, 14], [17, 18, 19]])   # bottom-right
    np.testing.assert_array_equal(crops[4, 0], image[0, 0:3, 1:4])                        # centre: (1//2, 2//2)
    np.testing.assert_array_equal(crops[5, 0], [[2, 1, 0], [7, 6, 5], [12, 11, 10]])      # top-left mirrored
    colour = np.random.default_rng(0).normal(size=(2, 6, 6, 3))
    views = ensembles.ten_crops(colour, 4)
    assert views.shape == (10, 2, 4, 4, 3)
    np.testing.assert_array_equal(views[9], views[4][:, :, ::-1, :])
    with pytest.raises(ValueError):
        ensembles.ten_crops(colour, 7)


def test_tta_averages_the_ten_views():
    images = np.random.default_rng(1).normal(size=(3, 6, 6))

    def predict(views):                       # a "model": the mean of the left column, as 2 probabilities
        p = 1 / (1 + np.exp(-views[:, :, 0].mean(axis=1)))
        return np.stack([1 - p, p], axis=1)

    expected = np.mean([predict(view) for view in ensembles.ten_crops(images, 4)], axis=0)
    np.testing.assert_allclose(ensembles.tta_predict(predict, images, 4), expected)
    crops = ensembles.random_crops(images, 4, np.random.default_rng(0))
    assert crops.shape == (3, 4, 4)


@pytest.mark.parametrize("alpha, m_mul", [(0.0, 1.0), (0.1, 1.0), (0.0, 0.5)])
def test_cosine_restarts_matches_keras(alpha, m_mul):
    schedule = keras.optimizers.schedules.CosineDecayRestarts(0.2, 7, t_mul=1.0, m_mul=m_mul, alpha=alpha)
    steps = np.arange(40)
    expected = np.array([float(schedule(int(step))) for step in steps])
    np.testing.assert_allclose(ensembles.cosine_restarts(steps, 0.2, 7, alpha=alpha, m_mul=m_mul), expected,
                               rtol=1e-5, atol=1e-7)


def test_cosine_restarts_by_hand_and_snapshot_steps():
    rates = ensembles.cosine_restarts(np.arange(9), 1.0, 4)
    np.testing.assert_allclose(rates, [1, 0.5 * (1 + np.cos(np.pi / 4)), 0.5, 0.5 * (1 + np.cos(3 * np.pi / 4)),
                                       1, 0.5 * (1 + np.cos(np.pi / 4)), 0.5, 0.5 * (1 + np.cos(3 * np.pi / 4)), 1])
    np.testing.assert_array_equal(ensembles.snapshot_steps(10, 4), [4, 8])


def test_numpy_snapshots_are_taken_at_the_end_of_each_cycle():
    X_train, y_train, *_ = ensembles.breast_cancer_split(seed=0)
    cycle = 9                                           # 269 examples in batches of 32: 9 steps an epoch
    run = ensembles.train_classifier(X_train, y_train, hidden_dim=4, num_epochs=3, batch_size=32,
                                     learning_rate=lambda t: ensembles.cosine_restarts(t, 0.3, cycle),
                                     snapshot_cycle_steps=cycle, seed=0)
    assert len(run.snapshots) == 3 and run.learning_rates.shape == (27,)
    np.testing.assert_array_equal(run.learning_rates, ensembles.cosine_restarts(np.arange(27), 0.3, cycle))
    for name in run.params:
        np.testing.assert_array_equal(run.snapshots[-1][name], run.params[name])
    assert not np.array_equal(run.snapshots[0]["W1"], run.snapshots[1]["W1"])
    assert run.losses[-9:].mean() < run.losses[:9].mean()


def test_classifier_learns_the_breast_cancer_data():
    X_train, y_train, X_val, y_val, X_test, y_test = ensembles.breast_cancer_split(seed=1)
    assert X_train.shape == (269, 30) and X_val.shape == X_test.shape == (150, 30)
    np.testing.assert_allclose(X_train.mean(axis=0), 0, atol=1e-12)
    trained = ensembles.train_classifier(X_train, y_train, hidden_dim=8, num_epochs=8, seed=0)
    assert ensembles.accuracy(ensembles.predict_proba(trained.params, X_test), y_test) > 0.9


def test_keras_snapshot_callback_keeps_weights_at_cycle_ends():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3)).astype("float32")
    y = (X[:, 0] > 0).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    schedule = keras.optimizers.schedules.CosineDecayRestarts(0.5, 4, t_mul=1.0)
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="binary_crossentropy")
    callback = ensembles.snapshot_callback(cycle_steps=4)
    model.fit(X, y, batch_size=16, epochs=3, verbose=0, callbacks=[callback])   # 4 steps an epoch
    assert len(callback.snapshots) == 3
    for saved, current in zip(callback.snapshots[-1], model.get_weights()):
        np.testing.assert_array_equal(saved, current)
    averaged = callback.predict(X)
    assert averaged.shape == (64, 1)
    outputs = []
    final = model.get_weights()
    for weights in callback.snapshots:
        model.set_weights(weights)
        outputs.append(model.predict(X, verbose=0))
    model.set_weights(final)
    np.testing.assert_allclose(averaged, np.mean(outputs, axis=0), rtol=1e-6)
