"""course_lib.models: builders against the NumPy network and Keras's own counts; the comparator's verdicts
(course_lib.checks.keras_summary)."""

from __future__ import annotations

import numpy as np
import pytest

import tensorflow as tf  # noqa: E402  (a dependency: a broken install fails, never skips)
import keras  # noqa: E402

from course_lib import models  # noqa: E402
from course_lib.checks.compare import CheckFailure  # noqa: E402
from course_lib.checks.keras_summary import assert_same_architecture, compare_models  # noqa: E402
from course_lib.mlp import TwoLayerNet  # noqa: E402


# ----------------------------------------------------------------------------- builders
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu"])
def test_two_layer_model_computes_the_numpy_network(activation):
    net = TwoLayerNet(input_dim=5, hidden_dim=4, output_dim=2, activation=activation, seed=3)
    net.params["b1"] = np.linspace(-0.5, 0.5, 4)
    X = np.random.default_rng(0).normal(size=(7, 5))
    model64 = models.two_layer_model(5, 4, output_dim=2, activation=activation, params=net.params, dtype="float64")
    np.testing.assert_allclose(model64(X).numpy(), net.forward(X), rtol=1e-12, atol=1e-12)
    model32 = models.two_layer_model(5, 4, output_dim=2, activation=activation, params=net.params)
    np.testing.assert_allclose(model32(X.astype("float32")).numpy(), net.forward(X), rtol=1e-5, atol=1e-5)
    for key, value in models.two_layer_params(model64).items():
        np.testing.assert_array_equal(value, net.params[key])
    assert model64.count_params() == net.num_parameters == 5 * 4 + 4 + 4 * 2 + 2


def test_two_layer_model_default_initialisation_is_zero_mean():
    kernel = models.two_layer_model(200, 100).layers[0].get_weights()[0]
    assert abs(kernel.mean()) < 0.01 and kernel.min() < 0 < kernel.max()


@pytest.mark.parametrize("layer_sizes", [(8, 3, 3, 3, 3, 3, 1), (10, 64, 32, 16, 8, 4, 3), (2, 1, 1, 1, 1, 1, 1)])
def test_deep_mlp_and_parameter_counts_agree_with_keras(layer_sizes):
    D, *hidden, C = layer_sizes
    model = models.deep_mlp(D, hidden_units=hidden, output_dim=C)
    dense = models.dense_layers(model)
    assert len(dense) == 6
    counts = models.dense_parameter_counts(layer_sizes)
    assert counts == [sum(int(np.prod(w.shape)) for w in layer.weights) for layer in dense]
    assert sum(counts) == model.count_params()
    assert [layer.kernel.shape[1] for layer in dense] == [*hidden, C]


def test_lecture_network_has_79_parameters_with_8_inputs():
    assert models.dense_parameter_counts([8, 3, 3, 3, 3, 3, 1]) == [27, 12, 12, 12, 12, 4]
    assert models.deep_mlp(8).count_params() == 79


def test_output_layer_for_task_builds_working_models():
    X = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    for task, num_classes, labels in (("regression", None, np.zeros(6)), ("binary", None, np.array([0, 1] * 3)),
                                      ("multiclass", 3, np.array([0, 1, 2] * 2))):
        units, activation, loss = models.output_layer_for_task(task, num_classes)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="relu"),
                                  keras.layers.Dense(units, activation=activation)])
        model.compile(optimizer="sgd", loss=loss)
        model.train_on_batch(X, labels)
        out = model(X).numpy()
        if task == "multiclass":
            np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
        if task == "binary":
            assert out.shape == (6, 1) and np.all((out > 0) & (out < 1))
    with pytest.raises(ValueError):
        models.output_layer_for_task("multiclass")
    with pytest.raises(ValueError):
        models.output_layer_for_task("ranking")


def test_epoch_timer_records_each_epoch():
    model = models.two_layer_model(3, 2)
    model.compile(optimizer="sgd", loss="mse")
    timer = models.EpochTimer()
    model.fit(np.zeros((8, 3)), np.zeros(8), epochs=3, verbose=0, callbacks=[timer])
    assert len(timer.seconds) == 3 and all(s > 0 for s in timer.seconds)


# --------------------------------------------------------------------------- comparator
def expected():
    return models.two_layer_model(8, 16)


def sequential(*layers, input_dim=8):
    return keras.Sequential([keras.Input((input_dim,)), *layers])


def test_comparator_accepts_the_same_architecture_built_differently():
    inputs = keras.Input((8,), name="genes")
    hidden = keras.layers.Dense(16, name="my_hidden")(inputs)
    hidden = keras.layers.Activation("sigmoid")(hidden)
    functional = keras.Model(inputs, keras.layers.Dense(1, name="my_output")(hidden))
    same = [
        functional,
        sequential(keras.layers.Dense(16, activation="sigmoid", name="a"), keras.layers.Dense(1, name="b")),
        keras.Sequential([keras.layers.Dense(16, activation="sigmoid"), keras.layers.Dense(1)]),   # unbuilt
        sequential(keras.layers.Dense(16, activation=tf.nn.sigmoid), keras.layers.Dense(1, activation="linear")),
        sequential(keras.layers.Dense(16, activation=keras.activations.sigmoid), keras.layers.Dense(1, activation=None)),
        models.two_layer_model(8, 16, params=TwoLayerNet(8, 16).params),
    ]
    for model in same:
        assert compare_models(model, expected()) == [], model.name
        assert_same_architecture(model, expected())


def differences(model) -> str:
    found = compare_models(model, expected())
    assert found, "the comparator accepted a wrong architecture"
    return "\n".join(found)


def test_comparator_rejects_wrong_architectures_and_says_why():
    assert "has 8 units; expected 16" in differences(
        sequential(keras.layers.Dense(8, activation="sigmoid"), keras.layers.Dense(1)))
    assert "activation 'relu'; expected 'sigmoid'" in differences(
        sequential(keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)))
    assert "use_bias=False" in differences(
        sequential(keras.layers.Dense(16, activation="sigmoid", use_bias=False), keras.layers.Dense(1)))
    assert "has 2 units; expected 1" in differences(
        sequential(keras.layers.Dense(16, activation="sigmoid"), keras.layers.Dense(2)))
    assert "linear output" in differences(
        sequential(keras.layers.Dense(16, activation="sigmoid"), keras.layers.Dense(1, activation="sigmoid")))
    assert "3 layers" in differences(sequential(keras.layers.Dense(16, activation="sigmoid"),
                                                keras.layers.Dense(16, activation="sigmoid"), keras.layers.Dense(1)))
    assert "1 layers" in differences(sequential(keras.layers.Dense(1)))
    assert "inputs of shape (None, 5)" in differences(
        sequential(keras.layers.Dense(16, activation="sigmoid"), keras.layers.Dense(1), input_dim=5))
    assert "Dropout" in differences(sequential(keras.layers.Dense(16, activation="sigmoid"),
                                               keras.layers.Dropout(0.5), keras.layers.Dense(1)))
    assert "trainable parameters in all" in differences(
        sequential(keras.layers.Dense(16, activation="sigmoid", use_bias=False), keras.layers.Dense(1)))
    assert "forget to `return model`" in differences(None)
    assert "Keras model" in differences(TwoLayerNet(8, 16))


def test_assert_same_architecture_lists_the_differences():
    wrong = sequential(keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2))
    with pytest.raises(AssertionError) as info:
        assert_same_architecture(wrong, expected(), name="your model")
    message = str(info.value)
    assert isinstance(info.value, CheckFailure)
    assert message.startswith("your model does not have the expected architecture")
    assert message.count("\n  - ") >= 2 and "Expected: Dense(16, sigmoid), Dense(1)" in message


def test_comparator_on_the_deep_network():
    reference = models.deep_mlp(8)
    student = keras.Sequential([keras.Input((8,))] + [keras.layers.Dense(3, activation="sigmoid") for _ in range(5)]
                               + [keras.layers.Dense(1)])
    assert compare_models(student, reference) == []
    shallow = keras.Sequential([keras.Input((8,))] + [keras.layers.Dense(3, activation="sigmoid") for _ in range(4)]
                               + [keras.layers.Dense(1)])
    assert "5 layers" in "\n".join(compare_models(shallow, reference))


# ------------------------------------------------------------------- library and checks
def test_the_library_never_imports_the_checks():
    """course_lib's library modules (models, layers, data...) import nothing from course_lib.checks:
    the checks build on the library, never the other way round."""
    import ast
    from pathlib import Path

    import course_lib

    package = Path(course_lib.__file__).parent
    importing = []
    for path in package.rglob("*.py"):
        relative = path.relative_to(package)
        if relative.parts[0] in ("checks", "grading") or relative.name == "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import) else
                     [f"{'.' * node.level}{node.module or ''}"] + [f"{'.' * node.level}{alias.name}" for alias in node.names]
                     if isinstance(node, ast.ImportFrom) else [])
            if any(name.startswith(("course_lib.checks", ".checks", "..checks")) or name in (".checks", "..checks")
                   for name in names):
                importing.append(str(relative))
    assert not importing, f"library modules that import the checks: {importing}"
