"""course_lib.checks.backprop: each check accepts correct answers and rejects realistic mistakes.

Every "student" below is a small function written the way a student might; the wrong
ones carry the mistake in their name. Where the message matters, the test asserts a
phrase that points the student at the mistake.
"""

from __future__ import annotations

import os
import sys
import types

import numpy as np
import pytest

from course_lib.checks import backprop as checks
from course_lib.data.genes import gene_expression
from tests.conftest import typed_by_a_student
from tests.checks.conftest import accepts, rejects

gradcheck = typed_by_a_student("course_lib.gradcheck")
layers = typed_by_a_student("course_lib.layers")
init_two_layer_params = typed_by_a_student("course_lib.mlp").init_two_layer_params


def sig(v):
    return 1.0 / (1.0 + np.exp(-v))


# ============================================================================ activations
def sigmoid_forward_ref(x):
    return layers.sigmoid_forward(x)


def sigmoid_backward_ref(dout, cache):
    return layers.sigmoid_backward(dout, cache)


def sigmoid_forward_caches_input(x):            # correct, written differently: cache x, float32
    x32 = np.asarray(x, dtype=np.float32)
    return 1 / (1 + np.exp(-x32)), x32


def sigmoid_backward_from_input(dout, cache):
    s = 1 / (1 + np.exp(-cache))
    return (dout * s * (1 - s)).astype(np.float32)


def sigmoid_backward_twice(dout, cache):        # cache is already sigmoid(x)
    s = sig(cache)
    return dout * s * (1 - s)


def sigmoid_backward_no_dout(dout, cache):
    return cache * (1 - cache)


def sigmoid_backward_half(dout, cache):
    return dout * cache


def sigmoid_backward_sign(dout, cache):
    return -dout * cache * (1 - cache)


def sigmoid_forward_sign(x):
    out = 1 / (1 + np.exp(x))
    return out, out


def sigmoid_backward_x_formula(dout, cache):    # cached x, then wrote x * (1 - x)
    return dout * cache * (1 - cache)


def sigmoid_forward_caching_x(x):
    return sig(x), x


def test_sigmoid_check_accepts_correct_answers(capsys):
    accepts(checks.check_sigmoid, sigmoid_forward_ref, sigmoid_backward_ref)
    accepts(checks.check_sigmoid, sigmoid_forward_caches_input, sigmoid_backward_from_input, seed=3, num_examples=7)
    accepts(checks.check_sigmoid, sigmoid_forward_ref)                        # forward only
    assert capsys.readouterr().out.count("\N{CHECK MARK}") == 3


def test_sigmoid_check_rejects_mistakes():
    rejects(checks.check_sigmoid, sigmoid_forward_ref, sigmoid_backward_twice, match="wrong point")
    rejects(checks.check_sigmoid, sigmoid_forward_ref, sigmoid_backward_no_dout, match="upstream gradient is missing")
    rejects(checks.check_sigmoid, sigmoid_forward_ref, sigmoid_backward_half, match="half")
    rejects(checks.check_sigmoid, sigmoid_forward_ref, sigmoid_backward_sign, match="sign")
    rejects(checks.check_sigmoid, sigmoid_forward_sign, sigmoid_backward_ref, match="exp(-x)")
    rejects(checks.check_sigmoid, sigmoid_forward_caching_x, sigmoid_backward_x_formula, match="input x")


def test_unwritten_answer_says_so():
    def sigmoid_backward(dout, cache):
        raise NotImplementedError()

    rejects(checks.check_sigmoid, sigmoid_forward_ref, sigmoid_backward, match="raise NotImplementedError()")


def tanh_backward_input(dout, cache):
    return dout * (1 - cache ** 2)


def tanh_forward_x(x):
    return np.tanh(x), x


def test_tanh_check():
    accepts(checks.check_tanh, layers.tanh_forward, layers.tanh_backward)
    accepts(checks.check_tanh, tanh_forward_x, lambda dout, x: dout / np.cosh(x) ** 2)        # cosh form
    rejects(checks.check_tanh, tanh_forward_x, tanh_backward_input, match="input x")
    rejects(checks.check_tanh, layers.tanh_forward, lambda d, c: d * (1 - np.tanh(c) ** 2), match="wrong point")
    rejects(checks.check_tanh, layers.tanh_forward, lambda d, c: 1 - c ** 2, match="upstream")
    rejects(checks.check_tanh, layers.tanh_forward, lambda d, c: d * (1 - c), match="square")
    rejects(checks.check_tanh, lambda x: (sig(x), sig(x)), layers.tanh_backward, match="sigmoid")


def relu_forward_np_max(x):
    return np.max(x, 0), x


def test_relu_check():
    accepts(checks.check_relu, layers.relu_forward, layers.relu_backward)
    accepts(checks.check_relu, lambda x: (x * (x > 0), x > 0), lambda dout, mask: np.where(mask, dout, 0.0))
    rejects(checks.check_relu, relu_forward_np_max, layers.relu_backward, match="np.maximum")
    rejects(checks.check_relu, layers.relu_forward, lambda d, x: (x > 0).astype(float), match="upstream")
    rejects(checks.check_relu, layers.relu_forward, lambda d, x: d * np.maximum(x, 0), match="relu(x) itself")
    rejects(checks.check_relu, layers.relu_forward, lambda d, x: d * (x < 0), match="reversed")
    rejects(checks.check_relu, layers.relu_forward, lambda d, x: d, match="mask is missing")
    rejects(checks.check_relu, lambda x: (np.abs(x), x), layers.relu_backward, match="|x|")


def relu_backward_in_place(dout, x):           # right numbers, but zeroes entries of the caller's dout
    dx = dout
    dx[x <= 0] = 0
    return dx


def relu_backward_copy_then_edit(dout, x):     # correct: edits its own copy
    dx = dout.copy()
    dx[x <= 0] = 0
    return dx


def sigmoid_backward_in_place(dout, out):
    dout *= out * (1 - out)
    return dout


def sigmoid_backward_spoils_cache(dout, out):  # right numbers, but overwrites the cached output
    out *= 1 - out
    return dout * out


def test_backward_functions_leave_their_inputs_alone():
    accepts(checks.check_relu, layers.relu_forward, relu_backward_copy_then_edit)
    rejects(checks.check_relu, layers.relu_forward, relu_backward_in_place, match="changes its input `dout`")
    rejects(checks.check_sigmoid, lambda x: (1 / (1 + np.exp(-x)),) * 2, sigmoid_backward_in_place,
            match="in place")
    rejects(checks.check_sigmoid, lambda x: (1 / (1 + np.exp(-x)),) * 2, sigmoid_backward_spoils_cache,
            match="`cache`")

    def affine_backward_in_place(dout, cache):
        x, W, b = cache
        dout /= 1.0                                # harmless
        x -= 0.0                                   # harmless too: values unchanged
        dW = x.T @ dout
        dout[:] = dout @ W.T @ W if W.shape[0] == W.shape[1] else dout
        return dout @ W.T, dW, dout.sum(axis=0)

    def affine_backward_reuses_dout(dout, cache):  # right numbers, then scribbles on dout
        x, W, b = cache
        result = dout @ W.T, x.T @ dout, dout.sum(axis=0)
        dout.fill(0.0)
        return result

    accepts(checks.check_affine_backward, layers.affine_forward, affine_backward_in_place)   # values unchanged: fine
    rejects(checks.check_affine_backward, layers.affine_forward, affine_backward_reuses_dout, match="`dout`")


def leaky_forward_fixed_slope(x, negative_slope=0.01):
    return np.where(x > 0, x, 0.01 * x), x


def leaky_forward_keras_slope(x, negative_slope=0.3):
    return np.where(x > 0, x, 0.3 * x), x


def test_leaky_relu_check():
    accepts(checks.check_leaky_relu, layers.leaky_relu_forward, layers.leaky_relu_backward)
    accepts(checks.check_leaky_relu, lambda x, negative_slope: (np.maximum(negative_slope * x, x), (x, negative_slope)),
                                    layers.leaky_relu_backward, negative_slope=0.05, seed=2)
    rejects(checks.check_leaky_relu, leaky_forward_fixed_slope, match="0.01")
    rejects(checks.check_leaky_relu, leaky_forward_keras_slope, match="Keras 3")
    rejects(checks.check_leaky_relu, layers.leaky_relu_forward, lambda d, c: d * (c[0] > 0), match="slope is missing")
    rejects(checks.check_leaky_relu, layers.leaky_relu_forward,
            lambda d, c: d * np.where(c[0] > 0, 1.0, 0.1), match="fixed slope 0.1")
    rejects(checks.check_leaky_relu, lambda x, negative_slope=0.01: layers.relu_forward(x), match="plain ReLU")


# ================================================================================ affine
def affine_forward_dot(x, W, b):
    return np.dot(x, W) + b, (x, W, b)


def affine_forward_float32(x, W, b):
    x, W, b = (np.asarray(v, dtype=np.float32) for v in (x, W, b))
    return x @ W + b, (x, W, b)


def affine_backward_dot(dout, cache):
    x, W, b = cache
    return np.dot(dout, W.T), np.dot(x.T, dout), np.sum(dout, axis=0)


def affine_backward_einsum_float32(dout, cache):
    x, W, b = cache
    dout = dout.astype(np.float32)
    return (np.einsum("nh,dh->nd", dout, W), np.einsum("nd,nh->dh", x, dout), dout.sum(0))


def test_affine_forward_check():
    accepts(checks.check_affine_forward, layers.affine_forward)
    accepts(checks.check_affine_forward, affine_forward_dot, seed=4, num_examples=2, input_dim=3, output_dim=7)
    accepts(checks.check_affine_forward, affine_forward_float32)
    rejects(checks.check_affine_forward, lambda x, W, b: (x @ W, None), match="bias is missing")
    rejects(checks.check_affine_forward, lambda x, W, b: (x @ W - b, None), match="subtracted")
    rejects(checks.check_affine_forward, lambda x, W, b: (np.maximum(x @ W + b, 0), None), match="activation")
    message = rejects(checks.check_affine_forward, lambda x, W, b: (x @ W.T + b, None), match="raised")
    assert "W (D, H) = (5, 3)" in message
    rejects(checks.check_affine_forward, lambda x, W, b: x @ W + b, match="tuple (out, cache)")


def test_affine_backward_check_accepts_correct_answers():
    accepts(checks.check_affine_backward, layers.affine_forward, layers.affine_backward)
    accepts(checks.check_affine_backward, affine_forward_dot, affine_backward_dot, seed=2, num_examples=3, input_dim=3,
                                         output_dim=3)
    accepts(checks.check_affine_backward, affine_forward_float32, affine_backward_einsum_float32)


def test_affine_backward_check_rejects_mistakes():
    forward = layers.affine_forward
    rejects(checks.check_affine_backward, forward,                 # the lecture's bias bug
            lambda dout, cache: (dout @ cache[1].T, cache[0].T @ dout, dout), match="lecture")
    rejects(checks.check_affine_backward, forward,
            lambda dout, cache: (dout @ cache[1].T, cache[0].T @ dout, dout.mean(axis=0)), match="mean")
    rejects(checks.check_affine_backward, forward,
            lambda dout, cache: (dout @ cache[1].T, cache[0].T @ dout, dout.sum(axis=0, keepdims=True)),
            match="keepdims")
    rejects(checks.check_affine_backward, forward,
            lambda dout, cache: (dout @ cache[1].T, dout.T @ cache[0], dout.sum(0)), match="transpose")
    rejects(checks.check_affine_backward, forward,
            lambda dout, cache: (dout @ cache[1].T, cache[0].T @ dout / len(dout), dout.sum(0)),
            match="divided by N")
    rejects(checks.check_affine_backward, forward,
            lambda dout, cache: (dout @ cache[1], cache[0].T @ dout, dout.sum(0)), match="shapes in this check")
    rejects(checks.check_affine_backward, forward,                 # N == H hides the axis in the shape
            lambda dout, cache: (dout @ cache[1].T, cache[0].T @ dout, dout.sum(axis=1)),
            num_examples=3, output_dim=3, match="wrong axis")
    rejects(checks.check_affine_backward, forward,                 # square W hides the transpose in the shape
            lambda dout, cache: (dout @ cache[1].T, dout.T @ cache[0], dout.sum(0)),
            input_dim=3, output_dim=3, match="transpose")
    rejects(checks.check_affine_backward, forward, lambda dout, cache: (dout @ cache[1].T, cache[0].T @ dout),
            match="tuple (dx, dW, db)")


# ============================================================================ two layers
def two_layer_forward_ref(X, params):
    z, c1 = layers.affine_forward(X, params["W1"], params["b1"])
    h, c2 = layers.sigmoid_forward(z)
    scores, c3 = layers.affine_forward(h, params["W2"], params["b2"])
    return scores, (c1, c2, c3)


def two_layer_forward_dot32(X, params):
    p = {k: v.astype(np.float32) for k, v in params.items()}
    h = 1 / (1 + np.exp(-(np.dot(X.astype(np.float32), p["W1"]) + p["b1"])))
    return np.dot(h, p["W2"]) + p["b2"], None


def test_two_layer_forward_check():
    accepts(checks.check_two_layer_forward, two_layer_forward_ref)
    accepts(checks.check_two_layer_forward, two_layer_forward_dot32, seed=5, num_examples=9, input_dim=2, hidden_dim=3)
    P = lambda p: (p["W1"], p["b1"], p["W2"], p["b2"])
    wrong = {
        "no sigmoid": (lambda X, p: ((X @ P(p)[0] + P(p)[1]) @ P(p)[2] + P(p)[3], None), "no sigmoid"),
        "output sigmoid": (lambda X, p: (sig(sig(X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]), None), "output too"),
        "no b1": (lambda X, p: (sig(X @ p["W1"]) @ p["W2"] + p["b2"], None), "b1 is missing"),
        "no b2": (lambda X, p: (sig(X @ p["W1"] + p["b1"]) @ p["W2"], None), "b2 is missing"),
        "relu": (lambda X, p: (np.maximum(X @ p["W1"] + p["b1"], 0) @ p["W2"] + p["b2"], None), "ReLU"),
        "ravelled": (lambda X, p: ((sig(X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]).ravel(), None), "shape"),
        "no cache": (lambda X, p: sig(X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"], "tuple (scores, cache)"),
    }
    for student, match in wrong.values():
        rejects(checks.check_two_layer_forward, student, match=match)


def make_two_layer_loss(*, mistake: str | None = None, dtype=np.float64):
    """A student's two_layer_loss written by hand; ``mistake`` plants one realistic bug."""
    def two_layer_loss(X, y, params):
        W1, b1, W2, b2 = (np.asarray(params[k], dtype=dtype) for k in ("W1", "b1", "W2", "b2"))
        X, y = X.astype(dtype), y.astype(dtype)
        N = X.shape[0]
        z = np.dot(X, W1) + b1
        h = 1 / (1 + np.exp(-z))
        scores = h.dot(W2) + b2
        loss = np.sum((scores - y) ** 2) / N if mistake != "loss_sum" else np.sum((scores - y) ** 2)
        dscores = 2 * (scores - y) / N
        if mistake == "no_two":
            dscores = (scores - y) / N
        if mistake == "no_mean":
            dscores = 2 * (scores - y)
        if mistake == "sign":
            dscores = 2 * (y - scores) / N
        dW2 = h.T @ dscores if mistake != "dW2_transposed" else dscores.T @ h
        db2 = dscores.sum(axis=0) if mistake not in ("bug1", "all_bugs") else dscores
        dh = dscores @ W2.T
        if mistake == "sigmoid_twice":
            dz = dh * sig(h) * (1 - sig(h))
        elif mistake == "no_local_gradient":
            dz = dh
        else:
            dz = dh * h * (1 - h)
        dX = dz @ W1.T
        dW1 = X.T @ dz if mistake not in ("bug2", "all_bugs") else dX.T @ dz
        if mistake in ("bug3", "all_bugs"):
            db1 = dscores
        elif mistake == "db1_not_summed":
            db1 = dz
        else:
            db1 = dz.sum(axis=0)
        return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
    return two_layer_loss


def test_two_layer_loss_check_accepts_correct_answers():
    from course_lib.mlp import two_layer_loss        # the reference itself: not the student's own work
    rejects(checks.check_two_layer_loss, lambda X, y, params: two_layer_loss(X, y, params),
            match="No points for this exercise")
    typed = typed_by_a_student("course_lib.mlp").two_layer_loss
    accepts(checks.check_two_layer_loss, lambda X, y, params: typed(X, y, params))
    accepts(checks.check_two_layer_loss, make_two_layer_loss())
    accepts(checks.check_two_layer_loss, make_two_layer_loss(dtype=np.float32), seed=7, num_examples=10, input_dim=3,
                                        hidden_dim=8)


@pytest.mark.parametrize("mistake, match", [
    ("bug1", "bug 1"), ("bug2", "bug 2"), ("bug3", "bug 3"), ("all_bugs", "bug 1"),
    ("sigmoid_twice", "wrong point"), ("no_local_gradient", "local gradient"),
    ("db1_not_summed", "sums over them"), ("dW2_transposed", "transpose"), ("no_two", "2 (y_hat - y)"),
    ("no_mean", "N times too large"), ("sign", "wrong sign"), ("loss_sum", "mean over the N"),
])
def test_two_layer_loss_check_rejects_mistakes(mistake, match):
    rejects(checks.check_two_layer_loss, make_two_layer_loss(mistake=mistake), match=match)


def test_two_layer_loss_check_rejects_missing_keys_and_wrong_types():
    def no_bias_gradients(X, y, params):
        loss, grads = make_two_layer_loss()(X, y, params)
        return loss, {"W1": grads["W1"], "W2": grads["W2"]}

    rejects(checks.check_two_layer_loss, no_bias_gradients, match="['b1', 'b2']")
    rejects(checks.check_two_layer_loss, lambda X, y, p: (make_two_layer_loss()(X, y, p)[0], [0, 0, 0, 0]),
            match="dict")


# =================================================================== computational graph
def graph_shapes_ref(N, D, H):
    return {"X": (N, D), "W1": (D, H), "b1": (H,), "z": (N, H), "h": (N, H), "W2": (H, 1), "b2": (1,),
            "scores": (N, 1), "y": (N, 1), "loss": (), "dscores": (N, 1), "dW2": (H, 1), "db2": (1,),
            "dh": (N, H), "dz": (N, H), "dW1": (D, H), "db1": (H,)}


def with_changes(**changes):
    def graph_shapes(N, D, H):
        shapes = graph_shapes_ref(N, D, H)
        for key, value in changes.items():
            shapes[key] = value(N, D, H) if callable(value) else value
        return shapes
    return graph_shapes


def test_graph_shapes_check():
    accepts(checks.check_graph_shapes, graph_shapes_ref)
    accepts(checks.check_graph_shapes, lambda N, D, H: {k: list(v) for k, v in graph_shapes_ref(N, D, H).items()},
                                      num_examples=7, input_dim=2, hidden_dim=9)
    rejects(checks.check_graph_shapes, with_changes(loss=(1,)), match="single number")
    rejects(checks.check_graph_shapes, with_changes(db1=lambda N, D, H: (N, H)), match="summed over the N")
    rejects(checks.check_graph_shapes, with_changes(dW1=lambda N, D, H: (H, D)), match="shape of its parameter")
    rejects(checks.check_graph_shapes, with_changes(z=lambda N, D, H: (H, N)), match="one row per example")
    rejects(checks.check_graph_shapes, with_changes(dh=lambda N, D, H: (N, 1)), match="shape of h")
    rejects(checks.check_graph_shapes, lambda N, D, H: {"X": (N, D)}, match="no entry")
    rejects(checks.check_graph_shapes, with_changes(h="N, H"), match="tuple of whole numbers")


def graph_example():
    inputs = checks._network_inputs(1, 3, 2, 2)
    params = {k: inputs[k] for k in ("W1", "b1", "W2", "b2")}
    return inputs["X"], inputs["y"], params


def graph_values(X, y, params, **changes):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    z = X @ W1 + b1
    h = sig(z)
    scores = h @ W2 + b2
    dscores = 2 * (scores - y) / len(X)
    dh = dscores @ W2.T
    dz = dh * h * (1 - h)
    values = {"z": z, "h": h, "scores": scores, "loss": np.mean((scores - y) ** 2), "dscores": dscores,
              "dW2": h.T @ dscores, "db2": dscores.sum(0), "dh": dh, "dz": dz, "dW1": X.T @ dz,
              "db1": dz.sum(0)}
    for key, value in changes.items():
        values[key] = value(values) if callable(value) else value
    return values


def test_graph_values_check():
    X, y, params = graph_example()
    accepts(checks.check_graph_values, graph_values(X, y, params), X, y, params)
    accepts(checks.check_graph_values, {k: np.float32(v) if np.ndim(v) == 0 else np.asarray(v, np.float32)
                                       for k, v in graph_values(X, y, params).items()}, X, y, params)
    rejects(checks.check_graph_values, graph_values(X, y, params, dz=lambda v: v["dh"] * sig(v["h"]) * (1 - sig(v["h"]))),
            X, y, params, match="wrong point")
    rejects(checks.check_graph_values, graph_values(X, y, params, db1=lambda v: v["dz"]), X, y, params,
            match="sums over them")
    rejects(checks.check_graph_values, graph_values(X, y, params, loss=lambda v: 3 * v["loss"]), X, y, params,
            match="loss")
    rejects(checks.check_graph_values, graph_values(X, y, params, h=lambda v: v["z"]), X, y, params, match="h has")
    rejects(checks.check_graph_values, graph_values(X, y, params, dW1=lambda v: (v["dz"] @ params["W1"].T).T @ v["dz"]),
            X, y, params, match="bug 2")
    values = graph_values(X, y, params)
    del values["dh"]
    rejects(checks.check_graph_values, values, X, y, params, match="['dh']")


# ======================================================================== gradient check
def numerical_gradient_nditer(f, x, h=1e-5):             # correct; restores by arithmetic
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        x[ix] += h
        plus = f(x)
        x[ix] -= 2 * h
        minus = f(x)
        x[ix] += h
        grad[ix] = (plus - minus) / (2 * h)
        it.iternext()
    return grad


def make_numerical_gradient(mistake):
    def numerical_gradient(f, x, h=1e-5):
        grad = np.zeros_like(x)
        if mistake == "rows":
            for i in range(x.shape[0]):
                old = x[i].copy()
                x[i] = old + h
                plus = f(x)
                x[i] = old - h
                minus = f(x)
                x[i] = old
                grad[i] = (plus - minus) / (2 * h)
            return grad
        for ix in np.ndindex(x.shape):
            old = x[ix]
            if mistake == "copy":
                x_plus, x_minus = x.copy(), x.copy()
                x_plus[ix] += h
                x_minus[ix] -= h
                grad[ix] = (f(x_plus) - f(x_minus)) / (2 * h)
                continue
            x[ix] = old + h
            plus = f(x)
            x[ix] = old - h
            minus = f(x)
            x[ix] = old
            if mistake == "forward":
                grad[ix] = (plus - f(x)) / h
            elif mistake == "over_h":
                grad[ix] = (plus - minus) / h
            elif mistake == "sign":
                grad[ix] = (minus - plus) / (2 * h)
            elif mistake == "no_restore":
                x[ix] = old + h
                grad[ix] = (plus - minus) / (2 * h)
            else:
                grad[ix] = (plus - minus) / (2 * h)
        return grad
    return numerical_gradient


def test_numerical_gradient_check():
    accepts(checks.check_numerical_gradient, gradcheck.numerical_gradient)
    accepts(checks.check_numerical_gradient, numerical_gradient_nditer, seed=3, rows=2, columns=5)
    accepts(checks.check_numerical_gradient, make_numerical_gradient(None))
    rejects(checks.check_numerical_gradient, make_numerical_gradient("forward"), match="one-sided")
    rejects(checks.check_numerical_gradient, make_numerical_gradient("over_h"), match="2 h, not by h")
    rejects(checks.check_numerical_gradient, make_numerical_gradient("sign"), match="sign")
    rejects(checks.check_numerical_gradient, make_numerical_gradient("no_restore"), match="leaves x changed")
    rejects(checks.check_numerical_gradient, make_numerical_gradient("copy"), match="copy of x")
    rejects(checks.check_numerical_gradient, make_numerical_gradient("rows"), match="whole row")
    rejects(checks.check_numerical_gradient, lambda f, x, h=1e-5: np.zeros(x.size), match="shape of x")

    def hard_coded_step(f, x, h=1e-5):              # ignores the h it is given
        return gradcheck.numerical_gradient(f, x, 1e-5)

    rejects(checks.check_numerical_gradient, hard_coded_step, match="step h=0.1 passed in is not used")


def make_gradient_check(numerical_gradient=gradcheck.numerical_gradient, measure=gradcheck.norm_rel_error,
                        mistake=None):
    """A student's gradient_check built on ``numerical_gradient``, with one realistic ``mistake``."""
    def gradient_check(loss_and_grads, params):
        _, analytic = loss_and_grads(params)
        errors = {}
        for name in params:
            if mistake == "zeros":
                errors[name] = 0.0
                continue
            if mistake == "itself":
                errors[name] = measure(analytic[name], analytic[name])
                continue
            target = params["W1" if mistake == "always_W1" and "W1" in params else name]
            numerical = numerical_gradient(lambda _: loss_and_grads(params)[0], target)
            errors[name] = measure(analytic[name], numerical) if numerical.shape == analytic[name].shape else 1.0
        return errors if mistake != "list" else list(errors.values())
    return gradient_check


def test_gradient_check_check_accepts_correct_checkers():
    accepts(checks.check_gradient_check, make_gradient_check())
    accepts(checks.check_gradient_check, make_gradient_check(numerical_gradient_nditer), seed=5, num_examples=2,
                                        input_dim=4, hidden_dim=3)
    # the norm-based error written out by hand is the same measure
    by_hand = make_gradient_check(measure=lambda a, b: np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b)))
    accepts(checks.check_gradient_check, by_hand, seed=2)


@pytest.mark.parametrize("mistake, numerical, match", [
    ("zeros", None, "the check must flag it"),
    ("itself", None, "compared with itself"),
    ("always_W1", None, "whose gradient is right"),
    ("list", None, "one error per parameter"),
    (None, "forward", "whose gradient is right"),                # one-sided differences: about 1e-6
    (None, "no_restore", "whose gradient is right"),
    (None, "copy", "whose gradient is right"),                   # perturbs a copy the loss never reads
    (None, "over_h", "whose gradient is right"),
    (None, "sign", "whose gradient is right"),
])
def test_gradient_check_check_rejects_wrong_checkers(mistake, numerical, match):
    numerical_gradient = make_numerical_gradient(numerical) if numerical else gradcheck.numerical_gradient
    rejects(checks.check_gradient_check, make_gradient_check(numerical_gradient, mistake=mistake), match=match)


# ============================================================ the lecture's code, fixed
def make_backprop(*bugs, extra=None):
    """The lecture's backprop, with the given bugs (1, 2, 3) left in; lecture shapes throughout."""
    def backprop(X, Y, W1, b1, W2, b2):
        num_examples = X.shape[0]
        Z = X.dot(W1) + b1
        H = sig(Z)
        Y_hat = H.dot(W2) + b2
        loss = np.sum(np.square(Y_hat - Y)) / num_examples
        d_Y = 2 * (Y_hat - Y) / num_examples
        d_H = d_Y.dot(W2.T)
        d_W2 = H.T.dot(d_Y)
        d_b2 = d_Y if 1 in bugs else d_Y.sum(axis=0, keepdims=True)
        d_Z = d_H * sig(H) * (1 - sig(H)) if extra == "sigmoid_twice" else d_H * H * (1 - H)
        d_X = d_Z.dot(W1.T)
        d_W1 = d_X.T.dot(d_Z) if 2 in bugs else X.T.dot(d_Z)
        d_b1 = d_Y if 3 in bugs else d_Z.sum(axis=0, keepdims=True)
        if extra == "no_keepdims":
            d_b1 = d_Z.sum(axis=0)
        return loss, d_W1, d_b1, d_W2, d_b2
    return backprop


def test_fixed_backprop_check_accepts_the_fix():
    accepts(checks.check_fixed_backprop, make_backprop())
    accepts(checks.check_fixed_backprop, make_backprop(), seed=9, num_examples=11, input_dim=5, hidden_dim=2)

    def float32_fix(X, Y, W1, b1, W2, b2):
        return make_backprop()(*(np.asarray(v, np.float32) for v in (X, Y, W1, b1, W2, b2)))

    accepts(checks.check_fixed_backprop, float32_fix)


@pytest.mark.parametrize("bugs", [(1,), (2,), (3,), (1, 2, 3), (2, 3), (1, 3)])
def test_fixed_backprop_check_names_each_remaining_bug(bugs):
    message = rejects(checks.check_fixed_backprop, make_backprop(*bugs), match=f"{len(bugs)} of the 4 gradients")
    for bug in (1, 2, 3):
        assert (f"bug {bug}" in message.lower()) == (bug in bugs), message


def test_fixed_backprop_check_other_mistakes():
    rejects(checks.check_fixed_backprop, make_backprop(extra="sigmoid_twice"), match="wrong point")
    rejects(checks.check_fixed_backprop, make_backprop(extra="no_keepdims"), match="keepdims")
    message = rejects(checks.check_fixed_backprop, make_backprop(2), match="gradient check failed for d_W1")
    assert "relative error" in message


# =========================================================================== initialisation
def init_glorot_uniform(input_dim, hidden_dim, output_dim=1, seed=0):
    p = init_two_layer_params(input_dim, hidden_dim, output_dim, "sigmoid", seed)
    return {"W1": p["W1"], "b1": p["b1"].reshape(1, -1), "W2": p["W2"], "b2": p["b2"].reshape(1, -1)}


def make_init(kind):
    def init_params(input_dim, hidden_dim, output_dim=1, seed=0):
        rng = np.random.default_rng(seed if kind != "unseeded" else None)
        fan = {"W1": (input_dim, hidden_dim), "W2": (hidden_dim, output_dim)}
        params = {}
        for name, (fan_in, fan_out) in fan.items():
            if kind == "rand":
                params[name] = rng.random((fan_in, fan_out))
            elif kind == "randn":
                params[name] = rng.standard_normal((fan_in, fan_out))
            elif kind == "he":
                params[name] = rng.normal(0, np.sqrt(2 / fan_in), (fan_in, fan_out))
            elif kind == "w2_without_fan_out" and name == "W2":     # the fan_out term forgotten in W2's limit
                params[name] = rng.normal(0, np.sqrt(2 / fan_in), (fan_in, fan_out))
            else:
                params[name] = rng.normal(0, np.sqrt(2 / (fan_in + fan_out)), (fan_in, fan_out))
        params["b1"] = np.zeros((1, hidden_dim)) if kind != "random_bias" else rng.random((1, hidden_dim))
        params["b2"] = np.zeros((1, output_dim))
        if kind == "vector_bias":
            params["b1"] = np.zeros(hidden_dim)
        return params
    return init_params


def test_init_check():
    accepts(checks.check_init_params, init_glorot_uniform)
    accepts(checks.check_init_params, make_init("glorot_normal"), seed=5)
    rejects(checks.check_init_params, make_init("rand"), match="np.random.rand")
    rejects(checks.check_init_params, make_init("randn"), match="standard normal")
    rejects(checks.check_init_params, make_init("he"), match="He initialisation")
    rejects(checks.check_init_params, make_init("random_bias"), match="b1 is not zero")
    rejects(checks.check_init_params, make_init("unseeded"), match="same seed")
    rejects(checks.check_init_params, make_init("vector_bias"), match="lecture's shapes")


def test_init_check_sees_the_output_fan_with_many_outputs():
    many = dict(seed=18, input_dim=60, hidden_dim=100, output_dim=200)
    accepts(checks.check_init_params, init_glorot_uniform, **many)
    rejects(checks.check_init_params, make_init("w2_without_fan_out"), **many, match="W2 has standard deviation")
    one_output = make_init("glorot_normal")
    rejects(checks.check_init_params, lambda d, h, c=1, seed=0: one_output(d, h, 1, seed), **many, match="W2")


# ================================================================================= training
def make_train(*, init=init_glorot_uniform, backprop=None, record="epoch", learning_rate_factor=1.0,
               shuffle="every epoch"):
    backprop = backprop or make_backprop()

    def train_two_layer(X, Y, hidden_dim, learning_rate, num_epochs, batch_size, seed):
        params = init(X.shape[1], hidden_dim, 1, seed)
        rng = np.random.default_rng(seed)
        history = []
        order = rng.permutation(len(X)) if shuffle == "once" else np.arange(len(X))
        for _ in range(num_epochs):
            if shuffle in ("every epoch", "skip last"):
                order = rng.permutation(len(X))
            elif shuffle == "half":                     # only the first half of the examples is shuffled
                order = np.concatenate([rng.permutation(len(X) // 2), np.arange(len(X) // 2, len(X))])
            stop = len(X) - len(X) % batch_size if shuffle == "skip last" else len(X)
            for start in range(0, stop, batch_size):
                rows = order[start:start + batch_size]
                loss, d_W1, d_b1, d_W2, d_b2 = backprop(X[rows], Y[rows], params["W1"], params["b1"],
                                                        params["W2"], params["b2"])
                for name, grad in (("W1", d_W1), ("b1", d_b1), ("W2", d_W2), ("b2", d_b2)):
                    params[name] = params[name] - learning_rate * learning_rate_factor * grad
                if record == "batch":
                    history.append(loss)
            if record == "epoch":
                history.append(backprop(X, Y, params["W1"], params["b1"], params["W2"], params["b2"])[0])
        return params, history
    return train_two_layer


@pytest.fixture(scope="module")
def gene_data():
    data = gene_expression(400, seed=0)
    return data.X, data.y[:, None]


def test_training_check_accepts_a_correct_loop(gene_data):
    accepts(checks.check_train_two_layer, make_train(), *gene_data)


def test_training_check_rejects_mistakes(gene_data):
    with np.errstate(all="ignore"):
        rejects(checks.check_train_two_layer, make_train(record="batch"), *gene_data, match="once per epoch")
        rejects(checks.check_train_two_layer, make_train(backprop=make_backprop(1, 2, 3)), *gene_data)
        rejects(checks.check_train_two_layer, make_train(learning_rate_factor=30.0), *gene_data, match="NaN")
        rejects(checks.check_train_two_layer, make_train(init=make_init("rand")), *gene_data,
                match="np.random.rand")
        rejects(checks.check_train_two_layer, make_train(learning_rate_factor=0.01), *gene_data,
                match="wrong values")
        # loops that reach a good loss all the same, and passed when only the end was judged
        rejects(checks.check_train_two_layer, make_train(shuffle="once"), *gene_data, match="same order")
        rejects(checks.check_train_two_layer, make_train(shuffle="none"), *gene_data, match="never shuffled")
        rejects(checks.check_train_two_layer, make_train(shuffle="skip last"), *gene_data, match="last, smaller")
        rejects(checks.check_train_two_layer, make_train(shuffle="half"), *gene_data, match="wrong values")


# ========================================================================== no shortcuts
def test_gradient_tape_earns_no_points():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    def two_layer_loss(X, y, params):
        variables = {k: tf.Variable(v) for k, v in params.items()}
        with tf.GradientTape() as tape:
            hidden = tf.math.sigmoid(tf.matmul(X, variables["W1"]) + variables["b1"])
            scores = tf.matmul(hidden, variables["W2"]) + variables["b2"]
            loss = tf.reduce_mean((scores - y) ** 2)
        grads = tape.gradient(loss, variables)
        return float(loss), {k: g.numpy() for k, g in grads.items()}

    message = rejects(checks.check_two_layer_loss, two_layer_loss, match="No points")
    assert "GradientTape" in message and "by hand" in message

    def helper_gradient(values):                          # hidden one call away, module looked up by name
        module = sys.modules["tensor" + "flow"]
        x = module.constant(values)
        with getattr(module, "Gradient" + "Tape")() as tape:
            tape.watch(x)
            y = module.math.sigmoid(x)
        return tape.gradient(y, x).numpy()

    def sigmoid_backward(dout, cache):
        return dout * helper_gradient(np.log(cache / (1 - cache)))

    rejects(checks.check_sigmoid, layers.sigmoid_forward, sigmoid_backward, match="No points")
    assert checks.find_autodiff_use(sigmoid_backward)        # found statically as well


@pytest.fixture
def fake_jax(monkeypatch):
    """A stand-in `jax` module whose grad differentiates numerically (jax is not installed)."""
    module = types.ModuleType("jax")
    exec("import numpy as np\n"
         "def grad(f):\n"
         "    def g(x):\n"
         "        x = np.array(x, dtype=float); out = np.zeros_like(x)\n"
         "        for i in np.ndindex(x.shape):\n"
         "            e = np.zeros_like(x); e[i] = 1e-6\n"
         "            out[i] = (f(x + e) - f(x - e)) / 2e-6\n"
         "        return out\n"
         "    return g\n", module.__dict__)
    monkeypatch.setitem(sys.modules, "jax", module)
    return module


def test_jax_grad_earns_no_points(fake_jax):
    def relu_backward(dout, cache):
        import jax
        return dout * jax.grad(lambda v: np.sum(np.maximum(v, 0)))(cache)

    message = rejects(checks.check_relu, layers.relu_forward, relu_backward, match="No points")
    assert "jax" in message

    jax_module = fake_jax

    def affine_backward(dout, cache):                   # the module reaches the function through a closure
        x, W, b = cache
        dW = jax_module.grad(lambda M: np.sum((x @ M) * dout))(W)
        return dout @ W.T, dW, dout.sum(0)

    rejects(checks.check_affine_backward, layers.affine_forward, affine_backward, match="No points")
    findings = checks.find_autodiff_use(affine_backward)
    assert any("jax" in finding for finding in findings)


def test_a_runtime_import_is_caught_dynamically(monkeypatch):
    module = types.ModuleType("autograd")
    exec("def elementwise(x):\n    return x\n", module.__dict__)
    monkeypatch.setitem(sys.modules, "autograd", module)
    name = "auto" + "grad_x"[:4]                     # "autograd", built at run time

    def sigmoid_backward(dout, cache):
        sys.modules[name[:8]].elementwise(cache)      # runs code of the autograd module
        return dout * cache * (1 - cache)

    assert checks.find_autodiff_use(sigmoid_backward) == []       # invisible statically...
    rejects(checks.check_sigmoid, layers.sigmoid_forward, sigmoid_backward, match="runs code from `autograd`")


def test_plain_numpy_helpers_are_not_flagged():
    import functools

    def local_gradient(out):
        return out * (1 - out)

    class Layer:
        def backward(self, dout, cache):
            return dout * local_gradient(cache)

    layer = Layer()
    tape = "not a framework"
    grad = functools.partial(np.multiply, 1.0)

    def sigmoid_backward(dout, cache):
        value = layer.backward(dout, cache)
        return grad(value) if tape else value

    assert checks.find_autodiff_use(sigmoid_backward) == []
    accepts(checks.check_sigmoid, layers.sigmoid_forward, sigmoid_backward)
    for student in (make_two_layer_loss(), make_backprop(), numerical_gradient_nditer):
        assert checks.find_autodiff_use(student) == []


# ========================================================================== reading question
def test_saturation_factor_check():
    s = 1 / (1 + np.exp(-6))
    accepts(checks.check_saturation_factor, 0.00247)            # three significant digits
    accepts(checks.check_saturation_factor, np.float32(0.002466))
    accepts(checks.check_saturation_factor, np.exp(-6) / (1 + np.exp(-6)) ** 2)   # the same derivative, other form
    for wrong in (0.0025, 1 * (1 - s), 0.0, -0.00247):     # two digits; sigmoid(6) taken as 1; nothing; sign
        message = rejects(checks.check_saturation_factor, wrong)
        assert "0.00247" not in message and "0.002466" not in message      # the answer is never shown
    assert "three significant digits" in rejects(checks.check_saturation_factor, 0.0025)
    rejects(checks.check_saturation_factor, s, match="output")
    rejects(checks.check_saturation_factor, 0.25, match="largest")
    rejects(checks.check_saturation_factor, [0.1, 0.2], match="single number")
