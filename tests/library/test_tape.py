"""course_lib.tape against independent oracles: unit 02's NumPy network, least squares, Keras's fit.

TensorFlow is imported once for the module (a few seconds); every problem is tiny.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import tensorflow as tf  # noqa: E402 (a dependency: a broken install must fail, not skip)
import keras  # noqa: E402

from course_lib import tape  # noqa: E402
from course_lib.data.genes import gene_expression  # noqa: E402
from course_lib.mlp import TwoLayerNet, two_layer_loss  # noqa: E402
from course_lib.models import two_layer_model  # noqa: E402

# Keras 3 warns that fit ignores shuffle=True for a tf.data input (the pipeline shuffles itself)
pytestmark = pytest.mark.filterwarnings("ignore:`shuffle=True` was passed:UserWarning")


def _ids(dataset) -> list[list[int]]:
    """The first column of X in every batch of one pass, as ints."""
    return [np.round(X_batch.numpy()[:, 0]).astype(int).tolist() for X_batch, _ in dataset]


@pytest.fixture(scope="module")
def traced():
    """X whose first column is the example's index, and y = 10 * index."""
    X = np.column_stack([np.arange(23.0), np.random.default_rng(0).normal(size=(23, 2))])
    return X, 10.0 * np.arange(23.0)


# ------------------------------------------------------------------------------ data
def test_steps_per_epoch():
    assert tape.steps_per_epoch(400, 32) == 13
    assert tape.steps_per_epoch(400, 40) == 10
    assert tape.steps_per_epoch(5, 8) == 1
    assert tape.steps_per_epoch(401, 400, drop_remainder=True) == 1
    assert tape.steps_per_epoch(0, 8) == 0
    with pytest.raises(ValueError):
        tape.steps_per_epoch(10, 0)


def test_make_dataset_batches_types_and_shapes(traced):
    X, y = traced
    dataset = tape.make_dataset(X, y, batch_size=5, seed=0)
    X_spec, y_spec = dataset.element_spec
    assert X_spec.dtype == tf.float32 and y_spec.dtype == tf.float32
    assert tuple(y_spec.shape) == (None, 1)
    assert len(dataset) == tape.steps_per_epoch(23, 5) == 5
    batches = list(dataset)
    assert [int(b[0].shape[0]) for b in batches] == [5, 5, 5, 5, 3]
    for X_batch, y_batch in batches:                   # pairs stay together
        np.testing.assert_allclose(y_batch.numpy()[:, 0], 10 * X_batch.numpy()[:, 0])
    assert tape.make_dataset(X, y, 5, dtype="float64").element_spec[0].dtype == tf.float64


def test_make_dataset_shuffles_every_epoch_and_is_reproducible(traced):
    X, y = traced
    dataset = tape.make_dataset(X, y, batch_size=5, seed=3)
    first, second = _ids(dataset), _ids(dataset)
    for epoch in (first, second):
        assert sorted(sum(epoch, [])) == list(range(23))
    assert sum(first, []) != list(range(23))
    assert first != second                              # reshuffled each epoch
    again = tape.make_dataset(X, y, batch_size=5, seed=3)
    assert _ids(again) == first and _ids(again) == second
    assert _ids(tape.make_dataset(X, y, batch_size=5, seed=4)) != first
    assert sum(_ids(tape.make_dataset(X, y, 5, shuffle=False)), []) == list(range(23))


def test_numpy_order_dataset_follows_the_numpy_reference(traced):
    X, y = traced
    dataset = tape.numpy_order_dataset(X, y, batch_size=5, seed=7)
    rng = np.random.default_rng(7)
    assert len(dataset) == 5
    for _ in range(3):
        order = rng.permutation(23)
        assert _ids(dataset) == [order[s:s + 5].tolist() for s in range(0, 23, 5)]


# ---------------------------------------------------------------------------- losses
def test_mean_squared_error_is_one_number_and_refuses_broadcasting():
    y_true = tf.constant([[1.0], [2.0], [4.0]])
    y_pred = tf.constant([[1.5], [2.0], [3.0]])
    loss = tape.mean_squared_error(y_true, y_pred)
    assert loss.shape == ()
    np.testing.assert_allclose(float(loss), (0.25 + 0 + 1) / 3, rtol=1e-6)
    np.testing.assert_allclose(float(loss), float(keras.losses.MeanSquaredError()(y_true, y_pred)), rtol=1e-6)
    with pytest.raises(ValueError):
        tape.mean_squared_error(tf.constant([1.0, 2.0, 4.0]), y_pred)    # (N,) vs (N, 1)


def test_the_lectures_vector_loss_makes_an_n_times_larger_gradient():
    """KNOWN-DEFECTS 6: tape.gradient of a per-example loss vector is the gradient of its sum."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(7, 3)), rng.normal(size=(7, 1))
    w = tf.Variable(rng.normal(size=(3, 1)))
    with tf.GradientTape(persistent=True) as tape_:
        predictions = X @ w
        per_example = keras.losses.mean_squared_error(y, predictions)          # tf.losses.MSE, shape (N,)
        mean = tape.mean_squared_error(y, predictions)
    assert per_example.shape == (7,)
    np.testing.assert_allclose(tape_.gradient(per_example, w).numpy(), 7 * tape_.gradient(mean, w).numpy(),
                               rtol=1e-12)


# ------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu"])
def test_tape_gradients_equal_unit_02s_manual_gradients(activation):
    data = gene_expression(num_samples=12, seed=3)
    net = TwoLayerNet(input_dim=8, hidden_dim=5, activation=activation, seed=2)
    net.params["b1"] = np.random.default_rng(1).normal(0, 0.3, size=5)        # nonzero biases
    net.params["b2"] = np.array([0.4])
    module = tape.TwoLayerModule.from_net(net, dtype="float64")
    loss, grads = tape.tape_gradients(module, data.X, data.y)
    reference_loss, reference_grads = net.loss(data.X, data.y)
    np.testing.assert_allclose(float(loss), reference_loss, rtol=1e-12)
    for key in tape.PARAM_NAMES:
        np.testing.assert_allclose(grads[key].numpy(), reference_grads[key], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(module(data.X).numpy(), net.forward(data.X), rtol=1e-12)


def test_tape_gradients_of_a_keras_model_equal_the_numpy_gradients():
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(9, 4)), rng.normal(size=(9, 1))
    net = TwoLayerNet(4, 6, seed=1)
    model = two_layer_model(4, 6, params=net.params, dtype="float64")
    loss, grads = tape.tape_gradients(model, X, y)
    reference_loss, reference_grads = two_layer_loss(X, y, net.params)
    np.testing.assert_allclose(float(loss), reference_loss, rtol=1e-12)
    for gradient, key in zip(grads, tape.PARAM_NAMES):       # kernel, bias, kernel, bias
        np.testing.assert_allclose(gradient.numpy(), reference_grads[key], rtol=1e-6, atol=1e-12)


def test_module_checks_its_arguments():
    with pytest.raises(ValueError):
        tape.TwoLayerModule(TwoLayerNet(3, 2).params, activation="softplus")
    with pytest.raises(ValueError):
        tape.TwoLayerModule({"W1": np.zeros((3, 2))})
    module = tape.TwoLayerModule(TwoLayerNet(3, 2).params)
    assert module.W1.dtype == tf.float32 and set(module.params) == set(tape.PARAM_NAMES)
    assert len(module.trainable_variables) == 4


# -------------------------------------------------------------------------- training
def test_training_converges_to_the_least_squares_solution():
    """A linear model trained by the tape loop reaches numpy.linalg.lstsq's optimum."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.7 + 0.1 * rng.normal(size=40)
    model = keras.Sequential([keras.Input((3,), dtype="float64"), keras.layers.Dense(1, dtype="float64")])
    history = tape.train_with_tape(model, (X, y), num_epochs=150, learning_rate=0.3, batch_size=40)
    solution, *_ = np.linalg.lstsq(np.column_stack([X, np.ones(40)]), y, rcond=None)
    kernel, bias = model.layers[0].get_weights()
    np.testing.assert_allclose(np.append(kernel[:, 0], bias), solution, atol=1e-6)
    optimum = float(np.mean((np.column_stack([X, np.ones(40)]) @ solution - y) ** 2))
    np.testing.assert_allclose(history["loss"][-1], optimum, rtol=1e-4)
    assert len(history["loss"]) == 150 and len(history["seconds"]) == 150 and "val_loss" not in history


def test_tape_loop_reproduces_the_numpy_training_exactly():
    """Same start, same batches, float64: the tape loop and TwoLayerNet.train agree to rounding error.

    The learning rate 0.25 is exact in float32, the type of Keras's learning-rate variable.
    """
    train, val = gene_expression(num_samples=60, seed=0), gene_expression(num_samples=30, seed=1)
    net = TwoLayerNet(8, 6, seed=0)
    module = tape.TwoLayerModule.from_net(net, dtype="float64")
    numpy_history = net.train(train.X, train.y, learning_rate=0.25, num_epochs=5, batch_size=16, seed=4,
                              X_val=val.X, y_val=val.y)
    history = tape.train_with_tape(module, tape.numpy_order_dataset(train.X, train.y, 16, seed=4),
                                   num_epochs=5, learning_rate=0.25, validation_data=(val.X, val.y))
    for key in tape.PARAM_NAMES:
        np.testing.assert_allclose(module.params[key], net.params[key], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(history["val_loss"], numpy_history["val_loss"], rtol=1e-10)


def test_keras_fit_reproduces_the_numpy_training_in_float64():
    """The third way: Keras's fit on the same batches, in float64 (its loss too), lands on the same weights."""
    train, val = gene_expression(num_samples=60, seed=0), gene_expression(num_samples=30, seed=1)
    net = TwoLayerNet(8, 6, seed=0)
    model = two_layer_model(8, 6, params=net.params, dtype="float64")
    numpy_history = net.train(train.X, train.y, learning_rate=0.25, num_epochs=4, batch_size=16, seed=4,
                              X_val=val.X, y_val=val.y)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.25),
                  loss=keras.losses.MeanSquaredError(dtype="float64"))
    fit = model.fit(tape.numpy_order_dataset(train.X, train.y, 16, seed=4), epochs=4, verbose=0,
                    validation_data=(val.X, val.y.reshape(-1, 1))).history
    for mine, key in zip(model.get_weights(), tape.PARAM_NAMES):
        np.testing.assert_allclose(mine, net.params[key], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fit["val_loss"], numpy_history["val_loss"], rtol=1e-6)   # Keras averages in float32


def test_tape_loop_on_a_keras_model_matches_keras_fit():
    """The tape loop's history follows Keras's conventions: the same numbers as model.fit (float32).

    Both get a fresh numpy_order_dataset: Keras's fit starts more than one pass of a
    reshuffling tf.data pipeline per epoch, so a shared shuffled dataset would give the two
    loops different orders after the first epoch.
    """
    train, val = gene_expression(num_samples=50, seed=0), gene_expression(num_samples=20, seed=1)
    params = TwoLayerNet(8, 5, seed=0).params
    by_tape, by_fit = two_layer_model(8, 5, params=params), two_layer_model(8, 5, params=params)
    history = tape.train_with_tape(by_tape, tape.numpy_order_dataset(train.X, train.y, 16, seed=1, dtype="float32"),
                                   num_epochs=3, learning_rate=0.1, validation_data=(val.X, val.y))
    by_fit.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    fit = by_fit.fit(tape.numpy_order_dataset(train.X, train.y, 16, seed=1, dtype="float32"), epochs=3, verbose=0,
                     validation_data=tape.make_dataset(val.X, val.y, 20, shuffle=False)).history
    np.testing.assert_allclose(history["loss"], fit["loss"], rtol=1e-5)
    np.testing.assert_allclose(history["val_loss"], fit["val_loss"], rtol=1e-5)
    for mine, theirs in zip(by_tape.get_weights(), by_fit.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-7)


def test_train_with_tape_arguments():
    data = gene_expression(num_samples=20, seed=0)
    module = tape.TwoLayerModule(TwoLayerNet(8, 3).params)
    assert tape.train_with_tape(module, (data.X, data.y), num_epochs=0)["loss"] == []
    with pytest.raises(ValueError):
        tape.train_with_tape(module, (data.X, data.y), num_epochs=-1)
    history = tape.train_with_tape(module, (data.X, data.y), num_epochs=2, batch_size=8,
                                   optimizer=keras.optimizers.Adam(learning_rate=0.01))
    assert len(history["loss"]) == 2
    np.testing.assert_allclose(tape.evaluate_loss(module, (data.X, data.y)),
                               tape.evaluate_loss(module, tape.make_dataset(data.X, data.y, 7)), rtol=1e-6)


def test_importing_course_lib_and_the_unit_03_checks_does_not_import_tensorflow():
    code = ("import sys, course_lib, course_lib.checks.frameworks; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
