"""The grader's re-check of units 02, 03 and 04 outside the kernel.

Each unit's solution runs in this process the way a kernel runs it (the setup, answer and
grade cells of ``build/source``, and the plain cells they need), with recording on, as
``DLCOURSE_EVIDENCE_FILE`` turns it on in a graded kernel. Then
:func:`course_lib.grading.recheck.verdicts` re-runs the grade cells from that record alone.
Honest work must pass the re-check; wrong answers must fail it with the message the
student saw; and wrong answers that pass inside the "kernel" because the notebook patched
NumPy or the checks must fail it. One test repeats the honest and the patched-NumPy case
in a real kernel, and one shows that the re-check never loads TensorFlow.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from tests.conftest import ROOT
from course_lib.checks import backprop, convolution, evidence, frameworks
from course_lib.checks.backprop import network as backprop_network
from course_lib.checks.convolution import pooling as convolution_pooling
from course_lib.checks.frameworks import training as frameworks_training
from course_lib.grading import recheck as trusted
from course_lib.grading.build import write_sources
from course_lib.grading.config import units
from course_lib.grading.check import execute, score_cells

UNITS = ("02_backpropagation", "03_frameworks", "04_convolution", "05_optimisers", "06_generalisation", "07_tuning")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


# ------------------------------------------------------------------ the unit's cells, run here
from course_lib.grading.exercise_cells import cell_names as _names  # noqa: E402  (names a cell defines or reads)


def needed_cells(notebook) -> list:
    """The nbgrader cells and, walking back, every plain cell that defines a name they (or it) read."""
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    wanted: set[str] = set()
    keep = []
    for cell in reversed(cells):
        tree = ast.parse(cell.source)
        if "nbgrader" in cell.metadata or _names(tree, stored=True) & wanted:
            keep.append(cell)
            wanted |= _names(tree, stored=False)
    return keep[::-1]


def grade_cells(notebook) -> list[tuple[str, str]]:
    return [(cell.metadata.nbgrader.grade_id, cell.source) for cell in notebook.cells
            if cell.metadata.get("nbgrader", {}).get("grade")]


@contextlib.contextmanager
def recording(path: Path):
    """Record student calls to ``path``, as a graded kernel started with DLCOURSE_EVIDENCE_FILE does."""
    previous = evidence._recorder
    evidence._recorder = evidence.Recorder(str(path))
    try:
        yield
    finally:
        evidence._recorder = previous


def run_cell(source: str, namespace: dict, label: str) -> str | None:
    """Execute one cell in ``namespace``; the error message if it raised (None when it passed)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(source, f"<{label}>", "exec"), namespace)
    except Exception as error:       # a failed check, or a crash: the cell's verdict, as in a kernel
        return str(error) or type(error).__name__
    return None


def check_here_and_replay(grade_source: str, namespace: dict, record: Path, grade_id: str = "cell"):
    """Run one grade cell here with recording on, then re-check it: (message here, trusted verdict)."""
    record.unlink(missing_ok=True)
    with recording(record):
        here = run_cell(grade_source, namespace, grade_id)
    return here, trusted.verdicts([(grade_id, grade_source)], record)[grade_id]


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, nbformat.NotebookNode]:
    """``build/source`` of the three units, written as ``dlcourse build`` writes it."""
    folder = tmp_path_factory.mktemp("course")
    found = {}
    for unit in units(ROOT):
        if unit.name in UNITS:
            target = write_sources(ROOT, unit, folder)
            found[unit.name] = nbformat.read(next(target.glob("*.ipynb")), 4)
    return found


@pytest.fixture(scope="module")
def solved(sources, tmp_path_factory) -> dict[str, dict]:
    """Each unit's solution run here with recording on, and the re-check of its grade cells."""
    import matplotlib

    matplotlib.use("Agg")      # in this process only: an MPLBACKEND variable would reach later tests' servers
    runs = {}
    for name in UNITS:
        notebook = sources[name]
        record = tmp_path_factory.mktemp(name) / "evidence.jsonl"
        namespace: dict = {"__name__": "__main__"}
        here = {}
        with recording(record):
            for cell in needed_cells(notebook):
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "plain cell")
                message = run_cell(cell.source, namespace, grade_id)
                if cell.metadata.get("nbgrader", {}).get("grade"):
                    here[grade_id] = message
                else:
                    assert message is None, f"{name}: {grade_id} failed: {message}"
        runs[name] = {"namespace": namespace, "here": here, "record": record,
                      "verdicts": trusted.verdicts(grade_cells(notebook), record)}
    return runs


def grade_source(sources, unit: str, grade_id: str) -> str:
    return dict(grade_cells(sources[unit]))[grade_id]


# ---------------------------------------------------------------------------- replayable
def test_every_grade_cell_of_units_02_to_04_is_replayable(sources):
    assert backprop.TRUSTED_REPLAY and frameworks.TRUSTED_REPLAY and convolution.TRUSTED_REPLAY
    for name in UNITS:
        cells = grade_cells(sources[name])
        assert len(cells) >= 10
        assert [grade_id for grade_id, source in cells if not trusted.is_replayable(source)] == [], name


def test_replayable_cells_take_names_and_literals_only():
    header = "from course_lib.checks.frameworks import check_steps_per_epoch\n"
    assert trusted.is_replayable(header + "check_steps_per_epoch(f, cases=((1000, 64), (7, 7)), n=-1)")
    assert not trusted.is_replayable(header + "check_steps_per_epoch(f, data.X)")            # notebook data
    assert not trusted.is_replayable(header + "check_steps_per_epoch(f, **options)")
    assert not trusted.is_replayable(header + "check_steps_per_epoch(f, cases=make_cases())")


# ------------------------------------------------------------------------------ honest work
@pytest.mark.parametrize("unit", UNITS)
def test_honest_solution_passes_the_recheck(solved, unit):
    run = solved[unit]
    assert all(message is None for message in run["here"].values()), run["here"]
    assert set(run["verdicts"]) == set(run["here"])
    failed = {grade_id: verdict.message for grade_id, verdict in run["verdicts"].items()
              if not (verdict.replayed and verdict.passed)}
    assert failed == {}
    lines = run["record"].read_text().splitlines()
    assert lines and all(isinstance(json.loads(line)["key"], str) for line in lines)
    assert run["record"].stat().st_size < 4_000_000          # data, not pickles, and not too much of it


def test_the_recheck_never_loads_tensorflow(solved, sources, tmp_path):
    """The grader re-checks units 03 and 04 (Keras models, tf.data, tapes) without importing TensorFlow."""
    cells = {unit: grade_cells(sources[unit]) for unit in ("03_frameworks", "04_convolution")}
    (tmp_path / "cells.json").write_text(json.dumps(cells))
    script = (
        "import json, sys\n"
        "from course_lib.grading import recheck as trusted\n"
        "cells = json.load(open(sys.argv[1]))\n"
        "found = {unit: trusted.verdicts([tuple(c) for c in cells[unit]], record)\n"
        "         for unit, record in zip(cells, sys.argv[2:])}\n"
        "print(json.dumps({'passed': all(v.replayed and v.passed for f in found.values() for v in f.values()),\n"
        "                  'loaded': sorted({'tensorflow', 'keras'} & set(sys.modules))}))\n")
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "cells.json"),
                             str(solved["03_frameworks"]["record"]), str(solved["04_convolution"]["record"])],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {"passed": True, "loaded": []}


def test_missing_evidence_earns_nothing(sources, tmp_path):
    for unit in UNITS:
        found = trusted.verdicts(grade_cells(sources[unit]), tmp_path / "absent.jsonl")
        assert all(verdict.replayed and not verdict.passed for verdict in found.values()), unit
        assert all(verdict.message.startswith(trusted.MISS_MESSAGE) for verdict in found.values()), unit


def test_keras_summaries_say_what_the_live_comparator_says():
    """Unit 03 judges Keras models as data: the same verdicts and words as keras_summary.compare_models."""
    import keras
    from course_lib import models
    from course_lib.checks import keras_summary

    def nameless(summary):
        return {**summary, "layers": [{**layer, "name": None} for layer in summary["layers"]]}

    for input_dim, hidden_dim in ((8, 16), (3, 1)):
        live = keras_summary.summarize(models.two_layer_model(input_dim, hidden_dim), (None, input_dim))
        assert nameless(live) == nameless(keras_summary.two_layer_summary(input_dim, hidden_dim))
    dense, layers = keras.layers.Dense, keras.layers
    students = {
        "right": lambda: keras.Sequential([keras.Input((4,)), dense(5, activation="sigmoid"), dense(1)]),
        "unbuilt": lambda: keras.Sequential([dense(5, activation="sigmoid"), dense(1)]),
        "activation layer": lambda: keras.Sequential([keras.Input((4,)), dense(5), layers.Activation("sigmoid"),
                                                      dense(1)]),
        "relu": lambda: keras.Sequential([keras.Input((4,)), dense(5, activation="relu"), dense(1)]),
        "no bias": lambda: keras.Sequential([keras.Input((4,)), dense(5, activation="sigmoid", use_bias=False),
                                             dense(1)]),
        "extra layer": lambda: keras.Sequential([keras.Input((4,)), dense(5, activation="sigmoid"),
                                                 dense(5, activation="sigmoid"), dense(1)]),
        "sigmoid output": lambda: keras.Sequential([keras.Input((4,)), dense(5, activation="sigmoid"),
                                                    dense(1, activation="sigmoid")]),
        "other inputs": lambda: keras.Sequential([keras.Input((6,)), dense(3, activation="sigmoid"), dense(2)]),
        "none": lambda: None,
    }
    expected = models.two_layer_model(4, 5)
    for label, build in students.items():
        student = build()
        from_data = keras_summary.differences(keras_summary.summarize(student, (None, 4)),
                                              keras_summary.two_layer_summary(4, 5))
        assert from_data == keras_summary.compare_models(student, expected), label
        assert (from_data == []) == (label in ("right", "unbuilt", "activation layer")), label
    for sizes in ([8, 3, 3, 1], [784, 128, 10]):
        assert frameworks._dense_counts(sizes) == models.dense_parameter_counts(sizes)


# ------------------------------------------------------------------------------- wrong work
def _tape_two_layer_loss():
    import tensorflow as tf

    def two_layer_loss(X, y, params):                  # right numbers, by automatic differentiation
        variables = {key: tf.Variable(value) for key, value in params.items()}
        with tf.GradientTape() as tape:
            hidden = tf.math.sigmoid(tf.matmul(X, variables["W1"]) + variables["b1"])
            loss = tf.reduce_mean((tf.matmul(hidden, variables["W2"]) + variables["b2"] - y) ** 2)
        return float(loss), {key: grad.numpy() for key, grad in tape.gradient(loss, variables).items()}

    return two_layer_loss


WRONG = {  # (unit, grade cell): (the student's answer cell, words of the message)
    ("02_backpropagation", "sigmoid"): (
        "def sigmoid_backward(dout, cache):\n    s = 1 / (1 + np.exp(-cache))\n    return dout * s * (1 - s)\n",
        "wrong point"),
    ("02_backpropagation", "graph_values"): ("values = dict(values, db1=values['dz'])\n", "sums over them"),
    ("02_backpropagation", "numerical_gradient"): (
        "def numerical_gradient(f, x, h=1e-5):\n"
        "    grad = np.zeros_like(x)\n"
        "    for ix in np.ndindex(x.shape):\n"
        "        old = x[ix]; base = f(x); x[ix] = old + h; grad[ix] = (f(x) - base) / h\n"
        "    return grad\n", "leaves x changed"),
    ("02_backpropagation", "init_params"): (
        "def init_params(input_dim, hidden_dim, output_dim=1, seed=0):\n"
        "    rng = np.random.default_rng(seed)\n"
        "    return {'W1': rng.random((input_dim, hidden_dim)), 'b1': np.zeros((1, hidden_dim)),\n"
        "            'W2': rng.random((hidden_dim, output_dim)), 'b2': np.zeros((1, output_dim))}\n",
        "np.random.rand"),
    ("03_frameworks", "to_tensors"): (
        "def to_tensors(X, y):\n    return X.astype('float32'), y.reshape(-1, 1).astype('float32')\n",
        "not a TensorFlow tensor"),
    ("03_frameworks", "make_train_dataset"): (
        "def make_train_dataset(X, y, batch_size, seed=0):\n"
        "    pairs = tf.data.Dataset.from_tensor_slices((X.astype('float32'), y.reshape(-1, 1).astype('float32')))\n"
        "    return pairs.shuffle(len(X), seed=seed, reshuffle_each_iteration=False).batch(batch_size)\n",
        "same order"),
    ("03_frameworks", "train_step"): (          # the lecture's per-example loss (where the gradient sits is fine)
        "def train_step(X_batch, y_batch, variables, optimizer):\n"
        "    with tf.GradientTape() as tape:\n"
        "        hidden = tf.sigmoid(X_batch @ variables['W1'] + variables['b1'])\n"
        "        loss = keras.losses.mean_squared_error(y_batch, hidden @ variables['W2'] + variables['b2'])\n"
        "        grads = tape.gradient(loss, variables)\n"
        "    optimizer.apply_gradients([(grads[k], variables[k]) for k in variables])\n"
        "    return loss\n", "one loss per example"),
    ("03_frameworks", "build_two_layer_model"): (
        "def build_two_layer_model(input_dim, hidden_dim):\n"
        "    return keras.Sequential([keras.Input((input_dim,)), keras.layers.Dense(hidden_dim, activation='relu'),\n"
        "                             keras.layers.Dense(1)])\n", "'relu'"),
    ("03_frameworks", "output_layer_and_loss"): (
        "def output_layer_and_loss(task, num_classes=None):\n"
        "    return {'regression': (1, None, keras.losses.MeanSquaredError()),\n"
        "            'binary': (1, 'sigmoid', keras.losses.BinaryCrossentropy()),\n"
        "            'multiclass': (num_classes, 'sigmoid', 'sparse_categorical_crossentropy')}[task]\n",
        "sum to 1"),
    ("04_convolution", "conv_output_size"): (
        "def conv_output_size(n, k, stride=1, pad=0):\n    return (n + 2 * pad - k) // stride + 1\n",
        "Raise a ValueError"),
    ("04_convolution", "hand_result"): ("hand_result = np.array([[5.0, 7.0], [-2.0, 2.0]]).T\n", "swapped"),
    # the student's own loops (the course's loop version would now fail the own-work rule first)
    ("04_convolution", "conv2d_forward"): (
        "def conv2d_forward(x, W, b, stride=1, pad=0):\n"
        "    N, H, Wd, C = x.shape\n    K, F = W.shape[0], W.shape[3]\n"
        "    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))\n"
        "    Ho, Wo = (H + 2 * pad - K) // stride + 1, (Wd + 2 * pad - K) // stride + 1\n"
        "    out = np.zeros((N, Ho, Wo, F))\n"
        "    for n in range(N):\n        for i in range(Ho):\n            for j in range(Wo):\n"
        "                patch = xp[n, i * stride:i * stride + K, j * stride:j * stride + K, :]\n"
        "                out[n, i, j] = np.tensordot(patch, W, axes=3) + b\n"
        "    return out, (x, W, b, stride, pad)\n", "vectoris"),
    ("04_convolution", "cnn"): (
        "cnn = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Conv2D(2, 3), keras.layers.Flatten(),\n"
        "                        keras.layers.Dense(2, activation='softmax')])\n", "at least 0.9"),
}


@pytest.mark.parametrize("unit, grade_id", list(WRONG))
def test_a_wrong_answer_fails_the_recheck_with_the_same_message(solved, sources, tmp_path, unit, grade_id):
    answer, words = WRONG[(unit, grade_id)]
    namespace = dict(solved[unit]["namespace"])
    assert run_cell(answer, namespace, "answer") is None
    here, verdict = check_here_and_replay(grade_source(sources, unit, grade_id), namespace,
                                          tmp_path / "evidence.jsonl", grade_id)
    assert here is not None and words in here, here
    assert verdict.replayed and not verdict.passed
    assert verdict.message == here


def test_automatic_differentiation_still_earns_no_points(solved, sources, tmp_path):
    namespace = dict(solved["02_backpropagation"]["namespace"], two_layer_loss=_tape_two_layer_loss())
    here, verdict = check_here_and_replay(grade_source(sources, "02_backpropagation", "two_layer_loss"),
                                          namespace, tmp_path / "evidence.jsonl", "two_layer_loss")
    assert here.startswith("No points") and "GradientTape" in here
    assert verdict.replayed and not verdict.passed and verdict.message == here


# ---------------------------------------------------------------- tampering inside the kernel
def _always_close(*args, **kwargs):
    return True


def _silent(*args, **kwargs):
    return None


TAMPERED = {  # (unit, grade cell): (wrong answer cell, what the notebook patches: (module, name, value))
    ("02_backpropagation", "affine_forward"): (
        "def affine_forward(x, W, b):\n    return x @ W, (x, W, b)\n", (np, "allclose", _always_close)),
    ("02_backpropagation", "two_layer_loss"): (
        "def two_layer_loss(X, y, params):\n"
        "    return 0.0, {key: np.zeros_like(value) for key, value in params.items()}\n",
        (backprop_network, "assert_close", _silent)),
    ("03_frameworks", "tape_gradients"): (
        "def tape_gradients(X, y, variables):\n"
        "    with tf.GradientTape() as tape:\n"
        "        hidden = tf.nn.relu(X @ variables['W1'] + variables['b1'])\n"
        "        loss = 0.5 * tf.reduce_mean((hidden @ variables['W2'] + variables['b2'] - y) ** 2)\n"
        "    return loss, tape.gradient(loss, variables)\n", (frameworks_training, "assert_close", _silent)),
    ("03_frameworks", "train_keras_model"): (
        "def train_keras_model(model, X_train, y_train, X_val, y_val, num_epochs, learning_rate, batch_size):\n"
        "    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss='mse')\n"
        "    return model.fit(X_train, y_train, validation_data=(X_train, y_train), epochs=num_epochs,\n"
        "                     batch_size=batch_size, verbose=0)\n", (np, "allclose", _always_close)),
    ("04_convolution", "max_pool_forward"): (
        "def max_pool_forward(x, size=2, stride=2):\n"
        "    windows = sliding_window_view(x, (size, size), axis=(1, 2))[:, ::stride, ::stride]\n"
        "    return windows.mean(axis=(4, 5)), (x, size, stride)\n", (convolution_pooling, "assert_close", _silent)),
    ("04_convolution", "cnn"): (
        "cnn = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Conv2D(2, 3), keras.layers.Flatten(),\n"
        "                        keras.layers.Dense(2, activation='softmax')])\n",
        (np, "mean", lambda *args, **kwargs: 1.0)),
}


@pytest.mark.parametrize("unit, grade_id", list(TAMPERED))
def test_patching_numpy_or_the_checks_fools_only_the_kernel(solved, sources, tmp_path, unit, grade_id):
    answer, (module, attribute, value) = TAMPERED[(unit, grade_id)]
    namespace = dict(solved[unit]["namespace"])
    assert run_cell(answer, namespace, "answer") is None
    source = grade_source(sources, unit, grade_id)
    record = tmp_path / "evidence.jsonl"
    with pytest.MonkeyPatch.context() as patch, recording(record):
        patch.setattr(module, attribute, value)            # what the notebook did inside its kernel
        here = run_cell(source, namespace, grade_id)
    assert here is None, f"the patch should fool the check inside the kernel: {here}"
    verdict = trusted.verdicts([(grade_id, source)], record)[grade_id]
    assert verdict.replayed and not verdict.passed, verdict


# --------------------------------------------------------------------------- in a real kernel
PATCHED_AFFINE = '''\
import numpy, builtins
numpy.allclose = lambda *args, **kwargs: True            # every comparison "matches"
builtins.abs = lambda x: 0 * x
def affine_forward(x, W, b):
    return x @ W, (x, W, b)                              # the bias is missing
'''


@pytest.mark.slow
def test_unit02_in_a_real_kernel(sources, tmp_path, monkeypatch):
    """The honest cells pass inside the kernel and outside; the patched one only inside."""
    notebook = sources["02_backpropagation"]
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "affine_forward_answer":
            cell.source = PATCHED_AFFINE
    path = tmp_path / "backpropagation.ipynb"
    nbformat.write(notebook, path)
    record = tmp_path / "evidence.jsonl"
    monkeypatch.setenv(evidence.RECORD_ENV, str(record))
    in_kernel = {result.grade_id: result.passed for result in score_cells(execute(path))}
    found = trusted.verdicts(grade_cells(notebook), record)
    assert in_kernel["affine_forward"] and not found["affine_forward"].passed
    assert "the bias is missing" in found["affine_forward"].message
    honest = ("sigmoid", "relu", "graph_shapes", "backprop_fixed", "init_params", "train_two_layer")
    assert all(in_kernel[grade_id] and found[grade_id].replayed and found[grade_id].passed for grade_id in honest)
