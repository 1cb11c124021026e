"""Training with TensorFlow's ``GradientTape`` over ``tf.data`` pipelines.

Unit 03 trains the network of unit 02 a second time, now with automatic
differentiation. This module holds the reference pieces:

* :func:`make_dataset`: a ``tf.data.Dataset`` of ``(X_batch, y_batch)`` pairs,
  float32 by default, reshuffled every epoch, the same order for the same seed;
  :func:`numpy_order_dataset` walks the data in exactly the batch order of
  :meth:`course_lib.mlp.TwoLayerNet.train`, so that the NumPy, tape and Keras
  implementations can be compared number for number;
* :class:`TwoLayerModule`: the two-layer network as four ``tf.Variable`` objects
  (``W1 (D, H)``, ``b1 (H,)``, ``W2 (H, C)``, ``b2 (C,)``), started from the
  parameters of a :class:`~course_lib.mlp.TwoLayerNet` so the numbers match unit 02;
* :func:`mean_squared_error`, :func:`tape_gradients`, :func:`make_train_step` and
  :func:`train_with_tape`: the corrected version of the lecture's loop.

One correction to the lecture's TensorFlow loop and one point of style (KNOWN-DEFECTS 6 and 7):

1. ``tf.losses.MSE(y, y_pred)`` returns one loss per example, shape (N,).
   ``tape.gradient`` of a vector differentiates the *sum* of its entries, so the
   step would be N times a mean-loss step. Reduce to a scalar mean first
   (:func:`mean_squared_error` does).
2. Here ``tape.gradient`` and ``apply_gradients`` come *after* the
   ``with tf.GradientTape() as tape:`` block, which shows that the tape only needs
   the forward pass and the loss. The lecture's placement inside the block is not a
   bug: on the default, non-persistent tape ``gradient()`` stops the recording itself
   (TensorFlow pops the tape; ``GradientTape.gradient`` in ``eager/backprop.py``), so
   the numbers and the cost are the same. It matters with ``persistent=True``: that
   tape keeps recording, the gradient computation included (TensorFlow warns), which
   is useful only for higher derivatives.

And the current API (KNOWN-DEFECTS 8): Keras 3, ``import keras``,
``keras.optimizers.SGD``; the parameters start zero-mean (Glorot or He, from
:mod:`course_lib.mlp`), never ``tf.random.uniform``; training runs for a fixed
number of epochs.

This module imports TensorFlow and Keras at the top: import it only where they are
needed (``import course_lib`` stays NumPy-only).
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Mapping

import keras
import numpy as np
import tensorflow as tf

PARAM_NAMES = ("W1", "b1", "W2", "b2")
#: hidden-layer activations of :class:`TwoLayerModule`; leaky ReLU uses the course's slope 0.01
ACTIVATIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "sigmoid": tf.math.sigmoid,
    "tanh": tf.math.tanh,
    "relu": tf.nn.relu,
    "leaky_relu": lambda z: tf.where(z > 0, z, 0.01 * z),     # tf.nn.leaky_relu rounds alpha to float32
}


# ----------------------------------------------------------------------------- data
def steps_per_epoch(num_examples: int, batch_size: int, drop_remainder: bool = False) -> int:
    """Number of minibatches (optimizer steps) in one pass over N examples.

    ``ceil(N / batch_size)``: the last batch holds the ``N % batch_size`` leftover
    examples when N is not a multiple of the batch size. With ``drop_remainder=True``
    (``dataset.batch(batch_size, drop_remainder=True)``) the leftovers are skipped and
    it is ``N // batch_size``.
    """
    num_examples, batch_size = int(num_examples), int(batch_size)
    if num_examples < 0 or batch_size < 1:
        raise ValueError("num_examples must be >= 0 and batch_size >= 1")
    return num_examples // batch_size if drop_remainder else math.ceil(num_examples / batch_size)


def _as_arrays(X: Any, y: Any, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """X (N, D) and y as a column (N, 1) (or (N, C)) in ``dtype``."""
    dtype = tf.as_dtype(dtype).as_numpy_dtype
    X = np.asarray(X, dtype=dtype)
    y = np.asarray(y, dtype=dtype)
    if X.ndim != 2:
        raise ValueError(f"X should have shape (N, D); got {X.shape}")
    if y.ndim == 1:
        y = y.reshape(-1, 1)
    if y.ndim != 2 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y should have shape (N,) or (N, C) with N = {X.shape[0]}; got {y.shape}")
    return X, y


def make_dataset(X: Any, y: Any, batch_size: int, shuffle: bool = True, seed: int = 0,
                 dtype: Any = "float32") -> tf.data.Dataset:
    """A ``tf.data.Dataset`` of minibatches ``(X_batch (B, D), y_batch (B, 1))``.

    Args:
        X: inputs (N, D). y: targets (N,) or (N, C); a vector becomes a column (N, 1),
            the shape of the network's output, so that ``y_pred - y`` cannot broadcast
            to (N, N).
        batch_size: B, examples per batch; the last batch holds the leftovers, so one
            pass has :func:`steps_per_epoch` ``= ceil(N / B)`` batches.
        shuffle: shuffle the examples (with a buffer of all N, a uniform shuffle)
            *before* batching, and reshuffle at the start of every pass (epoch).
        seed: the shuffle's seed: the same seed gives the same sequence of epoch
            orders (given the same global seed, if one is set with
            ``tf.random.set_seed`` or ``keras.utils.set_random_seed``).
        dtype: float32 by default (NumPy arrays are float64; TensorFlow layers and
            variables are float32, and mixing the two raises an error).

    Returns:
        the dataset; ``len(dataset)`` is the number of batches per epoch.

    Note: Keras 3's ``fit`` (3.15) creates more than one iterator over the dataset per
    epoch, and each one advances the reshuffling, so the same shuffled dataset gives
    ``fit`` and a hand-written loop different orders after the first epoch. To compare the two number for number, give each a fresh
    :func:`numpy_order_dataset`.
    """
    X, y = _as_arrays(X, y, dtype)
    dataset = tf.data.Dataset.from_tensor_slices((X, y))
    if shuffle:
        dataset = dataset.shuffle(buffer_size=max(1, X.shape[0]), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(int(batch_size))


def numpy_order_dataset(X: Any, y: Any, batch_size: int, seed: int = 0, dtype: Any = "float64"
                        ) -> tf.data.Dataset:
    """Minibatches in exactly the order :meth:`course_lib.mlp.TwoLayerNet.train` uses.

    Epoch ``e`` (the e-th pass over the dataset) visits the examples in the order of
    the e-th ``rng.permutation(N)`` of ``rng = np.random.default_rng(seed)`` and cuts it
    into batches of ``batch_size``: the same batches, in the same order, as the NumPy
    reference with the same seed. Use it to compare implementations number for number.

    Args:
        X: inputs (N, D). y: targets (N,) or (N, C); a vector becomes (N, 1).
        batch_size: B. seed: seed of the NumPy generator. dtype: float64 by default,
            like the NumPy reference.

    Returns:
        a dataset of ``(X_batch (B, D), y_batch (B, 1))`` with ``ceil(N / B)`` batches per pass.
        The generator's state lives in the dataset: each new pass continues the sequence
        of permutations, so build a fresh dataset to start again from epoch 1.
    """
    X, y = _as_arrays(X, y, dtype)
    rng = np.random.default_rng(seed)
    num_examples = X.shape[0]

    def epoch_order():                  # one Python call per pass: the whole permutation at once
        return rng.permutation(num_examples).astype(np.int64)

    X_tensor, y_tensor = tf.constant(X), tf.constant(y)
    rows = tf.data.Dataset.range(1).map(lambda _: tf.ensure_shape(
        tf.numpy_function(epoch_order, [], tf.int64, stateful=True), (num_examples,)))
    dataset = rows.unbatch().batch(int(batch_size)).map(
        lambda batch_rows: (tf.gather(X_tensor, batch_rows), tf.gather(y_tensor, batch_rows)))
    return dataset.apply(tf.data.experimental.assert_cardinality(steps_per_epoch(num_examples, batch_size)))


# ---------------------------------------------------------------------------- model
class TwoLayerModule(tf.Module):
    """The two-layer network of unit 02 as TensorFlow variables.

    ``scores = activation(X @ W1 + b1) @ W2 + b2`` with ``X (N, D)``, ``W1 (D, H)``,
    ``b1 (H,)``, ``W2 (H, C)``, ``b2 (C,)`` and ``scores (N, C)``: the same shapes and
    formula as :func:`course_lib.mlp.two_layer_forward`.

    Args:
        params: ``{"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,)}``, e.g.
            ``TwoLayerNet(...).params``; copied into new ``tf.Variable`` objects.
        activation: ``"sigmoid"``, ``"tanh"``, ``"relu"`` or ``"leaky_relu"`` (slope 0.01).
        dtype: float32 (TensorFlow's usual type) or float64 (to compare with NumPy exactly).

    Attributes:
        W1, b1, W2, b2: the ``tf.Variable`` parameters; :attr:`named_variables` holds them
        in a dict and :attr:`trainable_variables` (from ``tf.Module``) in a tuple.
    """

    def __init__(self, params: Mapping[str, Any], activation: str = "sigmoid", dtype: Any = "float32",
                 name: str | None = None) -> None:
        super().__init__(name=name)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, not {activation!r}")
        missing = [key for key in PARAM_NAMES if key not in params]
        if missing:
            raise ValueError(f"params is missing {missing}")
        self.activation = activation
        numpy_dtype = tf.as_dtype(dtype).as_numpy_dtype
        W1 = np.asarray(params["W1"], dtype=numpy_dtype)
        W2 = np.asarray(params["W2"], dtype=numpy_dtype)
        self.W1 = tf.Variable(W1, name="W1")
        self.b1 = tf.Variable(np.asarray(params["b1"], dtype=numpy_dtype).reshape(W1.shape[1]), name="b1")
        self.W2 = tf.Variable(W2, name="W2")
        self.b2 = tf.Variable(np.asarray(params["b2"], dtype=numpy_dtype).reshape(W2.shape[1]), name="b2")

    @classmethod
    def from_net(cls, net: Any, dtype: Any = "float32") -> "TwoLayerModule":
        """The module started from a :class:`~course_lib.mlp.TwoLayerNet`'s current parameters and activation."""
        return cls(net.params, activation=net.activation, dtype=dtype)

    @property
    def named_variables(self) -> dict[str, tf.Variable]:
        """``{"W1": W1, "b1": b1, "W2": W2, "b2": b2}``: the four variables by name."""
        return {"W1": self.W1, "b1": self.b1, "W2": self.W2, "b2": self.b2}

    @property
    def params(self) -> dict[str, np.ndarray]:
        """The current parameters as NumPy arrays, keyed like :attr:`named_variables`."""
        return {key: variable.numpy() for key, variable in self.named_variables.items()}

    def __call__(self, X: Any, training: bool = False) -> tf.Tensor:
        """Scores (N, C) for X (N, D) (``training`` is accepted for Keras compatibility and ignored)."""
        X = tf.convert_to_tensor(X, dtype=self.W1.dtype)
        hidden = ACTIVATIONS[self.activation](tf.matmul(X, self.W1) + self.b1)
        return tf.matmul(hidden, self.W2) + self.b2


# ----------------------------------------------------------------------------- loss
def mean_squared_error(y_true: Any, y_pred: Any) -> tf.Tensor:
    """The mean squared error as **one number** (a scalar tensor).

    ``mean((y_pred - y_true) ** 2)`` over all N examples (and all C outputs: Keras's
    convention; with one output it is unit 02's MSE). y_true and y_pred must have the
    same shape, (N, 1) or (N, C): a (N,) target against (N, 1) predictions would
    broadcast to an (N, N) matrix of differences, so this is refused.

    Compare ``keras.losses.mean_squared_error(y_true, y_pred)`` (the lecture's
    ``tf.losses.MSE``): it returns one loss per example, shape (N,), and
    ``tape.gradient`` of that vector is the gradient of its *sum*.
    """
    y_pred = tf.convert_to_tensor(y_pred)
    y_true = tf.cast(y_true, y_pred.dtype)
    if y_true.shape.rank is not None and y_pred.shape.rank is not None:
        y_true.shape.assert_is_compatible_with(y_pred.shape)
    return tf.reduce_mean(tf.square(y_pred - y_true))


def _variables_of(model: Any) -> Any:
    """The variables to differentiate: a dict for :class:`TwoLayerModule`, else ``model.trainable_variables``."""
    return model.named_variables if isinstance(model, TwoLayerModule) else list(model.trainable_variables)


def tape_gradients(model: Any, X: Any, y: Any,
                   loss_fn: Callable[[Any, Any], tf.Tensor] = mean_squared_error) -> tuple[tf.Tensor, Any]:
    """The loss of ``model`` on ``(X, y)`` and its gradients, by ``tf.GradientTape``.

    Args:
        model: a :class:`TwoLayerModule` or any Keras model (a callable with
            ``trainable_variables``).
        X: inputs (N, D). y: targets (N, 1) or (N, C) (a vector (N,) becomes (N, 1)).
        loss_fn: ``loss_fn(y_true, y_pred)`` returning a scalar.

    Returns:
        ``(loss, gradients)``: loss a scalar tensor; gradients a dict ``{"W1": dW1 (D, H),
        "b1": db1 (H,), "W2": dW2 (H, C), "b2": db2 (C,)}`` for a :class:`TwoLayerModule`,
        else a list aligned with ``model.trainable_variables``.
    """
    variables = _variables_of(model)
    dtype = tf.nest.flatten(variables)[0].dtype
    X = tf.convert_to_tensor(X, dtype=dtype)
    y = tf.convert_to_tensor(y, dtype=dtype)
    if y.shape.rank == 1:
        y = tf.reshape(y, (-1, 1))
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(X, training=True))
    gradients = tape.gradient(loss, variables)          # after the block: clearer; same numbers as inside it
    return loss, gradients


def make_train_step(model: Any, optimizer: Any,
                    loss_fn: Callable[[Any, Any], tf.Tensor] = mean_squared_error,
                    input_signature: Any = None) -> Callable[..., tf.Tensor]:
    """One compiled training step ``train_step(X_batch, y_batch) -> loss``.

    The step runs the forward pass and the scalar loss under a ``GradientTape``, then,
    after the ``with`` block (clearer; on this non-persistent tape the same as inside
    it), takes the gradients and lets the optimizer update the variables
    (``variable -= learning_rate * gradient`` for SGD). It is wrapped in ``tf.function``,
    which traces the Python code once into a graph and then runs the graph: far less
    Python overhead per step. With ``input_signature`` (e.g. a dataset's
    ``element_spec``, batch dimension None) it traces once; without it,
    ``reduce_retracing`` lets the smaller last batch share a second trace.

    Args:
        model: a :class:`TwoLayerModule` or a Keras model. optimizer: e.g.
            ``keras.optimizers.SGD(learning_rate=0.1)``. loss_fn: returns a scalar.
        input_signature: optional ``(TensorSpec of X_batch, TensorSpec of y_batch)``.

    Returns:
        the step; called with X_batch (B, D) and y_batch (B, C), it returns the batch's
        loss (a scalar tensor, computed before the update).
    """
    variables = tf.nest.flatten(_variables_of(model))

    if input_signature is not None:
        input_signature = list(input_signature)

    @tf.function(reduce_retracing=True, input_signature=input_signature)
    def train_step(X_batch, y_batch):
        with tf.GradientTape() as tape:
            predictions = model(X_batch, training=True)
            loss = loss_fn(y_batch, predictions)
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables))
        return loss

    return train_step


def evaluate_loss(model: Any, data: Any, loss_fn: Callable[[Any, Any], tf.Tensor] = mean_squared_error,
                  dtype: Any = None) -> float:
    """The loss of ``model`` on a whole dataset, as a float.

    ``data`` is ``(X (N, D), y (N,) or (N, C))`` arrays, evaluated in one batch, or a
    ``tf.data.Dataset`` of batches, whose batch losses are averaged weighted by batch
    size (for the MSE that is the MSE of all N examples).
    """
    if dtype is None:
        dtype = tf.nest.flatten(_variables_of(model))[0].dtype
    if isinstance(data, tf.data.Dataset):
        total, count = 0.0, 0
        for X_batch, y_batch in data:
            size = int(X_batch.shape[0])
            total += float(loss_fn(y_batch, model(X_batch, training=False))) * size
            count += size
        return total / max(count, 1)
    X, y = _as_arrays(*data, dtype=dtype)
    return float(loss_fn(tf.constant(y), model(tf.constant(X), training=False)))


def train_with_tape(model: Any, train_data: Any, num_epochs: int, learning_rate: float = 0.1,
                    batch_size: int = 32, validation_data: Any = None, seed: int = 0,
                    optimizer: Any = None, loss_fn: Callable[[Any, Any], tf.Tensor] = mean_squared_error
                    ) -> dict[str, list[float]]:
    """Minibatch training with ``GradientTape`` for a fixed number of epochs.

    Args:
        model: a :class:`TwoLayerModule` (e.g. ``TwoLayerModule.from_net(TwoLayerNet(8, 16))``)
            or any Keras model; its variables are updated in place.
        train_data: ``(X (N, D), y (N,) or (N, C))`` arrays, turned into
            ``make_dataset(X, y, batch_size, shuffle=True, seed=seed)`` in the model's dtype,
            or a ready ``tf.data.Dataset`` of ``(X_batch, y_batch)`` (then ``batch_size``
            and ``seed`` are not used).
        num_epochs: passes over the training data (a fixed number: the loop always ends).
        learning_rate: step size of the default optimizer ``keras.optimizers.SGD``.
        validation_data: optional ``(X_val (M, D), y_val)`` arrays or a dataset.
        optimizer: another Keras optimizer instead of SGD (``learning_rate`` is then unused).
        loss_fn: ``loss_fn(y_true, y_pred)`` returning a scalar; the MSE by default.

    Returns:
        history ``{"loss": [...], "val_loss": [...], "seconds": [...]}``, one entry per
        epoch, as Keras's ``fit`` reports them: ``loss`` is the mean of the epoch's batch
        losses weighted by batch size (computed while the weights change), ``val_loss``
        the loss on the whole validation set after the epoch (only with
        validation data), ``seconds`` the wall time of the epoch.
    """
    if int(num_epochs) < 0:
        raise ValueError("num_epochs must be >= 0")
    dtype = tf.nest.flatten(_variables_of(model))[0].dtype
    if isinstance(train_data, tf.data.Dataset):
        train_dataset = train_data
    else:
        train_dataset = make_dataset(*train_data, batch_size=batch_size, shuffle=True, seed=seed, dtype=dtype)
    if optimizer is None:
        optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
    train_step = make_train_step(model, optimizer, loss_fn, input_signature=train_dataset.element_spec)
    history: dict[str, list[float]] = {"loss": []}
    if validation_data is not None:
        history["val_loss"] = []
    history["seconds"] = []
    for _ in range(int(num_epochs)):
        start = time.perf_counter()
        total, count = 0.0, 0
        for X_batch, y_batch in train_dataset:
            size = int(X_batch.shape[0])
            total += float(train_step(X_batch, y_batch)) * size
            count += size
        history["loss"].append(total / max(count, 1))
        if validation_data is not None:
            history["val_loss"].append(evaluate_loss(model, validation_data, loss_fn, dtype))
        history["seconds"].append(time.perf_counter() - start)
    return history
