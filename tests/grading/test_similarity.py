"""``dlcourse similarity``: a generated class of unit 01 with honest answers and planted copies.

Ten honest students (``h01`` ... ``h10``) each wrote their own, genuinely different,
implementation of the three larger exercises (``mse_gradients``, ``train_gradient_descent``,
``train_sgd``); for the small exercises they share a few natural answers (``X @ w + b``).
Five planted students copied:

* ``p_rename``: ``h03``'s answers with every variable renamed and other comments;
* ``p_format``: ``h05``'s answers with other whitespace, parentheses, quotes and literal spelling;
* ``p_edit``: ``h07``'s answers with one statement added and two lines swapped;
* ``p_library``: the reference implementation's source from ``course_lib.linear`` (the trainers'
  ``return TrainingResult(...)`` turned into the tuple the exercise asks for);
* ``p_solution``: the instructor's solution cells, comments changed.

``blank`` hands in the untouched release. Nothing is executed: notebooks are written with nbformat.
"""

from __future__ import annotations

import inspect
import re
import time

import nbformat
import pytest

from tests.conftest import make_course, run_tool, submit, with_answer
from course_lib import linear
from course_lib.grading.similarity import (DEFAULT_THRESHOLD, REFERENCE_SOLUTION, normalise, render_html,
                                           similarity)

UNIT = "01_linear_regression"
NOTEBOOK = "linear_regression.ipynb"
LARGE = ["mse_gradients_answer", "train_gradient_descent_answer", "train_sgd_answer"]
SMALL = ["predict_answer", "squared_errors_answer", "mse_loss_answer", "gradient_descent_step_answer",
         "sample_minibatch_answer"]
HONEST = [f"h{i:02d}" for i in range(1, 11)]
COPIED = {"p_rename": "h03", "p_format": "h05", "p_edit": "h07"}
REFERENCE_COPIES = {"p_library": "course_lib.linear", "p_solution": REFERENCE_SOLUTION}

SMALL_ANSWERS = {
    "predict_answer": ["def predict(X, w, b):\n    return X @ w + b\n",
                       "def predict(X, w, b):\n    return np.dot(X, w) + b\n",
                       "def predict(X, w, b):\n    return X.dot(w) + b\n"],
    "squared_errors_answer": ["def squared_errors(y_pred, y):\n    return (y_pred - y) ** 2\n",
                              "def squared_errors(y_pred, y):\n    return np.square(y_pred - y)\n",
                              "def squared_errors(y_pred, y):\n    diff = y_pred - y\n    return diff * diff\n"],
    "mse_loss_answer": ["def mse_loss(y_pred, y):\n    return np.mean(squared_errors(y_pred, y))\n",
                        "def mse_loss(y_pred, y):\n    return np.mean((y_pred - y) ** 2)\n",
                        "def mse_loss(y_pred, y):\n    return float(np.sum((y_pred - y)**2) / len(y))\n"],
    "gradient_descent_step_answer": [
        "def gradient_descent_step(w, b, dw, db, learning_rate):\n"
        "    return w - learning_rate * dw, b - learning_rate * db\n",
        "def gradient_descent_step(w, b, dw, db, learning_rate):\n"
        "    new_w = w - learning_rate * dw\n    new_b = b - learning_rate * db\n    return new_w, new_b\n"],
    "sample_minibatch_answer": [
        "def sample_minibatch(X, y, batch_size, rng):\n"
        "    idx = rng.choice(X.shape[0], size=batch_size, replace=False)\n    return X[idx], y[idx]\n",
        "def sample_minibatch(X, y, batch_size, rng):\n"
        "    idx = rng.permutation(len(X))[:batch_size]\n    return X[idx], y[idx]\n"],
}

# ------------------------------------------------------------------ honest: ten ways each
MSE_GRADIENTS = [
    '''def mse_gradients(X, y, w, b):
    n = len(y)
    error = X @ w + b - y
    dw = (2 / n) * X.T.dot(error)
    db = (2 / n) * error.sum()
    return dw, db
''', '''def mse_gradients(X, y, w, b):
    N = X.shape[0]
    y_hat = predict(X, w, b)
    grad_w = 2 * np.dot(X.T, y_hat - y) / N
    grad_b = 2 * np.mean(y_hat - y)
    return grad_w, grad_b
''', '''def mse_gradients(X, y, w, b):
    # one example at a time, like the derivation
    N, D = X.shape
    dw = np.zeros(D)
    db = 0.0
    for i in range(N):
        r = X[i] @ w + b - y[i]
        dw += 2 * r * X[i]
        db += 2 * r
    return dw / N, db / N
''', '''def mse_gradients(X, y, w, b):
    diff = predict(X, w, b) - y
    dw = 2 * np.mean(diff[:, None] * X, axis=0)
    db = 2 * np.mean(diff)
    return dw, db
''', '''def mse_gradients(X, y, w, b):
    residuals = y - (X @ w + b)
    m = X.shape[0]
    return -2.0 / m * (X.T @ residuals), -2.0 / m * residuals.sum()
''', '''def mse_gradients(X, y, w, b):
    scale = 2.0 / X.shape[0]
    r = np.matmul(X, w) + b - y
    return scale * np.matmul(r, X), scale * float(np.sum(r))
''', '''def mse_gradients(X, y, w, b):
    preds = predict(X, w, b)
    grads = 2 * (preds - y)
    dw = np.einsum('n,nd->d', grads, X) / len(X)
    db = grads.mean()
    return dw, db
''', '''def mse_gradients(X, y, w, b):
    num = X.shape[0]
    r = X.dot(w) + b - y
    dw = np.zeros_like(w)
    for k in range(X.shape[1]):
        dw[k] = 2 * np.sum(r * X[:, k]) / num
    db = 2 * np.sum(r) / num
    return dw, db
''', '''def mse_gradients(X, y, w, b):
    Xb = np.hstack([X, np.ones((X.shape[0], 1))])
    theta = np.append(w, b)
    grad = 2 / X.shape[0] * Xb.T @ (Xb @ theta - y)
    return grad[:-1], grad[-1]
''', '''def mse_gradients(X, y, w, b):
    N = len(X)
    gradient_w = np.zeros(X.shape[1])
    gradient_b = 0
    predictions = X @ w + b
    for x_i, y_i, p_i in zip(X, y, predictions):
        gradient_w = gradient_w + 2 * (p_i - y_i) * x_i / N
        gradient_b = gradient_b + 2 * (p_i - y_i) / N
    return gradient_w, gradient_b
''']

TRAIN_GD = [
    '''def train_gradient_descent(X, y, learning_rate, max_steps, tolerance):
    w = np.zeros(X.shape[1])
    b = 0.0
    losses = [mse_loss(predict(X, w, b), y)]
    step = 0
    while step < max_steps:
        grad_w, grad_b = mse_gradients(X, y, w, b)
        w = w - learning_rate * grad_w
        b = b - learning_rate * grad_b
        losses.append(mse_loss(predict(X, w, b), y))
        step += 1
        if losses[-2] - losses[-1] < tolerance:
            break
    return w, b, losses
''', '''def train_gradient_descent(X, y, learning_rate, max_steps, tolerance):
    D = X.shape[1]
    w, b = np.zeros(D), 0.0
    history = []
    history.append(mse_loss(predict(X, w, b), y))
    for step in range(1, max_steps + 1):
        w, b = gradient_descent_step(w, b, *mse_gradients(X, y, w, b), learning_rate)
        loss = mse_loss(predict(X, w, b), y)
        improvement = history[-1] - loss
        history.append(loss)
        if improvement < tolerance:
            break
    return w, b, history
''', '''def train_gradient_descent(X, y, learning_rate, max_steps, tolerance):
    weights = np.zeros(X.shape[1])
    bias = 0.0
    previous = mse_loss(X @ weights + bias, y)
    history = [previous]
    for _ in range(max_steps):
        dw, db = mse_gradients(X, y, weights, bias)
        weights -= learning_rate * dw
        bias -= learning_rate * db
        current = mse_loss(X @ weights + bias, y)
        history.append(current)
        if previous - current < tolerance:   # converged
            break
        previous = current
    return weights, bias, history
''', '''def train_gradient_descent(X, y, learning_rate, max_steps, tolerance):
    def loss_of(w, b):
        return mse_loss(predict(X, w, b), y)

    w, b = np.zeros(X.shape[1]), 0.0
    history = [loss_of(w, b)]
    steps = 0
    converged = False
    while steps < max_steps and not converged:
        gradients = mse_gradients(X, y, w, b)
        w, b = gradient_descent_step(w, b, gradients[0], gradients[1], learning_rate)
        history.append(loss_of(w, b))
        converged = history[-2] - history[-1] < tolerance
        steps += 1
    return w, b, history
''', '''def train_gradient_descent(X, y, learning_rate, max_steps, tolerance):
    n_features = X.shape[1]
    w = np.zeros(n_features)
    b = 0.0
    history = [np.mean((X @ w + b - y) ** 2)]
    for i in range(max_steps):
        residual = X @ w + b - y
        w = w - learning_rate * 2 * X.T @ residual / len(y)
        b = b - learning_rate * 2 * residual.mean()
        history.append(np.mean((X @ w + b - y) ** 2))
        if history[i] - history[i + 1] < tolerance:
            break
    return w, b, history
''', '''def train_gradient_descent(X, y, learning_rate, max_steps, tolerance):
    params = [np.zeros(X.shape[1]), 0.0]
    history = [mse_loss(predict(X, *params), y)]
    for _ in range(max_steps):
        grads = mse_gradients(X, y, *params)
        params = list(gradient_descent_step(*params, *grads, learning_rate))
        history.append(mse_loss(predict(X, *params), y))
        if not history[-2] - history[-1] >= tolerance:
            break
    w, b = params
    return w, b, history
''', '''def train_gradient_descent(X, y, learning_rate, max_steps, tolerance):
    w = np.zeros(X.shape[1])
    b = 0.0
    history = [mse_loss(predict(X, w, b), y)]
    count = 0
    while True:
        if count == max_steps:
            break
        dw, db = mse_gradients(X, y, w, b)
        w, b = w - learning_rate * dw, b - learning_rate * db
        count = count + 1
        history.append(mse_loss(predict(X, w, b), y))
        if history[-2] - history[-1] < tolerance:
            break
    return w, b, history
''', '''def train_gradient_descent(X, y, learning_rate, max_steps, tolerance):
    w, b = np.zeros(X.shape[1]), 0.0
    y_pred = predict(X, w, b)
    history = [mse_loss(y_pred, y)]
    for step in range(max_steps):
        dw, db = mse_gradients(X, y, w, b)
        new_w, new_b = gradient_descent_step(w, b, dw, db, learning_rate)
        new_loss = mse_loss(predict(X, new_w, new_b), y)
        gain = history[-1] - new_loss
        w, b = new_w, new_b
        history.append(new_loss)
        if gain < tolerance:
            print(f"converged after {step + 1} steps")
            break
    return w, b, history
''', '''def train_gradient_descent(X, y, learning_rate, max_steps, tolerance):
    N, D = X.shape
    w = np.zeros(D)
    b = 0.0
    loss = lambda: float(np.sum((X @ w + b - y) ** 2) / N)
    history = [loss()]
    for _ in range(max_steps):
        error = X @ w + b - y
        w = w - learning_rate * (2 / N) * (X.T @ error)
        b = b - learning_rate * (2 / N) * np.sum(error)
        history.append(loss())
        if history[-2] - history[-1] < tolerance:
            return w, b, history
    return w, b, history
''', '''def train_gradient_descent(X, y, learning_rate, max_steps, tolerance):
    state = {"w": np.zeros(X.shape[1]), "b": 0.0}
    history = [mse_loss(predict(X, state["w"], state["b"]), y)]
    for _ in range(max_steps):
        dw, db = mse_gradients(X, y, state["w"], state["b"])
        state["w"], state["b"] = gradient_descent_step(state["w"], state["b"], dw, db, learning_rate)
        history.append(mse_loss(predict(X, state["w"], state["b"]), y))
        if history[-2] - history[-1] < tolerance:
            break
    return state["w"], state["b"], history
''']

TRAIN_SGD = [
    '''def train_sgd(X, y, learning_rate, batch_size, num_epochs, seed):
    rng = np.random.default_rng(seed)
    N = len(X)
    w = np.zeros(X.shape[1])
    b = 0.0
    history = [mse_loss(predict(X, w, b), y)]
    for epoch in range(num_epochs):
        order = rng.permutation(N)
        start = 0
        while start < N:
            batch = order[start:start + batch_size]
            grad_w, grad_b = mse_gradients(X[batch], y[batch], w, b)
            w = w - learning_rate * grad_w
            b = b - learning_rate * grad_b
            start += batch_size
        history.append(mse_loss(predict(X, w, b), y))
    return w, b, history
''', '''def train_sgd(X, y, learning_rate, batch_size, num_epochs, seed):
    generator = np.random.default_rng(seed)
    n_samples, n_features = X.shape
    weights, bias = np.zeros(n_features), 0.0
    losses = [mse_loss(X @ weights + bias, y)]
    n_batches = int(np.ceil(n_samples / batch_size))
    for _ in range(num_epochs):
        shuffled = generator.permutation(n_samples)
        X_shuffled, y_shuffled = X[shuffled], y[shuffled]
        for k in range(n_batches):
            X_batch = X_shuffled[k * batch_size:(k + 1) * batch_size]
            y_batch = y_shuffled[k * batch_size:(k + 1) * batch_size]
            dw, db = mse_gradients(X_batch, y_batch, weights, bias)
            weights, bias = gradient_descent_step(weights, bias, dw, db, learning_rate)
        losses.append(mse_loss(X @ weights + bias, y))
    return weights, bias, losses
''', '''def train_sgd(X, y, learning_rate, batch_size, num_epochs, seed):
    rng = np.random.default_rng(seed)
    w, b = np.zeros(X.shape[1]), 0.0
    history = [mse_loss(predict(X, w, b), y)]
    N = X.shape[0]
    for _ in range(num_epochs):
        order = rng.permutation(N)
        batches = [order[i:i + batch_size] for i in range(0, N, batch_size)]
        for idx in batches:
            w, b = gradient_descent_step(w, b, *mse_gradients(X[idx], y[idx], w, b), learning_rate)
        history.append(mse_loss(predict(X, w, b), y))
    return w, b, history
''', '''def train_sgd(X, y, learning_rate, batch_size, num_epochs, seed):
    rng = np.random.default_rng(seed)

    def full_loss(w, b):
        return mse_loss(predict(X, w, b), y)

    w = np.zeros(X.shape[1])
    b = 0.0
    history = [full_loss(w, b)]
    epoch = 0
    while epoch < num_epochs:
        perm = rng.permutation(X.shape[0])
        for first in range(0, len(perm), batch_size):
            chosen = perm[first:first + batch_size]
            gradients = mse_gradients(X[chosen], y[chosen], w, b)
            w, b = gradient_descent_step(w, b, gradients[0], gradients[1], learning_rate)
        history.append(full_loss(w, b))
        epoch += 1
    return w, b, history
''', '''def train_sgd(X, y, learning_rate, batch_size, num_epochs, seed):
    rng = np.random.default_rng(seed)
    N, D = X.shape
    w, b = np.zeros(D), 0.0
    history = [np.mean((X @ w + b - y) ** 2)]
    for _ in range(num_epochs):
        order = rng.permutation(N)
        for s in range(0, N, batch_size):
            Xb, yb = X[order[s:s + batch_size]], y[order[s:s + batch_size]]
            r = Xb @ w + b - yb
            w = w - learning_rate * 2 * Xb.T @ r / len(yb)
            b = b - learning_rate * 2 * r.mean()
        history.append(np.mean((X @ w + b - y) ** 2))
    return w, b, history
''', '''def train_sgd(X, y, learning_rate, batch_size, num_epochs, seed):
    rng = np.random.default_rng(seed)
    params = (np.zeros(X.shape[1]), 0.0)
    history = [mse_loss(predict(X, *params), y)]
    for epoch in range(num_epochs):
        permutation = rng.permutation(X.shape[0])
        for batch_rows in np.array_split(permutation, range(batch_size, len(permutation), batch_size)):
            grads = mse_gradients(X[batch_rows], y[batch_rows], *params)
            params = gradient_descent_step(*params, *grads, learning_rate)
        history.append(mse_loss(predict(X, *params), y))
    return params[0], params[1], history
''', '''def train_sgd(X, y, learning_rate, batch_size, num_epochs, seed):
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    w = np.zeros(X.shape[1])
    b = 0.0
    history = [mse_loss(predict(X, w, b), y)]
    for _ in range(num_epochs):
        idx = rng.permutation(n)
        Xs = X[idx]
        ys = y[idx]
        i = 0
        while i < n:
            j = min(i + batch_size, n)
            dw, db = mse_gradients(Xs[i:j], ys[i:j], w, b)
            w -= learning_rate * dw
            b -= learning_rate * db
            i = j
        history.append(mse_loss(predict(X, w, b), y))
    return w, b, history
''', '''def train_sgd(X, y, learning_rate, batch_size, num_epochs, seed):
    rng = np.random.default_rng(seed)
    num_rows = X.shape[0]
    w, b = np.zeros(X.shape[1]), 0.0
    history = [mse_loss(predict(X, w, b), y)]
    steps_per_epoch = (num_rows + batch_size - 1) // batch_size
    for epoch in range(num_epochs):
        shuffled_rows = rng.permutation(num_rows)
        for step in range(steps_per_epoch):
            rows = shuffled_rows[step * batch_size:min((step + 1) * batch_size, num_rows)]
            dw, db = mse_gradients(X[rows], y[rows], w, b)
            w, b = gradient_descent_step(w, b, dw, db, learning_rate)
        loss = mse_loss(predict(X, w, b), y)
        history.append(loss)
        print("epoch", epoch, "loss", loss)
    return w, b, history
''', '''def train_sgd(X, y, learning_rate, batch_size, num_epochs, seed):
    rng = np.random.default_rng(seed)
    w = np.zeros(X.shape[1])
    b = 0.0

    def evaluate():
        return mse_loss(predict(X, w, b), y)

    history = [evaluate()]
    for _ in range(num_epochs):
        order = list(rng.permutation(len(y)))
        while order:
            batch, order = order[:batch_size], order[batch_size:]
            dw, db = mse_gradients(X[batch], y[batch], w, b)
            w, b = gradient_descent_step(w, b, dw, db, learning_rate)
        history.append(evaluate())
    return w, b, history
''', '''def train_sgd(X, y, learning_rate, batch_size, num_epochs, seed):
    rng = np.random.default_rng(seed)
    model = {"w": np.zeros(X.shape[1]), "b": 0.0}
    history = [mse_loss(predict(X, model["w"], model["b"]), y)]
    for _ in range(num_epochs):
        order = rng.permutation(X.shape[0])
        for start in range(0, X.shape[0], batch_size):
            rows = order[start:start + batch_size]
            dw, db = mse_gradients(X[rows], y[rows], model["w"], model["b"])
            model["w"] = model["w"] - learning_rate * dw
            model["b"] = model["b"] - learning_rate * db
        history.append(mse_loss(predict(X, model["w"], model["b"]), y))
    return model["w"], model["b"], history
''']

HONEST_LARGE = dict(zip(LARGE, (MSE_GRADIENTS, TRAIN_GD, TRAIN_SGD)))

# ------------------------------------------------------------------ planted copies, by hand
RENAMED = {  # h03's answers: every variable renamed, other comments
    "mse_gradients_answer": '''def mse_gradients(X, y, w, b):
    # loop over the patients
    n_rows, n_cols = X.shape
    grad_weights = np.zeros(n_cols)
    grad_bias = 0.0
    for row in range(n_rows):
        res = X[row] @ w + b - y[row]   # residual of this patient
        grad_weights += 2 * res * X[row]
        grad_bias += 2 * res
    return grad_weights / n_rows, grad_bias / n_rows
''',
    "train_gradient_descent_answer": '''def train_gradient_descent(X, y, learning_rate, max_steps, tolerance):
    """Gradient descent (my version)."""
    coef = np.zeros(X.shape[1])
    intercept = 0.0
    last_loss = mse_loss(X @ coef + intercept, y)
    losses = [last_loss]
    for it in range(max_steps):
        g_coef, g_intercept = mse_gradients(X, y, coef, intercept)
        coef -= learning_rate * g_coef
        intercept -= learning_rate * g_intercept
        new_loss = mse_loss(X @ coef + intercept, y)
        losses.append(new_loss)
        if last_loss - new_loss < tolerance:  # stop: no more progress
            break
        last_loss = new_loss
    return coef, intercept, losses
''',
    "train_sgd_answer": '''def train_sgd(X, y, learning_rate, batch_size, num_epochs, seed):
    gen = np.random.default_rng(seed)
    weights, bias = np.zeros(X.shape[1]), 0.0
    losses = [mse_loss(predict(X, weights, bias), y)]
    n_patients = X.shape[0]
    for ep in range(num_epochs):
        # shuffle, then cut into batches
        shuffled = gen.permutation(n_patients)
        chunks = [shuffled[k:k + batch_size] for k in range(0, n_patients, batch_size)]
        for chunk in chunks:
            weights, bias = gradient_descent_step(weights, bias, *mse_gradients(X[chunk], y[chunk], weights, bias), learning_rate)
        losses.append(mse_loss(predict(X, weights, bias), y))
    return weights, bias, losses
''',
}

REFORMATTED = {  # h05's answers: other whitespace, parentheses, quotes and literal spelling
    "mse_gradients_answer": '''def mse_gradients( X, y, w, b ):
    residuals = y-(X@w+b)
    m = X.shape[ 0 ]
    return (-2. / m * (X.T @ residuals),
            (-2. / m) * residuals.sum())
''',
    "train_gradient_descent_answer": '''def train_gradient_descent(X,y,learning_rate,max_steps,tolerance):
    n_features=X.shape[1]
    w=np.zeros(n_features); b=0.
    history=[np.mean((X@w+b-y)**2)]
    for i in range(max_steps):
        residual = (X @ w) + b - y
        w = w - ((learning_rate * 2) * X.T @ residual) / len(y)
        b = b - (learning_rate*2) * residual.mean()
        history.append(np.mean(
            (X @ w + b - y)**2
        ))
        if (history[i] - history[i+1]) < tolerance: break
    return (w, b, history)
''',
    "train_sgd_answer": '''def train_sgd(X, y, learning_rate, batch_size, num_epochs, seed):
    rng = np.random.default_rng(seed)
    N,D = X.shape
    w,b = np.zeros(D),0.
    history = [ np.mean( (X@w + b - y)**2 ) ]
    for _ in range(num_epochs) :
        order = rng.permutation(N)
        for s in range(0,N,batch_size) :
            Xb,yb = X[order[s:s+batch_size]],y[order[s:s+batch_size]]
            r = ((Xb @ w) + b) - yb
            w = w - learning_rate*2*Xb.T@r/len(yb)
            b = b - learning_rate*2*r.mean()
        history.append( np.mean( (X@w+b-y)**2 ) )
    return w,b,history
''',
}

EDITED = {  # h07's answers: one statement added, two independent lines swapped
    "mse_gradients_answer": '''def mse_gradients(X, y, w, b):
    grads = 2 * (predict(X, w, b) - y)
    dw = np.einsum('n,nd->d', grads, X) / len(X)
    db = grads.mean()
    return dw, db
''',
    "train_gradient_descent_answer": '''def train_gradient_descent(X, y, learning_rate, max_steps, tolerance):
    b = 0.0
    w = np.zeros(X.shape[1])
    history = [mse_loss(predict(X, w, b), y)]
    count = 0
    while True:
        if count == max_steps:
            break
        dw, db = mse_gradients(X, y, w, b)
        w, b = w - learning_rate * dw, b - learning_rate * db
        count = count + 1
        history.append(mse_loss(predict(X, w, b), y))
        print(count, history[-1])
        if history[-2] - history[-1] < tolerance:
            break
    return w, b, history
''',
    "train_sgd_answer": '''def train_sgd(X, y, learning_rate, batch_size, num_epochs, seed):
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    b = 0.0
    w = np.zeros(X.shape[1])
    history = [mse_loss(predict(X, w, b), y)]
    for _ in range(num_epochs):
        idx = rng.permutation(n)
        Xs = X[idx]
        ys = y[idx]
        i = 0
        while i < n:
            j = min(i + batch_size, n)
            dw, db = mse_gradients(Xs[i:j], ys[i:j], w, b)
            w -= learning_rate * dw
            b -= learning_rate * db
            i = j
        history.append(mse_loss(predict(X, w, b), y))
        assert len(history) > 1
    return w, b, history
''',
}


def library_copy(name: str) -> str:
    """The source of ``course_lib.linear.<name>``, made to return the tuple the exercise asks for."""
    source = inspect.getsource(getattr(linear, name))
    return re.sub(r"return TrainingResult\(w, b, history, converged=\w+\)", "return w, b, history", source)


def solution_copy(source: str) -> str:
    """An instructor's solution cell without its markers, with a comment of the student's own."""
    kept = [line for line in source.splitlines() if "### " not in line]
    return "\n".join(kept).replace('"""', '"""My answer. ', 1) + "\n# done\n"


def answers_of(student: str, solution: dict[str, str]) -> dict[str, str]:
    """``{grade_id: code}`` that ``student`` hands in."""
    if student in HONEST:
        index = HONEST.index(student)
        answers = {gid: options[index % len(options)] for gid, options in SMALL_ANSWERS.items()}
        return answers | {gid: HONEST_LARGE[gid][index] for gid in LARGE}
    if student in COPIED:
        copies = {"p_rename": RENAMED, "p_format": REFORMATTED, "p_edit": EDITED}[student]
        return answers_of(COPIED[student], solution) | copies
    if student == "p_library":
        return {f"{name}_answer": library_copy(name) for name in
                ("predict", "squared_errors", "mse_loss", "mse_gradients", "gradient_descent_step",
                 "train_gradient_descent", "sample_minibatch", "train_sgd")}
    if student == "p_solution":
        return {gid: solution_copy(code) for gid, code in solution.items()}
    return {}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course with unit 01 built, and the generated class submitted."""
    from course_lib.grading.similarity import answer_cells

    course = make_course(tmp_path_factory.mktemp("similarity") / "course", [UNIT])
    source = course / "build" / "source" / UNIT / NOTEBOOK
    release = course / "notebooks" / UNIT / NOTEBOOK
    solution = answer_cells(nbformat.read(source, as_version=4))
    scratch = tmp_path_factory.mktemp("answers")
    for student in [*HONEST, *COPIED, *REFERENCE_COPIES]:
        notebook = scratch / f"{student}.ipynb"
        nbformat.write(nbformat.read(release, as_version=4), notebook)
        for grade_id, code in answers_of(student, solution).items():
            with_answer(notebook, grade_id, code, notebook)
        submit(course, student, UNIT, notebook, name=NOTEBOOK)
    submit(course, "blank", UNIT, release)
    return course


@pytest.fixture(scope="module")
def report(course):
    started = time.perf_counter()
    result = similarity(course, "01")
    result.wall_seconds = time.perf_counter() - started
    return result


def planted_pairs() -> set[tuple[str, str, str]]:
    """``(exercise, original, copy)`` for every planted copy of a larger exercise."""
    originals = COPIED | REFERENCE_COPIES
    return {(exercise, original, copy) for exercise in LARGE for copy, original in originals.items()}


def side(name: str) -> str:
    return "course_lib.linear" if name.startswith("course_lib.linear.") else name


def test_every_planted_copy_is_found(report):
    found = {(p.exercise, side(p.left.student), side(p.right.student)) for p in report.flagged}
    found |= {(e, b, a) for e, a, b in found}
    missing = planted_pairs() - found
    scores = {(p.exercise, side(p.left.student), side(p.right.student)): round(p.score, 3) for p in report.flagged}
    assert not missing, f"planted copies not flagged: {sorted(missing)}; flagged: {scores}"


def test_no_honest_pair_is_flagged(report):
    """A flagged pair must involve a planted copy; two copies of the references may be flagged together."""
    planted = set(COPIED) | set(REFERENCE_COPIES)
    false_flags = [(p.exercise, p.left.student, p.right.student, round(p.score, 3)) for p in report.flagged
                   if not ({p.left.student, p.right.student} & planted)]
    assert not false_flags, f"honest pairs flagged: {false_flags}"
    for pair in report.flagged:
        names = {pair.left.student, pair.right.student}
        originals = {side(n) for n in names if n not in planted}
        copies = names & planted
        expected = {({**COPIED, **REFERENCE_COPIES})[c] for c in copies}
        if copies <= set(REFERENCE_COPIES):
            continue   # a copy of the library and a copy of the solution are both copies of a reference
        assert originals <= expected, f"{pair.exercise}: {names} flagged at {pair.score:.3f}"


def test_small_exercises_are_listed_apart_and_never_flagged(report):
    results = {r.exercise: r for r in report.exercises}
    assert [e for e in results if results[e].small] == [e for e in results if e in SMALL]
    for exercise in SMALL:
        assert results[exercise].flagged == []
        assert results[exercise].largest_group >= 3   # identical honest answers, expected there
    for exercise in LARGE:
        assert not results[exercise].small
        assert results[exercise].answered == len(HONEST) + len(COPIED) + len(REFERENCE_COPIES)


def test_blank_release_is_ignored(report):
    assert "blank" in report.students
    assert all(a.student != "blank" for r in report.flagged for a in (r.left, r.right))


def test_prefilter_misses_no_pair(course, report):
    """The upper bounds that skip pairs are exact: brute force over all students finds the same pairs."""
    import difflib
    import itertools

    from course_lib.grading.similarity import read_answers

    flagged = {(p.exercise, *sorted((p.left.student, p.right.student))) for p in report.flagged
               if not p.left.is_reference}
    brute = set()
    for exercise, answers in read_answers(course, "01")[1].items():
        if exercise in SMALL:
            continue
        for one, other in itertools.combinations(sorted(answers, key=lambda a: a.student), 2):
            if difflib.SequenceMatcher(None, one.form.tokens, other.form.tokens,
                                       autojunk=False).ratio() >= report.threshold:
                brute.add((exercise, one.student, other.student))
    assert brute == flagged and len(brute) >= len(LARGE) * len(COPIED)


def test_reference_comes_from_solutions_when_the_course_is_not_built(course, report, tmp_path):
    import shutil

    copy = tmp_path / "course"
    shutil.copytree(course / "submitted", copy / "submitted")
    unbuilt = similarity(copy, "01")
    assert sorted((p.exercise, p.left.student, p.right.student, round(p.score, 6)) for p in unbuilt.flagged) == \
        sorted((p.exercise, p.left.student, p.right.student, round(p.score, 6)) for p in report.flagged)


def test_normalisation_ignores_names_comments_and_formatting():
    one = "def f(x, y):\n    # sum\n    total = x ** 2 + 1.0  # squared\n    return total, 'a'\n"
    two = 'def g(a,b):\n    """Doc."""\n    s=(a**2)+1.\n    return (s, "a")\n'
    assert normalise(one).tokens == normalise(two).tokens
    assert normalise(one).tokens != normalise(one.replace("x ** 2", "y ** 2")).tokens
    stub = 'def f(x):\n    """Doc."""\n    # YOUR CODE HERE\n    raise NotImplementedError()\n'
    assert normalise(stub).untouched and not normalise(one).untouched


def test_page_is_offline_escaped_and_says_nothing_is_penalised(report, course):
    page = render_html(report)
    assert "Nothing here is penalised" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "np.einsum(&#x27;n,nd-&gt;d&#x27;" in page    # a cell's source, escaped
    for exercise in LARGE:
        assert f'id="{exercise}"' in page
    assert "Too small to judge" in page


def test_command_writes_the_page_and_prints_a_summary(course, report):
    output = course / "out" / "report.html"
    result = run_tool("dlcourse", "similarity", "01", "--threshold", str(DEFAULT_THRESHOLD),
                      "--output", str(output), cwd=course, timeout=120)
    assert output.is_file()
    assert f"{len(report.flagged)} pair(s) flagged among {len(report.students)} student(s)" in result.stdout
    assert "too small to judge" in result.stdout
    found = {(p.exercise, side(one.student), side(other.student)) for p in report.flagged
             for one, other in ((p.left, p.right), (p.right, p.left))}
    planted = set(COPIED) | set(REFERENCE_COPIES)
    false_flags = [p for p in report.flagged if not {p.left.student, p.right.student} & planted]
    print(f"similarity on {len(report.students)} students: {len(planted_pairs() & found)} of "
          f"{len(planted_pairs())} planted pairs found, {len(false_flags)} false flags, "
          f"{len(report.flagged)} flagged in all, {report.wall_seconds:.2f} s")
