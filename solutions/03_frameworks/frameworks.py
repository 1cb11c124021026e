# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Unit 03 · Deep-learning frameworks: the same model three ways
#
# In unit 02 you wrote every gradient of a two-layer network by hand. That is the best way
# to understand backpropagation and the worst way to build the next network: every new
# layer means new derivatives and new chances for a bug. A deep-learning *framework* does
# the bookkeeping for you. It stores data as **tensors**, feeds them in minibatches with a
# **data pipeline**, records the forward pass on a **gradient tape** and differentiates it
# automatically, and packs the whole training loop into a few lines of **Keras**.
#
# We use TensorFlow 2 with Keras 3 (the current API: `import keras`, `keras.optimizers.SGD`,
# `keras.layers.Dense`; older material writes `tf.keras`, `tf.optimizers` and
# `tf.losses`). And we train the *same* network as in unit 02, three ways: NumPy by hand,
# TensorFlow with a tape, and Keras, and check that they agree.
#
# **Learning goals.** After this unit you can
# 1. turn NumPy data into tensors of the right dtype and shape, and tell a tensor from a `tf.Variable`;
# 2. build a `tf.data` pipeline that shuffles and batches, and say how many steps one epoch takes;
# 3. compute gradients with `tf.GradientTape`, and show they equal your manual gradients from unit 02;
# 4. write a custom training loop: a scalar mean loss, one optimizer, a fixed number of epochs;
# 5. build, compile and fit the same network in Keras, with validation data and a learning curve;
# 6. (optional appendices) compare the three implementations on the same data (final loss, time per epoch), and explain what makes a framework slow or fast on a CPU;
# 7. count the parameters of a deeper network by hand and check the count with `model.summary()`;
# 8. choose the output layer and loss that match a task: regression, binary or multiclass classification;
# 9. compute binary and categorical cross-entropy stably from logits, and say what Keras's `from_logits=True` changes.
#
# **How to work.** As before: fill in each cell marked `# YOUR CODE HERE` (delete the
# `raise NotImplementedError()` line), run it, then run the check below it. A check prints a
# line starting with ✓ when it passes and says what looks wrong when it does not. Before you
# submit, run everything from the top, or run
# `dlcourse check notebooks/03_frameworks/frameworks.ipynb` in a terminal. Grading runs more
# tests of the same kind with other numbers.
#
# **Data.** The simulated gene-expression problem of unit 02: predict a target gene's
# expression (its log fold change) from eight landmark genes. 400 samples to train on, 400
# to validate on.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # hide TensorFlow's C++ info messages (set before the import)

import math
import time
import warnings

import numpy as np
import matplotlib.pyplot as plt
import tensorflow as tf
import keras

from course_lib.data.genes import gene_expression
from course_lib.mlp import TwoLayerNet, two_layer_loss
from course_lib.plotting import plot_learning_curves

# Keras warns that fit's shuffle=True is ignored for a tf.data pipeline: the pipeline shuffles itself
warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed")
keras.utils.set_random_seed(0)          # Keras's own shuffling of NumPy arrays, reproducible

train_data = gene_expression(num_samples=400, seed=0)
validation_data = gene_expression(num_samples=400, seed=1)
X_train, y_train = train_data.X, train_data.y
X_val, y_val = validation_data.X, validation_data.y
print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}; devices: "
      f"{', '.join(device.device_type for device in tf.config.list_physical_devices())}")
print("X_train:", X_train.shape, X_train.dtype, "  y_train:", y_train.shape, y_train.dtype)

# %% [markdown]
# ## 1 · Tensors, variables and dtypes
#
# A **tensor** is TensorFlow's array: like a NumPy array it has a shape and a dtype, and the
# familiar operations (`+`, `*`, `@`, `tf.reduce_mean`, ...) work on it. Two differences
# matter here:
#
# * **dtype.** NumPy computes in float64 by default; TensorFlow's layers and variables use
#   float32 (half the memory, much faster on GPUs, and precise enough for training).
#   `tf.convert_to_tensor(X_train)` *keeps* float64, and an operation that mixes float32 and
#   float64 is refused, not converted. Convert on purpose: `tf.convert_to_tensor(X, dtype=tf.float32)`.
# * **A tensor cannot change.** Parameters that training updates live in a
#   **`tf.Variable`**: it holds a tensor that `.assign(...)` (and an optimizer) can replace in
#   place, and a gradient tape watches it automatically. Data are tensors; parameters are variables.
#
# A third pitfall is not TensorFlow's but broadcasting's: predictions of shape `(N, 1)` minus
# targets of shape `(N,)` give an `(N, N)` matrix, without any error.

# %%
weights = tf.Variable(tf.zeros((8, 1)))            # float32, like every Keras layer
print("tf.convert_to_tensor(X_train).dtype:", tf.convert_to_tensor(X_train).dtype)
try:
    tf.matmul(tf.convert_to_tensor(X_train), weights)
except (tf.errors.InvalidArgumentError, TypeError) as error:
    print("float64 @ float32 ->", type(error).__name__, ":", str(error).splitlines()[0][:110], "...")
predictions = tf.zeros((4, 1))
targets = tf.constant([1.0, 2.0, 3.0, 4.0])
print("(4, 1) - (4,) has shape", (predictions - targets).shape, "<- not what a loss wants")

# %% [markdown]
# **Exercise 1.** Write `to_tensors(X, y)`: from NumPy `X (N, D)` and `y (N,)` return two
# float32 **tensors**, `X_tensor (N, D)` and `y_tensor (N, 1)`, a column like the network's output.
#
# *Hint:* `tf.convert_to_tensor(value, dtype=tf.float32)` and `tf.reshape(tensor, (-1, 1))`
# (the `-1` means "whatever makes the sizes fit").

# %% nbgrader={"grade": false, "grade_id": "to_tensors_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def to_tensors(X, y):
    """NumPy X (N, D), y (N,) -> float32 tensors X_tensor (N, D) and y_tensor (N, 1)."""
    ### BEGIN SOLUTION
    X_tensor = tf.convert_to_tensor(X, dtype=tf.float32)
    y_tensor = tf.reshape(tf.convert_to_tensor(y, dtype=tf.float32), (-1, 1))
    return X_tensor, y_tensor
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "to_tensors", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.frameworks import check_to_tensors

check_to_tensors(to_tensors)
### BEGIN HIDDEN TESTS
check_to_tensors(to_tensors, seed=3, num_examples=1, num_features=5)
check_to_tensors(to_tensors, seed=4, num_examples=9, num_features=1)
### END HIDDEN TESTS

# %% [markdown]
# Now the parameters. The network is unit 02's: `W1 (D, H)`, `b1 (H,)`, `W2 (H, 1)`,
# `b2 (1,)`. Rather than drawing new random numbers (the lecture's
# `tf.Variable(tf.random.uniform(...))` starts every weight positive, in $[0, 1)$: a poor
# start), we copy the zero-mean Glorot start of a `TwoLayerNet` from `course_lib.mlp`, so the
# NumPy, TensorFlow and Keras versions all begin from the same numbers.
#
# **Exercise 2.** Write `variables_from_params(params)`: from a dict of NumPy arrays return a
# dict with the same keys whose values are float32 `tf.Variable` copies (same shapes, same values).

# %% nbgrader={"grade": false, "grade_id": "variables_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def variables_from_params(params):
    """{"W1": (D, H), "b1": (H,), "W2": (H, 1), "b2": (1,)} NumPy -> the same keys, float32 tf.Variables."""
    ### BEGIN SOLUTION
    return {name: tf.Variable(value, dtype=tf.float32, name=name) for name, value in params.items()}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "variables", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.frameworks import check_variables_from_params

check_variables_from_params(variables_from_params)
### BEGIN HIDDEN TESTS
check_variables_from_params(variables_from_params, seed=6, input_dim=1, hidden_dim=9)
### END HIDDEN TESTS

# %%
start_params = TwoLayerNet(input_dim=8, hidden_dim=16, activation="sigmoid", seed=0).params
variables = variables_from_params(start_params)
for name, variable in variables.items():
    print(f"{name}: shape {tuple(variable.shape)}, dtype {variable.dtype.name}, mean {float(tf.reduce_mean(variable)):+.3f}")

# %% [markdown]
# ## 2 · A `tf.data` input pipeline
#
# Minibatch SGD needs, every epoch, the $N$ examples in a new random order, cut into batches.
# In unit 01 you wrote that with `rng.permutation`. A `tf.data.Dataset` describes the same
# recipe as a chain of steps, and runs it efficiently (in C++, in parallel with training when
# asked):
#
# ```python
# dataset = tf.data.Dataset.from_tensor_slices((X, y))   # one element per example: a pair (x, y)
# dataset = dataset.shuffle(buffer_size=N, seed=seed)     # a new random order at every pass
# dataset = dataset.batch(batch_size)                     # pairs (X_batch (B, D), y_batch (B, 1))
# for X_batch, y_batch in dataset:                        # one pass = one epoch
#     ...
# ```
#
# Three details decide whether this is right:
#
# * **shuffle, then batch.** Batching first and shuffling after only shuffles whole batches:
#   the same examples would meet in the same batch every epoch.
# * **`buffer_size`.** `shuffle` draws each next example at random from a *buffer* of
#   `buffer_size` examples. With a buffer of all $N$ the shuffle is uniform; a small buffer
#   only mixes neighbours.
# * **every epoch differs, the run repeats.** `reshuffle_each_iteration=True` (the default)
#   gives a new order at every pass, and `seed=seed` makes the sequence of orders the same
#   each time you run the notebook.
#
# One pass over $N$ examples in batches of $B$ takes $\lceil N / B \rceil$ steps: the last
# batch holds the $N \bmod B$ leftovers (unless you ask `batch` to `drop_remainder`).
#
# **Exercise 3.** Write `make_train_dataset(X, y, batch_size, seed=0)`: float32 pairs
# `(X_batch (B, D), y_batch (B, 1))`, shuffled uniformly before batching, reshuffled every
# epoch, reproducible with `seed`.
#
# *Hint:* convert first (`X.astype(np.float32)`, `y.reshape(-1, 1)`): `tf.data` keeps the dtype it is given.

# %% nbgrader={"grade": false, "grade_id": "make_train_dataset_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def make_train_dataset(X, y, batch_size, seed=0):
    """X (N, D), y (N,) NumPy -> tf.data.Dataset of float32 (X_batch (B, D), y_batch (B, 1)), reshuffled each epoch."""
    ### BEGIN SOLUTION
    pairs = tf.data.Dataset.from_tensor_slices((X.astype(np.float32), y.reshape(-1, 1).astype(np.float32)))
    shuffled = pairs.shuffle(buffer_size=len(X), seed=seed, reshuffle_each_iteration=True)
    return shuffled.batch(batch_size)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "make_train_dataset", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.frameworks import check_make_train_dataset

check_make_train_dataset(make_train_dataset)
### BEGIN HIDDEN TESTS
check_make_train_dataset(make_train_dataset, seed=7, num_examples=64, num_features=2, batch_size=16)
check_make_train_dataset(make_train_dataset, seed=8, num_examples=10, num_features=4, batch_size=3)
### END HIDDEN TESTS

# %% [markdown]
# **Reading question 1.** Why does the pipeline shuffle the examples *before* cutting them
# into batches, and anew each epoch? Store one letter in `why_shuffle`.
#
# * (a) so that every minibatch is a fair sample of the whole data set: data stored in some
#   order (by age, by hospital, by date) would otherwise give runs of similar minibatches,
#   and the steps would pull the weights one way and then another;
# * (b) so that training needs fewer epochs;
# * (c) because `tf.data` can only batch shuffled data;
# * (d) to make the result reproducible.

# %% nbgrader={"grade": false, "grade_id": "why_shuffle_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
why_shuffle = "a"
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "why_shuffle", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.frameworks import check_why_shuffle

check_why_shuffle(why_shuffle)

# %% [markdown]
# **Exercise 4.** Write `steps_per_epoch(num_examples, batch_size)`: the number of batches
# (optimizer steps) in one epoch, a whole number.

# %% nbgrader={"grade": false, "grade_id": "steps_per_epoch_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def steps_per_epoch(num_examples, batch_size):
    """Batches in one pass over num_examples examples: an int."""
    ### BEGIN SOLUTION
    return math.ceil(num_examples / batch_size)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "steps_per_epoch", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.frameworks import check_steps_per_epoch

check_steps_per_epoch(steps_per_epoch)
### BEGIN HIDDEN TESTS
check_steps_per_epoch(steps_per_epoch, cases=((1000, 64), (7, 7), (8, 7), (1, 50), (442, 32)))
### END HIDDEN TESTS

# %% [markdown]
# Your pipeline on the gene data: `len(dataset)` is the number of batches per pass, the
# batches have the promised shapes, and two passes see the examples in different orders.

# %%
train_dataset = make_train_dataset(X_train, y_train, batch_size=32, seed=0)
print("steps per epoch:", steps_per_epoch(len(X_train), 32), " len(train_dataset):", len(train_dataset))
print("element_spec:", train_dataset.element_spec)
batch_sizes = [int(X_batch.shape[0]) for X_batch, _ in train_dataset]
print("batch sizes in one epoch:", batch_sizes)
for epoch in (1, 2):
    X_first, y_first = next(iter(train_dataset))
    print(f"epoch {epoch}, first batch starts with targets {np.round(y_first.numpy()[:4, 0], 2)}")

# %% [markdown]
# ## 3 · Gradients from a tape
#
# `tf.GradientTape` is *automatic differentiation* in reverse mode, which is backpropagation
# done by the machine. Inside a `with tf.GradientTape() as tape:` block TensorFlow records
# every operation that touches a watched variable: the computational graph of unit 02, built
# as the code runs. `tape.gradient(loss, variables)` then walks that record backwards,
# multiplying local gradients exactly as you did by hand, and returns one gradient per
# variable, in the same structure (pass a dict, get a dict).
#
# One correction to the lecture's loop matters here, and one point of style:
#
# * **The loss must be one number, a mean.** `tf.losses.MSE(y, y_pred)` (today
#   `keras.losses.mean_squared_error`) returns one loss *per example*, shape `(N,)`.
#   `tape.gradient` of a vector silently differentiates the **sum** of its entries, so every
#   gradient comes out $N$ times the gradient of the mean. Reduce first:
#   `tf.reduce_mean(tf.square(scores - y))`.
# * **Where `tape.gradient` goes.** The lecture calls `tape.gradient` and `apply_gradients`
#   inside the `with` block. On the default tape that is harmless: `gradient()` first stops
#   the recording (TensorFlow pops the tape), so nothing more is recorded and the numbers and
#   the cost are the same. We write the call after the block because it shows at a glance
#   that the tape only needs the forward pass and the loss. With `persistent=True` (a tape
#   you may call `gradient` on more than once) the place matters: that tape keeps recording,
#   the gradient computation included, which costs time and memory, and TensorFlow warns.
#   The checks never grade the place of a call; the cell after the exercise shows both tapes.
#
# **Exercise 5.** Write `forward(X, variables)`, the network's scores
# `sigmoid(X @ W1 + b1) @ W2 + b2` of shape `(N, 1)`, and `tape_gradients(X, y, variables)`
# returning `(loss, grads)`: the MSE as a scalar tensor and a dict of gradients keyed like
# `variables`. The check calls it in **float64** and compares with unit 02's manual gradients
# from `course_lib.mlp` to 6 significant digits, so do not convert dtypes inside.
#
# *Hint:* `tf.sigmoid`, `tf.matmul` (or `@`), `tf.reduce_mean`, `tf.square`.

# %% nbgrader={"grade": false, "grade_id": "tape_gradients_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def forward(X, variables):
    """Scores of the sigmoid network: X (N, D) -> (N, 1)."""
    ### BEGIN SOLUTION
    hidden = tf.sigmoid(tf.matmul(X, variables["W1"]) + variables["b1"])
    return tf.matmul(hidden, variables["W2"]) + variables["b2"]
    ### END SOLUTION


def tape_gradients(X, y, variables):
    """X (N, D), y (N, 1) tensors -> (loss scalar, {"W1": dW1 (D, H), "b1": db1 (H,), "W2": dW2 (H, 1), "b2": db2 (1,)})."""
    ### BEGIN SOLUTION
    with tf.GradientTape() as gradient_tape:
        loss = tf.reduce_mean(tf.square(forward(X, variables) - y))
    grads = gradient_tape.gradient(loss, variables)
    return loss, grads
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "tape_gradients", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.frameworks import check_tape_gradients

check_tape_gradients(tape_gradients)
### BEGIN HIDDEN TESTS
check_tape_gradients(tape_gradients, seed=11, num_examples=1, input_dim=3, hidden_dim=2)
check_tape_gradients(tape_gradients, seed=12, num_examples=20, input_dim=8, hidden_dim=16)
### END HIDDEN TESTS

# %% [markdown]
# The check compared random networks. Here is the comparison on the gene data, for the
# starting weights of section 1, in float64: the tape against unit 02's backward pass, and
# what the lecture's per-example loss would have given instead.

# %%
variables64 = {name: tf.Variable(value) for name, value in start_params.items()}     # float64 copies
X64, y64 = tf.constant(X_train), tf.constant(y_train.reshape(-1, 1))
loss_tape, grads_tape = tape_gradients(X64, y64, variables64)
loss_manual, grads_manual = two_layer_loss(X_train, y_train.reshape(-1, 1), start_params, "sigmoid")
print(f"loss: tape {float(loss_tape):.12f}   by hand {loss_manual:.12f}")
for name in ("W1", "b1", "W2", "b2"):
    difference = np.max(np.abs(grads_tape[name].numpy() - grads_manual[name]))
    print(f"d{name}: largest difference {difference:.1e}")
with tf.GradientTape() as lecture_tape:
    per_example = keras.losses.mean_squared_error(y64, forward(X64, variables64))      # shape (N,)
lecture_dW2 = lecture_tape.gradient(per_example, variables64["W2"])
print(f"per-example loss has shape {tuple(per_example.shape)}; its dW2 / the mean's dW2 = "
      f"{float(tf.reduce_mean(lecture_dW2 / grads_tape['W2'])):.1f} (= N)")

# %% [markdown]
# **Reading question 2.** The lecture's per-example loss gave a gradient $N$ times too large.
# Why does the course *average* the squared errors over the $N$ examples rather than sum
# them? Store one letter in `why_average`.
#
# * (a) the average is smaller than the sum, which makes training more stable;
# * (b) the gradient of a sum grows with $N$, so a learning rate that works for one data set
#   (or batch) size would be too large for a bigger one; the average keeps one learning rate
#   valid for any $N$;
# * (c) a sum cannot be differentiated;
# * (d) averaging removes the noise in the targets.

# %% nbgrader={"grade": false, "grade_id": "why_average_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
why_average = "b"
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "why_average", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.frameworks import check_why_average

check_why_average(why_average)

# %% [markdown]
# Where the call sits, measured. A default tape stops recording when `gradient` is called,
# inside the block or not; a persistent tape is still recording, so what follows the call,
# here the gradient computation itself, lands on the tape (useful only for a second
# derivative, which is what `persistent=True` inside the block is for).

# %%
with tf.GradientTape() as default_tape:
    loss_inside = tf.reduce_mean(tf.square(forward(X64, variables64) - y64))
    grads_inside = default_tape.gradient(loss_inside, variables64)
    print("default tape still recording after gradient():", default_tape._recording)
print("same gradients as after the block:",
      all(np.allclose(grads_inside[name].numpy(), grads_tape[name].numpy()) for name in grads_tape))
with tf.GradientTape(persistent=True) as persistent_tape:
    loss_inside = tf.reduce_mean(tf.square(forward(X64, variables64) - y64))
    dW2 = persistent_tape.gradient(loss_inside, variables64["W2"])    # TensorFlow logs a warning here
    print("persistent tape still recording after gradient():", persistent_tape._recording)
    dW2_total = tf.reduce_sum(dW2)                                      # recorded too
second = persistent_tape.gradient(dW2_total, variables64["W2"])       # possible only because dW2 was recorded
print("a derivative of the gradient, shape", tuple(second.shape))
del persistent_tape                                                           # a persistent tape holds its record until deleted

# %% [markdown]
# ## 4 · A custom training loop
#
# One SGD step is: forward pass and loss on the tape, the gradients (taken after the block),
# then the optimizer's update. `keras.optimizers.SGD(learning_rate=...)` keeps the learning rate and
# its `apply_gradients(pairs)` performs `variable.assign_sub(learning_rate * gradient)` for each
# `(gradient, variable)` pair.
#
# **Exercise 6.** Write `train_step(X_batch, y_batch, variables, optimizer)`: one SGD step of
# the mean loss on one batch, updating all four variables in place; return the batch's loss
# (computed before the update).
#
# *Hint:* `variable_list = list(variables.values())`, then
# `optimizer.apply_gradients(zip(gradients, variable_list))`.

# %% nbgrader={"grade": false, "grade_id": "train_step_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_step(X_batch, y_batch, variables, optimizer):
    """One SGD step: X_batch (B, D), y_batch (B, 1), dict of tf.Variables, a Keras optimizer -> loss (scalar)."""
    ### BEGIN SOLUTION
    variable_list = list(variables.values())
    with tf.GradientTape() as step_tape:
        loss = tf.reduce_mean(tf.square(forward(X_batch, variables) - y_batch))
    gradients = step_tape.gradient(loss, variable_list)
    optimizer.apply_gradients(zip(gradients, variable_list))
    return loss
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "train_step", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.frameworks import check_train_step

check_train_step(train_step)
### BEGIN HIDDEN TESTS
check_train_step(train_step, seed=21, num_examples=3, input_dim=6, hidden_dim=2, learning_rate=0.5)
check_train_step(train_step, seed=22, num_examples=32, input_dim=8, hidden_dim=16, learning_rate=0.01)
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 7.** Write `train_loop(train_dataset, variables, num_epochs, learning_rate)`:
# create one `keras.optimizers.SGD` with the learning rate, then for exactly `num_epochs`
# epochs (never `while True`) take one `train_step` per batch of the dataset. Return `history`,
# a list with one number per epoch: the epoch's mean loss per *example*, that is the batch
# losses weighted by batch size, $\sum_k B_k L_k / \sum_k B_k$. This is the course's one
# convention for an epoch's training loss, and what Keras's `fit` and `course_lib.tape`
# report; a plain mean of the batch losses would give the smaller last batch as much weight
# as a full one.
#
# *Hint:* `float(loss)` turns a scalar tensor into a Python number; `len(X_batch)` is $B_k$.

# %% nbgrader={"grade": false, "grade_id": "train_loop_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_loop(train_dataset, variables, num_epochs, learning_rate):
    """SGD for num_epochs epochs over a dataset of (X_batch, y_batch) -> history, one loss per epoch (per example)."""
    ### BEGIN SOLUTION
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
    history = []
    for epoch in range(num_epochs):
        total, count = 0.0, 0
        for X_batch, y_batch in train_dataset:
            total += float(train_step(X_batch, y_batch, variables, optimizer)) * len(X_batch)
            count += len(X_batch)
        history.append(total / count)
    return history
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "train_loop", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.frameworks import check_train_loop

check_train_loop(train_loop)
### BEGIN HIDDEN TESTS
check_train_loop(train_loop, seed=31, num_examples=30, input_dim=5, hidden_dim=3, batch_size=7, num_epochs=3,
                 learning_rate=0.5)
### END HIDDEN TESTS

# %% [markdown]
# Your loop on the gene data, from the shared starting weights, for ten epochs. These
# settings (learning rate 0.25, batches of 32) are used for all implementations in this unit.

# %%
LEARNING_RATE, BATCH_SIZE, NUM_EPOCHS = 0.25, 32, 30
tape_variables = variables_from_params(start_params)
tape_history = train_loop(make_train_dataset(X_train, y_train, BATCH_SIZE, seed=0), tape_variables, 10, LEARNING_RATE)
print("your tape loop, loss per example of epochs 1-10:", np.round(tape_history, 3))

# %% [markdown]
# The first epoch's mean is high: at this learning rate the loss climbs for a few dozen
# steps before it settles and falls (print the batch losses of the first epoch to see it).
# The learning rate is close to the edge of stability; 0.1 avoids the bump but needs more
# epochs. Unit 05 comes back to such choices.

# %% [markdown]
# ## 5 · The same network in Keras
#
# Keras packs the model, the loss, the optimizer and the loop into three calls:
#
# * a model: `keras.Sequential([keras.Input(shape=(D,)), keras.layers.Dense(H, activation="sigmoid"), keras.layers.Dense(1)])`.
#   A `Dense(units)` layer holds a kernel `(inputs, units)` and a bias `(units,)`, exactly
#   unit 02's `W` and `b`, and computes `activation(x @ kernel + bias)`; without an
#   `activation` it is linear, the right output for regression. `keras.Input` tells the model
#   its input shape, so it can create its weights at once.
# * `model.compile(optimizer=..., loss="mse")` chooses the optimizer and the loss (Keras's
#   `"mse"` is the scalar mean);
# * `model.fit(X, y, epochs=..., batch_size=..., validation_data=(X_val, y_val))` runs the
#   loop: it shuffles every epoch, takes $\lceil N/B \rceil$ steps per epoch and, after each
#   epoch, measures the loss on the validation data. It returns a `History` whose
#   `.history["loss"]` and `.history["val_loss"]` hold one number per epoch.
#
# **Exercise 8.** Write `build_two_layer_model(input_dim, hidden_dim)` returning the
# uncompiled Keras model: inputs of `input_dim` features, `hidden_dim` sigmoid units, one linear output.

# %% nbgrader={"grade": false, "grade_id": "build_two_layer_model_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def build_two_layer_model(input_dim, hidden_dim):
    """Keras model: (None, D) -> Dense(H, sigmoid) -> Dense(1)."""
    ### BEGIN SOLUTION
    return keras.Sequential([
        keras.Input(shape=(input_dim,)),
        keras.layers.Dense(hidden_dim, activation="sigmoid"),
        keras.layers.Dense(1),
    ])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "build_two_layer_model", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.frameworks import check_build_two_layer_model

check_build_two_layer_model(build_two_layer_model)
### BEGIN HIDDEN TESTS
check_build_two_layer_model(build_two_layer_model, input_dim=3, hidden_dim=5)
check_build_two_layer_model(build_two_layer_model, input_dim=10, hidden_dim=1)
### END HIDDEN TESTS

# %% [markdown]
# `model.summary()` lists the layers, their output shapes (`None` stands for the batch size,
# unknown until data arrive) and their parameters: $8 \cdot 16 + 16 = 144$ and $16 + 1 = 17$.

# %%
keras_model = build_two_layer_model(8, 16)
keras_model.summary()

# %% [markdown]
# **Exercise 9.** Write `train_keras_model(model, X_train, y_train, X_val, y_val, num_epochs, learning_rate, batch_size)`:
# compile `model` with `keras.optimizers.SGD(learning_rate=...)` and the MSE, fit it for
# `num_epochs` epochs in batches of `batch_size` with the validation data, quietly
# (`verbose=0`), and return what `fit` returns.

# %% nbgrader={"grade": false, "grade_id": "train_keras_model_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_keras_model(model, X_train, y_train, X_val, y_val, num_epochs, learning_rate, batch_size):
    """compile + fit with SGD and the MSE on (X_train (N, D), y_train (N,)), validating on (X_val, y_val) -> History."""
    ### BEGIN SOLUTION
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate), loss="mse")
    return model.fit(X_train, y_train, epochs=num_epochs, batch_size=batch_size,
                     validation_data=(X_val, y_val), verbose=0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "train_keras_model", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.frameworks import check_train_keras_model

check_train_keras_model(train_keras_model)
### BEGIN HIDDEN TESTS
check_train_keras_model(train_keras_model, seed=41, num_examples=30, num_val=10, input_dim=5, hidden_dim=3,
                        num_epochs=3, learning_rate=0.1, batch_size=8)
### END HIDDEN TESTS

# %% [markdown]
# Keras on the gene data, from the same starting weights (copied into the layers with
# `course_lib.models.set_two_layer_params`), 30 epochs:

# %%
# the course's references, for the comparisons from here on (your answers above are your own)
from course_lib import models, tape

keras_model = build_two_layer_model(8, 16)
models.set_two_layer_params(keras_model, start_params)
started = time.perf_counter()
keras_history = train_keras_model(keras_model, X_train, y_train, X_val, y_val, NUM_EPOCHS, LEARNING_RATE, BATCH_SIZE)
keras_arrays_ms = 1000 * (time.perf_counter() - started) / NUM_EPOCHS
plot_learning_curves({"training (mean over the epoch's examples)": keras_history.history["loss"],
                      "validation (after each epoch)": keras_history.history["val_loss"]},
                     xlabel="epoch", ylabel="MSE", title="Keras: the two-layer network on the gene data")
plt.axhline(train_data.noise_std ** 2, color="grey", linestyle=":", label="noise floor")
plt.legend()
plt.show()
print(f"{keras_arrays_ms:.0f} ms per epoch")

# %% [markdown]
# The training curve is the mean of the batch losses *during* the epoch, while the weights
# still change (hence its high first point: the bump of the first steps); the validation
# curve is measured once, after each epoch. After the first drop both crawl along a plateau
# for several epochs before they fall again: a sigmoid network trained by SGD often waits a
# while before its hidden units pick up the next feature of the data. Thirty epochs do not
# reach the noise floor; more epochs would (unit 02 trained for 150).
#
# ## 6 · Deeper networks, parameter by parameter
#
# The lecture's "6-layer network" stacks five hidden `Dense(3, activation="sigmoid")` layers
# and a linear `Dense(1)`. Adding layers in Keras is one line each; knowing what they cost is
# your job. A `Dense` layer from $n_\text{in}$ to $n_\text{out}$ units holds a kernel
# $(n_\text{in}, n_\text{out})$ and one bias per output unit:
#
# $$\text{parameters} = n_\text{in}\, n_\text{out} + n_\text{out}.$$
#
# **Exercise 10.** Write `dense_parameter_counts(layer_sizes)`: for `layer_sizes = [D, H1, ..., C]`
# (the input width first) return a list with the number of parameters of each Dense layer,
# one per pair of neighbouring sizes.

# %% nbgrader={"grade": false, "grade_id": "dense_parameter_counts_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def dense_parameter_counts(layer_sizes):
    """[D, H1, ..., C] -> [parameters of each Dense layer], len(layer_sizes) - 1 whole numbers."""
    ### BEGIN SOLUTION
    return [n_in * n_out + n_out for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:])]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "dense_parameter_counts", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.frameworks import check_dense_parameter_counts

check_dense_parameter_counts(dense_parameter_counts)
### BEGIN HIDDEN TESTS
check_dense_parameter_counts(dense_parameter_counts, layer_sizes=(10, 64, 32, 1))
check_dense_parameter_counts(dense_parameter_counts, layer_sizes=(784, 128, 10))
### END HIDDEN TESTS

# %% [markdown]
# Your counts against Keras's own, for the lecture's network on our eight landmarks:

# %%
deep_model = models.deep_mlp(input_dim=8, hidden_units=(3, 3, 3, 3, 3), output_dim=1, activation="sigmoid")
deep_model.summary()
by_hand = dense_parameter_counts([8, 3, 3, 3, 3, 3, 1])
by_keras = [layer.count_params() for layer in deep_model.layers]
print("by hand:", by_hand, "=", sum(by_hand), "   Keras:", by_keras, "=", deep_model.count_params())

# %% [markdown]
# Six layers, yet only 79 parameters: fewer than the 161 of our one-hidden-layer network with
# 16 units. Depth and size are different things. Fully connected networks are usually kept
# shallow (two or three layers, with widths such as 16 to 1,000 depending on how much data
# there is), because parameter counts grow with the *product* of neighbouring widths: one
# `Dense(1000)` after another `Dense(1000)` alone holds a million parameters.
#
# ## 7 · The output layer and the loss go together
#
# The hidden layers can be anything; the last layer and the loss must match the question:
#
# | task | output layer | loss |
# | --- | --- | --- |
# | regression (a real number, e.g. a log fold change) | `Dense(1)`, no activation | mean squared error, `"mse"` |
# | binary classification (e.g. up-regulated or not) | `Dense(1, activation="sigmoid")`: $P(\text{class } 1)$ | `"binary_crossentropy"` |
# | $C$ classes (e.g. down / unchanged / up) | `Dense(C, activation="softmax")`: $C$ probabilities summing to 1 | `"sparse_categorical_crossentropy"` for labels $0..C-1$ (`"categorical_crossentropy"` for one-hot rows) |
#
# A sigmoid on a regression output caps its predictions at 1; a softmax over a single unit
# always outputs 1; independent sigmoids for $C$ exclusive classes need not sum to 1.
# (Section 8 computes cross-entropy itself, from the scores before the sigmoid or softmax.)
#
# **Exercise 11.** Write `output_layer_and_loss(task, num_classes=None)` returning
# `(units, activation, loss)` for `task` in `"regression"`, `"binary"`, `"multiclass"`, with
# Keras names (`None` for no activation).

# %% nbgrader={"grade": false, "grade_id": "output_layer_and_loss_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def output_layer_and_loss(task, num_classes=None):
    """task, number of classes -> (units, activation or None, loss name) for the output layer."""
    ### BEGIN SOLUTION
    if task == "regression":
        return 1, None, "mse"
    if task == "binary":
        return 1, "sigmoid", "binary_crossentropy"
    if task == "multiclass":
        return num_classes, "softmax", "sparse_categorical_crossentropy"
    raise ValueError(f"unknown task {task!r}")
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "output_layer_and_loss", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.frameworks import check_output_layer_and_loss

check_output_layer_and_loss(output_layer_and_loss)
### BEGIN HIDDEN TESTS
check_output_layer_and_loss(output_layer_and_loss, num_classes=7)
### END HIDDEN TESTS

# %% [markdown]
# The three heads on the gene data: the same hidden layer, three questions. Each model is
# compiled with your choice and trained for a few epochs; for the classifiers the target is
# turned into labels (up-regulated means a log fold change above 0; the three classes split
# at $\pm 0.5$).

# %%
labels = {"regression": y_train,
          "binary": (y_train > 0).astype(int),
          "multiclass": np.digitize(y_train, [-0.5, 0.5])}            # 0 down, 1 unchanged, 2 up
for task, target in labels.items():
    units, activation, loss = output_layer_and_loss(task, num_classes=3)
    head_model = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(16, activation="sigmoid"),
                                   keras.layers.Dense(units, activation=activation)])
    head_model.compile(optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE), loss=loss)
    head_model.fit(tape.make_dataset(X_train, target, 32, seed=0), epochs=5, verbose=0)
    outputs = head_model(X_val[:2].astype(np.float32)).numpy()
    print(f"{task:10s} output layer Dense({units}, {activation}), loss {loss}: first two outputs "
          f"{np.round(outputs.astype(float), 2).tolist()}")

# %% [markdown]
# ## 8 · Cross-entropy, computed from logits
#
# A classifier's last layer produces scores called **logits**: one number $z$ for a yes/no
# question, or $z_1, \dots, z_C$ for $C$ classes. The sigmoid $p = \sigma(z) = 1/(1 + e^{-z})$
# and the softmax $p_c = e^{z_c} / \sum_k e^{z_k}$ turn them into probabilities, and the loss is
# the **cross-entropy**: minus the log of the probability the network gave to the true answer,
# averaged over the $N$ examples,
#
# $$L_\text{binary} = \frac{1}{N}\sum_n -\big[y_n \log p_n + (1 - y_n)\log(1 - p_n)\big], \qquad
#   L_\text{categorical} = \frac{1}{N}\sum_n -\log p_{n, y_n},$$
#
# with $y_n \in \{0, 1\}$ in the first and an integer class $y_n \in \{0, \dots, C-1\}$ in the
# second. A confident wrong answer costs a lot, a confident right one almost nothing. Paired
# with its sigmoid or softmax, the gradient with respect to the logits is simply
# $(p - y)/N$ (one-hot $y$ for classes): it does not vanish when the sigmoid saturates, as it
# would for the MSE on a sigmoid output.
#
# Through the probabilities these formulas break for large logits. In float64, $\sigma(40)$
# is exactly 1.0, so $\log(1 - p) = -\infty$ (float32 gets there near 17), and $e^{710}$
# overflows. Rewritten in the logits they are exact at any size:
#
# * binary: $-\big[y\log\sigma(z) + (1-y)\log(1-\sigma(z))\big] = \max(z, 0) - z y + \log(1 + e^{-|z|})$;
# * categorical: $-\log p_y = \log\sum_k e^{z_k} - z_y$, with the log-sum-exp computed as
#   $m + \log\sum_k e^{z_k - m}$ for $m = \max_k z_k$ (the same shift of every logit leaves
#   the softmax unchanged, and no exponent is positive any more).
#
# Keras does this when it is told that the outputs are logits: an output layer *without*
# activation, `Dense(1)` or `Dense(C)`, and `keras.losses.BinaryCrossentropy(from_logits=True)`
# or `keras.losses.SparseCategoricalCrossentropy(from_logits=True)`. With a sigmoid or
# softmax layer and the plain loss, Keras sees only probabilities and clips them to
# $[10^{-7}, 1 - 10^{-7}]$, which caps any example's loss near 16. Both pairings are correct
# choices for section 7's table; the logits form is the numerically safer one.
#
# **Exercise 12.** Write `binary_cross_entropy(logits, y)` for logits and labels of shape
# `(N,)`, and `categorical_cross_entropy(logits, labels)` for logits `(N, C)` and integer
# labels `(N,)`. Each returns the mean loss as a float, computed in NumPy from the logits.
# The check tries logits up to 900 in size.
#
# *Hint:* `np.log1p` and `np.abs` for the first; `logits.max(axis=1, keepdims=True)` for the second.

# %% nbgrader={"grade": false, "grade_id": "cross_entropy_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def binary_cross_entropy(logits, y):
    """Mean binary cross-entropy from logits (N,) and labels (N,) in {0, 1} -> float."""
    ### BEGIN SOLUTION
    return float(np.mean(np.maximum(logits, 0.0) - logits * y + np.log1p(np.exp(-np.abs(logits)))))
    ### END SOLUTION


def categorical_cross_entropy(logits, labels):
    """Mean categorical cross-entropy from logits (N, C) and integer labels (N,) -> float."""
    ### BEGIN SOLUTION
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-np.mean(log_probs[np.arange(len(labels)), labels]))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "cross_entropy", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.frameworks import check_cross_entropy_from_logits

check_cross_entropy_from_logits(binary_cross_entropy, categorical_cross_entropy)
### BEGIN HIDDEN TESTS
check_cross_entropy_from_logits(binary_cross_entropy, categorical_cross_entropy, seed=51, num_examples=1,
                                num_classes=2)
check_cross_entropy_from_logits(binary_cross_entropy, categorical_cross_entropy, seed=52, num_examples=40,
                                num_classes=10)
### END HIDDEN TESTS

# %% [markdown]
# Your losses against Keras's `from_logits=True`, and the same numbers computed through the
# probabilities: the last two logits are far out.

# %%
z_demo, y_demo = np.array([-3.0, 0.5, 40.0, -800.0]), np.array([0.0, 1.0, 0.0, 1.0])
logits_demo, labels_demo = np.array([[2.0, -1.0, 0.5], [800.0, 0.0, -5.0]]), np.array([2, 1])
keras_binary = keras.losses.BinaryCrossentropy(from_logits=True)(y_demo, z_demo)
keras_categorical = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels_demo, logits_demo)
with np.errstate(all="ignore"):
    p_demo = 1.0 / (1.0 + np.exp(-z_demo))
    through_probabilities = np.mean(-(y_demo * np.log(p_demo) + (1 - y_demo) * np.log(1 - p_demo)))
    softmax_demo = np.exp(logits_demo) / np.exp(logits_demo).sum(axis=1, keepdims=True)
    through_softmax = np.mean(-np.log(softmax_demo[np.arange(2), labels_demo]))
print(f"binary:      yours {binary_cross_entropy(z_demo, y_demo):.4f}   Keras {float(keras_binary):.4f}   "
      f"through probabilities {through_probabilities}")
print(f"categorical: yours {categorical_cross_entropy(logits_demo, labels_demo):.4f}   Keras "
      f"{float(keras_categorical):.4f}   through the softmax {through_softmax}")

# %% [markdown]
# ## Appendix A (optional) · One network, three implementations, timed
#
# This appendix and the next are for reading when you want to know where a framework
# spends its time; nothing in them is graded, and the unit is complete without them.
#
# **Same numbers.** First the strict test: do NumPy (unit 02's `TwoLayerNet.train`), a tape
# loop and Keras's `fit` compute the *same* training, number for number? For that they need
# the same start, the same batches in the same order, and the same arithmetic. So this cell
# runs all three in float64 (Keras included, its loss too) and feeds the framework versions
# with `tape.numpy_order_dataset`, which replays `TwoLayerNet.train`'s shuffles exactly. (Our
# learning rate, 0.25, also helps: float32, the type Keras stores the learning rate in, holds
# it exactly.) The loops are the course's reference versions: `tape.train_with_tape` and
# `model.fit`.

# %%
SAME_EPOCHS = 5
numpy_net = TwoLayerNet(input_dim=8, hidden_dim=16, activation="sigmoid", seed=0)
numpy_net.train(X_train, y_train, learning_rate=LEARNING_RATE, num_epochs=SAME_EPOCHS, batch_size=BATCH_SIZE, seed=0)

tape_module = tape.TwoLayerModule(start_params, dtype="float64")
tape.train_with_tape(tape_module, tape.numpy_order_dataset(X_train, y_train, BATCH_SIZE, seed=0),
                     num_epochs=SAME_EPOCHS, learning_rate=LEARNING_RATE)

keras64 = models.two_layer_model(8, 16, params=start_params, dtype="float64")
keras64.compile(optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE),
                loss=keras.losses.MeanSquaredError(dtype="float64"))
keras64.fit(tape.numpy_order_dataset(X_train, y_train, BATCH_SIZE, seed=0), epochs=SAME_EPOCHS, verbose=0)

keras_params = models.two_layer_params(keras64)
for name in ("W1", "b1", "W2", "b2"):
    print(f"{name}: |NumPy - tape| <= {np.max(np.abs(numpy_net.params[name] - tape_module.params[name])):.1e}, "
          f"|NumPy - Keras| <= {np.max(np.abs(numpy_net.params[name] - keras_params[name])):.1e}")

# %% [markdown]
# After $5 \times 13 = 65$ steps the three agree to about $10^{-15}$, the rounding error of
# float64. The framework computes exactly the gradients you derived by hand.
#
# **Side by side.** Now the everyday setting: float32 for TensorFlow and Keras, 30 epochs,
# and again the same batches for everyone, so that any difference in the result can only come
# from the arithmetic. Four implementations: NumPy; your `train_loop`, which runs *eagerly*
# (TensorFlow executes each operation as Python reaches it); the course's
# `tape.train_with_tape`, whose step is wrapped in `tf.function` (traced once into a graph,
# then run as a graph); and Keras's `fit`, which compiles its step the same way. The first
# epoch of a compiled loop includes the tracing, so the table shows it apart. (Replaying
# NumPy's shuffles costs the framework rows about 10 ms per epoch: a Python call and a
# regrouping of the examples every epoch. Appendix B times `tf.data`'s own shuffling.)

# %%
def mse_of(predictions, targets):
    """MSE of predictions (N, 1) or (N,) against targets (N,), in float64."""
    return float(np.mean((np.asarray(predictions, dtype=np.float64).reshape(-1) - targets) ** 2))


def same_batches():
    """A fresh float32 pipeline that replays TwoLayerNet.train's batches (seed 0)."""
    return tape.numpy_order_dataset(X_train, y_train, BATCH_SIZE, seed=0, dtype="float32")


X_train32, X_val32 = X_train.astype(np.float32), X_val.astype(np.float32)
results = {}

numpy_net = TwoLayerNet(input_dim=8, hidden_dim=16, activation="sigmoid", seed=0)
started = time.perf_counter()
numpy_net.train(X_train, y_train, learning_rate=LEARNING_RATE, num_epochs=NUM_EPOCHS, batch_size=BATCH_SIZE, seed=0)
per_epoch = (time.perf_counter() - started) / NUM_EPOCHS
results["NumPy, float64 (TwoLayerNet.train)"] = (per_epoch, per_epoch, mse_of(numpy_net.forward(X_train), y_train),
                                                 mse_of(numpy_net.forward(X_val), y_val))

eager_variables = variables_from_params(start_params)
started = time.perf_counter()
train_loop(same_batches(), eager_variables, NUM_EPOCHS, LEARNING_RATE)
per_epoch = (time.perf_counter() - started) / NUM_EPOCHS
results["tape, eager (your train_loop)"] = (per_epoch, per_epoch, mse_of(forward(X_train32, eager_variables), y_train),
                                            mse_of(forward(X_val32, eager_variables), y_val))

compiled_module = tape.TwoLayerModule(start_params)
compiled_history = tape.train_with_tape(compiled_module, same_batches(), NUM_EPOCHS, LEARNING_RATE)
results["tape, tf.function (tape.train_with_tape)"] = (
    compiled_history["seconds"][0], float(np.median(compiled_history["seconds"][1:])),
    mse_of(compiled_module(X_train32), y_train), mse_of(compiled_module(X_val32), y_val))

fit_model = models.two_layer_model(8, 16, params=start_params)
fit_model.compile(optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE), loss="mse")
timer = models.EpochTimer()
fit_model.fit(same_batches(), epochs=NUM_EPOCHS, verbose=0, callbacks=[timer])
results["Keras fit (tf.data input)"] = (timer.seconds[0], float(np.median(timer.seconds[1:])),
                                        mse_of(fit_model(X_train32), y_train), mse_of(fit_model(X_val32), y_val))

print(f"{'implementation':42s} {'epoch 1':>9s} {'later':>9s} {'training MSE':>13s} {'validation MSE':>15s}")
for label, (first, later, train_mse, val_mse) in results.items():
    print(f"{label:42s} {1000 * first:6.1f} ms {1000 * later:6.1f} ms {train_mse:13.5f} {val_mse:15.5f}")

# %% [markdown]
# Reading the table:
#
# * **The results agree** to four or five digits: same model, same batches, and float32
#   rounding is the only difference. (With *different* shuffles they would not: on this
#   problem SGD at this learning rate ends anywhere between about 0.13 and 0.20 in validation
#   MSE after 30 epochs, depending on the order of the batches alone. Compare runs on the same
#   batches, or over several seeds.)
# * **NumPy is the fastest here.** A batch is a handful of products of matrices with at most
#   32 × 16 entries; NumPy's cost per call is a few microseconds.
# * **Eager TensorFlow is the slowest.** Each of the few dozen operations of a step (forward,
#   tape, backward, update) is dispatched separately from Python, at a cost far above the
#   arithmetic.
# * **Compiling the step** with `tf.function` (and Keras's `fit`, which does the same) removes
#   most of that, after a one-off tracing cost in the first epoch.
#
# None of this makes NumPy the better tool in general: with millions of parameters, large
# batches or a GPU, the arithmetic dominates, and the framework's compiled kernels (and its
# automatic gradients) win by far.
#
# ## Appendix B (optional) · What costs time in Keras on a CPU: input, batch size, steps per execution
#
# For a small model the time per epoch is mostly *overhead per step* and *overhead per epoch*.
# Three settings decide how much of it you pay:
#
# * **the input.** Given NumPy arrays, `fit` wraps them in a `tf.data` pipeline of its own
#   (parallel shuffling and slicing), whose start-up it pays at every epoch, and once more
#   for validation arrays. A simple ready pipeline (like `tape.make_dataset`) is cheaper
#   for small data.
# * **the batch size.** Larger batches mean fewer steps per epoch, $\lceil N/B \rceil$, so
#   less overhead per epoch (but also fewer updates per epoch, which changes the learning).
# * **`steps_per_execution`** in `model.compile`: Keras runs that many steps inside one
#   compiled call and returns to Python once per group. The learning stays the same.
#
# The tables are measured live: 400 examples, median of epochs 2-4 (epoch 1 includes tracing).

# %%
def keras_ms_per_epoch(batch_size, steps_per_execution=1, inputs="tf.data", validation=False, num_epochs=4):
    """Median wall time of epochs 2..num_epochs of Keras fit on the gene data, in ms."""
    model = models.two_layer_model(8, 16, params=start_params)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse",
                  steps_per_execution=steps_per_execution)
    epoch_timer = models.EpochTimer()
    if inputs == "tf.data":
        data = {"x": tape.make_dataset(X_train, y_train, batch_size, seed=0)}
        if validation:
            data["validation_data"] = tape.make_dataset(X_val, y_val, len(X_val), shuffle=False)
    else:
        data = {"x": X_train, "y": y_train, "batch_size": batch_size}
        if validation:
            data["validation_data"] = (X_val, y_val)
    model.fit(**data, epochs=num_epochs, verbose=0, callbacks=[epoch_timer])
    return 1000 * float(np.median(epoch_timer.seconds[1:]))


print("Input, batch size 32, one step per execution (ms per epoch):")
print(f"{'':22s} {'no validation':>14s} {'with validation':>16s}")
for inputs in ("NumPy arrays", "tf.data"):
    print(f"{inputs:22s} {keras_ms_per_epoch(32, inputs=inputs):14.1f} "
          f"{keras_ms_per_epoch(32, inputs=inputs, validation=True):16.1f}")

print("\nBatch size and steps_per_execution, tf.data input (ms per epoch):")
print(f"{'batch size':>10s} {'steps/epoch':>12s} {'1 step/call':>12s} {'16 steps/call':>14s}")
for batch_size in (8, 32, 400):
    print(f"{batch_size:10d} {tape.steps_per_epoch(400, batch_size):12d} {keras_ms_per_epoch(batch_size, 1):12.1f} "
          f"{keras_ms_per_epoch(batch_size, 16):14.1f}")

# %% [markdown]
# What we measured on the course's reference machine (2 CPU cores, TensorFlow 2.21, Keras
# 3.15), in ms per epoch of 400 examples; your numbers will differ, the pattern should not:
#
# | input (batch size 32, one step per call) | no validation | with validation |
# | --- | ---: | ---: |
# | NumPy arrays | 40 | 71 |
# | `tf.data` pipelines | 11 | 14 |
#
# | batch size | steps per epoch | 1 step per call | 4 | 16 | 64 |
# | ---: | ---: | ---: | ---: | ---: | ---: |
# | 8 | 50 | 36 | 19 | 13 | 7 |
# | 32 | 13 | 11 | 6.6 | 4.8 | 4.0 |
# | 128 | 4 | 4.5 | 3.5 | 3.9 | 3.6 |
# | 400 | 1 | 3.4 | 3.4 | 3.4 | 3.3 |
#
# (Best of three runs, each the median of epochs 2-6, on a machine shared with other work.)
# An epoch has a fixed cost of about 3 ms. On top of it each step costs about 0.65 ms when
# Keras returns to Python after every step, about 0.2 ms when 16 steps share one call, and
# under 0.1 ms when one call runs the whole epoch; with one step per epoch there is nothing
# to share. NumPy arrays add about 30 ms per epoch (the start-up of Keras's own pipeline),
# and validation arrays about 30 ms more, paid again every epoch.
#
# So on a CPU with a small model: feed `fit` a `tf.data` pipeline (for the validation data
# too), raise `steps_per_execution` when the batches are small, and choose the batch size for
# the learning, not for speed. Your `train_keras_model` above used NumPy arrays, which is why
# its epochs took longer than the pipelines' in appendix A.

# %% [markdown]
# ## Summary
#
# * Tensors are TensorFlow's arrays; NumPy data arrive as float64 and must be converted to float32 on purpose, and targets kept as columns `(N, 1)` so that nothing broadcasts to `(N, N)`. Parameters are `tf.Variable`s: updatable, and watched by the tape.
# * A `tf.data` pipeline: `from_tensor_slices((X, y))`, then `shuffle(buffer_size=N, seed=...)` (a new order each epoch), then `batch(B)`. One epoch is $\lceil N/B \rceil$ steps.
# * `tf.GradientTape` records the forward pass and differentiates it in reverse: on the same weights its gradients equal your unit 02 backward pass to rounding error. The loss must be a scalar **mean** (a per-example vector differentiates as a sum), and on the default tape `tape.gradient` may sit inside or after the `with` block (after is clearer); a persistent tape keeps recording, so there it belongs after.
# * A custom loop is: one optimizer (`keras.optimizers.SGD`), a fixed number of epochs, one `train_step` per batch. Keras's `compile` + `fit` does the same, with validation after every epoch and a `History` to plot.
# * (Appendices.) NumPy, tape and Keras trained the same network to the same numbers (float64, same batches). For speed on a CPU, count the per-step overhead: `tf.function`, `tf.data` input and `steps_per_execution` cut it; for tiny models NumPy is hard to beat.
# * A Dense layer has $n_\text{in} n_\text{out} + n_\text{out}$ parameters; check your count with `model.summary()`. The output layer and the loss go together: linear + MSE, sigmoid + binary cross-entropy, softmax + (sparse) categorical cross-entropy.
# * Cross-entropy is computed from the logits: $\max(z, 0) - zy + \log(1 + e^{-|z|})$ and log-sum-exp minus the true logit, or in Keras a linear output layer with `from_logits=True`; through probabilities it overflows or takes $\log 0$.
#
# Next, unit 04 builds networks that exploit the structure of images: convolutions.
