# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Unit 02 · Backpropagation by hand, with gradient checking
#
# Unit 01's network had one layer and no activation, so it could only draw straight
# lines (flat planes, in $D$ dimensions). Here we put a *hidden layer* with a
# nonlinear activation between input and output,
#
# $$\hat{y} = \sigma(x W_1 + b_1)\, W_2 + b_2 ,$$
#
# and compute its gradients the way every deep-learning library does inside:
# by *backpropagation*, the chain rule applied one small step at a time, backwards
# through a graph of simple operations. Then we learn to *trust but verify*: a
# gradient check compares every gradient with a finite-difference estimate, and we
# use it to find three bugs in a piece of backprop code from the lecture.
#
# **Learning goals.** After this unit you can
# 1. write an activation (sigmoid, ReLU) and its derivative as a forward/backward pair;
# 2. derive and code the backward pass of an affine layer, using shapes as a guide;
# 3. compose layers into a two-layer network and run its forward pass;
# 4. draw the network as a computational graph and give the shape and value of every node;
# 5. backpropagate through the whole network, node by node, with the chain rule;
# 6. check any gradient numerically with centred differences and read the relative error;
# 7. find and fix wrong gradients with a gradient check, and start training from a sensible initialisation;
# 8. show, on a nonlinear gene-expression problem, what a hidden layer buys over linear regression.
#
# **How to work.** As in unit 01: fill in each cell marked `# YOUR CODE HERE` (delete the
# `raise NotImplementedError()` line), run it, then run the check below it. A check
# prints a line starting with ✓ when it passes, and says what looks wrong when it
# does not. Before you submit, run everything from the top, or run
# `dlcourse check notebooks/02_backpropagation/backpropagation.ipynb` in a terminal.
# Grading runs more tests of the same kind with other numbers.
#
# **One rule.** The point of this unit is to compute gradients *by hand*, with NumPy.
# A backward pass that calls an automatic-differentiation tool (`tf.GradientTape`,
# `jax.grad`, `torch.autograd`, ...) earns no points, even when its numbers are right.
# Those tools are the subject of unit 03.
#
# **Data.** A *simulated* gene-expression problem: predict a target gene's expression
# from eight "landmark" genes, through a known nonlinear function (section 9), and,
# at the end, real measurements from 442 diabetes patients.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import numpy as np
import matplotlib.pyplot as plt

from course_lib.data.genes import gene_expression, true_expression
from course_lib.gradcheck import gradient_check_report, norm_rel_error, rel_error
from course_lib.plotting import plot_learning_curves

train_data = gene_expression(num_samples=400, seed=0)
validation_data = gene_expression(num_samples=400, seed=1)
X_train, y_train = train_data.X, train_data.y
X_val, y_val = validation_data.X, validation_data.y
print("X_train:", X_train.shape, "(N samples, D landmark genes)   y_train:", y_train.shape)
print("landmarks:", ", ".join(train_data.feature_names))

# %% [markdown]
# ## 1 · Layers as forward/backward pairs
#
# A network is a chain of simple functions. We will write each one as a pair:
#
# * `out, cache = layer_forward(x, ...)` computes the output and stores in `cache`
#   whatever the backward pass will need;
# * `dx = layer_backward(dout, cache)` receives `dout`, the gradient of the final loss
#   $L$ with respect to the layer's output, $\partial L/\partial \text{out}$ (the
#   *upstream* gradient), and returns $\partial L/\partial x$ (the *downstream* gradient).
#
# The chain rule says how to get one from the other. If `out = f(x)` elementwise, a
# small change in `x[i]` changes `out[i]` by `f'(x[i])` times as much, and that change
# reaches the loss with weight `dout[i]`. So
#
# $$\frac{\partial L}{\partial x_i} = \frac{\partial L}{\partial \text{out}_i} \cdot f'(x_i),
# \qquad \texttt{dx = dout * f'(x)} .$$
#
# *Downstream = upstream × local.* The layer never needs to know what comes after it:
# all of that is summarised in `dout`. Two shape facts hold throughout: `dout` has
# the shape of `out`, and every gradient has the shape of the variable it belongs to.
#
# ## 2 · Activation functions and their derivatives
#
# The sigmoid squashes any number into $(0, 1)$:
# $\sigma(x) = 1/(1 + e^{-x})$. Its derivative has a neat form. Writing
# $s = \sigma(x)$ and differentiating $(1 + e^{-x})^{-1}$,
#
# $$\sigma'(x) = \frac{e^{-x}}{(1 + e^{-x})^2} = \frac{1}{1+e^{-x}}\cdot\frac{e^{-x}}{1+e^{-x}} = s\,(1 - s).$$
#
# So the backward pass only needs the *output* `s`, which the forward pass already
# computed: keep it in the cache. Shapes: `x`, `out`, `dout` and `dx` all have the same
# shape, e.g. `(N, H)`, because the function acts on each entry separately.
#
# **Exercise 1.** Write `sigmoid_forward(x)` returning `(out, cache)` and
# `sigmoid_backward(dout, cache)` returning `dx`.
# *Hint:* if the cache holds `out = σ(x)`, the local gradient is `out * (1 - out)`. Do not
# apply the sigmoid to `out` a second time: $\sigma'(\sigma(x))$ is a different number.

# %% nbgrader={"grade": false, "grade_id": "sigmoid_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sigmoid_forward(x):
    """Sigmoid, elementwise: x any shape, e.g. (N, H) -> (out same shape, cache)."""
    ### BEGIN SOLUTION
    out = 1.0 / (1.0 + np.exp(-x))
    return out, out
    ### END SOLUTION


def sigmoid_backward(dout, cache):
    """Backward pass of the sigmoid: dout (N, H), cache from sigmoid_forward -> dx (N, H)."""
    ### BEGIN SOLUTION
    out = cache
    return dout * out * (1.0 - out)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sigmoid", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.backprop import check_sigmoid

check_sigmoid(sigmoid_forward, sigmoid_backward)
### BEGIN HIDDEN TESTS
check_sigmoid(sigmoid_forward, sigmoid_backward, seed=5, num_examples=1, num_units=9)
check_sigmoid(sigmoid_forward, sigmoid_backward, seed=6, num_examples=12, num_units=3)
### END HIDDEN TESTS

# %% [markdown]
# The ReLU, $\max(0, x)$, is the default in modern networks. Its derivative is 1 where
# $x > 0$ and 0 where $x < 0$; at exactly $x = 0$ it has a kink, and we use 0 there
# (any value between 0 and 1 would do; it almost never matters). Here the backward
# pass needs the *input*: keep `x` in the cache.
#
# **Exercise 2.** Write `relu_forward(x)` and `relu_backward(dout, cache)`.
# *Hint:* `np.maximum(x, 0)` compares elementwise (`np.max(x, 0)` would take the
# largest value along axis 0 instead); `x > 0` is a boolean mask that multiplies like 0/1.

# %% nbgrader={"grade": false, "grade_id": "relu_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def relu_forward(x):
    """ReLU, elementwise: x any shape -> (out same shape, cache)."""
    ### BEGIN SOLUTION
    return np.maximum(x, 0.0), x
    ### END SOLUTION


def relu_backward(dout, cache):
    """Backward pass of the ReLU: dout (N, H), cache from relu_forward -> dx (N, H)."""
    ### BEGIN SOLUTION
    x = cache
    return dout * (x > 0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "relu", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.backprop import check_relu

check_relu(relu_forward, relu_backward)
### BEGIN HIDDEN TESTS
check_relu(relu_forward, relu_backward, seed=7, num_examples=10, num_units=2)
### END HIDDEN TESTS

# %% [markdown]
# Four common activations and their derivatives, each from its formula (the tanh's
# derivative is $1 - \tanh^2 x$). About *leaky ReLU*: it lets a small slope through for
# negative inputs, and that slope differs between sources, so always say which one you
# use. The course library's default is **0.01**; the lecture's slide draws
# $\max(0.1x, x)$, a slope of **0.1**; and Keras 3's `keras.layers.LeakyReLU()` defaults
# to **0.3**. The plot uses 0.1 so that the slope is visible.

# %%
grid = np.linspace(-4, 4, 401)
s = 1 / (1 + np.exp(-grid))
curves = {"sigmoid": (s, s * (1 - s)),
          "tanh": (np.tanh(grid), 1 - np.tanh(grid) ** 2),
          "relu": (np.maximum(grid, 0), (grid > 0).astype(float)),
          "leaky_relu (slope 0.1)": (np.where(grid > 0, grid, 0.1 * grid), np.where(grid > 0, 1.0, 0.1))}
fig, axes = plt.subplots(1, 4, figsize=(14, 3), sharex=True)
for ax, (name, (out, derivative)) in zip(axes, curves.items()):
    ax.plot(grid, out, label="f(x)")
    ax.plot(grid, derivative, "--", label="f'(x)")
    ax.set_title(name)
    ax.grid(alpha=0.3)
axes[0].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Notice the sigmoid's derivative: at most 0.25 (at $x = 0$) and nearly 0 once $|x| > 5$.
# A sigmoid unit whose input is large in magnitude is *saturated*: almost no gradient
# flows back through it. Remember this for section 7.
#
# **Reading question.** A sigmoid unit receives the input $z = 6$. By what factor does its
# backward pass multiply the gradient that reaches it? Store the number in
# `saturation_factor` to three significant digits (work it out, then check with NumPy).

# %% nbgrader={"grade": false, "grade_id": "saturation_factor_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
saturation_factor = float(1 / (1 + np.exp(-6)) * (1 - 1 / (1 + np.exp(-6))))
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "saturation_factor", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.backprop import check_saturation_factor

check_saturation_factor(saturation_factor)

# %% [markdown]
# **Exercise 2b.** Write the other two as forward/backward pairs:
# * `tanh_forward(x)` and `tanh_backward(dout, cache)`, with $\tanh'(x) = 1 - \tanh^2 x$;
# * `leaky_relu_forward(x, negative_slope=0.01)` and `leaky_relu_backward(dout, cache)`: the
#   output is $x$ where $x > 0$ and `negative_slope * x` elsewhere. The slope is an argument,
#   and the check uses other slopes than the default, so the backward pass must find the one
#   the forward pass used in its cache.

# %% nbgrader={"grade": false, "grade_id": "tanh_leaky_relu_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def tanh_forward(x):
    """tanh, elementwise: x any shape -> (out same shape, cache)."""
    ### BEGIN SOLUTION
    out = np.tanh(x)
    return out, out
    ### END SOLUTION


def tanh_backward(dout, cache):
    """Backward pass of tanh: dout (N, H), cache from tanh_forward -> dx (N, H)."""
    ### BEGIN SOLUTION
    return dout * (1.0 - cache ** 2)
    ### END SOLUTION


def leaky_relu_forward(x, negative_slope=0.01):
    """Leaky ReLU, elementwise: x any shape, slope for x <= 0 -> (out same shape, cache)."""
    ### BEGIN SOLUTION
    return np.where(x > 0, x, negative_slope * x), (x, negative_slope)
    ### END SOLUTION


def leaky_relu_backward(dout, cache):
    """Backward pass of leaky ReLU: dout (N, H), cache from leaky_relu_forward -> dx (N, H)."""
    ### BEGIN SOLUTION
    x, negative_slope = cache
    return dout * np.where(x > 0, 1.0, negative_slope)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "tanh", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.backprop import check_tanh

check_tanh(tanh_forward, tanh_backward)
### BEGIN HIDDEN TESTS
check_tanh(tanh_forward, tanh_backward, seed=8, num_examples=6, num_units=2)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "leaky_relu", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.backprop import check_leaky_relu

check_leaky_relu(leaky_relu_forward, leaky_relu_backward)
### BEGIN HIDDEN TESTS
check_leaky_relu(leaky_relu_forward, leaky_relu_backward, seed=9, num_examples=3, num_units=7, negative_slope=0.05)
### END HIDDEN TESTS

# %% [markdown]
# ## 3 · The affine layer
#
# A fully connected (affine) layer maps each example's $D$ inputs to $H$ outputs:
#
# $$\text{out} = x W + b, \qquad x\ (N, D),\quad W\ (D, H),\quad b\ (H,),\quad \text{out}\ (N, H).$$
#
# Row $n$ of `out` is example $n$; the bias row is added to every example (broadcasting).
#
# **Exercise 3.** Write `affine_forward(x, W, b)` returning `(out, cache)` with
# `cache = (x, W, b)`.

# %% nbgrader={"grade": false, "grade_id": "affine_forward_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def affine_forward(x, W, b):
    """Affine layer: x (N, D), W (D, H), b (H,) -> (out (N, H), cache)."""
    ### BEGIN SOLUTION
    out = x @ W + b
    return out, (x, W, b)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "affine_forward", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.backprop import check_affine_forward

check_affine_forward(affine_forward)
### BEGIN HIDDEN TESTS
check_affine_forward(affine_forward, seed=3, num_examples=1, input_dim=7, output_dim=2)
check_affine_forward(affine_forward, seed=4, num_examples=9, input_dim=2, output_dim=6)
### END HIDDEN TESTS

# %% [markdown]
# **The backward pass of the affine layer.** Write one entry out:
# $\text{out}_{nh} = \sum_d x_{nd} W_{dh} + b_h$. Three questions, three answers:
#
# * *How does $W_{dh}$ reach the loss?* Through `out[n, h]` for **every** example $n$, each
#   time with factor $x_{nd}$. Add up the paths:
#   $\partial L/\partial W_{dh} = \sum_n x_{nd}\, \text{dout}_{nh}$, which is the matrix product
#   `x.T @ dout`: `(D, N) @ (N, H) -> (D, H)`, the shape of `W`.
# * *How does $x_{nd}$ reach the loss?* Through `out[n, h]` for every unit $h$, with factor
#   $W_{dh}$: $\partial L/\partial x_{nd} = \sum_h \text{dout}_{nh} W_{dh}$, that is
#   `dout @ W.T`: `(N, H) @ (H, D) -> (N, D)`, the shape of `x`.
# * *How does $b_h$ reach the loss?* Through `out[n, h]` for every example, with factor 1:
#   $\partial L/\partial b_h = \sum_n \text{dout}_{nh}$, that is `dout.sum(axis=0)`, shape `(H,)`.
#
# A useful habit: when you forget a formula, let the shapes find it. `dW` must be
# `(D, H)`; the only way to combine `x (N, D)` and `dout (N, H)` into that shape is
# `x.T @ dout`. And a bias gradient always *sums over the batch*: the same bias served
# all $N$ examples.
#
# **Exercise 4.** Write `affine_backward(dout, cache)` returning `(dx, dW, db)`.
# *Hint:* do **not** divide by $N$ here. If the loss is a mean, its $1/N$ is already
# inside `dout`.

# %% nbgrader={"grade": false, "grade_id": "affine_backward_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def affine_backward(dout, cache):
    """Backward pass of the affine layer: dout (N, H) -> (dx (N, D), dW (D, H), db (H,))."""
    ### BEGIN SOLUTION
    x, W, b = cache
    dx = dout @ W.T
    dW = x.T @ dout
    db = dout.sum(axis=0)
    return dx, dW, db
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "affine_backward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.backprop import check_affine_backward

check_affine_backward(affine_forward, affine_backward)
### BEGIN HIDDEN TESTS
check_affine_backward(affine_forward, affine_backward, seed=8, num_examples=3, input_dim=3, output_dim=3)
check_affine_backward(affine_forward, affine_backward, seed=9, num_examples=10, input_dim=2, output_dim=7)
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · The two-layer network: forward pass
#
# Stack the pieces: affine, sigmoid, affine. With $H$ hidden units and one output,
#
# | step | formula | shape |
# | --- | --- | --- |
# | input | `X` | `(N, D)` |
# | hidden pre-activation | `z = X @ W1 + b1` | `(N, D) @ (D, H) + (H,) -> (N, H)` |
# | hidden activation | `h = sigmoid(z)` | `(N, H)` |
# | output | `scores = h @ W2 + b2` | `(N, H) @ (H, 1) + (1,) -> (N, 1)` |
#
# The output layer has no activation: this is regression, and the target can be any
# real number. The parameters travel together in a dict,
# `params = {"W1": (D, H), "b1": (H,), "W2": (H, 1), "b2": (1,)}`.
#
# **Exercise 5.** Write `two_layer_forward(X, params)` returning `(scores, cache)`, built
# from your three layer functions; `cache` should hold the three layer caches (a tuple).

# %% nbgrader={"grade": false, "grade_id": "two_layer_forward_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def two_layer_forward(X, params):
    """Affine - sigmoid - affine: X (N, D) -> (scores (N, 1), cache)."""
    ### BEGIN SOLUTION
    z, affine1_cache = affine_forward(X, params["W1"], params["b1"])
    h, sigmoid_cache = sigmoid_forward(z)
    scores, affine2_cache = affine_forward(h, params["W2"], params["b2"])
    return scores, (affine1_cache, sigmoid_cache, affine2_cache)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "two_layer_forward", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.backprop import check_two_layer_forward

check_two_layer_forward(two_layer_forward)
### BEGIN HIDDEN TESTS
check_two_layer_forward(two_layer_forward, seed=10, num_examples=2, input_dim=7, hidden_dim=3)
### END HIDDEN TESTS

# %% [markdown]
# ## 5 · The computational graph
#
# Backpropagation becomes mechanical once the computation is drawn as a graph: one
# node per intermediate value, one box per operation. For our network and the MSE
# loss $L = \frac{1}{N}\sum_n (\text{scores}_n - y_n)^2$:
#
# ```
#  X  (N, D) ──┐
#  W1 (D, H) ──┼──[affine]──> z (N, H) ──[sigmoid]──> h (N, H) ──┐
#  b1 (H,)  ───┘                                     W2 (H, 1) ──┼──[affine]──> scores (N, 1) ──┐
#                                                     b2 (1,)  ───┘                 y (N, 1) ───┴──[MSE]──> L ()
# ```
#
# The **backward pass** walks the same graph from right to left. Each box turns the
# gradient arriving at its output into gradients for its inputs, using only its own
# local derivative:
#
# | node | gradient | formula | shape |
# | --- | --- | --- | --- |
# | scores | `dscores` | $\partial L/\partial \text{scores} = \frac{2}{N}(\text{scores} - y)$ | `(N, 1)` |
# | W2 | `dW2` | `h.T @ dscores` | `(H, N) @ (N, 1) -> (H, 1)` |
# | b2 | `db2` | `dscores.sum(axis=0)` | `(1,)` |
# | h | `dh` | `dscores @ W2.T` | `(N, 1) @ (1, H) -> (N, H)` |
# | z | `dz` | `dh * h * (1 - h)` | `(N, H)` |
# | W1 | `dW1` | `X.T @ dz` | `(D, N) @ (N, H) -> (D, H)` |
# | b1 | `db1` | `dz.sum(axis=0)` | `(H,)` |
#
# Read the table as the chain rule written out: for instance
# $\frac{\partial L}{\partial W_1} = \frac{\partial L}{\partial z}\cdot\frac{\partial z}{\partial W_1}$, where the first factor
# (`dz`) arrived from the right and the second is the affine layer's local rule ("input
# transposed times upstream gradient"). Nobody ever writes down the full expression for
# $\partial L/\partial W_1$; each step only needs its own box. (`dX`, the gradient with
# respect to the input, exists too, `dz @ W1.T`, but no parameter needs it here.)
#
# The loss is a single number, shape `()`. Its gradient with respect to itself is 1,
# and that 1 is where the backward pass starts.
#
# **Exercise 6.** Write `graph_shapes(N, D, H)` returning a dict that maps each node name
# to its shape as a tuple: `X, W1, b1, z, h, W2, b2, scores, y, loss, dscores, dW2, db2, dh,
# dz, dW1, db1`. Use `()` for a single number and `(H,)` for a vector of length H.

# %% nbgrader={"grade": false, "grade_id": "graph_shapes_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def graph_shapes(N, D, H):
    """The shape of every node of the two-layer graph, {name: tuple}, for N examples, D inputs, H hidden units."""
    ### BEGIN SOLUTION
    return {"X": (N, D), "W1": (D, H), "b1": (H,), "z": (N, H), "h": (N, H), "W2": (H, 1), "b2": (1,),
            "scores": (N, 1), "y": (N, 1), "loss": (), "dscores": (N, 1), "dW2": (H, 1), "db2": (1,),
            "dh": (N, H), "dz": (N, H), "dW1": (D, H), "db1": (H,)}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "graph_shapes", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.backprop import check_graph_shapes

check_graph_shapes(graph_shapes)
### BEGIN HIDDEN TESTS
check_graph_shapes(graph_shapes, num_examples=32, input_dim=8, hidden_dim=16)
check_graph_shapes(graph_shapes, num_examples=1, input_dim=2, hidden_dim=5)
### END HIDDEN TESTS

# %% [markdown]
# Now the values. Below is a network small enough to follow every number: three
# examples, two inputs, two hidden units.
#
# **Exercise 7.** Fill the dict `values` with the value of every node of the graph for
# this example: `z, h, scores, loss, dscores, dW2, db2, dh, dz, dW1, db1`. Walk the graph:
# forward with your layer functions, then backward in the order of the table above.
# *Hint:* the MSE part is two lines, `loss = np.mean((scores - y) ** 2)` and
# `dscores = 2 * (scores - y) / N`; everything else is a call to a function you wrote.

# %%
X_tiny = np.array([[1.0, 2.0],
                   [0.5, -1.0],
                   [-1.5, 0.0]])
y_tiny = np.array([[1.0], [0.0], [-0.5]])
params_tiny = {"W1": np.array([[0.1, -0.2],
                               [0.3, 0.4]]),
               "b1": np.array([0.0, 0.1]),
               "W2": np.array([[0.5], [-0.6]]),
               "b2": np.array([0.2])}

# %% nbgrader={"grade": false, "grade_id": "graph_values_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
values = {}
### BEGIN SOLUTION
z, affine1_cache = affine_forward(X_tiny, params_tiny["W1"], params_tiny["b1"])
h, sigmoid_cache = sigmoid_forward(z)
scores, affine2_cache = affine_forward(h, params_tiny["W2"], params_tiny["b2"])
loss = np.mean((scores - y_tiny) ** 2)
dscores = 2 * (scores - y_tiny) / X_tiny.shape[0]
dh, dW2, db2 = affine_backward(dscores, affine2_cache)
dz = sigmoid_backward(dh, sigmoid_cache)
_, dW1, db1 = affine_backward(dz, affine1_cache)
values = {"z": z, "h": h, "scores": scores, "loss": loss, "dscores": dscores, "dW2": dW2, "db2": db2,
          "dh": dh, "dz": dz, "dW1": dW1, "db1": db1}
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "graph_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.backprop import check_graph_values

check_graph_values(values)   # for X_tiny, y_tiny and params_tiny

# %% [markdown]
# Every node, with its shape. Check a few by hand: the first row of `z` is
# $1.0 \cdot 0.1 + 2.0 \cdot 0.3 + 0 = 0.7$, and `db2` is the sum of the column `dscores`.

# %%
for node, value in values.items():
    value = np.asarray(value)
    print(f"{node:>8} {str(value.shape):>7}  {np.array2string(value.ravel(), precision=4, max_line_width=90)}")

# %% [markdown]
# ## 6 · The whole backward pass
#
# **Exercise 8.** Package the walk into one function: `two_layer_loss(X, y, params)`
# returns the MSE and a dict of gradients with the same keys (and shapes) as `params`:
# `grads = {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}`. Shapes: `X (N, D)`, `y (N, 1)`.
# Reuse `two_layer_forward` and your backward functions.
# *Hint:* unpack the cache that your `two_layer_forward` returned, in the reverse order.

# %% nbgrader={"grade": false, "grade_id": "two_layer_loss_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def two_layer_loss(X, y, params):
    """MSE of the two-layer network and its gradients: X (N, D), y (N, 1) -> (loss, grads keyed like params)."""
    ### BEGIN SOLUTION
    scores, (affine1_cache, sigmoid_cache, affine2_cache) = two_layer_forward(X, params)
    num_examples = X.shape[0]
    loss = np.mean((scores - y) ** 2)
    dscores = 2 * (scores - y) / num_examples
    dh, dW2, db2 = affine_backward(dscores, affine2_cache)
    dz = sigmoid_backward(dh, sigmoid_cache)
    _, dW1, db1 = affine_backward(dz, affine1_cache)
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "two_layer_loss", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.backprop import check_two_layer_loss

check_two_layer_loss(two_layer_loss)
### BEGIN HIDDEN TESTS
check_two_layer_loss(two_layer_loss, seed=11, num_examples=20, input_dim=8, hidden_dim=16)
check_two_layer_loss(two_layer_loss, seed=12, num_examples=2, input_dim=1, hidden_dim=3)
### END HIDDEN TESTS

# %% [markdown]
# ## 7 · Gradient checking
#
# A backward pass that is *almost* right still trains, just worse, so bugs hide. The
# cure is to compare it with a number computed from the definition of the derivative.
# Nudge one entry $x_i$ by a small $h$ both ways and measure the slope of the loss:
#
# $$\frac{\partial f}{\partial x_i} \approx \frac{f(x + h e_i) - f(x - h e_i)}{2h}.$$
#
# This *centred* difference is accurate to order $h^2$; the one-sided
# $\big(f(x + h e_i) - f(x)\big)/h$ only to order $h$. With $h = 10^{-5}$ in float64 that is
# the difference between about 10 correct digits and about 5. The price: two loss
# evaluations per parameter, far too slow for training, fine for checking a small network.
#
# **Exercise 9.** Write `numerical_gradient(f, x, h=1e-5)`: `f(x)` returns a number, `x` is
# a float array of any shape, and the result has the shape of `x`. Change `x` **in
# place**, one entry at a time, and put each entry back exactly afterwards (losses such
# as `lambda _: two_layer_loss(X, y, params)[0]` ignore their argument and read the array
# from `params`, so nudging a copy would change nothing).
# *Hint:* `for ix in np.ndindex(x.shape):` visits every index; save `old = x[ix]`, set
# `x[ix] = old + h`, evaluate, set `x[ix] = old - h`, evaluate, restore `x[ix] = old`.

# %% nbgrader={"grade": false, "grade_id": "numerical_gradient_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def numerical_gradient(f, x, h=1e-5):
    """Centred-difference gradient of the scalar f at x (any shape, changed in place and restored) -> same shape."""
    ### BEGIN SOLUTION
    grad = np.zeros_like(x, dtype=float)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old + h
        f_plus = f(x)
        x[ix] = old - h
        f_minus = f(x)
        x[ix] = old
        grad[ix] = (f_plus - f_minus) / (2 * h)
    return grad
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "numerical_gradient", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.backprop import check_numerical_gradient

check_numerical_gradient(numerical_gradient)
### BEGIN HIDDEN TESTS
check_numerical_gradient(numerical_gradient, seed=13, rows=5, columns=1)
check_numerical_gradient(numerical_gradient, seed=14, rows=2, columns=6)
### END HIDDEN TESTS

# %% [markdown]
# **How close is close enough?** Compare the two gradients with a *relative* error, so that
# the answer does not depend on the scale of the loss. This course uses one measure and one
# threshold throughout: `course_lib.gradcheck.norm_rel_error(a, b)`, the norm-based relative
# error $\lVert a - b\rVert / (\lVert a\rVert + \lVert b\rVert)$, and a gradient **passes when it is
# below $10^{-7}$** (float64, $h = 10^{-5}$). The checks and `gradient_check_report` use the
# same rule. In float64 expect:
#
# | norm-based relative error | verdict |
# | --- | --- |
# | about $10^{-11}$ to $10^{-8}$ | correct |
# | $10^{-7}$ to $10^{-4}$ | suspicious: look again (a ReLU kink crossed by the $\pm h$ step can do it) |
# | $10^{-3}$ and more | a bug: a wrong transpose, a missing sum or factor gives $10^{-1}$ to $1$ |
#
# `rel_error(a, b)` is a second view, the *largest elementwise* value of
# $|a - b| / \max(10^{-8}, |a| + |b|)$: it points at the worst single entry, but an entry whose
# true gradient is tiny can read $10^{-7}$ to $10^{-5}$ on a correct network, so it does not
# decide pass or fail.
#
# Always check in float64 (float32 rounding alone gives about $10^{-3}$), on a small
# network with a few examples, and with nonzero biases so that every path is used. (The
# one allowance: when *your* backward pass happens to compute in float32, its rounding is
# already about $10^{-7}$, so the checks then hold it to $10^{-5}$, the course's float32 tolerance.)
#
# **Exercise 10.** Write `gradient_check(loss_and_grads, params)`, a gradient checker. It
# calls `loss_and_grads(params)` once for the analytic gradients, then, for each parameter
# name, computes *your* `numerical_gradient` of the loss with respect to `params[name]`
# (`lambda _: loss_and_grads(params)[0]`: the loss reads the entries your function changes in
# place) and returns `{name: norm_rel_error(analytic, numerical)}`. The check runs it on
# correct backward passes, where every error must be below $10^{-7}$, and on buggy ones,
# where it must flag the wrong gradient: a checker that never computes a numerical gradient
# cannot pass. Then it checks *your* `two_layer_loss` below.

# %% nbgrader={"grade": false, "grade_id": "gradient_check_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gradient_check(loss_and_grads, params):
    """Norm-based relative error of each analytic gradient: params {name: array} -> {name: float}."""
    ### BEGIN SOLUTION
    _, analytic = loss_and_grads(params)
    errors = {}
    for name in params:
        numerical = numerical_gradient(lambda _: loss_and_grads(params)[0], params[name])
        errors[name] = norm_rel_error(analytic[name], numerical)
    return errors
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "gradient_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.backprop import check_gradient_check

check_gradient_check(gradient_check)
### BEGIN HIDDEN TESTS
check_gradient_check(gradient_check, seed=5, num_examples=2, input_dim=4, hidden_dim=3)
### END HIDDEN TESTS

# %% [markdown]
# Your checker on your own `two_layer_loss`, on a small problem with nonzero biases
# (X (5, 3), y (5, 1)): every error should read about $10^{-10}$.

# %%
from course_lib.checks.backprop import gradient_check_problem

X_check, y_check, params_check = gradient_check_problem()
errors = gradient_check(lambda p: two_layer_loss(X_check, y_check, p), params_check)
print({name: f"{error:.1e}" for name, error in errors.items()})

# %% [markdown]
# The course library wraps the same idea in a report, one row per parameter: pass or fail by
# the norm-based error and $10^{-7}$, as above, and a "worst entry" column with `rel_error`.

# %%
gradient_check_report(lambda p: two_layer_loss(X_check, y_check, p), params_check)

# %% [markdown]
# ## 8 · Three bugs in the lecture's backprop code
#
# Below is a rewrite of the lecture's NumPy training code, with its conventions: biases are
# *rows*, `b1 (1, H)` and `b2 (1, 1)`, and the targets a column `Y (N, 1)`. It contains
# **three wrong gradient lines**, plus two habits we will also fix: the weights start from
# `rng.random` (like `np.random.rand`: uniform on $[0, 1)$, every weight positive), and the
# lecture's loop, `while (keep_training)`, never stops by itself (this rewrite takes
# `num_epochs` instead, so that it can run here).

# %%
def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def lecture_backprop(X, Y, W1, b1, W2, b2):
    """The lecture's forward and backward pass, bugs included. Returns (loss, d_W1, d_b1, d_W2, d_b2)."""
    num_examples = X.shape[0]
    Z = X.dot(W1) + b1
    H = sigmoid(Z)
    Y_hat = H.dot(W2) + b2
    loss = np.sum((Y_hat - Y) ** 2) / num_examples

    d_Y_hat = 2 * (Y_hat - Y) / num_examples
    d_H = d_Y_hat.dot(W2.T)
    d_W2 = H.T.dot(d_Y_hat)
    d_b2 = d_Y_hat
    d_Z = d_H * H * (1 - H)
    d_X = d_Z.dot(W1.T)
    d_W1 = d_X.T.dot(d_Z)
    d_b1 = d_Y_hat
    return loss, d_W1, d_b1, d_W2, d_b2


def lecture_train(X, Y, hidden_dim, step_size, num_epochs, seed=0):
    """Full-batch gradient descent as in the lecture (rand initialisation, buggy gradients)."""
    rng = np.random.default_rng(seed)
    W1 = rng.random((X.shape[1], hidden_dim))
    b1 = rng.random((1, hidden_dim))
    W2 = rng.random((hidden_dim, 1))
    b2 = rng.random((1, 1))
    for epoch in range(num_epochs):
        loss, d_W1, d_b1, d_W2, d_b2 = lecture_backprop(X, Y, W1, b1, W2, b2)
        W1 = W1 - step_size * d_W1
        b1 = b1 - step_size * d_b1
        W2 = W2 - step_size * d_W2
        b2 = b2 - step_size * d_b2
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}


# %% [markdown]
# First, notice that nothing crashes. Train it for a few steps on our data and look at
# the parameter shapes: two of the biases have quietly grown one row *per example*. NumPy
# broadcast `b1 (1, H) - d_b1 (N, 1)` to `(N, H)` without a word. The "network" now has a
# separate bias for each training sample, and could not even be applied to a batch of a
# different size.

# %%
Y_train = y_train.reshape(-1, 1)
lecture_params = lecture_train(X_train, Y_train, hidden_dim=16, step_size=0.1, num_epochs=5)
print({name: value.shape for name, value in lecture_params.items()})

# %% [markdown]
# A gradient check finds all three lines at once. The report compares each analytic
# gradient with centred differences of the (correct) loss:

# %%
rng = np.random.default_rng(3)
X_small, Y_small = rng.normal(size=(6, 3)), rng.normal(size=(6, 1))
lecture_check_params = {"W1": rng.normal(0, 0.6, size=(3, 4)), "b1": rng.normal(0, 0.3, size=(1, 4)),
                        "W2": rng.normal(0, 0.6, size=(4, 1)), "b2": rng.normal(0, 0.3, size=(1, 1))}


def lecture_loss(params):
    return lecture_backprop(X_small, Y_small, params["W1"], params["b1"], params["W2"], params["b2"])[0]


_, d_W1, d_b1, d_W2, d_b2 = lecture_backprop(X_small, Y_small, *lecture_check_params.values())
gradient_check_report(lecture_loss, lecture_check_params, {"W1": d_W1, "b1": d_b1, "W2": d_W2, "b2": d_b2})

# %% [markdown]
# (A gradient of the wrong shape cannot be compared at all, so its error shows as `inf`.)
#
# **Exercise 11.** Copy `lecture_backprop` into the cell below, rename it `backprop_fixed`,
# and correct the three wrong lines, keeping the lecture's shapes (`d_b1 (1, H)`,
# `d_b2 (1, 1)`). The check grades it with a gradient check.
# *Hint:* compare each line with the table of section 5. Ask of every gradient: what is its
# shape supposed to be, and which input of the operation does it multiply? `keepdims=True`
# keeps a summed axis as length 1, so `(N, H) -> (1, H)`.

# %% nbgrader={"grade": false, "grade_id": "backprop_fixed_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def backprop_fixed(X, Y, W1, b1, W2, b2):
    """The lecture's pass with correct gradients: X (N, D), Y (N, 1), b1 (1, H), b2 (1, 1) -> (loss, d_W1, d_b1, d_W2, d_b2)."""
    ### BEGIN SOLUTION
    N = X.shape[0]
    Z = X @ W1 + b1
    H = sigmoid(Z)
    Y_hat = H @ W2 + b2
    loss = np.mean((Y_hat - Y) ** 2)
    d_Y_hat = 2.0 * (Y_hat - Y) / N
    d_H = d_Y_hat @ W2.T
    d_W2 = H.T @ d_Y_hat
    d_b2 = np.sum(d_Y_hat, axis=0, keepdims=True)   # bug 1: sum over the batch
    d_Z = d_H * H * (1.0 - H)
    d_W1 = X.T @ d_Z                                 # bug 2: the input X, not d_X
    d_b1 = np.sum(d_Z, axis=0, keepdims=True)       # bug 3: d_Z, summed over the batch
    return (loss, d_W1, d_b1, d_W2, d_b2)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "backprop_fixed", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.backprop import check_fixed_backprop

check_fixed_backprop(backprop_fixed)
### BEGIN HIDDEN TESTS
check_fixed_backprop(backprop_fixed, seed=15, num_examples=9, input_dim=5, hidden_dim=2)
check_fixed_backprop(backprop_fixed, seed=16, num_examples=2, input_dim=1, hidden_dim=6)
### END HIDDEN TESTS

# %% [markdown]
# ## 9 · A better start, and a training loop that stops
#
# With `np.random.rand` every weight is positive. Every hidden unit then responds to
# roughly the same direction of the input (the sum of the features), the units start as
# near-copies of each other, and the output weights all push the same way. Training has
# to spend many steps undoing that. A *zero-mean* start with the right spread avoids it.
# For a sigmoid or tanh layer the usual choice is **Glorot (Xavier)** initialisation:
# weights with mean 0 and variance $2/(n_\text{in} + n_\text{out})$, where $n_\text{in}$ and
# $n_\text{out}$ (fan-in and fan-out) are the layer's numbers of inputs and outputs; for example
# uniform on $\pm\sqrt{6/(n_\text{in} + n_\text{out})}$ (Keras's default). For ReLU layers **He**
# initialisation, variance $2/n_\text{in}$, is the usual choice. Biases start at zero:
# the random weights already make the hidden units differ.
#
# **Exercise 12.** Write `init_params(input_dim, hidden_dim, output_dim=1, seed=0)` returning
# `{"W1": (D, H), "b1": (1, H), "W2": (H, C), "b2": (1, C)}` with `C = output_dim` (the lecture's
# shapes for its one output, `C = 1`; the hidden test also tries many outputs) with Glorot
# weights for both layers, each with its own fan-in and fan-out, and zero biases. Draw from
# `rng = np.random.default_rng(seed)`.

# %% nbgrader={"grade": false, "grade_id": "init_params_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def init_params(input_dim, hidden_dim, output_dim=1, seed=0):
    """Glorot-uniform weights and zero biases: W1 (D, H), b1 (1, H), W2 (H, C), b2 (1, C)."""
    ### BEGIN SOLUTION
    generator = np.random.default_rng(seed)
    limit1 = np.sqrt(6.0 / (input_dim + hidden_dim))
    limit2 = np.sqrt(6.0 / (hidden_dim + output_dim))
    return {"W1": generator.uniform(-limit1, limit1, size=(input_dim, hidden_dim)),
            "b1": np.zeros((1, hidden_dim)),
            "W2": generator.uniform(-limit2, limit2, size=(hidden_dim, output_dim)),
            "b2": np.zeros((1, output_dim))}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "init_params", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.backprop import check_init_params

check_init_params(init_params)
### BEGIN HIDDEN TESTS
check_init_params(init_params, seed=17, input_dim=300, hidden_dim=100)
check_init_params(init_params, seed=18, input_dim=60, hidden_dim=100, output_dim=200)
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 13.** Write `train_two_layer(X, Y, hidden_dim, learning_rate, num_epochs, batch_size, seed)`,
# minibatch SGD for a fixed number of epochs with your `init_params` and `backprop_fixed`:
# * `params = init_params(D, hidden_dim, 1, seed)` and `rng = np.random.default_rng(seed)`;
# * each epoch: `order = rng.permutation(N)`, then for each slice `order[start:start + batch_size]`
#   compute the gradients on that minibatch and update every parameter,
#   `param = param - learning_rate * d_param`;
# * after each epoch append the loss on all of `X` to `history`;
# * return `(params, history)`, with `len(history) == num_epochs`.
#
# *Hint:* this is unit 01's `train_sgd` with four parameters instead of two.

# %% nbgrader={"grade": false, "grade_id": "train_two_layer_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_two_layer(X, Y, hidden_dim, learning_rate, num_epochs, batch_size, seed):
    """Minibatch SGD of the two-layer network: X (N, D), Y (N, 1) -> (params, history of num_epochs losses)."""
    ### BEGIN SOLUTION
    params = init_params(X.shape[1], hidden_dim, 1, seed)
    shuffler = np.random.default_rng(seed)
    names = ("W1", "b1", "W2", "b2")                 # the order backprop_fixed returns them in
    history = []
    for _ in range(num_epochs):                      # a fixed number of epochs, never `while True`
        order = shuffler.permutation(X.shape[0])
        for start in range(0, X.shape[0], batch_size):
            batch = order[start:start + batch_size]
            _, *grads = backprop_fixed(X[batch], Y[batch], *(params[name] for name in names))
            for name, grad in zip(names, grads):
                params[name] = params[name] - learning_rate * grad
        history.append(backprop_fixed(X, Y, *(params[name] for name in names))[0])
    return params, history
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "train_two_layer", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.backprop import check_train_two_layer

check_train_two_layer(train_two_layer)   # on X_train, Y_train
### BEGIN HIDDEN TESTS
check_train_two_layer(train_two_layer, data_seed=7, hidden_dim=12, seed=4, learning_rate=0.2, num_epochs=60)
### END HIDDEN TESTS

# %% [markdown]
# Your network against the same loop started from the lecture's all-positive weights
# (made with the course's reference functions). Same data, same learning rate, same
# number of steps: only the starting point differs.

# %%
from course_lib.mlp import TwoLayerNet

params_student, history_student = train_two_layer(X_train, Y_train, hidden_dim=16, learning_rate=0.3,
                                                  num_epochs=60, batch_size=32, seed=0)
rand_start = TwoLayerNet(input_dim=8, hidden_dim=16, seed=0)
rng = np.random.default_rng(0)
rand_start.params = {"W1": rng.random((8, 16)), "b1": rng.random(16), "W2": rng.random((16, 1)), "b2": rng.random(1)}
history_rand = rand_start.train(X_train, y_train, learning_rate=0.3, num_epochs=60, batch_size=32, seed=0)["loss"]
plot_learning_curves({"Glorot start (your train_two_layer)": history_student,
                      "all-positive rand start": history_rand},
                     xlabel="epoch", title="same network, two starting points")
plt.show()

# %% [markdown]
# ## 10 · What does the hidden layer buy?
#
# Time to compare with unit 01. The data were simulated so that we know the truth: the
# target gene's log fold change is
#
# $$y = 1.5\tanh(2x_1) - 2\,\sigma(2x_2 + 2x_3 - 2) + 1.5\,e^{-x_4^2} + 0.5\,x_5 + \varepsilon,
# \qquad \varepsilon \sim \mathcal{N}(0, 0.25^2),$$
#
# where $x_j$ is landmark $j$ (standardised): an activator that switches on, two genes that
# repress only together, a gene whose effect peaks at moderate levels, one plain linear
# effect, and three landmarks that do nothing. (It is inspired by the L1000 idea of
# predicting many genes from about a thousand measured "landmark" genes, but nothing here
# is real data.) The noise sets a floor: no model can reach a validation MSE below
# $0.25^2 = 0.0625$ on average.
#
# The comparison uses the course's reference implementations, so it works whatever state
# your answers are in: unit 01's linear model from `course_lib.linear`, and
# `course_lib.mlp.TwoLayerNet` for networks with 1 to 32 hidden units.

# %%
from course_lib import linear

w_linear, b_linear = linear.least_squares(X_train, y_train)
linear_val_mse = linear.mse_loss(linear.predict(X_val, w_linear, b_linear), y_val)

hidden_sizes = [1, 2, 4, 8, 16, 32]
networks, network_val_mse = {}, []
for hidden_dim in hidden_sizes:
    net = TwoLayerNet(input_dim=8, hidden_dim=hidden_dim, activation="sigmoid", seed=0)
    history = net.train(X_train, y_train, learning_rate=0.1, num_epochs=150, batch_size=32, seed=0,
                        X_val=X_val, y_val=y_val)
    networks[hidden_dim] = net
    network_val_mse.append(history["val_loss"][-1])
print(f"linear model: validation MSE {linear_val_mse:.3f}")
for hidden_dim, mse in zip(hidden_sizes, network_val_mse):
    print(f"{hidden_dim:>3} hidden units: validation MSE {mse:.3f}")

# %%
fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4))
left.plot(hidden_sizes, network_val_mse, "o-", label="two-layer network")
left.axhline(linear_val_mse, color="C1", linestyle="--", label="linear model (unit 01)")
left.axhline(train_data.noise_std ** 2, color="grey", linestyle=":", label="noise floor")
left.set_xscale("log", base=2)
left.set_xlabel("hidden units H")
left.set_ylabel("validation MSE")
left.set_title("validation error against hidden units")
left.legend()

# one landmark at a time, the others held at 0: the model's response to landmark 4
slice_grid = np.linspace(-3, 3, 121)
X_slice = np.zeros((slice_grid.size, 8))
X_slice[:, 3] = slice_grid
middle.plot(slice_grid, true_expression(X_slice), "k", linewidth=2, label="truth")
middle.plot(slice_grid, linear.predict(X_slice, w_linear, b_linear), "C1--", label="linear model")
middle.plot(slice_grid, networks[16].predict(X_slice), "C0", label="network, H = 16")
middle.set_xlabel("landmark_4 (standardised), other landmarks at 0")
middle.set_ylabel("target log fold change")
middle.set_title("a bump a straight line cannot follow")
middle.legend()

right.scatter(y_val, linear.predict(X_val, w_linear, b_linear), s=8, alpha=0.5, color="C1", label="linear model")
right.scatter(y_val, networks[16].predict(X_val), s=8, alpha=0.5, color="C0", label="network, H = 16")
limits = [y_val.min(), y_val.max()]
right.plot(limits, limits, "k", linewidth=1)
right.set_xlabel("measured (validation)")
right.set_ylabel("predicted")
right.set_title("predictions on new samples")
right.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Reading the plots: the linear model explains about two thirds of the variance and then
# stops: it gives landmark_4 a weight near zero, because a symmetric bump has no slope on
# average. With one hidden unit the network is no better than the line, and with two it
# closes only part of the gap. From about 4 units on, it follows the switch, the joint
# repression and the bump, and its validation error approaches the noise floor. Each hidden unit is a sigmoid "feature" of the input that
# the output layer mixes linearly, and a handful of them can bend into the shapes the
# truth needs. More units are not free, though: they cost computation, need more data
# and a well-chosen learning rate, and can overfit (unit 06).
#
# ## 11 · Real data: diabetes progression
#
# The same comparison on real measurements: 442 diabetes patients (age, sex, body-mass
# index, blood pressure, six blood-serum values) and a measure of disease progression one
# year later (Efron et al., 2004; it ships with scikit-learn). We standardise the target
# so that the learning rate behaves as above, and hold out 100 patients.

# %%
from course_lib.data.genes import load_diabetes_progression

diabetes = load_diabetes_progression(standardise_target=True)
order = np.random.default_rng(0).permutation(diabetes.y.size)
train_rows, val_rows = order[100:], order[:100]
w_d, b_d = linear.least_squares(diabetes.X[train_rows], diabetes.y[train_rows])
diabetes_linear = linear.mse_loss(linear.predict(diabetes.X[val_rows], w_d, b_d), diabetes.y[val_rows])
diabetes_net = TwoLayerNet(input_dim=10, hidden_dim=8, activation="sigmoid", seed=0)
diabetes_history = diabetes_net.train(diabetes.X[train_rows], diabetes.y[train_rows], learning_rate=0.1,
                                      num_epochs=100, batch_size=32, seed=0,
                                      X_val=diabetes.X[val_rows], y_val=diabetes.y[val_rows])
plot_learning_curves({"network: training": diabetes_history["loss"],
                      "network: validation": diabetes_history["val_loss"]},
                     log_scale=False, xlabel="epoch", ylabel="MSE (standardised target)",
                     title="diabetes progression, H = 8")
plt.axhline(diabetes_linear, color="C3", linestyle="--", label="linear model: validation")
plt.legend()
plt.show()
print(f"validation MSE: linear model {diabetes_linear:.3f}, network {diabetes_history['val_loss'][-1]:.3f} "
      f"(network's training MSE {diabetes_history['loss'][-1]:.3f})")

# %% [markdown]
# Here the hidden layer buys almost nothing: the network's validation error ends within a
# few percent of the straight line's. With ten mostly linear effects and 342 training
# patients there is little curvature to find, and the network's extra freedom goes mostly
# into the training patients (its training error keeps falling, its validation error
# hardly moves). A hidden layer is worth its cost when the relationship is nonlinear *and*
# there are enough examples to learn its shape: check with a validation set, every time.
#
# ## Summary
#
# * A layer is a forward/backward pair sharing a cache. Backward: *downstream = upstream × local*; `dout` has the shape of `out`, and every gradient the shape of its variable.
# * Sigmoid: $\sigma' = \sigma(1 - \sigma)$, computed from the cached output (not $\sigma'(\sigma(z))$). ReLU: pass `dout` where $x > 0$. Leaky ReLU: state the slope (0.01 here, 0.1 in the lecture, 0.3 in Keras 3).
# * Affine layer, `out = x @ W + b`: `dx = dout @ W.T (N, D)`, `dW = x.T @ dout (D, H)`, `db = dout.sum(axis=0) (H,)`. A bias gradient sums over the batch; a weight gradient uses the layer's *input*, not the gradient of that input.
# * The computational graph turns the chain rule into bookkeeping: walk it backwards, one local rule per box, with the shape of every node known in advance.
# * A gradient check with centred differences (error $O(h^2)$) catches the bugs that still train: relative errors near $10^{-8}$ are right, $10^{-3}$ and above are wrong. Check in float64.
# * Start from zero-mean weights (Glorot for sigmoid/tanh, He for ReLU) and zero biases, never `np.random.rand`; train for a fixed number of epochs (or with a stopping rule), never `while True`.
# * A hidden layer lets the model bend: on the nonlinear gene data it nearly reaches the noise floor where a linear model is stuck; on the mostly linear diabetes data it adds little.
#
# Next, unit 03 hands the bookkeeping to a framework: TensorFlow's `GradientTape` computes the same gradients automatically, and we will check that it gets the same numbers as your backward pass.
