"""course_lib.checks.frameworks: each check accepts correct answers and rejects realistic mistakes.

Every "student" below is a small function written the way a student might; the wrong
ones carry the mistake in their name. Where the message matters, the test asserts a
phrase that points the student at the mistake.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import keras
import tensorflow as tf

from tests.checks.conftest import accepts, rejects
from course_lib.checks import frameworks as checks

NAMES = ("W1", "b1", "W2", "b2")

# Keras 3 warns that fit ignores shuffle=True for a tf.data input (the pipeline shuffles itself)
pytestmark = pytest.mark.filterwarnings("ignore:`shuffle=True` was passed:UserWarning")


def test_unwritten_answer_says_so():
    def to_tensors(X, y):
        raise NotImplementedError()

    rejects(checks.check_to_tensors, to_tensors, match="not written yet")
    rejects(checks.check_train_step, lambda *a: (_ for _ in ()).throw(NotImplementedError()), match="not written yet")


# ====================================================================== 1 · tensors
def to_tensors_ref(X, y):
    return tf.convert_to_tensor(X, dtype=tf.float32), tf.reshape(tf.convert_to_tensor(y, dtype=tf.float32), (-1, 1))


def to_tensors_constant(X, y):                   # correct, written differently
    return tf.constant(X.astype(np.float32)), tf.constant(y[:, None], dtype="float32")


def to_tensors_cast(X, y):                       # correct: cast after converting
    return tf.cast(X, tf.float32), tf.cast(tf.expand_dims(y, -1), tf.float32)


def to_tensors_numpy(X, y):
    return X.astype(np.float32), y.reshape(-1, 1).astype(np.float32)


def to_tensors_float64(X, y):
    return tf.convert_to_tensor(X), tf.convert_to_tensor(y.reshape(-1, 1))


def to_tensors_flat_y(X, y):
    return tf.constant(X, tf.float32), tf.constant(y, tf.float32)


def to_tensors_row_y(X, y):
    return tf.constant(X, tf.float32), tf.reshape(tf.constant(y, tf.float32), (1, -1))


def to_tensors_variables(X, y):
    return tf.Variable(X, dtype=tf.float32), tf.Variable(y.reshape(-1, 1), dtype=tf.float32)


def to_tensors_int(X, y):
    return tf.cast(X, tf.int32), tf.cast(y.reshape(-1, 1), tf.int32)


def to_tensors_swapped(X, y):
    return tf.constant(y.reshape(-1, 1), tf.float32), tf.constant(X, tf.float32)


def test_to_tensors_check():
    accepts(checks.check_to_tensors, to_tensors_ref)
    accepts(checks.check_to_tensors, to_tensors_constant, seed=3, num_examples=1, num_features=5)
    accepts(checks.check_to_tensors, to_tensors_cast, seed=4)
    rejects(checks.check_to_tensors, to_tensors_numpy, match="not a TensorFlow tensor")
    rejects(checks.check_to_tensors, to_tensors_float64, match="float64")
    rejects(checks.check_to_tensors, to_tensors_flat_y, match="broadcasts")
    rejects(checks.check_to_tensors, to_tensors_row_y, match="a row")
    rejects(checks.check_to_tensors, to_tensors_variables, match="tf.Variable")
    rejects(checks.check_to_tensors, to_tensors_int, match="integer")
    rejects(checks.check_to_tensors, to_tensors_swapped, match="order")


def variables_ref(params):
    return {key: tf.Variable(value, dtype=tf.float32) for key, value in params.items()}


def variables_cast(params):                      # correct, written differently
    return {key: tf.Variable(tf.cast(params[key], tf.float32), name=key) for key in NAMES}


def variables_constants(params):
    return {key: tf.constant(value, dtype=tf.float32) for key, value in params.items()}


def variables_float64(params):
    return {key: tf.Variable(value) for key, value in params.items()}


def variables_not_trainable(params):
    return {key: tf.Variable(value, dtype=tf.float32, trainable=False) for key, value in params.items()}


def variables_lecture_uniform(params):           # the lecture's tf.random.uniform start
    return {key: tf.Variable(tf.random.uniform(value.shape, seed=1)) for key, value in params.items()}


def variables_row_biases(params):
    return {key: tf.Variable(value.reshape(1, -1) if key.startswith("b") else value, dtype=tf.float32)
            for key, value in params.items()}


def variables_list(params):
    return [tf.Variable(params[key], dtype=tf.float32) for key in NAMES]


def test_variables_from_params_check():
    accepts(checks.check_variables_from_params, variables_ref)
    accepts(checks.check_variables_from_params, variables_cast, seed=2, input_dim=1, hidden_dim=7)
    rejects(checks.check_variables_from_params, variables_constants, match="not a tf.Variable")
    rejects(checks.check_variables_from_params, variables_float64, match="float64")
    rejects(checks.check_variables_from_params, variables_not_trainable, match="trainable=False")
    rejects(checks.check_variables_from_params, variables_lecture_uniform, match="all positive")
    rejects(checks.check_variables_from_params, variables_row_biases, match="keep every parameter's shape")
    rejects(checks.check_variables_from_params, variables_list, match="dict")


# ===================================================================== 2 · tf.data
def _pairs(X, y):
    return tf.data.Dataset.from_tensor_slices((X.astype(np.float32), y.reshape(-1, 1).astype(np.float32)))


def dataset_ref(X, y, batch_size, seed=0):
    return _pairs(X, y).shuffle(len(X), seed=seed).batch(batch_size)


def dataset_map_cast(X, y, batch_size, seed=0):  # correct: float64 pipeline cast in a map, explicit reshuffle
    data = tf.data.Dataset.from_tensor_slices((X, y[:, None]))
    data = data.shuffle(buffer_size=X.shape[0], seed=seed, reshuffle_each_iteration=True)
    return data.batch(batch_size).map(lambda a, b: (tf.cast(a, tf.float32), tf.cast(b, tf.float32)))


def dataset_not_shuffled(X, y, batch_size, seed=0):
    return _pairs(X, y).batch(batch_size)


def dataset_batch_then_shuffle(X, y, batch_size, seed=0):
    return _pairs(X, y).batch(batch_size).shuffle(100, seed=seed)


def dataset_same_order_every_epoch(X, y, batch_size, seed=0):
    return _pairs(X, y).shuffle(len(X), seed=seed, reshuffle_each_iteration=False).batch(batch_size)


def dataset_small_buffer(X, y, batch_size, seed=0):
    return _pairs(X, y).shuffle(batch_size, seed=seed).batch(batch_size)


def dataset_half_buffer(X, y, batch_size, seed=0):
    return _pairs(X, y).shuffle(len(X) // 2, seed=seed).batch(batch_size)


def dataset_large_buffer(X, y, batch_size, seed=0):     # correct: a buffer larger than N is a uniform shuffle too
    return _pairs(X, y).shuffle(10 * len(X), seed=seed).batch(batch_size)


def dataset_float64(X, y, batch_size, seed=0):
    return tf.data.Dataset.from_tensor_slices((X, y.reshape(-1, 1))).shuffle(len(X), seed=seed).batch(batch_size)


def dataset_flat_y(X, y, batch_size, seed=0):
    return tf.data.Dataset.from_tensor_slices((X.astype("float32"), y.astype("float32"))).shuffle(
        len(X), seed=seed).batch(batch_size)


def dataset_drop_remainder(X, y, batch_size, seed=0):
    return _pairs(X, y).shuffle(len(X), seed=seed).batch(batch_size, drop_remainder=True)


def dataset_repeat(X, y, batch_size, seed=0):
    return _pairs(X, y).shuffle(len(X), seed=seed).repeat().batch(batch_size)


def dataset_shuffled_separately(X, y, batch_size, seed=0):
    inputs = tf.data.Dataset.from_tensor_slices(X.astype("float32")).shuffle(len(X), seed=seed)
    targets = tf.data.Dataset.from_tensor_slices(y.reshape(-1, 1).astype("float32")).shuffle(len(X), seed=seed + 1)
    return tf.data.Dataset.zip((inputs, targets)).batch(batch_size)


def dataset_no_seed(X, y, batch_size, seed=0):
    return _pairs(X, y).shuffle(len(X)).batch(batch_size)


def dataset_fixed_seed(X, y, batch_size, seed=0):
    return _pairs(X, y).shuffle(len(X), seed=42).batch(batch_size)


def dataset_unbatched(X, y, batch_size, seed=0):
    return _pairs(X, y).shuffle(len(X), seed=seed)


def dataset_list(X, y, batch_size, seed=0):
    return list(dataset_ref(X, y, batch_size, seed))


def dataset_cached_after_shuffle(X, y, batch_size, seed=0):
    return _pairs(X, y).shuffle(len(X), seed=seed).cache().batch(batch_size)


def test_make_train_dataset_check():
    accepts(checks.check_make_train_dataset, dataset_ref)
    accepts(checks.check_make_train_dataset, dataset_map_cast, seed=5, num_examples=64, batch_size=16)
    accepts(checks.check_make_train_dataset, dataset_ref, seed=1, num_examples=7, batch_size=3)
    check = checks.check_make_train_dataset
    rejects(check, dataset_not_shuffled, match="original order")
    rejects(check, dataset_batch_then_shuffle, match="before .batch")
    rejects(check, dataset_same_order_every_epoch, match="reshuffle")
    rejects(check, dataset_cached_after_shuffle, match="reshuffle")
    rejects(check, dataset_small_buffer, match="buffer")
    rejects(check, dataset_half_buffer, match="buffer")
    rejects(check, dataset_half_buffer, match="buffer", seed=7, num_examples=64, num_features=2, batch_size=16)
    for seed in range(4):
        accepts(check, dataset_large_buffer, seed=seed)
    rejects(check, dataset_float64, match="float64")
    rejects(check, dataset_flat_y, match="column")
    rejects(check, dataset_drop_remainder, match="drop_remainder")
    rejects(check, dataset_repeat, match="repeat")
    rejects(check, dataset_shuffled_separately, match="shuffled separately")
    rejects(check, dataset_no_seed, match="same seed")
    rejects(check, dataset_fixed_seed, match="different seed")
    rejects(check, dataset_unbatched, match=".batch(batch_size)")
    rejects(check, dataset_list, match="tf.data.Dataset")


def test_steps_per_epoch_check():
    accepts(checks.check_steps_per_epoch, lambda N, B: math.ceil(N / B))
    accepts(checks.check_steps_per_epoch, lambda N, B: (N + B - 1) // B)
    accepts(checks.check_steps_per_epoch, lambda N, B: int(np.ceil(N / B)))
    accepts(checks.check_steps_per_epoch, lambda N, B: len(tf.data.Dataset.range(N).batch(B)))
    rejects(checks.check_steps_per_epoch, lambda N, B: N // B, match="leftover")
    rejects(checks.check_steps_per_epoch, lambda N, B: N / B, match="whole number")
    rejects(checks.check_steps_per_epoch, lambda N, B: N // B + 1, match="multiple")
    rejects(checks.check_steps_per_epoch, lambda N, B: round(N / B), match="round")
    rejects(checks.check_steps_per_epoch, lambda N, B: N, match="number of examples")
    rejects(checks.check_steps_per_epoch, lambda N, B: math.ceil(B / N))
    rejects(checks.check_steps_per_epoch, lambda N, B: np.ceil(N / B), match="not an int")        # 13.0
    rejects(checks.check_steps_per_epoch, lambda N, B: float(-(-N // B)), match="not an int")
    accepts(checks.check_steps_per_epoch, lambda N, B: np.int64(np.ceil(N / B)))


# =================================================================== 3 · gradients
def _forward(X, variables, activation=tf.sigmoid):
    hidden = activation(tf.matmul(X, variables["W1"]) + variables["b1"])
    return tf.matmul(hidden, variables["W2"]) + variables["b2"]


def tape_gradients_ref(X, y, variables):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(_forward(X, variables) - y))
    return loss, tape.gradient(loss, variables)


def tape_gradients_keras_loss(X, y, variables):   # correct: Keras's loss object reduces to the mean
    with tf.GradientTape() as tape:
        loss = keras.losses.MeanSquaredError()(y, _forward(X, variables))
    grads = tape.gradient(loss, [variables[k] for k in NAMES])
    return loss, dict(zip(NAMES, grads))


def tape_gradients_per_example(X, y, variables):  # the lecture: tf.losses.MSE returns (N,)
    with tf.GradientTape() as tape:
        loss = keras.losses.mean_squared_error(y, _forward(X, variables))
    return loss, tape.gradient(loss, variables)


def tape_gradients_per_example_summed(X, y, variables):
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(keras.losses.mean_squared_error(y, _forward(X, variables)))
    return loss, tape.gradient(loss, variables)


def tape_gradients_inside_block(X, y, variables):    # correct: gradient() stops a default tape
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(_forward(X, variables) - y))
        grads = tape.gradient(loss, variables)
    return loss, grads


def tape_gradients_flat_y(X, y, variables):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(_forward(X, variables) - tf.reshape(y, [-1])))
    return loss, tape.gradient(loss, variables)


def tape_gradients_relu(X, y, variables):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(_forward(X, variables, tf.nn.relu) - y))
    return loss, tape.gradient(loss, variables)


def tape_gradients_no_activation(X, y, variables):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(_forward(X, variables, tf.identity) - y))
    return loss, tape.gradient(loss, variables)


def tape_gradients_through_numpy(X, y, variables):
    with tf.GradientTape() as tape:
        copies = {key: tf.constant(value.numpy()) for key, value in variables.items()}
        loss = tf.reduce_mean(tf.square(_forward(X, copies) - y))
    return loss, tape.gradient(loss, variables)


def tape_gradients_list(X, y, variables):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(_forward(X, variables) - y))
    return loss, tape.gradient(loss, [variables[k] for k in NAMES])


def tape_gradients_half(X, y, variables):
    with tf.GradientTape() as tape:
        loss = 0.5 * tf.reduce_mean(tf.square(_forward(X, variables) - y))
    return loss, tape.gradient(loss, variables)


def tape_gradients_float32(X, y, variables):      # correct, computed in float32
    with tf.GradientTape() as tape:
        variables32 = {key: tf.cast(value, tf.float32) for key, value in variables.items()}
        loss = tf.reduce_mean(tf.square(_forward(tf.cast(X, tf.float32), variables32) - tf.cast(y, tf.float32)))
    grads = tape.gradient(loss, variables)
    return loss, grads


def test_tape_gradients_check():
    accepts(checks.check_tape_gradients, tape_gradients_ref)
    accepts(checks.check_tape_gradients, tape_gradients_keras_loss, seed=3, num_examples=1, input_dim=2,
            hidden_dim=7)
    check = checks.check_tape_gradients
    rejects(check, tape_gradients_per_example, match="one loss per example")
    rejects(check, tape_gradients_per_example_summed, match="N times too large")
    rejects(check, tape_gradients_flat_y, match="(N, N)")
    rejects(check, tape_gradients_relu, match="ReLU")
    rejects(check, tape_gradients_no_activation, match="no sigmoid")
    rejects(check, tape_gradients_through_numpy, match="is None")
    rejects(check, tape_gradients_list, match="dict")
    rejects(check, tape_gradients_half, match="1/2")
    accepts(check, tape_gradients_float32)      # float32 inside: still within rtol 1e-6
    accepts(check, tape_gradients_inside_block)


def tape_gradients_persistent_inside(X, y, variables):   # correct numbers; the tape records its own gradient
    with tf.GradientTape(persistent=True) as tape:
        loss = tf.reduce_mean(tf.square(_forward(X, variables) - y))
        grads = tape.gradient(loss, variables)
    return loss, grads


def tape_gradients_persistent_after(X, y, variables):    # correct
    with tf.GradientTape(persistent=True) as tape:
        loss = tf.reduce_mean(tf.square(_forward(X, variables) - y))
    return loss, tape.gradient(loss, variables)


def test_gradient_placement_is_never_graded(capsys):
    """KNOWN-DEFECTS 7: on a default tape gradient() stops the recording, so its place changes nothing.

    A persistent tape keeps recording (TensorFlow's backprop.py warns); that earns a note, not a failure.
    """
    with tf.GradientTape() as tape:
        x = tf.Variable(3.0)
        y = x * x
        tape.gradient(y, x)
        assert not tape._recording                    # popped by gradient(): the claim, checked
    accepts(checks.check_tape_gradients, tape_gradients_inside_block)
    output = capsys.readouterr().out
    assert "\N{CHECK MARK}" in output and "Note" not in output
    accepts(checks.check_tape_gradients, tape_gradients_persistent_inside)
    output = capsys.readouterr().out
    assert "\N{CHECK MARK}" in output and "persistent" in output
    accepts(checks.check_tape_gradients, tape_gradients_persistent_after)
    assert "Note" not in capsys.readouterr().out


# ============================================================== 4 · the training loop
def _grads_after_block(X_batch, y_batch, variables, loss_fn):
    with tf.GradientTape() as tape:
        loss = loss_fn(y_batch, _forward(X_batch, variables))
    return loss, tape.gradient(loss, variables)


def _mse(y, p):
    return tf.reduce_mean(tf.square(p - y))


def train_step_ref(X_batch, y_batch, variables, optimizer):
    with tf.GradientTape() as tape:
        loss = _mse(y_batch, _forward(X_batch, variables))
    names = list(variables)
    grads = tape.gradient(loss, [variables[n] for n in names])
    optimizer.apply_gradients(zip(grads, [variables[n] for n in names]))
    return loss


def train_step_assign(X_batch, y_batch, variables, optimizer):   # correct: update by hand
    loss, grads = _grads_after_block(X_batch, y_batch, variables, _mse)
    rate = float(optimizer.learning_rate)
    for key in NAMES:
        variables[key].assign_sub(rate * grads[key])
    return float(loss)


@tf.function
def train_step_compiled(X_batch, y_batch, variables, optimizer):  # correct: a tf.function
    with tf.GradientTape() as tape:
        loss = _mse(y_batch, _forward(X_batch, variables))
    grads = tape.gradient(loss, variables)
    optimizer.apply_gradients([(grads[k], variables[k]) for k in NAMES])
    return loss


def train_step_lecture(X_batch, y_batch, variables, optimizer):  # the lecture's loop body, Keras 3 names
    W1, W2, b1, b2 = variables["W1"], variables["W2"], variables["b1"], variables["b2"]
    with tf.GradientTape() as tape:
        Z_batch = tf.add(tf.matmul(X_batch, W1), b1)
        H_batch = tf.math.sigmoid(Z_batch)
        Out_batch = tf.add(tf.matmul(H_batch, W2), b2)
        loss = keras.losses.mean_squared_error(y_batch, Out_batch)
        gradients = tape.gradient(loss, [W1, W2, b1, b2])
        optimizer.apply_gradients(zip(gradients, [W1, W2, b1, b2]))
    return loss


def train_step_vector_loss(X_batch, y_batch, variables, optimizer):
    with tf.GradientTape() as tape:
        losses = keras.losses.mean_squared_error(y_batch, _forward(X_batch, variables))
    grads = tape.gradient(losses, variables)
    optimizer.apply_gradients([(grads[k], variables[k]) for k in NAMES])
    return tf.reduce_mean(losses)


def train_step_sum(X_batch, y_batch, variables, optimizer):
    loss, grads = _grads_after_block(X_batch, y_batch, variables, lambda y, p: tf.reduce_sum(tf.square(p - y)))
    optimizer.apply_gradients([(grads[k], variables[k]) for k in NAMES])
    return loss / tf.cast(tf.shape(y_batch)[0], loss.dtype)


def train_step_inside_block(X_batch, y_batch, variables, optimizer):   # correct: the lecture's placement
    with tf.GradientTape() as tape:
        loss = _mse(y_batch, _forward(X_batch, variables))
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients([(grads[k], variables[k]) for k in NAMES])
    return loss


def train_step_weights_only(X_batch, y_batch, variables, optimizer):
    with tf.GradientTape() as tape:
        loss = _mse(y_batch, _forward(X_batch, variables))
    grads = tape.gradient(loss, [variables["W1"], variables["W2"]])
    optimizer.apply_gradients(zip(grads, [variables["W1"], variables["W2"]]))
    return loss


def train_step_no_update(X_batch, y_batch, variables, optimizer):
    loss, _ = _grads_after_block(X_batch, y_batch, variables, _mse)
    return loss


def train_step_ascent(X_batch, y_batch, variables, optimizer):
    loss, grads = _grads_after_block(X_batch, y_batch, variables, _mse)
    optimizer.apply_gradients([(-grads[k], variables[k]) for k in NAMES])
    return loss


def train_step_twice(X_batch, y_batch, variables, optimizer):
    loss, grads = _grads_after_block(X_batch, y_batch, variables, _mse)
    optimizer.apply_gradients([(grads[k], variables[k]) for k in NAMES])
    optimizer.apply_gradients([(grads[k], variables[k]) for k in NAMES])
    return loss


def train_step_loss_after(X_batch, y_batch, variables, optimizer):
    loss, grads = _grads_after_block(X_batch, y_batch, variables, _mse)
    optimizer.apply_gradients([(grads[k], variables[k]) for k in NAMES])
    return _mse(y_batch, _forward(X_batch, variables))


def train_step_copies(X_batch, y_batch, variables, optimizer):
    variables = {key: tf.Variable(value) for key, value in variables.items()}
    return train_step_ref(X_batch, y_batch, variables, optimizer)


def test_train_step_check():
    accepts(checks.check_train_step, train_step_ref)
    accepts(checks.check_train_step, train_step_assign, seed=2, num_examples=3, learning_rate=0.5)
    accepts(checks.check_train_step, train_step_compiled, seed=4)
    check = checks.check_train_step
    rejects(check, train_step_lecture, match="one loss per example")   # the vector loss, not the placement
    rejects(check, train_step_vector_loss, match="N times too large")
    rejects(check, train_step_sum, match="N times too large")
    accepts(check, train_step_inside_block)                 # lecture placement, mean loss: correct
    rejects(check, train_step_weights_only, match="['b1', 'b2'] did not change")
    rejects(check, train_step_no_update, match="did not change")
    rejects(check, train_step_copies, match="did not change")
    rejects(check, train_step_ascent, match="uphill")
    rejects(check, train_step_twice, match="twice")
    rejects(check, train_step_loss_after, match="before the step")


def train_loop_ref(train_dataset, variables, num_epochs, learning_rate):
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
    history = []
    for _ in range(num_epochs):
        pairs = [(float(train_step_ref(X_batch, y_batch, variables, optimizer)), len(X_batch))
                 for X_batch, y_batch in train_dataset]
        history.append(np.average([loss for loss, _ in pairs], weights=[size for _, size in pairs]))
    return history


def train_loop_weighted(train_dataset, variables, num_epochs, learning_rate):    # correct: Keras's average
    optimizer = keras.optimizers.SGD(learning_rate)
    history = []
    for _ in range(num_epochs):
        total, count = 0.0, 0
        for X_batch, y_batch in train_dataset:
            total += float(train_step_ref(X_batch, y_batch, variables, optimizer)) * len(X_batch)
            count += len(X_batch)
        history.append(total / count)
    return np.array(history)


def _loop(step, optimizer_factory, epochs=None, record="weighted"):
    def train_loop(train_dataset, variables, num_epochs, learning_rate):
        optimizer = optimizer_factory(learning_rate)
        history = []
        for _ in range(num_epochs if epochs is None else epochs):
            losses, sizes = [], []
            for X_batch, y_batch in train_dataset:
                losses.append(float(step(X_batch, y_batch, variables, optimizer)))
                sizes.append(len(X_batch))
                if record == "batch":
                    history.append(losses[-1])
            if record == "weighted":
                history.append(np.average(losses, weights=sizes))
            elif record == "mean":
                history.append(np.mean(losses))
            elif record == "sum":
                history.append(np.sum(losses))
        return history
    return train_loop


def _sgd(rate):
    return keras.optimizers.SGD(learning_rate=rate)


def test_train_loop_check():
    accepts(checks.check_train_loop, train_loop_ref)
    accepts(checks.check_train_loop, train_loop_weighted, seed=3, num_examples=20, batch_size=8,
            num_epochs=2)
    check = checks.check_train_loop
    rejects(check, _loop(train_step_ref, _sgd, epochs=1), match="entries for num_epochs")
    rejects(check, _loop(train_step_ref, _sgd, record="batch"), match="one per batch")
    rejects(check, _loop(train_step_ref, lambda rate: keras.optimizers.SGD()), match="default 0.01")
    rejects(check, _loop(train_step_ref, lambda rate: keras.optimizers.Adam(rate)), match="Adam")
    rejects(check, _loop(train_step_sum, _sgd), match="sum")
    rejects(check, _loop(train_step_weights_only, _sgd), match="biases")
    accepts(check, _loop(train_step_inside_block, _sgd))

    def trains_copies(train_dataset, variables, num_epochs, learning_rate):
        copies = {key: tf.Variable(value) for key, value in variables.items()}
        return train_loop_ref(train_dataset, copies, num_epochs, learning_rate)

    rejects(check, trains_copies, match="did not change")
    rejects(check, _loop(train_step_ref, _sgd, record="sum"), match="summed")
    rejects(check, _loop(train_step_ref, _sgd, record="mean"), match="smaller last batch")   # unweighted mean
    rejects(check, lambda *args: None, match="returned None")

    def new_optimizer_every_epoch(train_dataset, variables, num_epochs, learning_rate):   # harmless for SGD
        history = []
        for _ in range(num_epochs):
            history += _loop(train_step_ref, _sgd, epochs=1)(train_dataset, variables, 1, learning_rate)
        return history

    accepts(checks.check_train_loop, new_optimizer_every_epoch)


# ======================================================================= 5 · Keras
def build_ref(input_dim, hidden_dim):
    return keras.Sequential([keras.Input((input_dim,)), keras.layers.Dense(hidden_dim, activation="sigmoid"),
                             keras.layers.Dense(1)])


def build_functional(input_dim, hidden_dim):
    inputs = keras.Input(shape=(input_dim,))
    hidden = keras.layers.Activation("sigmoid")(keras.layers.Dense(hidden_dim, name="landmarks_to_hidden")(inputs))
    return keras.Model(inputs, keras.layers.Dense(1, name="expression")(hidden))


def build_unbuilt(input_dim, hidden_dim):
    return keras.Sequential([keras.layers.Dense(hidden_dim, activation="sigmoid"), keras.layers.Dense(1)])


def _build(*layers):
    def build(input_dim, hidden_dim):
        return keras.Sequential([keras.Input((input_dim,)), *[make(hidden_dim) for make in layers]])
    return build


def test_build_two_layer_model_check():
    accepts(checks.check_build_two_layer_model, build_ref)
    accepts(checks.check_build_two_layer_model, build_functional, input_dim=3, hidden_dim=2)
    accepts(checks.check_build_two_layer_model, build_unbuilt)
    check = checks.check_build_two_layer_model
    dense = keras.layers.Dense
    rejects(check, _build(lambda h: dense(h // 2, activation="sigmoid"), lambda h: dense(1)), match="units")
    rejects(check, _build(lambda h: dense(h, activation="relu"), lambda h: dense(1)), match="'relu'")
    rejects(check, _build(lambda h: dense(h, activation="sigmoid", use_bias=False), lambda h: dense(1)),
            match="use_bias=False")
    rejects(check, _build(lambda h: dense(h, activation="sigmoid"), lambda h: dense(2)), match="expected 1")
    rejects(check, _build(lambda h: dense(h, activation="sigmoid"), lambda h: dense(1, activation="sigmoid")),
            match="linear output")
    rejects(check, _build(lambda h: dense(1)), match="1 layers")
    rejects(check, _build(lambda h: dense(h, activation="sigmoid"), lambda h: dense(h, activation="sigmoid"),
                          lambda h: dense(1)), match="3 layers")
    rejects(check, lambda input_dim, hidden_dim: None, match="return model")


def train_keras_ref(model, X_train, y_train, X_val, y_val, num_epochs, learning_rate, batch_size):
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate), loss="mse")
    return model.fit(X_train, y_train, validation_data=(X_val, y_val), epochs=num_epochs, batch_size=batch_size,
                     verbose=0)


def train_keras_dataset(model, X_train, y_train, X_val, y_val, num_epochs, learning_rate, batch_size):
    """Correct, written differently: tf.data pipelines, a loss object, steps_per_execution, the dict returned."""
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss=keras.losses.MeanSquaredError(),
                  steps_per_execution=4)
    train = tf.data.Dataset.from_tensor_slices((X_train.astype("float32"), y_train.astype("float32")))
    val = tf.data.Dataset.from_tensor_slices((X_val.astype("float32"), y_val.astype("float32"))).batch(64)
    return model.fit(train.shuffle(len(X_train), seed=0).batch(batch_size), validation_data=val,
                     epochs=num_epochs, verbose=0).history


def _train_keras(optimizer=None, loss="mse", fit_kwargs=None, validation=True):
    def train(model, X_train, y_train, X_val, y_val, num_epochs, learning_rate, batch_size):
        model.compile(optimizer=optimizer(learning_rate) if optimizer else keras.optimizers.SGD(learning_rate),
                      loss=loss)
        kwargs = dict(epochs=num_epochs, batch_size=batch_size, verbose=0)
        if validation:
            kwargs["validation_data"] = (X_val, y_val)
        kwargs.update(fit_kwargs or {})
        return model.fit(X_train, y_train, **kwargs)
    return train


def test_train_keras_model_check():
    accepts(checks.check_train_keras_model, train_keras_ref)
    accepts(checks.check_train_keras_model, train_keras_dataset, seed=1, num_examples=40, batch_size=8)
    check = checks.check_train_keras_model
    rejects(check, _train_keras(validation=False), match="no 'val_loss'")
    rejects(check, _train_keras(validation=False, fit_kwargs={"validation_split": 0.2}), match="validation_split")
    rejects(check, _train_keras(optimizer=lambda rate: keras.optimizers.SGD()), match="SGD's default")
    rejects(check, _train_keras(optimizer=lambda rate: keras.optimizers.Adam(rate)), match="Adam")
    rejects(check, _train_keras(loss="mae"), match="mean_absolute_error")
    rejects(check, _train_keras(fit_kwargs={"epochs": 1}), match="one per epoch")
    rejects(check, _train_keras(fit_kwargs={"batch_size": 32}), match="batch_size=32")

    def validates_on_training_data(model, X_train, y_train, X_val, y_val, num_epochs, learning_rate, batch_size):
        return train_keras_ref(model, X_train, y_train, X_train, y_train, num_epochs, learning_rate, batch_size)

    rejects(check, validates_on_training_data, match="training data")

    def trains_a_new_model(model, X_train, y_train, X_val, y_val, num_epochs, learning_rate, batch_size):
        return train_keras_ref(build_ref(X_train.shape[1], 4), X_train, y_train, X_val, y_val, num_epochs,
                               learning_rate, batch_size)

    rejects(check, trains_a_new_model, match="the argument")
    rejects(check, lambda *args: None, match="returned None")


# ==================================================================== 6 · by hand
def test_dense_parameter_counts_check():
    def reference(sizes):
        return [a * b + b for a, b in zip(sizes[:-1], sizes[1:])]

    def with_keras(sizes):                        # correct: let Keras count, NumPy integers
        return np.array([_built_dense(a, b).count_params() for a, b in zip(sizes, sizes[1:])])

    accepts(checks.check_dense_parameter_counts, reference)
    accepts(checks.check_dense_parameter_counts, with_keras, layer_sizes=(10, 64, 32, 1))
    check = checks.check_dense_parameter_counts
    rejects(check, lambda s: [a * b for a, b in zip(s, s[1:])], match="biases are missing")
    rejects(check, lambda s: [a * b + a for a, b in zip(s, s[1:])], match="per *output* unit")
    rejects(check, lambda s: [(a + 1) * (b + 1) for a, b in zip(s, s[1:])], match="bias for a bias")
    rejects(check, lambda s: sum(reference(s)), match="right total")
    rejects(check, lambda s: [s[0]] + reference(s), match="input is not a layer")
    rejects(check, lambda s: reference(s)[:-1], match="one per Dense layer")
    rejects(check, lambda s: [a * b + 2 * b for a, b in zip(s, s[1:])], match="not two")


def _built_dense(n_in, n_out):
    layer = keras.layers.Dense(n_out)
    layer.build((None, n_in))
    return layer


def output_ref(task, num_classes=None):
    return {"regression": (1, None, "mse"), "binary": (1, "sigmoid", "binary_crossentropy"),
            "multiclass": (num_classes, "softmax", "sparse_categorical_crossentropy")}[task]


def output_objects(task, num_classes=None):       # correct: Keras objects, one-hot labels, logits for binary
    if task == "regression":
        return 1, "linear", keras.losses.MeanSquaredError()
    if task == "binary":
        return 1, None, keras.losses.BinaryCrossentropy(from_logits=True)
    return num_classes, keras.activations.softmax, keras.losses.CategoricalCrossentropy()


def output_two_softmax_units(task, num_classes=None):     # also correct for two classes
    if task == "binary":
        return 2, "softmax", "sparse_categorical_crossentropy"
    return output_ref(task, num_classes)


def _replace(task_to_change, answer):
    def output(task, num_classes=None):
        return answer(num_classes) if task == task_to_change else output_ref(task, num_classes)
    return output


def test_output_layer_and_loss_check():
    accepts(checks.check_output_layer_and_loss, output_ref)
    accepts(checks.check_output_layer_and_loss, output_objects, num_classes=5)
    accepts(checks.check_output_layer_and_loss, output_two_softmax_units)
    check = checks.check_output_layer_and_loss
    rejects(check, _replace("regression", lambda c: (1, "sigmoid", "mse")), match="between 0 and 1")
    rejects(check, _replace("regression", lambda c: (1, None, "binary_crossentropy")), match="mean squared error")
    rejects(check, _replace("binary", lambda c: (1, "softmax", "binary_crossentropy")), match="always outputs 1.0")
    rejects(check, _replace("binary", lambda c: (1, "sigmoid", "mse")), match="binary_crossentropy")
    rejects(check, _replace("binary", lambda c: (1, None, "binary_crossentropy")), match="probability")
    rejects(check, _replace("multiclass", lambda c: (c, "sigmoid", "binary_crossentropy")), match="sum to 1")
    rejects(check, _replace("multiclass", lambda c: (1, "softmax", "sparse_categorical_crossentropy")),
            match="output units")
    rejects(check, _replace("multiclass", lambda c: (c, "softmax", "mse")), match="sparse_categorical_crossentropy")
    rejects(check, lambda task, num_classes=None: "mse", match="should return a tuple")


# ================================================================= 10 · cross-entropy from logits
def bce_ref(logits, y):
    return float(np.mean(np.maximum(logits, 0) - logits * y + np.log1p(np.exp(-np.abs(logits)))))


def bce_logaddexp(logits, y):                     # correct, written differently
    return np.mean(np.logaddexp(0.0, logits) - logits * y)


def bce_keras(logits, y):                          # correct: Keras's stable loss, in float32
    return float(keras.losses.BinaryCrossentropy(from_logits=True)(y[:, None], logits[:, None]))


def ce_ref(logits, labels):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(labels)), labels]))


def ce_one_hot(logits, labels):                   # correct: one-hot rows and a log-softmax
    one_hot = np.eye(logits.shape[1])[labels]
    m = logits.max(axis=1, keepdims=True)
    log_softmax = logits - m - np.log(np.sum(np.exp(logits - m), axis=1, keepdims=True))
    return -np.sum(one_hot * log_softmax) / len(labels)


def bce_through_sigmoid(logits, y):
    p = 1 / (1 + np.exp(-logits))
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def bce_clipped(logits, y):                        # Keras's treatment of probabilities
    p = np.clip(1 / (1 + np.exp(-np.clip(logits, -500, 500))), 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def ce_without_shift(logits, labels):
    return float(np.mean(np.log(np.exp(logits).sum(axis=1)) - logits[np.arange(len(labels)), labels]))


def ce_one_maximum(logits, labels):                # stable for one row, not for rows of unequal size
    shifted = logits - logits.max()
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-np.mean(log_probs[np.arange(len(labels)), labels]))


def ce_logsumexp(logits, labels):                  # correct: scipy's logsumexp, row by row
    from scipy.special import logsumexp
    return float(np.mean(logsumexp(logits, axis=1) - logits[np.arange(len(labels)), labels]))


def test_cross_entropy_check():
    check = checks.check_cross_entropy_from_logits
    accepts(check, bce_ref, ce_ref)
    accepts(check, bce_logaddexp, ce_one_hot, seed=4, num_examples=1, num_classes=2)
    accepts(check, bce_keras, ce_ref, seed=5, num_examples=40, num_classes=10)
    accepts(check, bce_ref, ce_logsumexp, seed=2)
    with np.errstate(all="ignore"):
        rejects(check, bce_through_sigmoid, ce_ref, match="-inf")
        rejects(check, bce_ref, ce_without_shift, match="maximum")
        rejects(check, bce_ref, ce_one_maximum, match="each row's own maximum")
        rejects(check, bce_clipped, ce_ref, match="clipped")
    rejects(check, lambda z, y: float(np.sum(np.logaddexp(0, z) - z * y)), ce_ref, match="summed")
    rejects(check, lambda z, y: bce_ref(z, 1 - y), ce_ref, match="swapped")
    rejects(check, lambda z, y: bce_ref(1 / (1 + np.exp(-z)), y), ce_ref, match="sigmoid is applied twice")
    rejects(check, bce_ref, lambda z, labels: float(-np.mean(z - z.max(1, keepdims=True)
                                                             - np.log(np.exp(z - z.max(1, keepdims=True)).sum(
                                                                 1, keepdims=True)))), match="every class")
    rejects(check, bce_ref, lambda z, labels: ce_ref(z, np.zeros_like(labels)), match="labels are not used")
    rejects(check, bce_ref, lambda z, labels: ce_ref(z, labels) / np.log(10), match="natural log")


# ------------------------------------------------------------------ reading questions
def test_reading_questions_accept_the_answer_in_any_case(capsys):
    accepts(checks.check_why_average, "b")
    accepts(checks.check_why_average, " B")
    accepts(checks.check_why_shuffle, "a")
    assert capsys.readouterr().out.count("\N{CHECK MARK}") == 3


@pytest.mark.parametrize("check, answer, words", [
    (checks.check_why_average, "a", "same minimiser"),
    (checks.check_why_average, "c", "differentiable"),
    (checks.check_why_average, "d", "noise"),
    (checks.check_why_average, "e", "one letter"),
    (checks.check_why_average, 2, "one letter"),
    (checks.check_why_shuffle, "d", "reproducibility"),
    (checks.check_why_shuffle, "b", "sorted"),
    (checks.check_why_shuffle, "c", "sorted"),
])
def test_reading_questions_explain_a_wrong_choice(check, answer, words):
    rejects(check, answer, match=words)
