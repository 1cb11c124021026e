# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Unit 01 · A one-layer network is linear regression
#
# A neural network with one fully connected layer and no activation computes
# $\hat{y} = w^\top x + b$: that is linear regression. Everything that follows in the
# course (losses, gradients, gradient descent, minibatches) already appears here, in
# a setting small enough to check every number by hand.
#
# **Learning goals.** After this unit you can
# 1. write the prediction of a one-layer network for a whole dataset at once, `X @ w + b`;
# 2. compute the mean squared error (MSE), per example and averaged;
# 3. derive and code the gradient of the MSE with respect to `w` and `b`;
# 4. train with gradient descent, using a stopping rule instead of `while True`;
# 5. explain what a step size that is too small, about right, or too large does;
# 6. sample minibatches and train with stochastic gradient descent (SGD).
#
# **How to work.** Fill in each cell marked `# YOUR CODE HERE` (delete the
# `raise NotImplementedError()` line), run it, then run the check cell below it. A
# check prints a line starting with ✓ when it passes and explains what is wrong when
# it fails. Before you submit, run every cell from the top (*Kernel → Restart Kernel
# and Run All Cells*) or, in a terminal, `dlcourse check notebooks/01_linear_regression/linear_regression.ipynb`.
# Grading runs more tests of the same kind with other data.
#
# **Data.** A *simulated* hospital dataset: six clinical variables measured at
# admission and the length of stay in days. Because we simulated it, we know the
# true weights, and can see how close training gets to them.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import numpy as np
import matplotlib.pyplot as plt

from course_lib.data.hospital import hospital_length_of_stay
from course_lib.plotting import plot_learning_curves, plot_weights

data = hospital_length_of_stay(num_patients=400, seed=4)
X, y = data.X, data.y
print("X:", X.shape, "(N patients, D features)   y:", y.shape, "(N stays, in days)")
print("features:", ", ".join(data.feature_names))

# %% [markdown]
# Each row of `X` is one patient; each column one clinical variable, *standardised*:
# the simulator subtracted a population mean and divided by a population standard
# deviation, so a value of 1.0 means "one standard deviation above the typical
# patient". Here are the raw values of the first three patients next to their stays:

# %%
for raw, stay in zip(data.X_raw[:3], y[:3]):
    print(", ".join(f"{name}={value:.1f}" for name, value in zip(data.feature_names, raw)), f"-> {stay:.1f} days")

# %% [markdown]
# ## 1 · The prediction of a one-layer network
#
# For one patient $x \in \mathbb{R}^D$ the network predicts
# $\hat{y} = w_1 x_1 + \dots + w_D x_D + b = w^\top x + b$, with one weight per feature and one bias.
# Stacking the $N$ patients as rows of a matrix gives all predictions in one line:
#
# $$\hat{\mathbf{y}} = X w + b, \qquad X\ (N, D),\quad w\ (D,),\quad b \text{ a number},\quad \hat{\mathbf{y}}\ (N,).$$
#
# NumPy adds the number `b` to every entry (*broadcasting*).
#
# **Exercise 1.** Write `predict(X, w, b)` returning an array of shape `(N,)`.
# *Hint:* the matrix product is `X @ w` (or `np.dot(X, w)`); avoid Python loops.

# %% nbgrader={"grade": false, "grade_id": "predict_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def predict(X, w, b):
    """Predictions of a one-layer network: X (N, D), w (D,), b scalar -> (N,)."""
    ### BEGIN SOLUTION
    return X @ w + b
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "predict", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.linear import check_predict

check_predict(predict)
### BEGIN HIDDEN TESTS
check_predict(predict, seed=7, num_examples=11, num_features=6)
check_predict(predict, seed=8, num_examples=1, num_features=1)
### END HIDDEN TESTS

# %% [markdown]
# ## 2 · How wrong is a prediction? The mean squared error
#
# The loss of one example is the squared difference $L^{(i)} = (\hat{y}^{(i)} - y^{(i)})^2$:
# zero for a perfect prediction, and growing fast for large mistakes. The loss of the
# whole dataset is the mean over the $N$ examples,
#
# $$L = \frac{1}{N}\sum_{i=1}^{N} \big(\hat{y}^{(i)} - y^{(i)}\big)^2 .$$
#
# Averaging (rather than summing) keeps the loss on the same scale whatever the
# number of examples, so the same step size works for 40 or 4,000 patients.
#
# **Exercise 2.** Write `squared_errors(y_pred, y)`: one loss per example, shape `(N,)`.

# %% nbgrader={"grade": false, "grade_id": "squared_errors_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def squared_errors(y_pred, y):
    """Per-example squared error: y_pred (N,), y (N,) -> (N,)."""
    ### BEGIN SOLUTION
    return (y_pred - y) ** 2
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "squared_errors", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.linear import check_squared_errors

check_squared_errors(squared_errors)
### BEGIN HIDDEN TESTS
check_squared_errors(squared_errors, seed=3, num_examples=13)
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 3.** Write `mse_loss(y_pred, y)`: the mean of the squared errors, a single number.

# %% nbgrader={"grade": false, "grade_id": "mse_loss_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mse_loss(y_pred, y):
    """Mean squared error: y_pred (N,), y (N,) -> scalar."""
    ### BEGIN SOLUTION
    return np.mean(squared_errors(y_pred, y))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "mse_loss", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.linear import check_mse_loss

check_mse_loss(mse_loss)
### BEGIN HIDDEN TESTS
check_mse_loss(mse_loss, seed=5, num_examples=2)
check_mse_loss(mse_loss, seed=6, num_examples=50)
### END HIDDEN TESTS

# %% [markdown]
# Before training, with every weight and the bias at zero, the network predicts 0 days
# for everyone. Its loss is the mean of $y^2$:

# %%
print(f"MSE at w = 0, b = 0: {mse_loss(predict(X, np.zeros(X.shape[1]), 0.0), y):.2f} days^2")

# %% [markdown]
# ## 3 · Which way is downhill? The gradient
#
# Training means finding the `w` and `b` that make $L$ small. The gradient — the
# vector of partial derivatives — points uphill, so we will step the other way.
# With the residual $r^{(i)} = \hat{y}^{(i)} - y^{(i)}$, the chain rule gives for one
# example $\partial L^{(i)}/\partial w_k = 2\, r^{(i)} x^{(i)}_k$ and
# $\partial L^{(i)}/\partial b = 2\, r^{(i)}$ (because $\partial \hat{y}/\partial w_k = x_k$ and
# $\partial \hat{y}/\partial b = 1$). Averaging over the examples:
#
# $$\frac{\partial L}{\partial w} = \frac{2}{N} X^\top r \quad (D,), \qquad
#   \frac{\partial L}{\partial b} = \frac{2}{N}\sum_{i} r^{(i)} \quad \text{(a number)},
#   \qquad r = X w + b - y \quad (N,).$$
#
# `X.T @ r` does the sum over examples for every feature at once: `(D, N) @ (N,) -> (D,)`.
#
# **Exercise 4.** Write `mse_gradients(X, y, w, b)` returning the tuple `(dw, db)`.
# *Hint:* the most common mistakes are a missing `2`, a missing `1/N`, and the sign
# of the residual.

# %% nbgrader={"grade": false, "grade_id": "mse_gradients_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mse_gradients(X, y, w, b):
    """Gradient of the MSE: X (N, D), y (N,), w (D,), b scalar -> (dw (D,), db scalar)."""
    ### BEGIN SOLUTION
    residual = predict(X, w, b) - y
    num_examples = X.shape[0]
    dw = 2 / num_examples * X.T @ residual
    db = 2 / num_examples * np.sum(residual)
    return dw, db
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "mse_gradients", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.linear import check_mse_gradients

check_mse_gradients(mse_gradients)
### BEGIN HIDDEN TESTS
check_mse_gradients(mse_gradients, seed=11, num_examples=30, num_features=6)
check_mse_gradients(mse_gradients, seed=12, num_examples=1, num_features=2)
### END HIDDEN TESTS

# %% [markdown]
# You can test any gradient without trusting the algebra: nudge one parameter by a
# small $h$ in both directions and look at how the loss changes,
# $\partial L/\partial b \approx \big(L(b + h) - L(b - h)\big) / 2h$. The two numbers
# below should agree to about six digits. (Unit 02 turns this into a tool.)

# %%
w0, b0, h = np.full(X.shape[1], 0.5), 1.0, 1e-5
numerical_db = (mse_loss(predict(X, w0, b0 + h), y) - mse_loss(predict(X, w0, b0 - h), y)) / (2 * h)
print(f"analytic db = {mse_gradients(X, y, w0, b0)[1]:.8f}   numerical db = {numerical_db:.8f}")

# %% [markdown]
# ## 4 · One step of gradient descent
#
# Gradient descent moves every parameter a little against its gradient,
#
# $$w \leftarrow w - \alpha\, \frac{\partial L}{\partial w}, \qquad b \leftarrow b - \alpha\, \frac{\partial L}{\partial b},$$
#
# where the *step size* or *learning rate* $\alpha > 0$ is a choice we make (a hyperparameter).
#
# **Exercise 5.** Write `gradient_descent_step(w, b, dw, db, learning_rate)` returning the
# new `(w, b)`.

# %% nbgrader={"grade": false, "grade_id": "gradient_descent_step_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gradient_descent_step(w, b, dw, db, learning_rate):
    """One gradient-descent update: w (D,), b, dw (D,), db, learning_rate -> (new w (D,), new b)."""
    ### BEGIN SOLUTION
    return w - learning_rate * dw, b - learning_rate * db
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "gradient_descent_step", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.linear import check_gradient_descent_step

check_gradient_descent_step(gradient_descent_step)
### BEGIN HIDDEN TESTS
check_gradient_descent_step(gradient_descent_step, seed=4, num_features=9)
### END HIDDEN TESTS

# %% [markdown]
# ## 5 · A training loop that knows when to stop
#
# The textbook loop `while True: step()` never ends by itself. A real loop stops
# for one of two reasons: it has taken `max_steps` steps (a budget), or the last step
# improved the loss by less than a `tolerance` (it has converged).
#
# **Exercise 6.** Write `train_gradient_descent(X, y, learning_rate, max_steps, tolerance)`:
# * start from `w = np.zeros(D)` and `b = 0.0`;
# * keep a list `history` whose first entry is the MSE *before* any step, and append the
#   MSE on all of `X` after every step (so after $k$ steps it has $k + 1$ entries);
# * stop after `max_steps` steps, or as soon as `history[-2] - history[-1] < tolerance`;
# * return `(w, b, history)`.
#
# Use your functions from above. *Hint:* a `for` loop over `range(max_steps)` with a `break`.

# %% nbgrader={"grade": false, "grade_id": "train_gradient_descent_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_gradient_descent(X, y, learning_rate, max_steps, tolerance):
    """Full-batch gradient descent from zeros: X (N, D), y (N,) -> (w (D,), b, history list)."""
    ### BEGIN SOLUTION
    w, b = np.zeros(X.shape[1]), 0.0
    history = [mse_loss(predict(X, w, b), y)]
    for _ in range(max_steps):
        dw, db = mse_gradients(X, y, w, b)
        w, b = gradient_descent_step(w, b, dw, db, learning_rate)
        history.append(mse_loss(predict(X, w, b), y))
        if history[-2] - history[-1] < tolerance:
            break
    return w, b, history
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "train_gradient_descent", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.linear import check_train_gradient_descent

check_train_gradient_descent(train_gradient_descent)
### BEGIN HIDDEN TESTS
check_train_gradient_descent(train_gradient_descent, seed=21, num_examples=35, num_features=5)
### END HIDDEN TESTS

# %% [markdown]
# Now train on the hospital data and compare the learned weights with the true ones
# that generated it. They will not match exactly, because the stays are noisy: with
# noise of standard deviation $\sigma = 1.5$ days and standardised, nearly uncorrelated
# features, each learned weight has a standard error of about $\sigma/\sqrt{N} = 1.5/\sqrt{400} \approx 0.075$
# days per SD. Differences up to about twice that are ordinary; more data shrinks them.

# %%
w_gd, b_gd, history_gd = train_gradient_descent(X, y, learning_rate=0.1, max_steps=1000, tolerance=1e-8)
print(f"stopped after {len(history_gd) - 1} steps; final MSE {history_gd[-1]:.3f}; "
      f"b = {b_gd:.2f} (true {data.true_bias})")
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8))
plot_learning_curves({"gradient descent": history_gd}, ax=left, title="training loss")
plot_weights(data.true_weights, {"gradient descent": w_gd}, data.feature_names, ax=right)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 6 · Step size: too small, about right, too large
#
# For the MSE there is a sharp limit: gradient descent converges only when
# $\alpha < 2/\lambda_{\max}$, where $\lambda_{\max}$ is the largest eigenvalue of the
# loss's curvature matrix $\tfrac{2}{N}[X, 1]^\top [X, 1]$. Below the limit, a tiny
# step crawls; near half of it, training is fast; above it, every step overshoots
# further and the loss explodes. The plot uses the course's reference
# implementation, so it works whatever state your answers are in.

# %%
# the reference, under a name of its own: your answers must stay your own work
from course_lib.linear import max_stable_learning_rate, train_gradient_descent as reference_gradient_descent

limit = max_stable_learning_rate(X)
runs = {f"{name}: {rate:.3g}": reference_gradient_descent(X, y, rate, max_steps=40, tolerance=-np.inf).history
        for name, rate in [("too small", limit / 100), ("about right", limit / 2), ("too large", limit * 1.05)]}
plot_learning_curves(runs, title=f"three step sizes (limit 2 / lambda_max = {limit:.3g})")
plt.show()

# %% [markdown]
# *Optional, interactive:* drag the slider to try other step sizes. (When the notebook is
# run without a browser, only the starting value is drawn.)

# %%
from course_lib.widgets import step_size_explorer

step_size_explorer(X, y);

# %% [markdown]
# ## 7 · Minibatches and stochastic gradient descent
#
# Every gradient-descent step above looked at all $N$ patients. With millions of
# examples that is slow, so in practice each step uses a small random *minibatch*
# of $B$ examples. The minibatch gradient is a noisy but unbiased estimate of the
# full gradient: on average it points the same way.
#
# **Exercise 7.** Write `sample_minibatch(X, y, batch_size, rng)` that returns `batch_size`
# random rows of `X`, shape `(B, D)`, and the *matching* entries of `y`, shape `(B,)`,
# without repeating an example. Draw with the generator `rng` (for example
# `rng.choice(N, size=batch_size, replace=False)` or `rng.permutation(N)[:batch_size]`), not
# with `np.random.*`, so results are reproducible.

# %% nbgrader={"grade": false, "grade_id": "sample_minibatch_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sample_minibatch(X, y, batch_size, rng):
    """A random minibatch without replacement: X (N, D), y (N,) -> (X_batch (B, D), y_batch (B,))."""
    ### BEGIN SOLUTION
    rows = rng.choice(X.shape[0], size=batch_size, replace=False)
    return X[rows], y[rows]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sample_minibatch", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.linear import check_sample_minibatch

check_sample_minibatch(sample_minibatch)
### BEGIN HIDDEN TESTS
check_sample_minibatch(sample_minibatch, seed=9, num_examples=25, num_features=2, batch_size=20)
check_sample_minibatch(sample_minibatch, seed=10, num_examples=100, num_features=4, batch_size=3)
### END HIDDEN TESTS

# %% [markdown]
# Sampling a fresh minibatch for every step, as above, can pick some patients often
# and others never. Deep-learning libraries usually go through the data in *epochs*
# instead: shuffle the row order once, then cut it into consecutive minibatches, so
# each example is used exactly once per epoch.
#
# **Exercise 8.** Write `train_sgd(X, y, learning_rate, batch_size, num_epochs, seed)`:
# * `rng = np.random.default_rng(seed)`; start from `w = 0`, `b = 0`;
# * each epoch: `order = rng.permutation(N)`, then one gradient step for each slice
#   `order[start:start + batch_size]` (the last slice is shorter when `batch_size` does not
#   divide N; it still takes its step); after the epoch, append the MSE on all of `X`;
# * return `(w, b, history)`, with `num_epochs` entries in `history`: one per epoch, the
#   convention of every epoch-based history in this course (units 02 and 03, and Keras).
#   (Gradient descent's history above counts *steps* from 0, because its stopping rule
#   needs the loss before the first step.)
#
# Every number is fixed by these rules, so the check compares your run with the reference
# step for step.

# %% nbgrader={"grade": false, "grade_id": "train_sgd_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_sgd(X, y, learning_rate, batch_size, num_epochs, seed):
    """Minibatch SGD by epochs: X (N, D), y (N,) -> (w (D,), b, history list of num_epochs losses)."""
    ### BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    num_examples = X.shape[0]
    w, b = np.zeros(X.shape[1]), 0.0
    history = []
    for _ in range(num_epochs):
        order = rng.permutation(num_examples)
        for start in range(0, num_examples, batch_size):
            rows = order[start:start + batch_size]
            dw, db = mse_gradients(X[rows], y[rows], w, b)
            w, b = gradient_descent_step(w, b, dw, db, learning_rate)
        history.append(mse_loss(predict(X, w, b), y))
    return w, b, history
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "train_sgd", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.linear import check_train_sgd

check_train_sgd(train_sgd)
### BEGIN HIDDEN TESTS
check_train_sgd(train_sgd, seed=31, num_examples=150, num_features=3)
check_train_sgd(train_sgd, seed=32, num_examples=45, num_features=2, learning_rate=0.1, batch_size=7, num_epochs=4)
### END HIDDEN TESTS

# %% [markdown]
# How does SGD compare with full-batch gradient descent *per pass over the data*? Both run
# at the same learning rate, 0.1 (gradient descent's run above), so that only the batch
# size differs. One epoch of SGD with $B = 32$ takes $\lceil 400/32 \rceil = 13$ steps for
# the price of one full-batch step, so it gets close to the optimum in far fewer passes,
# then jitters around it because each minibatch gradient is noisy (a smaller learning
# rate would shrink the jitter and slow the start). Both curves show the loss after each
# completed pass: `history_gd[1:31]` (its entry 0 is the start) and the 30 entries of
# `history_sgd`.

# %%
w_sgd, b_sgd, history_sgd = train_sgd(X, y, learning_rate=0.1, batch_size=32, num_epochs=30, seed=0)
from course_lib.linear import least_squares   # the exact optimum, for the dashed line

w_best, b_best = least_squares(X, y)
best_loss = np.mean((X @ w_best + b_best - y) ** 2)
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8))
plot_learning_curves({"full-batch GD (1 step per pass)": history_gd[1:31], "SGD, B = 32 (13 steps per pass)": history_sgd},
                     ax=left, xlabel="passes over the data completed, minus 1", title="loss after each pass, learning rate 0.1")
left.axhline(best_loss, color="grey", linestyle="--")
plot_weights(data.true_weights, {"gradient descent": w_gd, "SGD": w_sgd}, data.feature_names, ax=right)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Summary
#
# * A one-layer network without activation *is* linear regression: $\hat{\mathbf{y}} = Xw + b$, shapes `(N, D) @ (D,) + scalar -> (N,)`.
# * The MSE averages the per-example squared errors; averaging keeps one step size valid for any $N$.
# * Its gradient is $\tfrac{2}{N}X^\top(\hat{\mathbf{y}} - \mathbf{y})$ for `w` and $\tfrac{2}{N}\sum(\hat{y} - y)$ for `b`; a finite difference confirms it.
# * Gradient descent steps against the gradient; a loop needs a budget and a convergence test, never `while True`.
# * The step size has a hard upper limit ($2/\lambda_{\max}$ for the MSE): too small crawls, too large diverges.
# * SGD estimates the gradient from minibatches: many cheap, noisy steps per pass over the data.
#
# Next, unit 02 adds a hidden layer and a nonlinearity, and computes the gradients by backpropagation.
