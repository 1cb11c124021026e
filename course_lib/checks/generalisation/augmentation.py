"""Unit 06's data augmentation: which augmentations are realistic, and the Keras augmentation model."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..calling import observe, student_value
from ..compare import CheckFailure, as_array, assert_close, assert_shape, passed
from ..evidence import graded_check
from .curves import _count_wrong


# ======================================================================= augmentation
#: which augmentation keeps an image realistic (True) or makes one that cannot occur (False)
_AUGMENTATION_TRUTH = {"cell_flip": True, "cell_rotate_90": True, "cell_small_shift": True,
                       "histology_rotate_90": True, "xray_flip": False, "xray_rotate_90": False,
                       "xray_small_shift": True, "xray_brightness": True}
AUGMENTATION_QUESTIONS = tuple(_AUGMENTATION_TRUTH)


def _as_bool(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().lower()
    return {"true": True, "yes": True, "false": False, "no": False}.get(text, text)


@graded_check
def check_augmentation_choices(augmentation_choices: dict[str, bool]) -> None:
    """``augmentation_choices`` maps each of :data:`AUGMENTATION_QUESTIONS` to True (realistic) or False."""
    augmentation_choices = student_value("augmentation_choices", augmentation_choices)
    wrong = _count_wrong(augmentation_choices, _AUGMENTATION_TRUTH, "augmentation_choices", _as_bool)
    if wrong:
        raise CheckFailure(
            f"{wrong} of the {len(_AUGMENTATION_TRUTH)} answers are not right.\nHint: ask whether the augmented "
            "image could come out of the same scanner or microscope. A cell on a slide has no up, down, left or "
            "right; a chest X-ray does (the heart lies on the left, and patients are imaged upright).")
    passed(f"all {len(_AUGMENTATION_TRUTH)} augmentation choices are right.")


def _describe_augmentation(model: Any, images: np.ndarray) -> dict[str, Any]:
    """Kernel side: the layers of a Keras augmentation model and what it does to ``images`` (N, H, W, 1)."""
    import keras

    if not isinstance(model, keras.Model):
        return {"kind": type(model).__name__}
    layer_info = []
    for layer in model.layers:
        config = layer.get_config()
        factors = [config.get(key) for key in ("factor", "height_factor", "width_factor") if key in config]
        layer_info.append({"type": type(layer).__name__, "mode": str(config.get("mode", "")),
                           "factor": str(config.get("factor", config.get("height_factor", ""))),
                           "factors": [abs(float(v)) for f in factors if f is not None
                                       for v in (f if isinstance(f, (list, tuple)) else [f])],
                           "value_range": [float(v) for v in config.get("value_range", (0, 0))]})
    keras.utils.set_random_seed(0)
    trained = [keras.ops.convert_to_numpy(model(images, training=True)) for _ in range(2)]
    inferred = keras.ops.convert_to_numpy(model(images, training=False))
    return {"kind": None, "layers": layer_info, "train": np.asarray(trained[0], dtype=np.float32),
            "train_again": np.asarray(trained[1], dtype=np.float32), "inference": np.asarray(inferred, np.float32)}


@graded_check
def check_augmentation_model(augmentation: Any, seed: int = 0, num_images: int = 6, image_size: int = 24) -> None:
    """A Keras model of preprocessing layers for cell images: flips both ways, a rotation, a small shift
    (factor at most 0.2) and a brightness change on the [0, 1] scale; shape kept; identity at inference."""
    from ...data.images import simulate_cells

    images = simulate_cells(num_images, image_size, seed=seed).images
    seen = observe("augmentation", lambda: _describe_augmentation(augmentation, images), images)
    if seen["kind"] is not None:
        raise CheckFailure(f"augmentation should be a Keras model (keras.Sequential of layers); it is a "
                           f"{seen['kind']}.")
    types = [layer["type"] for layer in seen["layers"]]
    needed = {"RandomFlip": "flips", "RandomRotation": "rotations", "RandomTranslation": "small shifts",
              "RandomBrightness": "brightness changes"}
    missing = [f"{what} ({layer})" for layer, what in needed.items() if layer not in types]
    if missing:
        raise CheckFailure(f"the model has no layer for {', '.join(missing)}; it has {types}.")
    flip = next(layer for layer in seen["layers"] if layer["type"] == "RandomFlip")
    if flip["mode"] != "horizontal_and_vertical":
        raise CheckFailure(f"RandomFlip has mode {flip['mode']!r}; a cell has no up or down either: "
                           "mode='horizontal_and_vertical'.")
    layer_of = {layer["type"]: layer for layer in seen["layers"]}
    limits = {"RandomTranslation": (0.2, "shifts by up to {} of the image: that can push the cell out of the "
                                         "picture. Keep shifts small (0.1 of the height and the width)."),
              "RandomBrightness": (0.3, "changes the brightness by up to {} of the value range: a cell image that "
                                        "bright or dark is no longer realistic. Keep it small (0.15).")}
    for layer_type, (limit, message) in limits.items():
        factors = layer_of[layer_type]["factors"]
        if not factors or max(factors) > limit or min(factors) == 0:
            raise CheckFailure(f"{layer_type} {message.format(max(factors) if factors else 0)}")
    if layer_of["RandomBrightness"]["value_range"] != [0.0, 1.0]:
        raise CheckFailure(f"RandomBrightness has value_range={tuple(layer_of['RandomBrightness']['value_range'])}; "
                           "the images hold values in [0, 1]: value_range=(0, 1).")
    train = as_array("augmented images", seen["train"])
    assert_shape("augmented images", train, images.shape, hint="augmentation must keep the image size "
                 "(no RandomCrop or Resizing here).")
    if train.min() < -0.05 or train.max() > 1.05:
        raise CheckFailure(f"augmented pixel values span [{train.min():.3g}, {train.max():.3g}], outside the "
                           "images' [0, 1].\nLikely mistake: RandomBrightness assumes value_range=(0, 255) "
                           "by default; pass value_range=(0, 1).")
    if np.allclose(train, images, atol=1e-6):
        raise CheckFailure("in training mode the model returned the images unchanged: no augmentation happened.")
    assert_close("images at inference (training=False)", seen["inference"], images, rtol=1e-4,
                 hint="preprocessing layers must pass images through unchanged at inference.")
    passed(f"augmentation: {', '.join(types)}; shape and [0, 1] range kept; identity at inference.")
