# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Unit 06 · Generalisation: over- and underfitting, early stopping and regularisation
#
# A network that scores perfectly on its training data has learned nothing useful unless it
# also does well on data it has never seen. This unit is about that gap. We diagnose it
# from learning curves, provoke it by giving a network more capacity than its data can
# support, and then close it with the standard tools: stopping early, penalising large
# weights (L2, L1, elastic net), dropout, batch normalisation, a sensible initialisation and
# data augmentation.
#
# **Learning goals.** After this unit you can
# 1. tell under-fitting, over-fitting and a healthy fit apart from training and validation curves;
# 2. show over-fitting appear as a network's capacity grows;
# 3. implement early stopping with patience and best-weights restore, and use Keras's callback;
# 4. write L2, L1 and elastic-net penalties and their gradients with Keras's scaling, and add them to a loss;
# 5. implement inverted dropout and batch normalisation (forward in both modes, backward) with Keras's conventions;
# 6. choose Glorot or He initialisation and show why all-positive random weights fail;
# 7. build a realistic augmentation pipeline for microscopy images, and say which augmentations fit which images;
# 8. compare these tools honestly on one small problem.
#
# **How to work.** As before: fill each cell marked `# YOUR CODE HERE` (delete the
# `raise NotImplementedError()` line), run it, then run the check below it (✓ means it
# passed). Before you submit, run `dlcourse check notebooks/06_generalisation/generalisation.ipynb`.
# Grading runs more tests of the same kind on other numbers.
#
# **Data.** The Wisconsin breast-cancer data that ships with scikit-learn: 569 fine-needle
# aspirates of breast masses, 30 measurements of the cell nuclei in each, labelled
# malignant (`y = 1`) or benign (`y = 0`). We split it once, seeded and stratified, into a
# deliberately **small** training set (80 examples), a validation set (150) for every decision
# we make, and a test set (200) that we look at only at the very end. Features are
# standardised with the training set's mean and standard deviation only. For augmentation we
# use the simulated nucleus images of unit 04.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import numpy as np
import matplotlib.pyplot as plt

from course_lib import layers, regularization
from course_lib.checks.generalisation import learning_curves
from course_lib.data.breast_cancer import breast_cancer_split

split = breast_cancer_split(num_train=80, num_val=150, num_test=200, seed=0)
X_train, y_train = split.X_train, split.y_train
X_val, y_val = split.X_val, split.y_val
X_test, y_test = split.X_test, split.y_test
print(f"X_train {X_train.shape}, X_val {X_val.shape}, X_test {X_test.shape}  (N examples, D = 30 features)")
print(f"share malignant: train {y_train.mean():.2f}, validation {y_val.mean():.2f}, test {y_test.mean():.2f}")

# %% [markdown]
# ## 1 · Reading learning curves
#
# A *learning curve* plots a loss after every epoch, once on the training set and once on
# the validation set. Three shapes matter:
#
# * **Under-fitting**: both losses stay high and close together. The model is too simple,
#   trained too little or too strongly regularised; more data would not help, more capacity would.
# * **Over-fitting**: the training loss keeps falling, but the validation loss stops falling
#   and often rises again; the *gap* between them grows. The model learns the training set's
#   noise. More data, less capacity, regularisation or stopping earlier help.
# * **Healthy**: both fall to a low level and stay close.
#
# The training loss alone can never tell over-fitting apart from a good fit: it falls in
# both cases. That is why we keep a validation set.
#
# **Exercise 1.** Label the five curves below: fill `curve_labels` with `"underfitting"`,
# `"overfitting"` or `"healthy"` for each of `"A"` to `"E"`.

# %%
curves = learning_curves()
fig, axes = plt.subplots(1, 5, figsize=(16, 2.8), sharey=True)
for ax, (name, (train_loss, val_loss)) in zip(axes, curves.items()):
    ax.plot(train_loss, label="training")
    ax.plot(val_loss, label="validation")
    ax.set_title(f"curve {name}")
    ax.set_xlabel("epoch")
axes[0].set_ylabel("loss")
axes[0].legend()
plt.tight_layout()
plt.show()

# %% nbgrader={"grade": false, "grade_id": "curve_labels_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
curve_labels = {}
### BEGIN SOLUTION
curve_labels = {"A": "underfitting", "B": "overfitting", "C": "healthy", "D": "overfitting", "E": "underfitting"}
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "curve_labels", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.generalisation import check_curve_labels

check_curve_labels(curve_labels)

# %% [markdown]
# ## 2 · Capacity: from too little to too much
#
# Now provoke over-fitting on purpose. We train a two-layer network (affine, ReLU, affine,
# then the sigmoid inside the loss) with hidden sizes from 1 to 128 on the 80 training
# examples, with plain full-batch gradient descent, and record both losses. The loss is the
# *binary cross-entropy on logits*, `layers.binary_cross_entropy_with_logits`: the mean over
# examples of $\max(z, 0) - z y + \log(1 + e^{-|z|})$, which equals
# $-y\log\sigma(z) - (1-y)\log(1-\sigma(z))$ but never takes the log of 0.

# %%
def init_network(hidden_dim, seed=0, scheme="he_normal"):
    """Parameters of a D-H-1 network: W1 (D, H), b1 (H,), W2 (H,), b2 (float)."""
    return {"W1": regularization.initialize(X_train.shape[1], hidden_dim, scheme, seed), "b1": np.zeros(hidden_dim),
            "W2": regularization.initialize(hidden_dim, 1, "glorot_uniform", seed + 1)[:, 0], "b2": 0.0}


def network_loss(params, X, y, l2=0.0):
    """Mean binary cross-entropy (+ l2 * sum of squared weights) and the gradients of every parameter."""
    z = X @ params["W1"] + params["b1"]
    h = np.maximum(z, 0.0)
    loss, dlogits = layers.binary_cross_entropy_with_logits(h @ params["W2"] + params["b2"], y)
    dz = np.outer(dlogits, params["W2"]) * (z > 0)
    grads = {"W1": X.T @ dz + 2 * l2 * params["W1"], "b1": dz.sum(axis=0),
             "W2": h.T @ dlogits + 2 * l2 * params["W2"], "b2": dlogits.sum()}
    penalty = l2 * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))
    return loss + penalty, grads


def train_network(hidden_dim, num_epochs=300, learning_rate=0.1, l2=0.0, seed=0):
    """Full-batch gradient descent: the training and validation losses and the weights at each epoch's start."""
    params = init_network(hidden_dim, seed)
    train_losses, val_losses, snapshots = [], [], []
    for _ in range(num_epochs):
        loss, grads = network_loss(params, X_train, y_train, l2)        # the loss before this epoch's step
        val_logits = np.maximum(X_val @ params["W1"] + params["b1"], 0) @ params["W2"] + params["b2"]
        train_losses.append(loss)
        val_losses.append(layers.binary_cross_entropy_with_logits(val_logits, y_val)[0])
        snapshots.append(params)
        params = {key: params[key] - learning_rate * grads[key] for key in params}
    return np.array(train_losses), np.array(val_losses), snapshots


hidden_sizes = [1, 4, 32, 128]
sweep = {hidden: train_network(hidden) for hidden in hidden_sizes}
fig, axes = plt.subplots(1, 2, figsize=(12, 3.5))
for hidden, (train_losses, val_losses, _) in sweep.items():
    line, = axes[0].plot(train_losses, label=f"H = {hidden}, training")
    axes[0].plot(val_losses, "--", color=line.get_color(), label=f"H = {hidden}, validation")
axes[0].set_xlabel("epoch")
axes[0].set_ylabel("cross-entropy")
axes[0].set_yscale("log")
axes[0].legend(fontsize=7, ncol=2)
axes[1].plot(hidden_sizes, [sweep[h][0][-1] for h in hidden_sizes], "o-", label="training, last epoch")
axes[1].plot(hidden_sizes, [sweep[h][1][-1] for h in hidden_sizes], "o-", label="validation, last epoch")
axes[1].plot(hidden_sizes, [sweep[h][1].min() for h in hidden_sizes], "o:", label="validation, best epoch")
axes[1].set_xscale("log")
axes[1].set_xlabel("hidden units H")
axes[1].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# With one hidden unit the network under-fits: both losses stay comparatively high and are
# still creeping down after 300 epochs. From four units on, the training loss heads towards 0
# (80 examples in 30 dimensions are easy to separate), and the validation loss tells the real
# story: it reaches its minimum after some 50 to 75 epochs and then climbs, as the network
# grows ever more confident on the training examples, including the ones it would get wrong
# on new data. Training longer makes it worse, not better. (Full-batch gradient descent gives
# smooth curves; with minibatches they are much noisier.)
#
# ## 3 · Early stopping, done right
#
# The simplest cure is to stop training at the epoch where the validation loss was lowest.
# The lecture's rule, "stop when the validation accuracy decreases", stops at the first
# wiggle: validation curves are noisy, and one bad epoch says little. The standard rule adds
# **patience** and a **restore**:
#
# 1. after every epoch compare the validation loss with the best so far; a strictly lower
#    value is a new best: remember the epoch and a *copy* of the weights, and reset a counter;
# 2. otherwise add one to the counter; when it reaches `patience`, stop;
# 3. return the weights of the best epoch, not those of the last one (which are `patience`
#    epochs worse).
#
# **Exercise 2.** Write `early_stopping(val_losses, weights, patience)`. `val_losses` holds one
# loss per epoch (epochs count from 0) and `weights[e]` the weights after epoch `e`, as if a
# training loop handed them over one by one: only look at epochs up to the one where you stop.
# Return `(best_epoch, stop_epoch, best_weights)`; when patience never runs out,
# `stop_epoch` is the last epoch.

# %% nbgrader={"grade": false, "grade_id": "early_stopping_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def early_stopping(val_losses, weights, patience):
    """val_losses (E,), weights: list of E arrays -> (best_epoch, stop_epoch, best_weights)."""
    ### BEGIN SOLUTION
    best_loss, best_epoch, best_weights, waited = np.inf, 0, None, 0
    for epoch, loss in enumerate(val_losses):
        if loss < best_loss:
            best_loss, best_epoch, best_weights, waited = loss, epoch, np.copy(weights[epoch]), 0
        else:
            waited += 1
            if waited >= patience:
                return best_epoch, epoch, best_weights
    return best_epoch, len(val_losses) - 1, best_weights
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "early_stopping", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.generalisation import check_early_stopping

check_early_stopping(early_stopping)
### BEGIN HIDDEN TESTS
check_early_stopping(early_stopping, seed=4, num_epochs=40, patience=5)
check_early_stopping(early_stopping, seed=9, num_epochs=25, patience=1)
check_early_stopping(early_stopping, seed=4, num_epochs=12, patience=30)
### END HIDDEN TESTS

# %% [markdown]
# Applied to the largest network of the sweep (the weights here are the flattened `W1`):

# %%
train_losses, val_losses, snapshots = sweep[128]
best_epoch, stop_epoch, _ = early_stopping(val_losses, [s["W1"].ravel() for s in snapshots], patience=20)
first_rise = int(np.argmax(np.diff(val_losses) > 0)) + 1
plt.figure(figsize=(7, 3.2))
plt.plot(train_losses, label="training")
plt.plot(val_losses, label="validation")
plt.axvline(first_rise, color="grey", linestyle=":", label=f"first rise (epoch {first_rise})")
plt.axvline(best_epoch, color="green", linestyle="--", label=f"best epoch {best_epoch}")
plt.axvline(stop_epoch, color="red", linestyle="--", label=f"stop (patience 20): epoch {stop_epoch}")
plt.yscale("log")
plt.xlabel("epoch")
plt.legend(fontsize=8)
plt.show()

# %% [markdown]
# In Keras the same rule is a callback:
# `keras.callbacks.EarlyStopping(monitor="val_loss", patience=..., restore_best_weights=True)`.
# Two details matter. `monitor` must be a *validation* quantity (the training loss keeps
# falling while the model over-fits), and `restore_best_weights` is **off** by default:
# without it the model keeps the weights of the last epoch.
#
# **Exercise 3.** Write `make_early_stopping(patience)` returning that callback.

# %%
import keras

keras.utils.set_random_seed(0)   # the same weights and batches on every run

# %% nbgrader={"grade": false, "grade_id": "make_early_stopping_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def make_early_stopping(patience):
    """A Keras EarlyStopping callback on the validation loss that restores the best weights."""
    ### BEGIN SOLUTION
    return keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "make_early_stopping", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.generalisation import check_early_stopping_callback

check_early_stopping_callback(make_early_stopping, patience=5)
### BEGIN HIDDEN TESTS
check_early_stopping_callback(make_early_stopping, patience=2, seed=3)
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · Penalties on the weights: L2, L1 and elastic net
#
# Regularisation adds a term to the loss that grows with the weights,
# $L = L_\text{data} + R(W)$, so that the optimiser trades a little training loss for smaller
# weights. We use **Keras's scaling**, exactly as `keras.regularizers` computes it:
#
# | penalty | Keras | $R(W)$ | $\partial R / \partial W$ |
# | --- | --- | --- | --- |
# | L2 (weight decay) | `L2(l2)` | $\lambda_2 \sum W_{ij}^2$ | $2\lambda_2 W$ |
# | L1 | `L1(l1)` | $\lambda_1 \sum \lvert W_{ij}\rvert$ | $\lambda_1\,\mathrm{sign}(W)$ |
# | elastic net | `L1L2(l1, l2)` | both added | both added |
#
# The sums run over every weight; nothing is divided by the number of examples. Many texts
# write the L2 term as $\frac{\lambda}{2}\lVert W\rVert^2$ so that its gradient is $\lambda W$:
# that is Keras's `L2(l2=λ/2)`. Always say which convention a formula uses. Biases are not
# penalised (Keras puts the penalty on `kernel_regularizer`). For L1, $|w|$ has no derivative
# at 0; we use 0 there, as `np.sign` does.
#
# **Exercise 4.** Write `l2_penalty(W, l2)` returning `(penalty, dW)`.

# %% nbgrader={"grade": false, "grade_id": "l2_penalty_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def l2_penalty(W, l2):
    """W any shape, e.g. (D, H) -> (l2 * sum(W**2), dW shaped like W)."""
    ### BEGIN SOLUTION
    return l2 * np.sum(W ** 2), 2 * l2 * W
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "l2_penalty", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.generalisation import check_l2_penalty

check_l2_penalty(l2_penalty)
### BEGIN HIDDEN TESTS
check_l2_penalty(l2_penalty, seed=3, rows=1, columns=7, l2=0.3)
check_l2_penalty(l2_penalty, seed=4, rows=6, columns=2, l2=0.001)
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 5.** Write `elastic_net_penalty(W, l1, l2)` returning `(penalty, dW)` as
# `keras.regularizers.L1L2(l1, l2)`. With `l2=0` it is the L1 penalty.

# %% nbgrader={"grade": false, "grade_id": "elastic_net_penalty_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def elastic_net_penalty(W, l1, l2):
    """W any shape -> (l1 * sum|W| + l2 * sum W**2, dW shaped like W)."""
    ### BEGIN SOLUTION
    penalty = l1 * np.sum(np.abs(W)) + l2 * np.sum(W ** 2)
    return penalty, l1 * np.sign(W) + 2 * l2 * W
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "elastic_net_penalty", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.generalisation import check_elastic_net_penalty

check_elastic_net_penalty(elastic_net_penalty)
### BEGIN HIDDEN TESTS
check_elastic_net_penalty(elastic_net_penalty, seed=5, rows=3, columns=5, l1=0.1, l2=0.0)
check_elastic_net_penalty(elastic_net_penalty, seed=6, rows=2, columns=2, l1=0.003, l2=0.2)
### END HIDDEN TESTS

# %% [markdown]
# Now put a penalty into a model. Logistic regression is a network with no hidden layer:
# $z = Xw + b$, $p = \sigma(z)$, and the mean binary cross-entropy as loss. Its gradient is
# pleasantly simple: $\partial L_\text{data}/\partial z = (\sigma(z) - y)/N$, so
# $\partial L_\text{data}/\partial w = X^\top(\sigma(z) - y)/N$ and
# $\partial L_\text{data}/\partial b = \sum(\sigma(z) - y)/N$.
#
# **Exercise 6.** Write `logistic_loss(w, b, X, y, l1, l2)` returning `(loss, dw, db)`: the mean
# cross-entropy plus the elastic-net penalty on `w` (not on `b`). Use the stable form of the
# cross-entropy; the check tries logits in the hundreds. *Hint:* `np.logaddexp(0, z)` is
# $\log(1 + e^z)$ computed safely, and $-\log\sigma(z) = \log(1 + e^{-z})$.

# %% nbgrader={"grade": false, "grade_id": "logistic_loss_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def logistic_loss(w, b, X, y, l1, l2):
    """w (D,), b float, X (N, D), y (N,) -> (loss float, dw (D,), db float)."""
    ### BEGIN SOLUTION
    z = X @ w + b
    data_loss = np.mean(np.logaddexp(0, z) - z * y)
    residual = (1 / (1 + np.exp(-np.clip(z, -500, 500))) - y) / len(y)
    penalty, dpenalty = elastic_net_penalty(w, l1, l2)
    return data_loss + penalty, X.T @ residual + dpenalty, np.sum(residual)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "logistic_loss", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.generalisation import check_logistic_loss

check_logistic_loss(logistic_loss)
### BEGIN HIDDEN TESTS
check_logistic_loss(logistic_loss, seed=2, num_examples=20, input_dim=5, l1=0.0, l2=0.5)
check_logistic_loss(logistic_loss, seed=3, num_examples=3, input_dim=1, l1=0.2, l2=0.0)
### END HIDDEN TESTS

# %% [markdown]
# **The regularisation path.** Train the logistic model on our 80 examples for a range of
# strengths and follow each of the 30 weights. L2 shrinks all weights smoothly towards 0;
# L1 pushes the less useful ones to (about) 0 one after another, a form of feature
# selection. (Plain gradient descent on $|w|$ makes small weights jitter around 0 rather than
# sit exactly on it; special solvers fix that.)

# %%
strengths = np.logspace(-4, 0, 9)
paths = {}
for kind in ("l2", "l1"):
    paths[kind] = np.array([regularization.train_logistic(X_train, y_train, learning_rate=0.5, num_epochs=150,
                                                          **{kind: strength})[0] for strength in strengths])
fig, axes = plt.subplots(1, 2, figsize=(12, 3.4), sharey=True)
for ax, kind in zip(axes, paths):
    ax.plot(strengths, paths[kind], color="tab:blue", alpha=0.6)
    ax.set_xscale("log")
    ax.set_xlabel(f"{kind} strength")
    ax.set_title(f"{kind.upper()} path of the 30 weights")
axes[0].set_ylabel("weight")
plt.tight_layout()
plt.show()

# %% [markdown]
# *Optional, interactive:* move the L2 strength and watch the training and validation loss
# of the logistic model, and its weights. Too little: a low training loss and a higher
# validation loss; too much: both high (under-fitting). (Without a browser only the first
# setting is drawn.)

# %%
import ipywidgets as widgets


def show_l2(log10_l2=-2.0):
    l2 = 10.0 ** log10_l2
    w, b = regularization.train_logistic(X_train, y_train, l2=l2, learning_rate=0.5, num_epochs=150)
    train_loss = regularization.logistic_loss(w, b, X_train, y_train)[0]
    val_loss = regularization.logistic_loss(w, b, X_val, y_val)[0]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3), gridspec_kw={"width_ratios": [1, 3]})
    axes[0].bar(["training", "validation"], [train_loss, val_loss], color=["tab:blue", "tab:orange"])
    axes[0].set_ylabel("cross-entropy (no penalty)")
    axes[1].bar(np.arange(w.size), w)
    axes[1].set_ylim(-1.6, 1.6)
    axes[1].set_title(f"l2 = {l2:.2g}: weights")
    plt.tight_layout()
    plt.show()


widgets.interact(show_l2, log10_l2=widgets.FloatSlider(value=-2.0, min=-4.0, max=0.5, step=0.25,
                                                       description="log10 l2", continuous_update=False));

# %% [markdown]
# ## 5 · Dropout, the inverted way
#
# Dropout sets each unit's output to 0 at random during training, a fresh choice for every
# example and step, so no unit can rely on any particular other unit. Two conventions
# exist, and formulas differ by which one they use:
#
# * **Keras (and every modern framework): inverted dropout.** `Dropout(rate)`, where `rate` is
#   the probability of **dropping** a unit. In training, keep a unit with probability
#   $1 - \text{rate}$ and divide the kept outputs by $1 - \text{rate}$; at test time do
#   nothing. The scaling keeps every output's expected value unchanged, so the trained
#   network is used as is.
# * **The lecture's (the original paper's) convention:** no scaling in training, and multiply
#   by the keep probability $p$ at test time. The expected values agree, but every deployed
#   model needs the extra step. When the lecture says "0.5 and 0.9 are common", 0.9 is a
#   *keep* probability: as a Keras `rate` it would drop 90 % of the units.
#
# **Exercise 7.** Write `dropout_forward(x, rate, training, seed)` returning `(out, cache)`:
# in training draw the mask with `np.random.default_rng(seed)`, keep where
# `rng.random(x.shape) >= rate`, and keep what the backward pass needs in the cache; at test
# time return `x` unchanged (and any cache you like, e.g. `None`).
#
# **Exercise 8.** Write `dropout_backward(dout, cache)` returning `dx`. The forward pass
# multiplied by the (scaled) mask, so the backward pass multiplies by the same.

# %% nbgrader={"grade": false, "grade_id": "dropout_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def dropout_forward(x, rate, training, seed=0):
    """Inverted dropout: x (N, H) -> (out (N, H), cache). rate = probability of dropping."""
    ### BEGIN SOLUTION
    if not training:
        return x, None
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    mask = keep / (1 - rate)
    return x * mask, mask
    ### END SOLUTION


def dropout_backward(dout, cache):
    """Backward pass of dropout: dout (N, H) -> dx (N, H)."""
    ### BEGIN SOLUTION
    if cache is None:
        return dout
    return dout * cache
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "dropout_forward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.generalisation import check_dropout_forward

check_dropout_forward(dropout_forward)
### BEGIN HIDDEN TESTS
check_dropout_forward(dropout_forward, seed=3, num_examples=40, num_units=60, rate=0.2)
check_dropout_forward(dropout_forward, seed=4, num_examples=50, num_units=50, rate=0.75)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "dropout_backward", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.generalisation import check_dropout_backward

check_dropout_backward(dropout_forward, dropout_backward)
### BEGIN HIDDEN TESTS
check_dropout_backward(dropout_forward, dropout_backward, seed=5, num_examples=3, num_units=8, rate=0.25)
### END HIDDEN TESTS

# %% [markdown]
# Averaged over many masks, inverted dropout leaves the mean of every unit unchanged:

# %%
x_demo = np.ones((1, 5))
means = np.mean([dropout_forward(x_demo, 0.3, True, seed)[0] for seed in range(2000)], axis=0)
print("mean output over 2000 masks (input 1, rate 0.3):", np.round(means, 2))

# %% [markdown]
# ## 6 · Batch normalisation
#
# Batch normalisation standardises every feature over the batch and then lets the network
# rescale it: for `x (N, D)`,
#
# $$\hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}},\qquad \text{out} = \gamma \hat x + \beta,$$
#
# with $\mu, \sigma^2$ of shape `(D,)`, $\gamma$ (scale) and $\beta$ (shift) learned, of shape `(D,)`.
# At **test time** there may be one example, so the batch statistics are replaced by fixed
# ones. Which? The lecture says: statistics of the entire training set. **Keras** instead keeps
# exponential moving averages, updated at every training step,
#
# $$\text{moving} \leftarrow 0.99\cdot\text{moving} + 0.01\cdot\text{batch statistic}\quad(\texttt{momentum=0.99}),$$
#
# starting from mean 0 and variance 1, and uses them at test time. Both are reasonable; this
# notebook follows Keras. Also Keras's conventions: $\varepsilon = 10^{-3}$, and the batch
# variance divides by $N$ (not $N - 1$), for the output and the moving average alike.
#
# **Exercise 9.** Write `batchnorm_forward(x, gamma, beta, state, training)` returning
# `(out, cache)`. `state` is a dict `{"moving_mean": (D,), "moving_var": (D,)}`: in training
# use the batch statistics and **update `state` in place** (`state["moving_mean"] = ...`); at
# test time use the moving averages and leave `state` alone.

# %% nbgrader={"grade": false, "grade_id": "batchnorm_forward_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def batchnorm_forward(x, gamma, beta, state, training, momentum=0.99, epsilon=1e-3):
    """x (N, D), gamma (D,), beta (D,), state {'moving_mean', 'moving_var'} -> (out (N, D), cache)."""
    ### BEGIN SOLUTION
    if training:
        mean, var = x.mean(axis=0), x.var(axis=0)
        state["moving_mean"] = momentum * state["moving_mean"] + (1 - momentum) * mean
        state["moving_var"] = momentum * state["moving_var"] + (1 - momentum) * var
    else:
        mean, var = state["moving_mean"], state["moving_var"]
    inv_std = 1 / np.sqrt(var + epsilon)
    x_hat = (x - mean) * inv_std
    return gamma * x_hat + beta, (x_hat, gamma, inv_std)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "batchnorm_forward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.generalisation import check_batchnorm_forward

check_batchnorm_forward(batchnorm_forward)
### BEGIN HIDDEN TESTS
check_batchnorm_forward(batchnorm_forward, seed=6, num_examples=3, num_features=7)
check_batchnorm_forward(batchnorm_forward, seed=7, num_examples=30, num_features=1)
### END HIDDEN TESTS

# %% [markdown]
# **The backward pass.** $\gamma$ and $\beta$ are easy:
# $\partial L/\partial\beta = \sum_n \text{dout}_n$ and
# $\partial L/\partial\gamma = \sum_n \text{dout}_n \hat x_n$. For `x`, remember that in
# training $\mu$ and $\sigma^2$ are computed *from* `x`, so every example influences every
# output of its batch. Following the chain rule through $\mu$ and $\sigma^2$ and simplifying gives
#
# $$\frac{\partial L}{\partial x} = \frac{\gamma}{N\sqrt{\sigma^2+\varepsilon}}
# \Big(N\,\text{dout} - \sum_n \text{dout}_n - \hat x \sum_n \text{dout}_n \hat x_n\Big).$$
#
# **Exercise 10.** Write `batchnorm_backward(dout, cache)` for training mode, returning
# `(dx, dgamma, dbeta)`. Then run the gradient check in the cell after the check: it
# compares your `dx` with centred differences (unit 02's tool).

# %% nbgrader={"grade": false, "grade_id": "batchnorm_backward_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def batchnorm_backward(dout, cache):
    """dout (N, D) -> (dx (N, D), dgamma (D,), dbeta (D,)), training mode."""
    ### BEGIN SOLUTION
    x_hat, gamma, inv_std = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(dout * x_hat, axis=0)
    dx = gamma * inv_std / N * (N * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "batchnorm_backward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.generalisation import check_batchnorm_backward

check_batchnorm_backward(batchnorm_forward, batchnorm_backward)
### BEGIN HIDDEN TESTS
check_batchnorm_backward(batchnorm_forward, batchnorm_backward, seed=8, num_examples=2, num_features=3)
check_batchnorm_backward(batchnorm_forward, batchnorm_backward, seed=9, num_examples=20, num_features=6)
### END HIDDEN TESTS

# %%
from course_lib.gradcheck import numerical_gradient, rel_error

rng = np.random.default_rng(1)
x_check, dout_check = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
gamma_check, beta_check = rng.normal(size=3), rng.normal(size=3)


def bn_output_dot_dout(x):
    return np.sum(batchnorm_forward(x, gamma_check, beta_check, layers.batchnorm_state(3), True)[0] * dout_check)


_, bn_cache = batchnorm_forward(x_check, gamma_check, beta_check, layers.batchnorm_state(3), True)
dx_analytic = batchnorm_backward(dout_check, bn_cache)[0]
print(f"relative error of dx against centred differences: "
      f"{rel_error(dx_analytic, numerical_gradient(bn_output_dot_dout, x_check)):.1e}  (expect below 1e-7)")

# %% [markdown]
# ## 7 · Initialisation: why the scale of the first weights matters
#
# The lecture initialises with `np.random.rand`: uniform on $[0, 1)$, every weight positive.
# Then every unit of a layer computes nearly the same positive sum of its inputs, the
# activations grow by a large factor at every layer, and the units start out almost
# identical. A good start keeps the **variance** of the signal about constant from layer to
# layer, with zero-mean weights:
#
# | scheme | for | standard deviation | uniform limit |
# | --- | --- | --- | --- |
# | Glorot (Xavier) | tanh, sigmoid | $\sqrt{2/(\text{fan}_\text{in} + \text{fan}_\text{out})}$ | $\sqrt{6/(\text{fan}_\text{in} + \text{fan}_\text{out})}$ |
# | He | ReLU | $\sqrt{2/\text{fan}_\text{in}}$ | $\sqrt{6/\text{fan}_\text{in}}$ |
#
# For a weight matrix `(fan_in, fan_out)`, fan-in is the number of inputs of each unit. He's
# extra factor 2 makes up for the ReLU zeroing half of its inputs. A uniform distribution on
# $[-a, a]$ has standard deviation $a/\sqrt 3$, hence the limits. (Keras's `*_normal`
# versions draw from a normal truncated at two standard deviations and rescaled to the same
# standard deviation; a plain normal is fine here.) Keras's default for `Dense` is `glorot_uniform`.
#
# **Exercise 11.** Write `init_weights(fan_in, fan_out, scheme, seed)` for `scheme` in
# `"glorot_uniform", "glorot_normal", "he_uniform", "he_normal"`, drawing from
# `np.random.default_rng(seed)`; return an array `(fan_in, fan_out)`.

# %% nbgrader={"grade": false, "grade_id": "init_weights_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def init_weights(fan_in, fan_out, scheme, seed=0):
    """Zero-mean initial weights (fan_in, fan_out) for 'glorot_uniform', 'glorot_normal', 'he_uniform', 'he_normal'."""
    ### BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    variance = 2 / (fan_in + fan_out) if scheme.startswith("glorot") else 2 / fan_in
    if scheme.endswith("uniform"):
        limit = np.sqrt(3 * variance)
        return rng.uniform(-limit, limit, size=(fan_in, fan_out))
    return rng.normal(0, np.sqrt(variance), size=(fan_in, fan_out))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "init_weights", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.generalisation import check_init_weights

check_init_weights(init_weights)
### BEGIN HIDDEN TESTS
check_init_weights(init_weights, fan_in=60, fan_out=90, seed=3)
### END HIDDEN TESTS

# %% [markdown]
# Push 300 random inputs through ten layers of 256 units and look at the activations of
# every layer: with `np.random.rand` and ReLU they explode (note the scale on the x axes),
# with He and ReLU they keep their spread, with Glorot and tanh too. (Glorot with ReLU, not
# shown, shrinks by about $\sqrt 2$ per layer.)

# %%
def layer_activations(scheme, activation, num_layers=10, width=256, seed=0):
    """Activations (500, width) after each of num_layers layers; scheme None is np.random.rand."""
    generator = np.random.default_rng(seed)
    h = generator.normal(size=(300, width))
    found = []
    for layer in range(num_layers):
        W = generator.random((width, width)) if scheme is None else init_weights(width, width, scheme, seed + layer)
        z = h @ W
        h = np.maximum(z, 0) if activation == "relu" else np.tanh(z)
        found.append(h)
    return found


settings = [(None, "relu", "np.random.rand + ReLU"), ("he_normal", "relu", "He + ReLU"),
            ("glorot_normal", "tanh", "Glorot + tanh")]
fig, axes = plt.subplots(len(settings), 5, figsize=(15, 6.5))
for row, (scheme, activation, title) in zip(axes, settings):
    activations = layer_activations(scheme, activation)
    for ax, layer in zip(row, (0, 2, 4, 6, 9)):
        ax.hist(activations[layer].ravel(), bins=40, color="tab:blue")
        ax.set_title(f"{title}: layer {layer + 1}\nstd {activations[layer].std():.3g}", fontsize=8)
        ax.set_yticks([])
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 8 · Data augmentation for microscopy
#
# Augmentation makes new training examples from old ones with changes that do not change the
# label. What counts as "does not change the label" depends on the images. A nucleus on a
# slide has no up or down, left or right: flips and rotations by any multiple of 90° give
# images the microscope could have taken. Small shifts and brightness changes imitate a
# slightly different field of view and stain or exposure. A chest X-ray is different: the
# heart lies on the left and patients are imaged upright, so a mirrored or rotated X-ray shows
# an anatomy that does not occur (and mirror-image anatomy is itself a diagnosis, *situs
# inversus*).
#
# Keras's preprocessing layers do this inside the model: active in training
# (`model(images, training=True)`, and during `fit`) and the identity at inference.
#
# **Exercise 12.** Build `augmentation`, a `keras.Sequential` for the cell images (N, H, W, 1)
# with values in [0, 1], containing `RandomFlip("horizontal_and_vertical")`, a
# `RandomRotation` (with `fill_mode="reflect"`; a cell may turn by any angle), a small
# `RandomTranslation` (at most 0.1 of the height and width; `fill_mode="reflect"`), and a
# small `RandomBrightness` (`factor` about 0.15, at most 0.3) on the images' scale.
# *Hint:* read the `value_range` argument of `RandomBrightness`.
#
# **Exercise 13.** Fill `augmentation_choices`: for each key, `True` when the augmentation
# gives realistic images of that kind, `False` when it does not.

# %% nbgrader={"grade": false, "grade_id": "augmentation_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
augmentation = None
augmentation_choices = {"cell_flip": None, "cell_rotate_90": None, "cell_small_shift": None,
                        "histology_rotate_90": None, "xray_flip": None, "xray_rotate_90": None,
                        "xray_small_shift": None, "xray_brightness": None}
### BEGIN SOLUTION
augmentation = keras.Sequential([
    keras.layers.RandomFlip("horizontal_and_vertical"),
    keras.layers.RandomRotation(0.25, fill_mode="reflect"),
    keras.layers.RandomTranslation(0.1, 0.1, fill_mode="reflect"),
    keras.layers.RandomBrightness(0.15, value_range=(0.0, 1.0)),
])
augmentation_choices = {"cell_flip": True, "cell_rotate_90": True, "cell_small_shift": True,
                        "histology_rotate_90": True, "xray_flip": False, "xray_rotate_90": False,
                        "xray_small_shift": True, "xray_brightness": True}
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "augmentation", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.generalisation import check_augmentation_model

check_augmentation_model(augmentation)
### BEGIN HIDDEN TESTS
check_augmentation_model(augmentation, seed=5, num_images=4, image_size=32)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "augmentation_choices", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.generalisation import check_augmentation_choices

check_augmentation_choices(augmentation_choices)

# %% [markdown]
# Eight augmented versions of each of four simulated nuclei (first column: the original):

# %%
from course_lib.data.images import simulate_cells

cells = simulate_cells(4, 32, seed=1)
fig, axes = plt.subplots(4, 9, figsize=(12, 5.6))
for row, image, label in zip(axes, cells.images, cells.labels):
    row[0].imshow(image[:, :, 0], cmap="gray", vmin=0, vmax=1)
    row[0].set_title(cells.class_names[label], fontsize=8)
    batch = np.repeat(image[None], 8, axis=0)
    augmented = keras.ops.convert_to_numpy(augmentation(batch, training=True))
    for ax, picture in zip(row[1:], augmented):
        ax.imshow(picture[:, :, 0], cmap="gray", vmin=0, vmax=1)
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 9 · The closing experiment
#
# One small Keras network (30 inputs, two hidden layers of 64 ReLU units, one logit),
# trained with Adam on the same 80 examples for 150 full-batch epochs, five ways: with no
# regularisation, with L2 (`kernel_regularizer=L2(1e-2)`), with dropout (`Dropout(0.5)` after each
# hidden layer), with batch normalisation (after each hidden layer's affine part, before the
# ReLU), and with early stopping (patience 20, best weights restored). We report the
# accuracy on the 200 **test** examples, used here for the first and only time, and the gap
# between the training and the validation loss.

# %%
import tensorflow as tf


def closing_model(kind, seed):
    keras.utils.set_random_seed(seed)
    regularizer = keras.regularizers.L2(1e-2) if kind == "L2" else None
    stack = [keras.Input((X_train.shape[1],))]
    for _ in range(2):
        stack.append(keras.layers.Dense(64, kernel_regularizer=regularizer,
                                        activation=None if kind == "batch norm" else "relu"))
        if kind == "batch norm":
            stack += [keras.layers.BatchNormalization(), keras.layers.Activation("relu")]
        if kind == "dropout":
            stack.append(keras.layers.Dropout(0.5))
    stack.append(keras.layers.Dense(1))
    return keras.Sequential(stack)


def closing_run(kind, seed=0, num_epochs=150):
    """Train one variant with full-batch Adam steps; the early-stopping callback is driven by hand."""
    model = closing_model(kind, seed)
    optimizer = keras.optimizers.Adam(3e-3)
    cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)
    parts = {name: (tf.constant(X, tf.float32), tf.constant(y.reshape(-1, 1), tf.float32))
             for name, X, y in [("train", X_train, y_train), ("val", X_val, y_val), ("test", X_test, y_test)]}

    @tf.function
    def train_step(X, y):
        with tf.GradientTape() as tape:
            loss = cross_entropy(y, model(X, training=True)) + tf.add_n([0.0] + model.losses)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))

    @tf.function
    def evaluate(X, y):
        logits = model(X, training=False)
        accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.cast(logits > 0, tf.float32), y), tf.float32))
        return cross_entropy(y, logits), accuracy

    stopper = make_early_stopping(20) if kind == "early stopping" else None
    if stopper is not None:
        model.stop_training = False
        stopper.set_model(model)
        stopper.on_train_begin()
    for epoch in range(num_epochs):
        train_step(*parts["train"])
        if stopper is not None:
            stopper.on_epoch_end(epoch, {"val_loss": float(evaluate(*parts["val"])[0])})
            if model.stop_training:
                break
    if stopper is not None:
        stopper.on_train_end()                      # restores the best epoch's weights
    (train_loss, train_accuracy), (val_loss, val_accuracy), (_, test_accuracy) = (
        (float(v) for v in evaluate(*parts[name])) for name in ("train", "val", "test"))
    return {"epochs": epoch + 1, "train loss": train_loss, "val loss": val_loss, "gap": val_loss - train_loss,
            "test accuracy": test_accuracy}


kinds = ["none", "L2", "dropout", "batch norm", "early stopping"]
results = {kind: closing_run(kind) for kind in kinds}
print(f"{'regularisation':<16}{'epochs':>7}{'train loss':>12}{'val loss':>10}{'gap':>8}{'test acc.':>11}")
for kind, row in results.items():
    print(f"{kind:<16}{row['epochs']:>7}{row['train loss']:>12.3f}{row['val loss']:>10.3f}{row['gap']:>8.3f}"
          f"{row['test accuracy']:>11.3f}")

# %% [markdown]
# **Reading the table honestly.** The losses are the cross-entropy alone (no penalty term),
# after the last epoch or, for early stopping, of the restored best epoch. We ran the same
# cell with the seeds 0, 1 and 2 (the seed sets the initial weights and the dropout masks;
# the data split stays the same) and saw:
#
# | regularisation | gap (val − train loss) | test accuracy |
# | --- | --- | --- |
# | none | 0.42 – 0.46 | 0.885 – 0.900 |
# | L2 (1e-2) | 0.27 – 0.28 | 0.905 – 0.910 |
# | dropout (0.5) | 0.45 – 0.47 | 0.895 – 0.920 |
# | batch norm | 0.23 – 0.24 | 0.915 – 0.920 |
# | early stopping (patience 20) | 0.12 – 0.13, stopping after 33 – 35 epochs | 0.905 – 0.915 |
#
# What is solid: without regularisation the network drives its training loss to about 0
# while its validation loss climbs; early stopping, batch normalisation and L2 keep the gap
# clearly smaller, for every seed. Dropout at 0.5 barely changed the gap here: with 80
# examples and 150 full-batch steps the network still memorises the training set. What is
# *not* solid: the test accuracies. They differ by a few of the 200 test cases, about as
# much as one method differs between seeds, so this experiment cannot rank the methods by
# accuracy. Before you believe a difference of one or two percent, repeat with several seeds
# (and ideally several splits), and make every choice on the validation set, never on the test set.
#
# ## Summary
#
# * Diagnose with both curves: under-fitting (both high), over-fitting (a growing gap), healthy.
# * Early stopping needs patience and the best weights restored; Keras:
#   `EarlyStopping(monitor="val_loss", patience=p, restore_best_weights=True)`.
# * Keras's penalties: `L2(l2)` adds `l2 * sum(W**2)` (gradient `2 * l2 * W`), `L1(l1)` adds
#   `l1 * sum(|W|)`, `L1L2` both; no division by N, biases not penalised.
# * Inverted dropout: `rate` drops, kept units are scaled by `1 / (1 - rate)` in training, nothing
#   happens at test time.
# * Batch norm: batch statistics in training, moving averages (momentum 0.99, epsilon 1e-3) at
#   test time in Keras; the backward pass goes through the batch statistics too.
# * Initialise with zero-mean Glorot (tanh, sigmoid) or He (ReLU), never all-positive `np.random.rand`.
# * Augment only with changes that produce realistic images of that kind.
#
# Next, unit 07 searches hyperparameters (such as these regularisation strengths) systematically.
