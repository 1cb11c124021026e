"""course_lib.mlp: initialisation, gradients (finite differences and tf.GradientTape), training."""

from __future__ import annotations


import numpy as np
import pytest

from course_lib import mlp
from course_lib.data.genes import gene_expression
from course_lib.gradcheck import gradient_check_report, rel_error
from course_lib.linear import least_squares

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu")


def random_problem(seed: int, num_examples: int = 7, input_dim: int = 4, hidden_dim: int = 5,
                   output_dim: int = 1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(num_examples, input_dim))
    y = rng.normal(size=(num_examples, output_dim)) if output_dim > 1 else rng.normal(size=num_examples)
    return X, y


# ------------------------------------------------------------------------ initialisation
def test_parameter_shapes_and_zero_biases():
    net = mlp.TwoLayerNet(input_dim=4, hidden_dim=6, output_dim=2)
    shapes = {name: value.shape for name, value in net.params.items()}
    assert shapes == {"W1": (4, 6), "b1": (6,), "W2": (6, 2), "b2": (2,)}
    assert not net.params["b1"].any() and not net.params["b2"].any()
    assert net.num_parameters == 4 * 6 + 6 + 6 * 2 + 2
    assert all(value.dtype == np.float64 for value in net.params.values())


def test_same_seed_same_weights_other_seed_other_weights():
    a, b, c = mlp.TwoLayerNet(5, 7, seed=3), mlp.TwoLayerNet(5, 7, seed=3), mlp.TwoLayerNet(5, 7, seed=4)
    assert np.array_equal(a.params["W1"], b.params["W1"])
    assert not np.array_equal(a.params["W1"], c.params["W1"])


@pytest.mark.parametrize("activation, expected_std", [
    ("sigmoid", np.sqrt(2.0 / (300 + 400))), ("tanh", np.sqrt(2.0 / (300 + 400))),
    ("relu", np.sqrt(2.0 / 300)), ("leaky_relu", np.sqrt(2.0 / 300))])
def test_zero_mean_glorot_or_he(activation, expected_std):
    W1 = mlp.TwoLayerNet(300, 400, activation=activation).params["W1"]
    assert abs(W1.mean()) < 4 * W1.std() / np.sqrt(W1.size)
    assert W1.std() == pytest.approx(expected_std, rel=0.02)
    assert (W1 < 0).mean() == pytest.approx(0.5, abs=0.01)        # never np.random.rand
    if activation in ("sigmoid", "tanh"):                          # Glorot uniform stays inside its limit
        assert np.abs(W1).max() <= np.sqrt(6.0 / 700)


def test_unknown_activation_is_refused():
    with pytest.raises(ValueError, match="activation"):
        mlp.TwoLayerNet(3, 4, activation="softplus")


# ------------------------------------------------------------------------------ gradients
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("output_dim", [1, 3])
def test_gradients_pass_a_gradient_check(activation, output_dim):
    X, y = random_problem(seed=len(activation) + output_dim, output_dim=output_dim)
    net = mlp.TwoLayerNet(4, 5, output_dim=output_dim, activation=activation, seed=1)
    rng = np.random.default_rng(0)
    for value in net.params.values():                       # nonzero biases exercise every path
        value += rng.normal(0.0, 0.3, size=value.shape)
    report = gradient_check_report(net, X=X, y=y)
    assert report.passed, str(report)
    assert max(report.errors.values()) < 1e-7
    assert set(report.errors) == {"W1", "b1", "W2", "b2"}


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradients_match_gradient_tape(tf, activation):
    X, y = random_problem(seed=11)
    net = mlp.TwoLayerNet(4, 5, activation=activation, seed=2)
    rng = np.random.default_rng(1)
    for value in net.params.values():
        value += rng.normal(0.0, 0.3, size=value.shape)
    loss, grads = net.loss(X, y)
    tf_activation = {"sigmoid": tf.math.sigmoid, "tanh": tf.math.tanh, "relu": tf.nn.relu,
                     "leaky_relu": lambda z: tf.maximum(0.01 * z, z)}[activation]
    variables = {name: tf.Variable(value) for name, value in net.params.items()}
    with tf.GradientTape() as tape:
        hidden = tf_activation(tf.matmul(X, variables["W1"]) + variables["b1"])
        scores = tf.matmul(hidden, variables["W2"]) + variables["b2"]
        loss_tf = tf.reduce_mean(tf.reduce_sum((scores - y[:, None]) ** 2, axis=1))
    expected = tape.gradient(loss_tf, variables)
    assert loss == pytest.approx(float(loss_tf), rel=1e-12)
    for name in mlp.PARAM_NAMES:
        assert grads[name].shape == net.params[name].shape
        assert rel_error(grads[name], expected[name].numpy()) < 1e-7, name


def test_targets_as_vector_or_column_give_the_same_loss():
    X, y = random_problem(seed=5)
    net = mlp.TwoLayerNet(4, 5)
    loss_vector, grads_vector = net.loss(X, y)
    loss_column, grads_column = net.loss(X, y.reshape(-1, 1))
    assert loss_vector == loss_column
    for name in grads_vector:
        np.testing.assert_array_equal(grads_vector[name], grads_column[name])
    assert net.predict(X).shape == (7,) and net.forward(X).shape == (7, 1)
    with pytest.raises(ValueError):
        net.loss(X, y[:-1])


def test_loss_is_the_mean_squared_error_of_forward():
    X, y = random_problem(seed=6)
    net = mlp.TwoLayerNet(4, 5, activation="tanh")
    scores = np.tanh(X @ net.params["W1"] + net.params["b1"]) @ net.params["W2"] + net.params["b2"]
    assert net.loss(X, y)[0] == pytest.approx(np.mean((scores[:, 0] - y) ** 2), rel=1e-12)


# ------------------------------------------------------------------------------- training
def test_train_runs_a_fixed_number_of_epochs_and_is_reproducible():
    data = gene_expression(num_samples=120, seed=1)
    histories = []
    for _ in range(2):
        net = mlp.TwoLayerNet(8, 6, seed=0)
        histories.append(net.train(data.X, data.y, learning_rate=0.2, num_epochs=7, batch_size=16, seed=3,
                                   X_val=data.X[:30], y_val=data.y[:30]))
    assert histories[0] == histories[1]
    assert set(histories[0]) == {"loss", "val_loss"}
    assert len(histories[0]["loss"]) == len(histories[0]["val_loss"]) == 7
    assert mlp.TwoLayerNet(8, 6).train(data.X, data.y, num_epochs=0) == {"loss": []}
    history = mlp.TwoLayerNet(8, 6).train(data.X, data.y, num_epochs=2)
    assert "val_loss" not in history


def test_history_loss_is_the_full_training_loss_after_each_epoch():
    data = gene_expression(num_samples=64, seed=2)
    net = mlp.TwoLayerNet(8, 4, seed=0)
    history = net.train(data.X, data.y, learning_rate=0.1, num_epochs=3, batch_size=64, seed=0)
    assert history["loss"][-1] == pytest.approx(net.loss(data.X, data.y)[0], rel=1e-12)


def test_one_full_batch_epoch_is_one_gradient_step():
    data = gene_expression(num_samples=50, seed=3)
    net = mlp.TwoLayerNet(8, 4, seed=0)
    before = {name: value.copy() for name, value in net.params.items()}
    _, grads = net.loss(data.X, data.y)
    net.train(data.X, data.y, learning_rate=0.05, num_epochs=1, batch_size=50)
    for name in before:
        np.testing.assert_allclose(net.params[name], before[name] - 0.05 * grads[name], rtol=1e-12, atol=1e-15)


def test_hidden_layer_beats_the_linear_model_on_simulated_genes():
    train, validation = gene_expression(400, seed=0), gene_expression(400, seed=1)
    w, b = least_squares(train.X, train.y)
    linear_mse = np.mean((validation.X @ w + b - validation.y) ** 2)
    net = mlp.TwoLayerNet(8, 16, activation="sigmoid", seed=0)
    history = net.train(train.X, train.y, learning_rate=0.3, num_epochs=60, batch_size=32, seed=0,
                        X_val=validation.X, y_val=validation.y)
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_loss"][-1] < 0.35 * linear_mse
