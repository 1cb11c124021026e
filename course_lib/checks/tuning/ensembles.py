"""Unit 07, after the search: test-time augmentation (ten crops), an ensemble's scores, the
cyclic (cosine restarts) schedule."""

from __future__ import annotations

import numpy as np

from ... import ensembles as ens_ref
from ..calling import call_student
from ..compare import CheckFailure, as_array, assert_close, assert_scalar, assert_shape, passed, random_state
from ..evidence import graded_check


# --------------------------------------------------------------------- 7. test-time augmentation
@graded_check
def check_ten_crops(ten_crops, seed: int = 0, num_images: int = 2, image_size: int = 7, crop_size: int = 4,
                    channels: int = 0) -> None:
    """``ten_crops(images, crop_size)`` returns (10, N, S, S[, C]): corners, centre and their mirror images."""
    rng = random_state(seed)
    shape = (num_images, image_size, image_size + 1) + ((channels,) if channels else ())
    images = rng.normal(size=shape)
    got = call_student(ten_crops, images, crop_size, name="ten_crops")
    expected = ens_ref.ten_crops(images, crop_size)
    crops = as_array("the crops", got).astype(float)
    if crops.shape[:2] == (num_images, 10) and crops.shape[2:] == expected.shape[2:] and num_images != 10:
        raise CheckFailure(f"the crops have shape {crops.shape}: put the ten views first, {expected.shape} "
                           "(np.stack(views) with axis=0).")
    if crops.shape[0] == 5 and crops.shape[1:] == expected.shape[1:]:
        raise CheckFailure("there are 5 views: add the horizontally mirrored copy of each of the five crops.")
    assert_shape("the crops", crops, expected.shape,
                 hint="ten views of every image, each crop_size x crop_size.")
    missing = []
    names = ["top-left", "top-right", "bottom-left", "bottom-right", "centre"]
    names += [f"{name} mirrored" for name in names]
    for name, view in zip(names, expected):
        if not any(np.allclose(view, crop, rtol=1e-6, atol=1e-9) for crop in crops):
            missing.append(name)
    if missing:
        hints = []
        height, width = shape[1], shape[2]
        if any("mirrored" in name for name in missing) and len(missing) == 5:
            flipped_rows = [np.allclose(crops_view, np.flip(view, axis=1)) for view in expected[:5]
                            for crops_view in crops]
            hints.append("the mirrored views are flipped upside down, or along the wrong axis: a horizontal "
                         "mirror reverses the columns, crop[:, :, ::-1] for (N, S, S) and (N, S, S, C)"
                         if any(flipped_rows) or channels else
                         "a horizontal mirror reverses the columns of each crop: crop[:, :, ::-1].")
        if "centre" in missing:
            hints.append(f"the centre crop starts at row (H - S) // 2 = {(height - crop_size) // 2} and column "
                         f"(W - S) // 2 = {(width - crop_size) // 2}.")
        if any(name in missing for name in names[:4]):
            hints.append("the corners start at rows 0 and H - S and columns 0 and W - S (H and W can differ).")
        raise CheckFailure(f"these views are missing: {', '.join(missing)}.\n"
                           + "\n".join(f"Hint: {hint}" for hint in hints))
    passed(f"ten_crops: all ten views of {num_images} images of {shape[1]} x {shape[2]}, crops of {crop_size}")


# --------------------------------------------------------------------- 8. an ensemble's scores
@graded_check
def check_ensemble_report(ensemble_report, seed: int = 0, num_models: int = 4, num_examples: int = 30) -> None:
    """``ensemble_report(member_probabilities (M, N), labels (N,))`` returns the dict of four scores."""
    rng = random_state(seed)
    labels = rng.integers(0, 2, num_examples)
    logits = (2 * labels - 1) * 1.2 + rng.normal(scale=1.5, size=(num_models, num_examples))
    members = 1 / (1 + np.exp(-logits))
    members[:, 0] = 0.5            # a tie: "above 0.5" is class 1, so exactly 0.5 is class 0
    members[0, 1] = 0.5
    got = call_student(ensemble_report, members, labels, name="ensemble_report")
    if not isinstance(got, dict):
        raise CheckFailure(f"ensemble_report should return a dict, not a {type(got).__name__}.")
    expected = ens_ref.ensemble_report(members, labels)
    missing = [key for key in expected if key not in got]
    if missing:
        raise CheckFailure(f"the dict lacks the keys {missing}; it should have {sorted(expected)}.")
    assert_close("member_accuracy", got["member_accuracy"], expected["member_accuracy"],
                 hint="for each model, the share of examples where (probability > 0.5) equals the label.",
                 diagnoses=[(1 - expected["member_accuracy"], "that is the error rate: accuracy counts the "
                                                              "correct predictions.")])
    assert_close("member_log_loss", got["member_log_loss"], expected["member_log_loss"],
                 hint="-mean(log p) of the probability each model gives the true label, natural logarithm.",
                 diagnoses=[(expected["member_log_loss"] / np.log(10), "that uses log10: use the natural "
                                                                       "logarithm np.log.")])
    ensemble = members.mean(axis=0)
    votes = np.mean(((members > 0.5).mean(axis=0) > 0.5) == labels)
    geometric = np.exp(np.log(members).mean(axis=0))
    assert_close("ensemble_accuracy", assert_scalar("ensemble_accuracy", got["ensemble_accuracy"]),
                 expected["ensemble_accuracy"],
                 hint="average the members' probabilities first, then threshold the average at 0.5.",
                 diagnoses=[(expected["member_accuracy"].mean(), "that is the mean of the members' accuracies: "
                                                                 "score the averaged probabilities instead."),
                            (votes, "that is a majority vote of the thresholded members: average the "
                                    "probabilities, then threshold."),
                            (ens_ref.accuracy(geometric, labels), "that averages the log probabilities "
                                                                  "(geometric mean): take the plain mean.")])
    assert_close("ensemble_log_loss", assert_scalar("ensemble_log_loss", got["ensemble_log_loss"]),
                 expected["ensemble_log_loss"],
                 hint="the log loss of the averaged probabilities.",
                 diagnoses=[(expected["member_log_loss"].mean(), "that is the mean of the members' log losses: "
                                                                 "compute the log loss of the averaged "
                                                                 "probabilities (it is never larger)."),
                            (ens_ref.log_loss(geometric, labels), "that averages log probabilities: take the "
                                                                  "plain mean of the probabilities."),
                            (ens_ref.log_loss(ensemble, labels) / np.log(10), "that uses log10: use np.log.")])
    passed(f"ensemble_report: {num_models} members and their average scored correctly")


# --------------------------------------------------------------------- 9. the cyclic schedule
@graded_check
def check_cosine_restarts(cosine_restarts, seed: int = 0, cycle_steps: int = 10, num_steps: int = 35) -> None:
    """``cosine_restarts(steps, initial_learning_rate, cycle_steps)`` returns the rate at each step, (T,)."""
    rng = random_state(seed)
    initial = float(10 ** rng.uniform(-3, 0))
    steps = np.arange(num_steps)
    got = call_student(cosine_restarts, steps, initial, cycle_steps, name="cosine_restarts")
    expected = ens_ref.cosine_restarts(steps, initial, cycle_steps)
    fraction = (steps % cycle_steps) / cycle_steps
    assert_close("the learning rates", got, expected,
                 hint="within a cycle f = (step mod B) / B; lr = initial * 0.5 * (1 + cos(pi * f)).",
                 diagnoses=[(ens_ref.cosine_restarts(steps, initial, num_steps),
                             "the rate never restarts: take the step modulo cycle_steps."),
                            (ens_ref.cosine_restarts(steps + 1, initial, cycle_steps),
                             "the schedule is one step ahead: step 0 should have the full initial rate."),
                            (initial * np.cos(np.pi * fraction), "the rate goes negative: use 0.5 * (1 + cos(pi f)), "
                                                                  "which falls from 1 to 0."),
                            (initial * (1 - fraction), "that is a linear decay: use the cosine."),
                            (initial * 0.5 * (1 + np.cos(fraction)), "the cosine's argument lacks the factor pi."),
                            (initial * 0.5 * (1 + np.cos(np.pi * (steps % cycle_steps) / max(cycle_steps - 1, 1))),
                             "divide by cycle_steps, not cycle_steps - 1: the minimum is reached at the restart.")])
    passed(f"cosine_restarts: {num_steps} steps with restarts every {cycle_steps}, "
           "as keras.optimizers.schedules.CosineDecayRestarts(t_mul=1)")
