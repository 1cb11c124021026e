# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Unit 05 · Optimisers, learning-rate schedules and batch size
#
# Units 01 to 03 trained every model with the same rule: compute the gradient, take a step
# of fixed size against it. That rule has one knob, the learning rate, and on real loss
# surfaces no single setting of it is right everywhere: a step that is safe across a steep
# valley crawls along its flat floor. This unit is about the tools that fix this, the ones
# you pass to Keras as `optimizer=` without a second thought: momentum, per-parameter step
# sizes (Adagrad, RMSProp), Adam, learning-rate schedules, and the link between the batch
# size and the learning rate. It ends with the question every project faces: which
# optimiser, with which learning rate?
#
# **Learning goals.** After this unit you can
# 1. write the update rules of SGD, momentum, RMSProp and Adam, with the state each keeps;
# 2. say why Adam corrects the bias of its running averages, and where epsilon belongs;
# 3. see, on a two-dimensional "ravine", why momentum and adaptive step sizes help;
# 4. write a step-decay and a cosine schedule with warm-up, and read the other usual ones;
# 5. scale the learning rate with the batch size (the linear rule of thumb) and show that it works;
# 6. smooth a noisy training curve, and read the learning rate off a learning curve;
# 7. compare SGD, momentum and Adam, each with a small learning-rate sweep, on real data,
#    and reproduce the NumPy numbers with Keras's own `Adam` and a schedule.
#
# **How to work.** Fill in each cell marked `# YOUR CODE HERE` (delete the
# `raise NotImplementedError()` line), run it, then run the check cell below it. A check
# prints a line starting with ✓ when it passes and explains what is wrong when it fails.
# Before you submit, run every cell from the top (*Kernel → Restart Kernel and Run All
# Cells*) or, in a terminal, `dlcourse check notebooks/05_optimisers/optimisers.ipynb`.
# Grading runs more tests of the same kind with other data.
#
# **Data.** A two-parameter toy loss for the pictures, then the simulated gene-expression
# data of unit 02 (predict a target gene from 8 landmark genes; `course_lib.data.genes`)
# for the experiments. Everything runs on a laptop CPU in well under a minute.
#
# **Conventions.** Weights `w` and their gradients `dw` have the same shape (any shape: a
# matrix `(D, H)`, a bias `(H,)`). An optimiser's *state* (a velocity, running averages)
# has that shape too. We follow Keras's formulas exactly, so the numbers you compute here
# are the numbers Keras computes; where a textbook writes the same idea differently, the
# text says so.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import numpy as np
import matplotlib.pyplot as plt

from course_lib import optim
from course_lib.data.genes import gene_expression
from course_lib.plotting import plot_learning_curves

np.seterr(over="ignore", invalid="ignore")   # the "too large" runs below overflow on purpose

train_data = gene_expression(num_samples=400, seed=0)
validation_data = gene_expression(num_samples=400, seed=1)
X_train, y_train = train_data.X, train_data.y
X_val, y_val = validation_data.X, validation_data.y
print("X_train:", X_train.shape, "(N samples, D landmark genes)   y_train:", y_train.shape)

# %% [markdown]
# ## 1 · A ravine, and the plain gradient step
#
# To *see* an optimiser we need a loss with only two parameters, $p = (x, y)$. Take
#
# $$L(x, y) = \tfrac12\,(a\,x^2 + b\,y^2), \qquad \nabla L = (a\,x,\; b\,y), \qquad a = 1,\ b = 25 .$$
#
# Its contour lines are long thin ellipses: a **ravine**, 25 times steeper across (the
# $y$ direction) than along ($x$). Loss surfaces of real networks have such directions
# everywhere, only in millions of dimensions; the ratio of the steepest to the flattest
# curvature is called the *condition number*.
#
# The gradient-descent step of unit 01, for any array of weights, is
#
# $$w \leftarrow w - \eta\, \nabla_w L ,$$
#
# with learning rate $\eta$. On the ravine it cannot win: a step must be smaller than
# $2/b = 0.08$ or the $y$ coordinate overshoots further each time and diverges, yet with
# such a small step the $x$ coordinate shrinks by only a factor $(1 - \eta a) = 0.92$ per
# step, and the walk to the minimum along the floor takes dozens of steps.
#
# **Exercise 1.** Write `sgd_update(w, dw, learning_rate)` returning the new weights (same
# shape as `w`). In a training loop, `dw` is the gradient of one minibatch, which is what
# makes it *stochastic* gradient descent.

# %% nbgrader={"grade": false, "grade_id": "sgd_update_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sgd_update(w, dw, learning_rate):
    """One gradient-descent step: w, dw same shape -> new w."""
    ### BEGIN SOLUTION
    return w - learning_rate * dw
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sgd_update", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.optimisers import check_sgd_update

check_sgd_update(sgd_update)
### BEGIN HIDDEN TESTS
check_sgd_update(sgd_update, seed=21, rows=6, cols=1)
check_sgd_update(sgd_update, seed=22, rows=1, cols=7)
### END HIDDEN TESTS

# %% [markdown]
# Here is your step on the ravine, from $(x, y) = (-4.5, 1.2)$, with a safe learning rate and
# one just above the limit $2/b$. The helper below draws the contours and a path.

# %%
start = np.array([-4.5, 1.2])


def ravine_path(update, num_steps=40, **settings):
    """Run any update(w, dw, state, **settings) -> (w, state) on the ravine: path (num_steps + 1, 2)."""
    p, state, path = start.copy(), {}, [start.copy()]
    for _ in range(num_steps):
        _, grad = optim.ravine_loss(p)
        p, state = update(p, grad, state, **settings)
        path.append(np.array(p, dtype=float))
    return np.array(path)


def draw_ravine(paths, title=""):
    """Contours of the ravine and one line per path: {label: path (T, 2)}."""
    xs, ys = np.meshgrid(np.linspace(-5, 5, 200), np.linspace(-1.6, 1.6, 120))
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.contour(xs, ys, 0.5 * (xs ** 2 + 25 * ys ** 2), levels=np.geomspace(0.05, 40, 12), colors="grey",
               linewidths=0.6)
    for label, path in paths.items():
        path = np.clip(path, -6, 6)
        ax.plot(path[:, 0], path[:, 1], marker=".", markersize=4, linewidth=1, label=label)
    ax.plot(0, 0, "k*", markersize=10)
    ax.set_xlim(-5, 5)
    ax.set_ylim(-1.6, 1.6)
    ax.set_xlabel("x (flat direction)")
    ax.set_ylabel("y (steep direction)")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    plt.show()


def my_sgd(w, dw, state, learning_rate):
    return sgd_update(w, dw, learning_rate), state


draw_ravine({"your SGD, learning rate 0.07": ravine_path(my_sgd, learning_rate=0.07),
             "your SGD, learning rate 0.082": ravine_path(my_sgd, learning_rate=0.082)},
            "plain SGD: zig-zag across, crawl along")

# %% [markdown]
# ## 2 · Momentum
#
# A ball rolling down the ravine does better than a walker who looks only at the slope
# under their feet: it keeps its speed. **Momentum** keeps a *velocity* $v$ (zeros at the
# start, one entry per weight) and lets each gradient change it rather than the weights:
#
# $$v \leftarrow \mu\, v - \eta\, \nabla_w L, \qquad w \leftarrow w + v ,$$
#
# with momentum $\mu$ (usually 0.9). Along the floor of the ravine the gradients agree
# from step to step, so the velocity builds up to about $1/(1 - \mu) = 10$ times a single
# step; across the ravine they alternate in sign and mostly cancel. The zig-zag is damped
# and the crawl becomes a run. Like a real ball, it overshoots the bottom and swings back a
# few times before it settles: that is the price of its speed.
#
# *Two conventions.* Here (as in Keras, CS231n and the paper by Sutskever et al.) the
# velocity holds the **step** itself, and is added to $w$. PyTorch instead keeps a running
# sum of *gradients*, $v \leftarrow \mu v + \nabla_w L$, and steps $w \leftarrow w - \eta v$. With
# a constant learning rate the two produce the same weights; they differ only when $\eta$
# changes during training. *Nesterov momentum* (Keras: `SGD(momentum=0.9, nesterov=True)`)
# looks one step ahead: $w \leftarrow w + \mu v - \eta \nabla_w L$ with the new $v$.
#
# **Exercise 2.** Write `momentum_update(w, dw, velocity, learning_rate, momentum=0.9)`
# returning `(new_w, new_velocity)`, in that order, both shaped like `w`.

# %% nbgrader={"grade": false, "grade_id": "momentum_update_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def momentum_update(w, dw, velocity, learning_rate, momentum=0.9):
    """SGD with momentum (Keras's form): returns (new_w, new_velocity), both shaped like w."""
    ### BEGIN SOLUTION
    velocity = momentum * velocity - learning_rate * dw
    return w + velocity, velocity
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "momentum_update", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.optimisers import check_momentum_update

check_momentum_update(momentum_update)
### BEGIN HIDDEN TESTS
check_momentum_update(momentum_update, seed=31, rows=5, cols=4)
check_momentum_update(momentum_update, seed=32, rows=1, cols=9)
### END HIDDEN TESTS

# %%
def my_momentum(w, dw, state, learning_rate, momentum=0.9):
    w, velocity = momentum_update(w, dw, state.get("velocity", np.zeros_like(w)), learning_rate, momentum)
    return w, {"velocity": velocity}


draw_ravine({"your SGD, learning rate 0.07": ravine_path(my_sgd, learning_rate=0.07),
             "your momentum, 0.9, learning rate 0.01": ravine_path(my_momentum, learning_rate=0.01)},
            "momentum: the velocity builds up along the floor")

# %% [markdown]
# ## 3 · One step size per parameter: Adagrad and RMSProp
#
# Momentum still uses one learning rate for all weights. The ravine asks for two: large
# along $x$, small along $y$. **Adaptive** methods give each weight its own step by
# dividing its gradient by a running measure of how large *that weight's* gradients have
# been. All the operations below are element-wise: `dw ** 2`, `np.sqrt`, the division.
#
# * **Adagrad** adds up every squared gradient, $G \leftarrow G + (\nabla_w L)^2$, and steps
#   $w \leftarrow w - \eta\, \nabla_w L / \sqrt{G + \epsilon}$. A weight with large gradients gets
#   small steps and vice versa. But $G$ only grows, so the steps shrink for ever; that suits
#   convex problems with rare features better than long network training. (Keras starts $G$
#   at `initial_accumulator_value=0.1`, not 0.)
# * **RMSProp** (Hinton, 2012) replaces the sum by a *decaying average*, so old gradients
#   are forgotten and the steps do not die out:
#
# $$s \leftarrow \rho\, s + (1 - \rho)\, (\nabla_w L)^2, \qquad w \leftarrow w - \eta\, \frac{\nabla_w L}{\sqrt{s + \epsilon}} ,$$
#
# with $\rho = 0.9$ and a tiny $\epsilon$ (Keras: $10^{-7}$) that only guards against a
# division by zero. Keras puts $\epsilon$ inside the square root, as written here; many
# textbooks write $\sqrt{s} + \epsilon$. Both are fine here: they differ only where $s$ is
# tiny, and the check accepts either.
#
# **Exercise 3.** Write `rmsprop_update(w, dw, mean_square, learning_rate, rho=0.9,
# epsilon=1e-7)` returning `(new_w, new_mean_square)`. Update `mean_square` first, then
# use the new one in the step.

# %% nbgrader={"grade": false, "grade_id": "rmsprop_update_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rmsprop_update(w, dw, mean_square, learning_rate, rho=0.9, epsilon=1e-7):
    """RMSProp: returns (new_w, new_mean_square), both shaped like w."""
    ### BEGIN SOLUTION
    mean_square = rho * mean_square + (1 - rho) * dw ** 2
    return w - learning_rate * dw / np.sqrt(mean_square + epsilon), mean_square
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "rmsprop_update", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.optimisers import check_rmsprop_update

check_rmsprop_update(rmsprop_update)
### BEGIN HIDDEN TESTS
check_rmsprop_update(rmsprop_update, seed=41, rows=4, cols=4)
check_rmsprop_update(rmsprop_update, seed=42, rows=8, cols=1)
### END HIDDEN TESTS

# %% [markdown]
# Notice what dividing by $\sqrt{s}$ does: if a gradient is always about $g$, then $s \approx g^2$
# and the step is about $\eta \cdot g / |g| = \eta$ **whatever the size of $g$**. The steep
# and the flat direction of the ravine now move at the same pace, so the path heads
# straight for the minimum instead of zig-zagging.

# %%
def my_rmsprop(w, dw, state, learning_rate, rho=0.9):
    w, mean_square = rmsprop_update(w, dw, state.get("mean_square", np.zeros_like(w)), learning_rate, rho)
    return w, {"mean_square": mean_square}


draw_ravine({"your SGD, learning rate 0.07": ravine_path(my_sgd, learning_rate=0.07),
             "Adagrad, learning rate 0.5": ravine_path(optim.adagrad, learning_rate=0.5),
             "your RMSProp, learning rate 0.1": ravine_path(my_rmsprop, learning_rate=0.1)},
            "adaptive step sizes: equal progress in both directions")

# %% [markdown]
# **Reading question 1.** Which of the optimisers `"sgd"`, `"momentum"`, `"adagrad"`,
# `"rmsprop"` and `"adam"` (section 4) give each parameter its **own step size**, one that
# depends on that parameter's own gradients so far? Answer with a set of names, for example
# `per_parameter_optimisers = {"sgd"}`.

# %% nbgrader={"grade": false, "grade_id": "per_parameter_optimisers_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
per_parameter_optimisers = {"adagrad", "rmsprop", "adam"}
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "per_parameter_optimisers", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.optimisers import check_per_parameter_optimisers

check_per_parameter_optimisers(per_parameter_optimisers)

# %% [markdown]
# ## 4 · Adam: momentum and RMSProp together, with a bias correction
#
# **Adam** (Kingma & Ba, 2015) keeps both running averages, one of the gradient (the
# momentum part, "first moment") and one of its square (the RMSProp part, "second moment"):
#
# $$m \leftarrow \beta_1 m + (1 - \beta_1)\, \nabla_w L, \qquad v \leftarrow \beta_2 v + (1 - \beta_2)\, (\nabla_w L)^2 .$$
#
# Both start at zero, and that biases them. After the first step $m = 0.1\,\nabla_w L$ with
# $\beta_1 = 0.9$: ten times too small. For $v$, with $\beta_2 = 0.999$, it is a thousand times
# too small, so $\sqrt{v}$ is about 32 times too small and the first steps would be huge. In
# general, after $t$ steps of a constant gradient $g$, $m = (1 - \beta_1^t)\, g$. Dividing by
# that factor removes the bias exactly:
#
# $$\hat m = \frac{m}{1 - \beta_1^{\,t}}, \qquad \hat v = \frac{v}{1 - \beta_2^{\,t}}, \qquad
#   w \leftarrow w - \eta\, \frac{\hat m}{\sqrt{\hat v} + \epsilon} ,$$
#
# where $t$ counts the steps from 1. The correction matters only early on: $\beta^t$ fades to 0
# and the factors to 1 (after 50 steps for $\beta_1$, a few thousand for $\beta_2$). Keep $m$
# and $v$ *uncorrected* in the state; correct them only to compute the step.
#
# **Where epsilon goes.** $\epsilon$ is added *after* the square root, to $\sqrt{\hat v}$. That is
# the paper's Algorithm 1. Keras (the optimiser unit 04 trains its CNN with) computes the
# same step in a rearranged form, $w \leftarrow w - \alpha_t\, m/(\sqrt{v} + \epsilon)$ with
# $\alpha_t = \eta \sqrt{1 - \beta_2^t}/(1 - \beta_1^t)$; the two differ only in how much
# $\epsilon$ weighs, and the check accepts both. Its defaults are `learning_rate=0.001`,
# `beta_1=0.9`, `beta_2=0.999`, `epsilon=1e-7`.
#
# **What Adam's step size means.** Since $\hat m / \sqrt{\hat v}$ is about $\pm 1$ when gradients
# are consistent, every weight moves by *about* $\eta$ per step, whatever the scale of its
# gradient; less when its gradients are noisy (they average out in $m$ but not in $v$). So
# the learning rate of Adam is roughly the largest distance a weight moves in one step.
# That is why `Adam(learning_rate=1e-3)` works as a default for so many networks, and why a
# larger rate, such as unit 04's 3e-3, is a reasonable first try for a small network.
#
# **Exercise 4.** Write `adam_update(w, dw, m, v, t, learning_rate=0.001, beta_1=0.9,
# beta_2=0.999, epsilon=1e-7)` returning `(new_w, new_m, new_v)`, where `t` is the number of
# this step, starting at 1. The check uses a large epsilon on purpose, so that its place shows.

# %% nbgrader={"grade": false, "grade_id": "adam_update_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def adam_update(w, dw, m, v, t, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """Adam with bias correction at step t (1, 2, ...): returns (new_w, new_m, new_v)."""
    ### BEGIN SOLUTION
    m = beta_1 * m + (1 - beta_1) * dw
    v = beta_2 * v + (1 - beta_2) * dw ** 2
    m_hat = m / (1 - beta_1 ** t)
    v_hat = v / (1 - beta_2 ** t)
    return w - learning_rate * m_hat / (np.sqrt(v_hat) + epsilon), m, v
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "adam_update", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.optimisers import check_adam_update

check_adam_update(adam_update)
### BEGIN HIDDEN TESTS
check_adam_update(adam_update, seed=51, rows=2, cols=6, t=1)
check_adam_update(adam_update, seed=52, rows=5, cols=3, t=40)
### END HIDDEN TESTS

# %% [markdown]
# **Reading question 2.** Why does Adam divide $m$ by $1 - \beta_1^t$? Set
# `bias_correction_answer` to one letter:
#
# * **a**: to make the steps smaller as training goes on, like a learning-rate schedule;
# * **b**: because $m$ starts at zero, so in the first steps it is a shrunken average of the
#   gradients, and dividing by $1 - \beta_1^t$ undoes exactly that shrinkage;
# * **c**: to give each parameter a step that fits the scale of its own gradient;
# * **d**: to add momentum to RMSProp.

# %% nbgrader={"grade": false, "grade_id": "bias_correction_answer_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
bias_correction_answer = "b"
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "bias_correction_answer", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.optimisers import check_bias_correction_reading

check_bias_correction_reading(bias_correction_answer)

# %% [markdown]
# All the optimisers of this unit on the ravine, 40 steps each. Your Adam runs with a
# learning rate of 0.3: near the minimum its steps stay about that long until $m$ changes
# sign, so it overshoots and circles in before it settles; a schedule (section 5) fixes that.

# %%
def my_adam(w, dw, state, learning_rate):
    t = state.get("t", 0) + 1
    w, m, v = adam_update(w, dw, state.get("m", np.zeros_like(w)), state.get("v", np.zeros_like(w)), t,
                          learning_rate)
    return w, {"m": m, "v": v, "t": t}


draw_ravine({"SGD 0.07": ravine_path(my_sgd, learning_rate=0.07),
             "momentum 0.9, 0.01": ravine_path(my_momentum, learning_rate=0.01),
             "Nesterov 0.9, 0.01": ravine_path(optim.momentum, learning_rate=0.01, nesterov=True),
             "RMSProp 0.1": ravine_path(my_rmsprop, learning_rate=0.1),
             "Adam 0.3": ravine_path(my_adam, learning_rate=0.3)},
            "five optimisers, 40 steps from the same start")

# %% [markdown]
# **Try it.** Pick an optimiser and a learning rate; the left panel shows the path on the
# ravine, the right one the loss per step (log scale). Things to find: the learning rate at
# which SGD starts to diverge (the limit $2/b = 0.08$), how momentum behaves with a rate
# that is safe for SGD, and how little Adam's path changes when its learning rate changes
# tenfold. (The widget uses the course's reference optimisers, so it works before you
# finish the exercises.)

# %%
import ipywidgets as widgets


def explore(optimiser="momentum", learning_rate=0.01, num_steps=60):
    path, losses = optim.optimise_path(optimiser, start, num_steps, learning_rate=learning_rate)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.2), gridspec_kw={"width_ratios": [2, 1]})
    xs, ys = np.meshgrid(np.linspace(-5, 5, 150), np.linspace(-1.6, 1.6, 90))
    left.contour(xs, ys, 0.5 * (xs ** 2 + 25 * ys ** 2), levels=np.geomspace(0.05, 40, 12), colors="grey",
                 linewidths=0.6)
    clipped = np.clip(path, -6, 6)
    left.plot(clipped[:, 0], clipped[:, 1], ".-", color="C1", markersize=4)
    left.plot(0, 0, "k*", markersize=10)
    left.set_xlim(-5, 5)
    left.set_ylim(-1.6, 1.6)
    left.set_title(f"{optimiser}, learning rate {learning_rate:.3g}")
    right.semilogy(np.minimum(losses, 1e6))
    right.set_xlabel("step")
    right.set_ylabel("loss")
    right.set_title(f"final loss {losses[-1]:.2g}")
    plt.tight_layout()
    plt.show()


widgets.interact(explore, optimiser=widgets.Dropdown(options=list(optim.OPTIMISERS), value="momentum"),
                 learning_rate=widgets.FloatLogSlider(value=0.01, base=10, min=-3, max=0, step=0.1,
                                                      continuous_update=False),
                 num_steps=widgets.IntSlider(value=60, min=10, max=200, step=10, continuous_update=False));

# %% [markdown]
# ## 5 · Learning-rate schedules
#
# Which learning rate is best? Early in training a large one: it covers ground fast and
# its noise helps to leave poor regions. Late in training a small one: it settles into the
# minimum instead of bouncing around it. So the usual answer is *all of them, in turn*: start
# large and **decay** the rate as training goes on. A schedule is just a function of the step
# (or epoch) number that returns the learning rate to use.
#
# * **Step decay**: multiply the rate by a factor (0.1) at a few fixed epochs. The classic
#   ResNet recipe divides by 10 at epochs 30, 60 and 90.
# * **Exponential**: $\eta_0 \cdot r^{\,\text{step}/T}$, a smooth version of the same.
# * **Cosine**: half a cosine from $\eta_0$ down to 0 over the whole run, $\eta_0 \cdot \tfrac12\,(1 + \cos(\pi\, \text{step}/T))$.
#   It stays high for long, then falls fast, then lingers low.
# * **Linear warm-up**: the first few hundred steps rise linearly from 0 to the peak. At the
#   start the weights are random and Adam's estimates of $v$ are based on few gradients, so
#   full-size steps can throw the network somewhere bad; warm-up lets them settle.
# * **Inverse square root**: warm-up, then $\eta \propto 1/\sqrt{\text{step}}$ (the original transformer).
# * **Cosine with warm restarts** (SGDR, Loshchilov & Hutter 2017): the cosine restarts from the
#   top several times, each cycle longer than the last.
#
# In Keras these are `keras.optimizers.schedules.PiecewiseConstantDecay`, `ExponentialDecay`,
# `CosineDecay` (with `warmup_target=` and `warmup_steps=`) and `CosineDecayRestarts`; pass one as
# `learning_rate=` to any optimiser and it is called with the step count before every update.
#
# **Exercise 5.** Write `step_decay(epoch, initial_learning_rate, boundaries=(30, 60, 90),
# factor=0.1)`. Epochs count from 0; at epoch `b` for each boundary `b` the rate is multiplied
# by `factor`, and stays multiplied: with the defaults, epochs 0-29 use the initial rate,
# epochs 30-59 a tenth of it, and so on. Return a float.

# %% nbgrader={"grade": false, "grade_id": "step_decay_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def step_decay(epoch, initial_learning_rate, boundaries=(30, 60, 90), factor=0.1):
    """The learning rate at `epoch` (counted from 0): times `factor` at every boundary reached."""
    ### BEGIN SOLUTION
    num_drops = sum(1 for boundary in boundaries if epoch >= boundary)
    return initial_learning_rate * factor ** num_drops
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "step_decay", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.optimisers import check_step_decay

check_step_decay(step_decay)
### BEGIN HIDDEN TESTS
check_step_decay(step_decay, seed=61, num_boundaries=1)
check_step_decay(step_decay, seed=62, num_boundaries=5)
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 6.** Write `cosine_with_warmup(step, peak_learning_rate, warmup_steps, decay_steps)`:
#
# * for `step < warmup_steps`: rise linearly from 0, `peak_learning_rate * step / warmup_steps`;
# * then decay over `decay_steps` steps along half a cosine,
#   `peak_learning_rate * 0.5 * (1 + cos(pi * k / decay_steps))` with `k = step - warmup_steps`;
# * after that, stay at the end value 0 (hold `k` at `decay_steps`).
#
# This is exactly `keras.optimizers.schedules.CosineDecay(0.0, decay_steps, warmup_target=peak_learning_rate,
# warmup_steps=warmup_steps)`. *Hint:* `math.cos` and `math.pi`, or `np.cos` and `np.pi`; `min`.

# %% nbgrader={"grade": false, "grade_id": "cosine_with_warmup_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def cosine_with_warmup(step, peak_learning_rate, warmup_steps, decay_steps):
    """Linear warm-up from 0 to the peak, then half a cosine down to 0: the rate at `step`."""
    ### BEGIN SOLUTION
    if step < warmup_steps:
        return peak_learning_rate * step / warmup_steps
    k = min(step - warmup_steps, decay_steps)
    return peak_learning_rate * 0.5 * (1 + np.cos(np.pi * k / decay_steps))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "cosine_with_warmup", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.optimisers import check_cosine_with_warmup

check_cosine_with_warmup(cosine_with_warmup)
### BEGIN HIDDEN TESTS
check_cosine_with_warmup(cosine_with_warmup, seed=71, warmup_steps=3, decay_steps=17)
check_cosine_with_warmup(cosine_with_warmup, seed=72, warmup_steps=25, decay_steps=60)
### END HIDDEN TESTS

# %% [markdown]
# Your two schedules and the course's others over 120 epochs of training (step decay at
# epochs 30, 60 and 90, as in the ResNet recipe; the others per epoch as well, to compare).

# %%
epochs = np.arange(120)
schedules = {
    "your step decay (30, 60, 90)": [step_decay(e, 0.1) for e in epochs],
    "exponential, x0.5 every 20": [optim.exponential_decay(e, 0.1, 20, 0.5) for e in epochs],
    "your cosine, 10 warm-up": [cosine_with_warmup(e, 0.1, 10, 110) for e in epochs],
    "inverse sqrt, 10 warm-up": [optim.inverse_sqrt(e, 0.1, 10) for e in epochs],
    "cosine restarts (SGDR)": [optim.cosine_restarts(e, 0.1, 20, t_mul=2.0) for e in epochs],
}
fig, axes = plt.subplots(1, 2, figsize=(12, 3.2))
for label, values in schedules.items():
    for ax in axes:
        ax.plot(epochs, values, label=label)
axes[1].set_yscale("log")
axes[1].set_ylim(1e-5, 0.2)
for ax, title in zip(axes, ("linear scale", "log scale")):
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.set_title(title)
axes[0].legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 6 · Batch size and learning rate
#
# A minibatch gradient is an average over $B$ examples. With $k$ times larger batches you
# take $k$ times fewer steps per epoch, and each step averages $k$ times more examples. If
# the loss surface is roughly the same over those $k$ small steps, one large step of $k$
# times the size goes about as far. Hence the **linear scaling rule** (Goyal et al., 2017):
# *multiply the batch size by $k$, multiply the learning rate by $k$.* It is a rule of thumb:
# it holds for SGD and momentum while the scaled rate stays below the stability limit
# (unit 01), and large-batch training adds a warm-up to get there. Adam's steps already have
# about the size of its learning rate, so it needs less of this scaling.
#
# **Exercise 7.** Write `scaled_learning_rate(base_learning_rate, base_batch_size, batch_size)`:
# the learning rate for `batch_size`, given one that works for `base_batch_size`.

# %% nbgrader={"grade": false, "grade_id": "scaled_learning_rate_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def scaled_learning_rate(base_learning_rate, base_batch_size, batch_size):
    """The linear scaling rule: k times the batch size, k times the learning rate."""
    ### BEGIN SOLUTION
    return base_learning_rate * batch_size / base_batch_size
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "scaled_learning_rate", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.optimisers import check_scaled_learning_rate

check_scaled_learning_rate(scaled_learning_rate)
### BEGIN HIDDEN TESTS
check_scaled_learning_rate(scaled_learning_rate, seed=81, num_cases=12)
### END HIDDEN TESTS

# %% [markdown]
# The rule at work: unit 02's network (8 landmark genes → 16 sigmoid units → 1 output, MSE)
# trained with plain SGD on the gene data, per **epoch**. Batches of 10 with rate 0.01 are
# the reference. Batches of 40 with the same rate take 4 times fewer steps of the same size
# and fall behind; with your scaled rate they follow the reference closely, epoch by epoch.

# %%
base_batch, base_rate, big_batch = 10, 0.01, 40
runs = {f"batch {base_batch}, rate {base_rate}": (base_batch, base_rate),
        f"batch {big_batch}, same rate {base_rate}": (big_batch, base_rate),
        f"batch {big_batch}, your scaled rate {scaled_learning_rate(base_rate, base_batch, big_batch):.3g}":
            (big_batch, scaled_learning_rate(base_rate, base_batch, big_batch))}
batch_curves = {label: optim.train_network(X_train, y_train, X_val, y_val, "sgd", rate, num_epochs=25,
                                           batch_size=batch)["loss"]
                for label, (batch, rate) in runs.items()}
plot_learning_curves(batch_curves, xlabel="epoch", ylabel="training MSE",
                     title="linear scaling: k times the batch, k times the rate")
plt.show()
for label, curve in batch_curves.items():
    print(f"{label:<40} training MSE after 5, 15, 25 epochs: " + ", ".join(f"{curve[e - 1]:.3f}" for e in (5, 15, 25)))

# %% [markdown]
# ## 7 · Learning curves
#
# A **learning curve** is the loss plotted against training time. The loss of each minibatch
# is cheap to record (it is computed anyway) but noisy: each batch holds other examples. To
# see the trend, smooth it. An exponential moving average does this in one pass and with no
# window to choose, the same average Adam keeps of its gradients:
#
# $$s_t = \beta\, s_{t-1} + (1 - \beta)\, x_t, \quad s_{-1} = 0, \qquad \text{smoothed}_t = \frac{s_t}{1 - \beta^{\,t+1}}$$
#
# for points $x_0, x_1, \dots$ (counted from 0, hence the $t + 1$). Without the correction the
# start of the smoothed curve would be dragged towards 0 for the same reason as Adam's $m$.
# $\beta = 0.9$ averages roughly the last 10 points; TensorBoard's "smoothing" slider sets $\beta$.
#
# **Exercise 8.** Write `smooth(values, beta=0.9)` returning a NumPy array of the same length as
# `values`, the bias-corrected moving average above.

# %% nbgrader={"grade": false, "grade_id": "smooth_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def smooth(values, beta=0.9):
    """Bias-corrected exponential moving average: values (T,) -> smoothed (T,)."""
    ### BEGIN SOLUTION
    smoothed = np.empty(len(values))
    average = 0.0
    for t, value in enumerate(values):
        average = beta * average + (1 - beta) * value
        smoothed[t] = average / (1 - beta ** (t + 1))
    return smoothed
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "smooth", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.optimisers import check_smooth

check_smooth(smooth)
### BEGIN HIDDEN TESTS
check_smooth(smooth, seed=91, length=80, beta=0.95)
check_smooth(smooth, seed=92, length=5, beta=0.5)
### END HIDDEN TESTS

# %% [markdown]
# The minibatch losses of one run with momentum (batches of 16), raw and smoothed with your
# function; the dots are the full training loss after each epoch.

# %%
noisy_run = optim.train_network(X_train, y_train, X_val, y_val, "momentum", 0.02, num_epochs=12, batch_size=16)
batch_losses = np.array(noisy_run["batch_loss"])
steps_per_epoch = len(batch_losses) // 12
fig, ax = plt.subplots(figsize=(9, 3.2))
ax.plot(batch_losses, color="C0", alpha=0.3, linewidth=0.8, label="minibatch loss (raw)")
ax.plot(smooth(batch_losses, 0.95), color="C0", label="smoothed, beta = 0.95")
ax.plot(steps_per_epoch * np.arange(1, 13) - 1, noisy_run["loss"], "o", color="C3", label="full training loss")
ax.set_yscale("log")
ax.set_xlabel("step")
ax.set_ylabel("MSE")
ax.legend()
plt.show()

# %% [markdown]
# Reading learning curves is a skill: the shape tells you which knob to turn. Below are the
# training losses of three runs of the same network with momentum, differing only in the
# learning rate. (The values of the rates are hidden on purpose.)

# %%
secret_rates = {"A": 0.5, "B": 0.0003, "C": 0.1}
curves = {name: optim.train_network(X_train, y_train, X_val, y_val, "momentum", rate, num_epochs=30,
                                    batch_size=32)["loss"] for name, rate in secret_rates.items()}
plot_learning_curves({f"curve {name}": curve for name, curve in curves.items()}, xlabel="epoch",
                     ylabel="training MSE", title="three learning rates")
plt.show()

# %% [markdown]
# **Reading question 3.** For each curve, is its learning rate `"too high"`, `"too low"` or
# `"good"`? Answer with a dict, for example `curve_labels = {"A": "good", "B": "good", "C": "good"}`.
# *Hint:* a rate that is too low gives a smooth curve that falls slowly and is still falling at
# the end; one that is too high drops fast at first, then stalls high and jumps around (or
# shoots up: divergence).

# %% nbgrader={"grade": false, "grade_id": "curve_labels_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
curve_labels = {"A": "too high", "B": "too low", "C": "good"}
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "curve_labels", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks.optimisers import check_curve_labels

check_curve_labels(curve_labels)

# %% [markdown]
# ## 8 · Which optimiser? A small sweep on real-sized data
#
# The advice you will hear: *Adam is a good default and often works with a constant learning
# rate; SGD with momentum can do as well or better, but needs its learning rate (and schedule)
# tuned.* Let us see it rather than take it on trust. The same network, the same data and
# the same 40 epochs of batches of 32; for each optimiser four learning rates, a factor of
# about 3 apart. The table gives the validation MSE after the last epoch (the target has a
# variance of about 2, and the noise in the simulation sets the floor at about 0.06).

# %%
sweep = {"sgd": (0.03, 0.1, 0.3, 1.0), "momentum": (0.003, 0.01, 0.03, 0.1), "adam": (0.003, 0.01, 0.03, 0.1)}
results = {}
for name, rates in sweep.items():
    for rate in rates:
        history = optim.train_network(X_train, y_train, X_val, y_val, name, rate, num_epochs=40, batch_size=32)
        results[name, rate] = history["val_loss"][-1]

print(f"{'optimiser':<10}" + "".join(f"{'rate ' + str(i + 1):>14}" for i in range(4)) + f"{'best':>10}")
for name, rates in sweep.items():
    cells = [f"{rate:>6g}: {results[name, rate]:<6.3f}" if np.isfinite(results[name, rate]) else f"{rate:>6g}: diverged"
             for rate in rates]
    best = min(results[name, rate] for rate in rates if np.isfinite(results[name, rate]))
    print(f"{name:<10}" + "".join(f"{cell:>14}" for cell in cells) + f"{best:>10.3f}")

# %% [markdown]
# Read the table row by row, and compare each optimiser at **its own best learning rate**,
# never all at one shared rate. At their best, the three end within a few per cent of each
# other, and here tuned plain SGD is even a little ahead: with tuning, the simple methods
# can win. The difference is in how hard the best rate is to find. SGD has a narrow window:
# one rate works, the next one up diverges, and the ones below have not arrived after 40
# epochs. Momentum and Adam are good over a wider band, and Adam is good over the top of
# its sweep: start there (with its default, or a few times larger on a small network) and
# you rarely fail badly. That is what "Adam is a good default" means.
#
# ### Keras gives the same numbers
#
# Keras's `Adam` is the formula you wrote. To show it, the next cell trains the same network
# on the same minibatches with TensorFlow: float64 variables initialised with the NumPy
# weights, gradients from `tf.GradientTape`, and `keras.optimizers.Adam` with a
# `keras.optimizers.schedules.CosineDecay` schedule with warm-up. The NumPy run uses
# `course_lib.optim.adam` and `course_lib.optim.cosine_decay`, the reference versions of your exercises 4 and 6.

# %%
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
import tensorflow as tf

from course_lib import mlp

num_epochs, batch_size, seed = 10, 32, 0
steps_per_epoch = -(-len(X_train) // batch_size)
total_steps = num_epochs * steps_per_epoch
warmup_steps, peak_rate = 20, 0.03


def numpy_schedule(step):
    return optim.cosine_decay(step, 0.0, total_steps - warmup_steps, warmup_steps=warmup_steps,
                              warmup_target=peak_rate)


numpy_run = optim.train_network(X_train, y_train, X_val, y_val, "adam", numpy_schedule, num_epochs=num_epochs,
                                batch_size=batch_size, seed=seed)

keras_schedule = keras.optimizers.schedules.CosineDecay(0.0, total_steps - warmup_steps,
                                                        warmup_target=peak_rate, warmup_steps=warmup_steps)
optimizer = keras.optimizers.Adam(learning_rate=keras_schedule)
variables = {key: tf.Variable(value) for key, value in
             mlp.init_two_layer_params(X_train.shape[1], 16, 1, "sigmoid", seed).items()}


def network_mse(X, y):
    hidden = tf.sigmoid(X @ variables["W1"] + variables["b1"])
    return tf.reduce_mean((hidden @ variables["W2"] + variables["b2"] - y.reshape(-1, 1)) ** 2)


rng = np.random.default_rng(seed)          # the same minibatches as train_network
keras_val_loss = []
for epoch in range(num_epochs):
    order = rng.permutation(len(X_train))
    for start_row in range(0, len(X_train), batch_size):
        rows = order[start_row:start_row + batch_size]
        with tf.GradientTape() as tape:
            loss = network_mse(X_train[rows], y_train[rows])
        gradients = tape.gradient(loss, list(variables.values()))
        optimizer.apply_gradients(zip(gradients, variables.values()))
    keras_val_loss.append(float(network_mse(X_val, y_val)))

print("epoch   NumPy validation MSE   Keras validation MSE")
for epoch in (0, 1, 4, num_epochs - 1):
    print(f"{epoch + 1:>5}   {numpy_run['val_loss'][epoch]:>20.6f}   {keras_val_loss[epoch]:>20.6f}")
largest = np.max(np.abs(np.array(numpy_run["val_loss"]) - keras_val_loss) / np.array(keras_val_loss))
print(f"largest relative difference: {largest:.1e} (Keras keeps the learning rate in float32)")

# %% [markdown]
# ## Summary
#
# * SGD takes one step size for all weights; on a ravine it must be small enough for the
#   steepest direction and then crawls along the flat ones.
# * Momentum keeps a velocity, $v \leftarrow \mu v - \eta \nabla L$, $w \leftarrow w + v$: consistent gradients
#   add up, alternating ones cancel.
# * Adagrad, RMSProp and Adam divide each weight's step by the root of a running average of
#   its own squared gradients: a step size per parameter.
# * Adam = momentum's average $m$ + RMSProp's average $v$ + a bias correction, because both
#   start at zero; $\epsilon$ goes outside the square root. Its learning rate is roughly the
#   largest distance a weight moves per step, which is why `Adam(1e-3)` is a good default
#   (unit 04 trains its CNN with `Adam(learning_rate=3e-3)`).
# * Start with a large learning rate and decay it: step, exponential, cosine (with warm-up),
#   inverse square root, or cosine with restarts; in Keras, a `keras.optimizers.schedules` object.
# * k times the batch size: try k times the learning rate (for SGD and momentum).
# * Smooth noisy training curves with a bias-corrected moving average, and read the
#   learning rate off their shape. Compare optimisers each at its own best learning rate.
