"""Optimisers, learning-rate schedules, the batch-size rule and a curve smoother (NumPy, float64).

**One update interface.** Every optimiser is a plain function::

    next_w, next_state = update(w, dw, state, learning_rate=..., **hyperparameters)

with ``w`` the parameter array (any shape, say (D, H)), ``dw`` its gradient (same shape)
and ``state`` a dict of arrays shaped like ``w`` (plus, for Adam, the step count ``t``).
Pass ``{}`` at the first step; the function fills in what it needs. Nothing is changed in
place: the new weights and the new state are returned. We chose this over an optimiser
object because the state is the whole difference between SGD and Adam, and a student
should see it: printing ``state`` after a step shows the velocity or the running
averages. It is also what makes a learning-rate schedule trivial: the learning rate is an
argument of each call. :func:`step` applies one update to a dict of parameters
(``{"W1": ..., "b1": ...}``) with one state per parameter.

**Conventions: these match Keras 3 exactly** (``keras.optimizers``; tested over 100+
steps in ``tests/library/test_optim.py``). Where textbooks differ, the difference is named:

* momentum: the velocity holds the *step*, ``v = momentum * v - learning_rate * dw`` and
  ``w = w + v`` (Sutskever et al. 2013, CS231n, Keras). PyTorch keeps the sum of gradients
  instead (``v = momentum * v + dw``, ``w = w - learning_rate * v``); both agree while the
  learning rate is constant. Nesterov (Keras form): ``w = w + momentum * v - learning_rate * dw``
  with the new ``v``.
* Adagrad: the sum of squared gradients starts at ``initial_accumulator_value = 0.1``,
  not 0, and epsilon sits *inside* the square root: ``sqrt(G + epsilon)``.
* RMSProp: epsilon sits *inside* the square root as well, ``sqrt(s + epsilon)``
  (Hinton's slides and CS231n put it outside, ``sqrt(s) + epsilon``; with epsilon = 1e-7
  the two differ only where ``s`` is tiny).
* Adam: Keras folds the two bias corrections into the step size,
  ``alpha_t = learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t)``, and adds epsilon to
  ``sqrt(v)`` (the "epsilon hat" form at the end of section 2 of Kingma & Ba). Algorithm 1
  of the paper adds epsilon to ``sqrt(v_hat)`` instead; ``epsilon_hat=False`` gives that.
  The two agree to about ``epsilon / sqrt(v_hat)``, relative.

**Schedules** are functions of the step (or epoch) number, counted from 0, returning a
float: :func:`constant`, :func:`step_decay`, :func:`exponential_decay`,
:func:`cosine_decay` (with optional linear warm-up), :func:`inverse_sqrt` and
:func:`cosine_restarts` (SGDR). Each says which ``keras.optimizers.schedules`` class it
equals, where one exists.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np

State = dict[str, Any]
Update = Callable[..., tuple[np.ndarray, State]]


def _as_float(w: Any) -> np.ndarray:
    return np.asarray(w, dtype=np.float64)


# ------------------------------------------------------------------------ optimisers
def sgd(w: np.ndarray, dw: np.ndarray, state: Mapping[str, Any] | None = None,
        learning_rate: float = 0.01) -> tuple[np.ndarray, State]:
    """Plain (stochastic) gradient descent: ``w - learning_rate * dw``.

    w, dw: same shape (any). state: unused (returned as an empty dict).
    Returns ``(next_w, {})``.
    """
    w, dw = _as_float(w), _as_float(dw)
    return w - learning_rate * dw, {}


def momentum(w: np.ndarray, dw: np.ndarray, state: Mapping[str, Any] | None = None,
             learning_rate: float = 0.01, momentum: float = 0.9,
             nesterov: bool = False) -> tuple[np.ndarray, State]:
    """SGD with momentum (Keras's ``SGD(momentum=..., nesterov=...)``).

    ``v = momentum * v - learning_rate * dw`` (v starts at zeros, shape of w), then
    ``w + v``, or with Nesterov ``w + momentum * v - learning_rate * dw``.
    w, dw: same shape. Returns ``(next_w, {"velocity": v})``.
    """
    w, dw = _as_float(w), _as_float(dw)
    velocity = _as_float((state or {}).get("velocity", np.zeros_like(w)))
    velocity = momentum * velocity - learning_rate * dw
    next_w = w + momentum * velocity - learning_rate * dw if nesterov else w + velocity
    return next_w, {"velocity": velocity}


def adagrad(w: np.ndarray, dw: np.ndarray, state: Mapping[str, Any] | None = None,
            learning_rate: float = 0.001, initial_accumulator_value: float = 0.1,
            epsilon: float = 1e-7) -> tuple[np.ndarray, State]:
    """Adagrad (Keras's ``Adagrad``): a per-parameter step that shrinks with the gradients seen.

    ``G = G + dw**2`` (G starts at ``initial_accumulator_value``, shape of w), then
    ``w - learning_rate * dw / sqrt(G + epsilon)``. Returns ``(next_w, {"accumulator": G})``.
    """
    w, dw = _as_float(w), _as_float(dw)
    accumulator = _as_float((state or {}).get("accumulator", np.full_like(w, initial_accumulator_value)))
    accumulator = accumulator + dw ** 2
    return w - learning_rate * dw / np.sqrt(accumulator + epsilon), {"accumulator": accumulator}


def rmsprop(w: np.ndarray, dw: np.ndarray, state: Mapping[str, Any] | None = None,
            learning_rate: float = 0.001, rho: float = 0.9,
            epsilon: float = 1e-7) -> tuple[np.ndarray, State]:
    """RMSProp (Keras's ``RMSprop``, not centred, no momentum).

    ``s = rho * s + (1 - rho) * dw**2`` (s starts at zeros, shape of w), then
    ``w - learning_rate * dw / sqrt(s + epsilon)``. Returns ``(next_w, {"mean_square": s})``.
    """
    w, dw = _as_float(w), _as_float(dw)
    mean_square = _as_float((state or {}).get("mean_square", np.zeros_like(w)))
    mean_square = rho * mean_square + (1 - rho) * dw ** 2
    return w - learning_rate * dw / np.sqrt(mean_square + epsilon), {"mean_square": mean_square}


def adam(w: np.ndarray, dw: np.ndarray, state: Mapping[str, Any] | None = None,
         learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
         epsilon: float = 1e-7, epsilon_hat: bool = True) -> tuple[np.ndarray, State]:
    """Adam with bias correction (Keras's ``Adam``; Kingma & Ba 2015).

    With t the number of this step (1 at the first call), m and v zeros of w's shape at first::

        m = beta_1 * m + (1 - beta_1) * dw          running mean of the gradient
        v = beta_2 * v + (1 - beta_2) * dw**2       running mean of its square
        m_hat = m / (1 - beta_1**t),  v_hat = v / (1 - beta_2**t)     bias correction

    ``epsilon_hat=True`` (Keras): ``w - alpha_t * m / (sqrt(v) + epsilon)`` with
    ``alpha_t = learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t)``;
    ``epsilon_hat=False`` (Algorithm 1): ``w - learning_rate * m_hat / (sqrt(v_hat) + epsilon)``.
    Returns ``(next_w, {"m": m, "v": v, "t": t})``.
    """
    w, dw = _as_float(w), _as_float(dw)
    state = state or {}
    m = _as_float(state.get("m", np.zeros_like(w)))
    v = _as_float(state.get("v", np.zeros_like(w)))
    t = int(state.get("t", 0)) + 1
    m = beta_1 * m + (1 - beta_1) * dw
    v = beta_2 * v + (1 - beta_2) * dw ** 2
    if epsilon_hat:
        alpha = learning_rate * math.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
        next_w = w - alpha * m / (np.sqrt(v) + epsilon)
    else:
        m_hat, v_hat = m / (1 - beta_1 ** t), v / (1 - beta_2 ** t)
        next_w = w - learning_rate * m_hat / (np.sqrt(v_hat) + epsilon)
    return next_w, {"m": m, "v": v, "t": t}


OPTIMISERS: dict[str, Update] = {"sgd": sgd, "momentum": momentum, "adagrad": adagrad,
                                 "rmsprop": rmsprop, "adam": adam}


def step(params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray],
         states: Mapping[str, State] | None, update: Update | str, **hyperparameters: Any
         ) -> tuple[dict[str, np.ndarray], dict[str, State]]:
    """One update of every parameter: ``(params, grads, states) -> (params, states)``.

    params, grads: dicts keyed alike (``"W1" (D, H)``, ``"b1" (H,)``, ...), each gradient
    shaped like its parameter. states: one state per key (``None`` or ``{}`` at the first
    step). update: an optimiser function or its name in :data:`OPTIMISERS`.
    """
    update = OPTIMISERS[update] if isinstance(update, str) else update
    states = states or {}
    new_params, new_states = {}, {}
    for key in params:
        new_params[key], new_states[key] = update(params[key], grads[key], states.get(key), **hyperparameters)
    return new_params, new_states


# ------------------------------------------------------------------------- schedules
def constant(step: int, initial_learning_rate: float) -> float:
    """The same learning rate at every step."""
    return float(initial_learning_rate)


def step_decay(epoch: int, initial_learning_rate: float, boundaries: tuple[int, ...] = (30, 60, 90),
               factor: float = 0.1) -> float:
    """Multiply the learning rate by ``factor`` at each boundary epoch (epochs counted from 0).

    ``initial_learning_rate * factor ** (number of boundaries b with epoch >= b)``: with the
    default, epochs 0-29 use the initial rate, 30-59 a tenth, and so on (the ResNet recipe).
    Equals ``keras.optimizers.schedules.PiecewiseConstantDecay([b - 1 for b in boundaries],
    values)`` at integer epochs: Keras keeps the earlier value *at* its boundary.
    """
    drops = sum(1 for boundary in boundaries if epoch >= boundary)
    return float(initial_learning_rate * factor ** drops)


def exponential_decay(step: int, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                      staircase: bool = False) -> float:
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (Keras's ``ExponentialDecay``).

    With ``staircase=True`` the exponent is rounded down, so the rate drops in steps.
    """
    exponent = step / decay_steps
    if staircase:
        exponent = math.floor(exponent)
    return float(initial_learning_rate * decay_rate ** exponent)


def cosine_decay(step: int, initial_learning_rate: float, decay_steps: int, alpha: float = 0.0,
                 warmup_steps: int = 0, warmup_target: float | None = None) -> float:
    """Half a cosine from the peak down to ``alpha * peak`` (Keras's ``CosineDecay``).

    Without warm-up the peak is ``initial_learning_rate``. With ``warmup_target``, the rate
    first rises linearly from ``initial_learning_rate`` (often 0) to ``warmup_target`` over
    ``warmup_steps`` steps, then decays from ``warmup_target`` over ``decay_steps`` steps.
    After the decay it stays at ``alpha * peak``.
    """
    if warmup_target is None:
        peak, step_in_decay = initial_learning_rate, min(step, decay_steps)
    else:
        if step < warmup_steps:
            return float(initial_learning_rate + (warmup_target - initial_learning_rate) * step / warmup_steps)
        peak, step_in_decay = warmup_target, min(step - warmup_steps, decay_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * step_in_decay / decay_steps))
    return float(peak * ((1 - alpha) * cosine + alpha))


def inverse_sqrt(step: int, initial_learning_rate: float, warmup_steps: int = 1) -> float:
    """Linear warm-up to ``initial_learning_rate``, then decay as ``1 / sqrt(step)``.

    ``initial_learning_rate * min((step + 1) / warmup_steps, sqrt(warmup_steps / (step + 1)))``:
    the transformer schedule of Vaswani et al. 2017 (steps counted from 0, hence ``step + 1``).
    Keras has no class for it (its ``InverseTimeDecay`` decays as ``1 / step``).
    """
    n = step + 1
    return float(initial_learning_rate * min(n / warmup_steps, math.sqrt(warmup_steps / n)))


def cosine_restarts(step: int, initial_learning_rate: float, first_decay_steps: int, t_mul: float = 2.0,
                    m_mul: float = 1.0, alpha: float = 0.0) -> float:
    """Cosine decay with warm restarts, SGDR (Loshchilov & Hutter 2017; Keras's ``CosineDecayRestarts``).

    The first cycle lasts ``first_decay_steps`` steps, each next one ``t_mul`` times longer; each
    cycle starts ``m_mul`` times lower than the one before, and decays to ``alpha`` times its start.
    """
    fraction = step / first_decay_steps
    if t_mul == 1.0:
        restart = math.floor(fraction)
        fraction -= restart
    else:
        restart = math.floor(math.log(1 - fraction * (1 - t_mul)) / math.log(t_mul))
        fraction = (fraction - (1 - t_mul ** restart) / (1 - t_mul)) / t_mul ** restart
    cosine = 0.5 * m_mul ** restart * (1 + math.cos(math.pi * fraction))
    return float(initial_learning_rate * ((1 - alpha) * cosine + alpha))


SCHEDULES: dict[str, Callable[..., float]] = {
    "constant": constant, "step decay": step_decay, "exponential": exponential_decay,
    "cosine": cosine_decay, "inverse sqrt": inverse_sqrt, "cosine restarts (SGDR)": cosine_restarts}


# -------------------------------------------------------------- batch size and curves
def scaled_learning_rate(base_learning_rate: float, base_batch_size: int, batch_size: int) -> float:
    """The linear scaling rule: multiply the batch size by k, multiply the learning rate by k.

    ``base_learning_rate * batch_size / base_batch_size`` (Goyal et al. 2017). A rule of thumb
    for plain SGD and momentum when the batch stays small next to the data; it breaks down
    for very large batches, and Adam's step is less sensitive to it.
    """
    return float(base_learning_rate * batch_size / base_batch_size)


def ema_smooth(values: np.ndarray, beta: float = 0.9, debias: bool = True) -> np.ndarray:
    """An exponential moving average of a noisy curve, values (T,) -> smoothed (T,).

    ``s_t = beta * s_{t-1} + (1 - beta) * values_t`` from ``s_0 = 0``; with ``debias`` each
    ``s_t`` is divided by ``1 - beta**(t+1)``, the same bias correction as Adam's, so the
    first points are not pulled towards 0. Roughly an average of the last ``1 / (1 - beta)``
    points.
    """
    values = _as_float(values).ravel()
    smoothed = np.empty_like(values)
    average = 0.0
    for t, value in enumerate(values):
        average = beta * average + (1 - beta) * value
        smoothed[t] = average / (1 - beta ** (t + 1)) if debias else average
    return smoothed


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """The mean of each ``window`` consecutive points, values (T,) -> (T - window + 1,)."""
    values = _as_float(values).ravel()
    sums = np.cumsum(np.concatenate([[0.0], values]))
    return (sums[window:] - sums[:-window]) / window


# ---------------------------------------------------------------- a ravine to look at
def ravine_loss(p: np.ndarray, curvatures: tuple[float, float] = (1.0, 25.0)) -> tuple[float, np.ndarray]:
    """An ill-conditioned bowl ``0.5 * (a x**2 + b y**2)`` at p = (x, y), shape (2,).

    Returns ``(loss, grad)`` with grad (2,). With b much larger than a it is a ravine: steep
    across, nearly flat along. The largest stable SGD step is ``2 / b``.
    """
    p = _as_float(p)
    curv = np.asarray(curvatures, dtype=np.float64)
    return float(0.5 * np.sum(curv * p ** 2)), curv * p


def optimise_path(update: Update | str, start: np.ndarray, num_steps: int,
                  loss: Callable[[np.ndarray], tuple[float, np.ndarray]] = ravine_loss,
                  **hyperparameters: Any) -> tuple[np.ndarray, np.ndarray]:
    """Run an optimiser from ``start`` (P,) on ``loss``: the path (num_steps + 1, P) and losses (num_steps + 1,)."""
    update = OPTIMISERS[update] if isinstance(update, str) else update
    p, state = _as_float(start), {}
    path, losses = [p], [loss(p)[0]]
    for _ in range(num_steps):
        _, grad = loss(p)
        p, state = update(p, grad, state, **hyperparameters)
        path.append(p)
        losses.append(loss(p)[0])
    return np.array(path), np.array(losses)


# ---------------------------------------------------------- training a network with any of them
def train_network(X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray,
                  update: Update | str = "sgd", learning_rate: float | Callable[[int], float] = 0.01,
                  num_epochs: int = 50, batch_size: int = 32, hidden_dim: int = 16, seed: int = 0,
                  **hyperparameters: Any) -> dict[str, Any]:
    """Train unit 02's two-layer sigmoid network (MSE) with any optimiser above.

    X (N, D), y (N,), X_val (M, D), y_val (M,). ``learning_rate`` is a number or a schedule
    ``step -> rate`` (step counted from 0 over all minibatches). Each epoch shuffles with
    a generator seeded by ``seed`` and steps on minibatches of ``batch_size`` in turn.

    Returns ``{"loss": [...], "val_loss": [...]}`` (the full training and validation MSE after
    each epoch, num_epochs each), ``"batch_loss"`` (the minibatch loss before each step) and
    ``"params"`` (the final parameters, keyed as in :func:`course_lib.mlp.init_two_layer_params`).
    """
    from . import mlp

    update = OPTIMISERS[update] if isinstance(update, str) else update
    schedule = learning_rate if callable(learning_rate) else (lambda _step: learning_rate)
    X, y = _as_float(X), _as_float(y)
    params = mlp.init_two_layer_params(X.shape[1], hidden_dim, 1, "sigmoid", seed)
    states: dict[str, State] = {}
    rng = np.random.default_rng(seed)
    history: dict[str, Any] = {"loss": [], "val_loss": [], "batch_loss": []}
    count = 0
    for _ in range(num_epochs):
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch_size):
            rows = order[start:start + batch_size]
            batch_loss, grads = mlp.two_layer_loss(X[rows], y[rows], params)
            history["batch_loss"].append(batch_loss)
            params, states = step(params, grads, states, update, learning_rate=schedule(count), **hyperparameters)
            count += 1
        history["loss"].append(mlp.two_layer_loss(X, y, params)[0])
        history["val_loss"].append(mlp.two_layer_loss(X_val, y_val, params)[0])
    history["params"] = params
    return history
