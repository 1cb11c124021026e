"""Unit 04's max-pooling checks, forward and backward."""

from __future__ import annotations

import numpy as np

from ... import conv as ref
from ..calling import call_student
from ..compare import CheckFailure, as_array, assert_close, assert_shape, passed, random_state, unpack
from ..evidence import graded_check


# -------------------------------------------------------------------------- max pooling

def _pool_configs(height: int, width: int) -> list[tuple[int, int]]:
    configs = []
    for size, stride in ((2, 2), (3, 3), (2, 1), (3, 2), (3, 1)):
        if all(n >= size and (n - size) % stride == 0 for n in (height, width)):
            configs.append((size, stride))
    return configs


def _pool_windows(x, size, stride):
    view = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(1, 2))
    return view[:, ::stride, ::stride]


@graded_check
def check_max_pool_forward(max_pool_forward, seed: int = 0, num_examples: int = 2, height: int = 6,
                           width: int = 8, channels: int = 3) -> None:
    """``max_pool_forward(x, size, stride)`` returns ``(out, cache)``, out (N, H_out, W_out, C)."""
    rng = random_state(seed)
    x = rng.normal(size=(num_examples, height, width, channels))
    configs = _pool_configs(height, width)
    for size, stride in configs:
        name = f"out (size={size}, stride={stride})"
        got = call_student(max_pool_forward, x, size=size, stride=stride, name="max_pool_forward")
        out, _ = unpack("max_pool_forward", got, ("out", "cache"))
        expected, _ = ref.max_pool_forward(x, size, stride)
        out_height, out_width = expected.shape[1:3]
        shape_hints = {
            (num_examples, out_height, out_width): "the maximum is also taken over the channels; pool each "
                                                   "channel separately, axes 1 and 2 only.",
            (num_examples, channels, out_height, out_width): "channels-first output; keep (N, H_out, W_out, C).",
            (num_examples, height - size + 1, width - size + 1, channels): f"the stride is ignored: windows "
                                                                           f"start every {stride} pixels.",
            (num_examples, out_height - 1, out_width - 1, channels): "one row and column short: "
                                                                     "(H - size) // stride + 1 windows.",
        }
        arr = as_array(name, out)
        if arr.shape != expected.shape:
            raise CheckFailure(f"{name} has shape {arr.shape}, expected {expected.shape}."
                               + (f"\nLikely mistake: {shape_hints[arr.shape]}" if arr.shape in shape_hints else ""))
        windows = _pool_windows(x, size, stride)
        assert_close(name, arr, expected,
                     hint="take the maximum of each size x size window, separately for every example and channel.",
                     diagnoses=[(windows.mean(axis=(4, 5)), "that is average pooling: take the max, not the mean."),
                                (windows.sum(axis=(4, 5)), "the window is summed: take its max."),
                                (windows.min(axis=(4, 5)), "that is the minimum: take the max."),
                                (np.abs(windows).max(axis=(4, 5)), "the largest absolute value is taken: take "
                                                                   "the largest value, sign included.")])
    settings = ", ".join(f"{s}x{s} stride {t}" for s, t in configs)
    passed(f"max_pool_forward: matches for {settings}")


@graded_check
def check_max_pool_backward(max_pool_backward, seed: int = 0, num_examples: int = 2, height: int = 6,
                            width: int = 8, channels: int = 3) -> None:
    """``max_pool_backward(dout, cache)`` returns dx (N, H, W, C); the cache is the reference's
    ``(x, size, stride)``, overlapping windows included."""
    rng = random_state(seed)
    x = rng.normal(size=(num_examples, height, width, channels))
    configs = _pool_configs(height, width)
    for size, stride in configs:
        where = f"(size={size}, stride={stride})"
        out, cache = ref.max_pool_forward(x, size, stride)
        dout = rng.normal(size=out.shape)
        got = call_student(max_pool_backward, dout, cache, name="max_pool_backward")
        dx = assert_shape(f"dx {where}", got, x.shape, hint="dx has the shape of x, (N, H, W, C).")
        expected = ref.max_pool_backward(dout, cache)
        overlap_message = ("with overlapping windows a pixel can be the maximum of several windows: add "
                           "their gradients (+=) instead of overwriting (=).")
        assert_close(f"dx {where}", dx, expected,
                     hint="in each window only the pixel that was the maximum changed the output: it gets "
                          "dout, the others 0. Where windows overlap, add (+=).",
                     diagnoses=[(_spread(dout, x, size, stride, lambda w: np.ones_like(w)),
                                 "the gradient is sent to every pixel of the window; only the maximum gets it."),
                                (_spread(dout, x, size, stride, lambda w: np.ones_like(w) / size ** 2),
                                 "that is the gradient of average pooling (dout / size**2 everywhere); max "
                                 "pooling sends dout to the maximum only."),
                                (_spread(dout, x, size, stride, _argmin_mask),
                                 "the gradient goes to the smallest pixel of each window; send it to the largest."),
                                (_spread(np.ones_like(dout), x, size, stride, _argmax_mask),
                                 "the maxima get 1, not dout: multiply by the upstream gradient."),
                                (_spread(dout, x, size, stride, _argmax_mask, accumulate="overwrite"),
                                 overlap_message),
                                (_spread(dout, x, size, stride, _argmax_mask, accumulate="overwrite_max"),
                                 overlap_message)])
    _check_tied_maxima(max_pool_backward, seed)
    settings = ", ".join(f"{s}x{s} stride {t}" for s, t in configs)
    passed(f"max_pool_backward: dx matches for {settings}, and windows with tied maxima pass dout on once")


def _check_tied_maxima(max_pool_backward, seed: int) -> None:
    """Windows whose maximum appears several times (zeros after a ReLU) pass their gradient on once.

    2 x 2 windows, stride 2, on x (2, 4, 4, 2). Any split of ``dout`` among the tied pixels is a
    gradient (argmax gives it all to the first; tf.reduce_max splits it evenly), so the check
    asks only that each window's dx sums to its dout and that pixels below the maximum get 0.
    Sending dout to each of k tied pixels, as a mask ``window == window.max()`` does, sums to k
    times dout.
    """
    rng = random_state(seed + 1)
    x = np.maximum(rng.normal(size=(2, 4, 4, 2)), 0.0)       # a ReLU's output: many zeros
    x[0, :2, :2, 0] = 0.0                                     # four tied zeros
    x[1, 2:, 2:, 1] = 1.5                                     # four tied positive maxima
    out, cache = ref.max_pool_forward(x, 2, 2)
    dout = rng.normal(size=out.shape)
    got = call_student(max_pool_backward, dout, cache, name="max_pool_backward")
    dx = assert_shape("dx (windows with tied maxima)", got, x.shape, hint="dx has the shape of x, (N, H, W, C).")
    dx = np.asarray(dx, dtype=float)
    below_max = x < np.repeat(np.repeat(out, 2, axis=1), 2, axis=2)
    if np.any(np.abs(dx[below_max]) > 1e-9):
        raise CheckFailure("with tied maxima, a pixel below its window's maximum got gradient: only the maximum "
                           "changed the output.")
    sums = dx.reshape(2, 2, 2, 2, 2, 2).sum(axis=(2, 4))      # (N, H_out, W_out, C)
    if not np.allclose(sums, dout, rtol=1e-6, atol=1e-9):
        raise CheckFailure("a window whose maximum appears several times (four zeros after a ReLU, say) passed on "
                           "more gradient than it received: its dx sums to k times dout when each of the k tied "
                           "pixels gets dout. Send dout to one of them (argmax picks the first).")


def _argmax_mask(windows):
    flat = windows.reshape(*windows.shape[:-2], -1)
    return (np.arange(flat.shape[-1]) == flat.argmax(-1)[..., None]).reshape(windows.shape).astype(float)


def _argmin_mask(windows):
    return _argmax_mask(-windows)


def _spread(dout, x, size, stride, mask_of, accumulate="add"):
    """dx from sending dout[n, i, j, c] * mask to window (i, j); a wrong-answer generator.

    ``accumulate``: "add" (+=), "overwrite" (window = part) or "overwrite_max" (only the
    masked pixels are assigned).
    """
    windows = _pool_windows(x, size, stride)  # (N, H_out, W_out, C, size, size)
    masks = mask_of(windows)
    dx = np.zeros_like(x)
    for i in range(windows.shape[1]):
        for j in range(windows.shape[2]):
            part = dout[:, i, j, :, None, None] * masks[:, i, j]  # (N, C, size, size)
            part = part.transpose(0, 2, 3, 1)
            target = dx[:, i * stride:i * stride + size, j * stride:j * stride + size, :]
            if accumulate == "add":
                target += part
            elif accumulate == "overwrite":
                target[...] = part
            else:
                np.copyto(target, part, where=masks[:, i, j].transpose(0, 2, 3, 1) != 0)
    return dx
