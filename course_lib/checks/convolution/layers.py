"""Unit 04's convolution checks: output sizes, one filter by hand, the conv layer forward (vectorised) and backward, filters on an image."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import conv as ref
from ..calling import call_student, observe, run_student, student_value
from ..compare import CheckFailure, as_array, assert_close, assert_shape, passed, random_state, unpack
from ..evidence import graded_check
from ..rules import race


#: the 4 x 4 image and 3 x 3 filter of the "by hand" exercise
HAND_IMAGE = np.array([[1.0, 2.0, 0.0, 1.0],
                       [0.0, 1.0, 3.0, 2.0],
                       [2.0, 0.0, 1.0, 0.0],
                       [1.0, 1.0, 2.0, 3.0]])
HAND_KERNEL = np.array([[1.0, 0.0, -1.0],
                        [0.0, 2.0, 0.0],
                        [1.0, 0.0, 0.0]])


# ----------------------------------------------------------------------------- helpers

def _is_whole_number(value: Any) -> bool:
    return (isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)))


def _size(n: int, k: int, stride: int, pad: int) -> int:
    return (n + 2 * pad - k) // stride + 1


def _conv_shape_hint(shape: tuple, num_examples: int, height: int, width: int, channels: int,
                     num_filters: int, kernel_size: int, stride: int, pad: int) -> str | None:
    """Name the mistake behind a wrong output shape of a conv forward pass, if we know it."""
    out_height = _size(height, kernel_size, stride, pad)
    out_width = _size(width, kernel_size, stride, pad)
    candidates = [
        ((num_examples, _size(height, kernel_size, stride, 0), _size(width, kernel_size, stride, 0), num_filters),
         f"the padding is ignored: add pad = {pad} rows and columns of zeros on every side of each image "
         "(np.pad on axes 1 and 2 only) before sliding the filter."),
        ((num_examples, _size(height, kernel_size, 1, pad), _size(width, kernel_size, 1, pad), num_filters),
         f"the stride is ignored: move the filter {stride} pixels at a time "
         "(window top-left corner at i * stride, j * stride)."),
        ((num_examples, out_height - 1, out_width - 1, num_filters),
         "the output is one row and one column short: there are (H + 2*pad - K) // stride + 1 positions "
         "(count the first one)."),
        ((num_examples, out_height + 1, out_width + 1, num_filters),
         "the output is one row and one column too large: there are (H + 2*pad - K) // stride + 1 positions."),
        ((num_examples, num_filters, out_height, out_width),
         "the filters are on axis 1 (channels first); this course is channels-last: (N, H_out, W_out, F)."),
        ((num_examples, out_height, out_width, channels),
         "the last axis has C entries; it should have one activation map per filter, F = W.shape[3]."),
        ((out_height, out_width, num_filters),
         "the examples axis N is missing: keep one set of maps per image, (N, H_out, W_out, F)."),
    ]
    for candidate, message in candidates:
        if tuple(shape) == candidate:
            return message
    return None


def _assert_conv_shape(name: str, value: Any, expected_shape: tuple, hint: str | None) -> np.ndarray:
    arr = as_array(name, value)
    if arr.shape != tuple(expected_shape):
        message = f"{name} has shape {arr.shape}, expected {tuple(expected_shape)}."
        if hint:
            message += f"\nLikely mistake: {hint}"
        raise CheckFailure(message)
    return arr


def _conv_configs(height: int, width: int, kernel_size: int) -> list[tuple[int, int]]:
    """(stride, pad) pairs, stride 1 first, whose positions tile an H x W input exactly."""
    candidates = [(1, 0), (1, (kernel_size - 1) // 2 or 1), (2, 1), (2, 0), (3, 1), (2, 2)]
    configs = []
    for stride, pad in candidates:
        fits = all(n + 2 * pad >= kernel_size and (n + 2 * pad - kernel_size) % stride == 0
                   for n in (height, width))
        if fits and (stride, pad) not in configs:
            configs.append((stride, pad))
    return configs


def _conv_problem(rng, num_examples, height, width, channels, num_filters, kernel_size):
    x = rng.normal(size=(num_examples, height, width, channels))
    W = rng.normal(size=(kernel_size, kernel_size, channels, num_filters))
    b = rng.normal(size=num_filters)
    return x, W, b


# ----------------------------------------------------------------- output-size arithmetic

@graded_check
def check_conv_output_size(conv_output_size, seed: int = 0, num_cases: int = 6) -> None:
    """``conv_output_size(n, k, stride, pad)`` returns ``(n + 2*pad - k) // stride + 1`` as an int
    and raises ``ValueError`` when ``(n + 2*pad - k)`` is not a multiple of ``stride`` or the
    filter does not fit."""
    rng = random_state(seed)
    cases = [(32, 5, 1, 0), (32, 5, 1, 2), (7, 3, 2, 0), (7, 3, 2, 1), (32, 4, 2, 1)]
    while len(cases) < 5 + num_cases:
        k, stride, pad = int(rng.integers(1, 8)), int(rng.integers(1, 5)), int(rng.integers(0, 4))
        n = stride * int(rng.integers(0, 12)) + k - 2 * pad
        if n >= 1:
            cases.append((n, k, stride, pad))
    for n, k, stride, pad in cases:
        label = f"conv_output_size({n}, {k}, stride={stride}, pad={pad})"
        got = call_student(conv_output_size, n, k, stride=stride, pad=pad, name="conv_output_size")
        expected = _size(n, k, stride, pad)
        if isinstance(got, (float, np.floating)) and float(got) == expected:
            raise CheckFailure(f"{label} returned {got!r}, a float. A size is used in shapes such as "
                               "np.zeros((H_out, W_out)), so return an int: use // (integer division), "
                               "after checking that the division is exact.")
        if not _is_whole_number(got):
            raise CheckFailure(f"{label} should return an int, but it returned {got!r} "
                               f"({type(got).__name__}).")
        if got == expected:
            continue
        wrong = [((n + 2 * pad - k) // stride, "the + 1 is missing: the first filter position counts too."),
                 ((n - k) // stride + 1, "the padding is ignored: the padded size is n + 2*pad."),
                 ((n + pad - k) // stride + 1, "the padding is counted once; there are pad zeros on *each* side: n + 2*pad."),
                 (n + 2 * pad - k + 1, "the stride is ignored: divide (n + 2*pad - k) by the stride, then add 1."),
                 ((n + 2 * pad - k + 1) // stride, "add 1 after dividing by the stride, not before."),
                 ((n + 2 * pad - k) // stride - 1, "the formula adds 1, it does not subtract it."),
                 ((n + 2 * pad + k) // stride + 1, "the filter size is subtracted, not added: n + 2*pad - k.")]
        message = f"{label} returned {got}, expected {expected}."
        for value, diagnosis in wrong:
            if got == value:
                message += f"\nLikely mistake: {diagnosis}"
                break
        else:
            message += "\nHint: output size = (n + 2*pad - k) / stride + 1."
        raise CheckFailure(message)

    bad_cases = [(32, 5, 2, 0), (7, 3, 3, 0), (10, 4, 4, 0), (3, 5, 1, 0), (4, 5, 1, 0)]   # last: one pixel short
    for n, k, stride, pad in bad_cases:
        label = f"conv_output_size({n}, {k}, stride={stride}, pad={pad})"
        # the exception a student raises is part of the answer here, so it is recorded as data
        outcome, got = call_student(lambda *args: _outcome(conv_output_size, *args), n, k, stride, pad,
                                    name="conv_output_size (impossible sizes)")
        if outcome == "ValueError":
            continue
        if outcome == "NotImplementedError":
            raise CheckFailure("`conv_output_size` is not written yet.")
        if outcome != "returned":
            raise CheckFailure(f"{label} raised {outcome}: {got}. Raise a ValueError "
                               "(`raise ValueError(...)`) with a message that says why.")
        why = ("the filter does not fit in the padded input" if k > n + 2 * pad else
               f"(n + 2*pad - k) = {n + 2 * pad - k} is not a multiple of the stride {stride}")
        raise CheckFailure(f"{label} returned {got!r}, but {why}, so there is no valid output size. "
                           "Raise a ValueError instead of rounding: a silent floor would drop the "
                           "last rows of the image.")
    passed(f"conv_output_size: {len(cases)} sizes right (32x32, 5x5 filters -> 28) and "
           f"{len(bad_cases)} impossible sizes refused with ValueError")


def _outcome(conv_output_size, n: int, k: int, stride: int, pad: int) -> tuple[str, Any]:
    """``("returned", value)``, or the name and message of the exception the student's function raised."""
    try:
        return "returned", conv_output_size(n, k, stride=stride, pad=pad)
    except Exception as error:
        return type(error).__name__, str(error)


# ------------------------------------------------------------------------ one filter by hand

@graded_check
def check_hand_result(hand_result) -> None:
    """``hand_result`` is the (2, 2) cross-correlation of HAND_IMAGE with HAND_KERNEL."""
    expected = ref.correlate2d(HAND_IMAGE, HAND_KERNEL)
    arr = as_array("hand_result", student_value("hand_result", hand_result))
    if arr.shape != (2, 2):
        raise CheckFailure(f"hand_result has shape {arr.shape}; a 3x3 filter fits in a 4x4 image at "
                           "2 x 2 positions (4 - 3 + 1 = 2), so write a 2 x 2 array.")
    assert_close("hand_result", arr, expected, reveal=False,
                 hint="at each position multiply the 3x3 window by the filter entry by entry and add the 9 "
                      "products; top-left window first, then move one column right, then one row down.",
                 diagnoses=[(ref.correlate2d(HAND_IMAGE, HAND_KERNEL[::-1, ::-1]),
                             "the filter was flipped (that is the convolution of signal processing). Deep "
                             "learning slides the filter as it is: cross-correlation."),
                            (ref.correlate2d(HAND_IMAGE, HAND_KERNEL).T,
                             "rows and columns are swapped: out[i, j] is row i, column j."),
                            (ref.correlate2d(HAND_IMAGE, HAND_KERNEL.T),
                             "the filter was transposed: its first row multiplies the window's first row.")])
    passed("hand_result: the 2x2 activation map is right")


@graded_check
def check_correlate2d(correlate2d, seed: int = 0, height: int = 6, width: int = 5,
                      kernel_size: int = 3) -> None:
    """``correlate2d(image, kernel)``: image (H, W), kernel (K, K) -> (H - K + 1, W - K + 1), no flip."""
    rng = random_state(seed)
    for shape in ((height, width), (width + 1, height + 2)):
        image = rng.normal(size=shape)
        kernel = rng.normal(size=(kernel_size, kernel_size))
        got = call_student(correlate2d, image, kernel, name="correlate2d")
        expected = ref.correlate2d(image, kernel)
        arr = as_array("correlate2d(image, kernel)", got)
        out_shape = expected.shape
        shape_hints = {
            image.shape: "the output has the size of the image; without padding a K x K filter fits at only "
                         "H - K + 1 rows and W - K + 1 columns.",
            (out_shape[0] - 1, out_shape[1] - 1): "one row and column short: loop with range(H - K + 1).",
            (out_shape[0] + 1, out_shape[1] + 1): "one row and column too many: loop with range(H - K + 1).",
            (shape[0] + kernel_size - 1, shape[1] + kernel_size - 1): "that is the 'full' size; use no padding.",
            (out_shape[1], out_shape[0]): "the two axes are swapped: rows come from H (image.shape[0]).",
        }
        if arr.shape != out_shape:
            raise CheckFailure(f"correlate2d on an image of shape {shape} returned shape {arr.shape}, expected "
                               f"{out_shape}." + (f"\nLikely mistake: {shape_hints[arr.shape]}"
                                                  if arr.shape in shape_hints else ""))
        assert_close(f"correlate2d on an image of shape {shape}", arr, expected,
                     hint="out[i, j] = sum(image[i:i+K, j:j+K] * kernel).",
                     diagnoses=[(ref.correlate2d(image, kernel[::-1, ::-1]),
                                 "the filter is flipped: that is true convolution. Deep-learning convolution "
                                 "is cross-correlation; use the filter as it is."),
                                (ref.correlate2d(image, kernel.T), "the filter is transposed."),
                                (ref.correlate2d(image, np.ones_like(kernel)),
                                 "the window is summed without multiplying by the filter.")])
    passed("correlate2d: sizes and values match cross-correlation on two image shapes")


# -------------------------------------------------------------------- conv layer forward

@graded_check
def check_conv2d_forward(conv2d_forward, seed: int = 0, num_examples: int = 2, height: int = 7,
                         width: int = 9, channels: int = 3, num_filters: int = 4, kernel_size: int = 3,
                         time_limit: float | None = 0.3) -> None:
    """``conv2d_forward(x, W, b, stride, pad)`` returns ``(out, cache)`` equal to the reference.

    Several (stride, pad) settings that tile the input are tried. With ``time_limit``
    (seconds, at least 20 x the reference), a larger input must run fast enough to show the
    code is vectorised; ``None`` skips that part.
    """
    rng = random_state(seed)
    x, W, b = _conv_problem(rng, num_examples, height, width, channels, num_filters, kernel_size)
    configs = _conv_configs(height, width, kernel_size)
    if not configs:
        raise ValueError("no (stride, pad) setting tiles this input; choose other sizes")
    for stride, pad in configs:
        name = f"out (stride={stride}, pad={pad})"
        got = call_student(conv2d_forward, x, W, b, stride=stride, pad=pad, name="conv2d_forward")
        out, _ = unpack("conv2d_forward", got, ("out", "cache"))
        expected, _ = ref.conv2d_forward(x, W, b, stride, pad)
        hint = _conv_shape_hint(as_array(name, out).shape, num_examples, height, width, channels,
                                num_filters, kernel_size, stride, pad)
        out = _assert_conv_shape(name, out, expected.shape, hint)
        assert_close(name, out, expected,
                     hint="out[n, i, j, f] = b[f] + sum over p, q, c of xpad[n, i*stride + p, j*stride + q, c] "
                          "* W[p, q, c, f].",
                     diagnoses=[
                         (ref.conv2d_forward(x, W[::-1, ::-1], b, stride, pad)[0],
                          "the filters are flipped (true convolution). Use W as it is: cross-correlation."),
                         (expected - b, "the bias b is missing: add b (shape (F,)) to every position."),
                         (expected - 2 * b, "the bias is subtracted; add it."),
                         (ref.conv2d_forward(x, W.transpose(1, 0, 2, 3), b, stride, pad)[0],
                          "the filter's rows and columns are swapped: W[p, q] multiplies the pixel p rows "
                          "down and q columns right."),
                         (ref.conv2d_forward(x[..., :1], W[:, :, :1], b, stride, pad)[0],
                          "only the first input channel is used: a filter spans all C channels, sum over them."),
                         (np.maximum(expected, 0.0), "a ReLU is applied; this function is the linear conv only."),
                     ])
    if time_limit is not None:
        _check_vectorised(conv2d_forward, rng, time_limit)
    settings = ", ".join(f"stride {s} pad {p}" for s, p in configs)
    passed(f"conv2d_forward: out (N, H_out, W_out, F) matches the reference for {settings}")


def _check_vectorised(conv2d_forward, rng, time_limit: float) -> None:
    """Fail when the forward pass is far slower than a vectorised one (Python loops over pixels).

    The times are measured in the kernel (:func:`observe`) and judged here, in the kernel
    and in the grader's re-check alike.
    """
    x = rng.normal(size=(32, 32, 32, 3))
    W = rng.normal(size=(3, 3, 3, 8))
    b = rng.normal(size=8)

    def limit_for(reference_time: float) -> float:
        return max(time_limit, 20 * reference_time)

    def measure() -> dict[str, float]:
        reference_time, student_time = _race(conv2d_forward, x, W, b, 1, limit_for)
        return {"reference": reference_time, "student": student_time}

    times = observe("conv2d_forward: time", measure, x, W, b)
    reference_time, student_time = float(times["reference"]), float(times["student"])
    limit = limit_for(reference_time)
    if student_time > limit:
        raise CheckFailure(
            f"conv2d_forward took {student_time:.2f} s on x of shape {x.shape} with 8 filters; a vectorised "
            f"version takes about {reference_time:.3f} s (allowed: {limit:.2f} s). Replace the Python loops "
            "over examples and pixels with sliding_window_view and np.tensordot or np.einsum (a loop over "
            "the K x K filter taps is fine).")

    _check_no_loop_per_position(conv2d_forward)


#: long thin inputs, one per axis a half-vectorised answer might loop over; each holds 20000 positions
#: along that axis and almost no work per position, so the time of a Python loop over them (tens of
#: microseconds per turn, about 0.2 s and more) stands out against a vectorised pass (about a millisecond)
_LOOP_PROBES = {"examples (axis 0)": (20000, 3, 3, 1), "output rows (axis 1)": (1, 20000, 3, 1),
                "output columns (axis 2)": (1, 3, 20000, 1)}
_LOOP_FLOOR = 0.1          # seconds: below this no answer fails, however fast the reference


def _check_no_loop_per_position(conv2d_forward) -> None:
    """Fail a half-vectorised forward pass: a Python loop over the examples, the output rows or the columns.

    Timing one large square input cannot tell such a loop (32 turns) from a vectorised pass;
    inputs with 20000 positions along one axis and little work per position can. Measured in
    the kernel (:func:`observe`), judged here.
    """
    rng = np.random.default_rng(7)
    W, b = rng.normal(size=(3, 3, 1, 1)), rng.normal(size=1)
    inputs = {axis: rng.normal(size=shape) for axis, shape in _LOOP_PROBES.items()}

    def limit_for(reference_time: float) -> float:
        return max(_LOOP_FLOOR, 50 * reference_time)

    def measure() -> dict[str, list[float]]:
        return {axis: list(_race(conv2d_forward, x, W, b, 0, limit_for)) for axis, x in inputs.items()}

    times = observe("conv2d_forward: loops per position", measure, W, b)
    for axis, (reference_time, student_time) in times.items():
        if student_time > limit_for(float(reference_time)):
            shape = _LOOP_PROBES[axis]
            raise CheckFailure(
                f"conv2d_forward took {student_time:.2f} s on x of shape {shape} (a vectorised pass: about "
                f"{reference_time * 1000:.1f} ms). That is the time of a Python loop over the {axis}: the exercise "
                "asks for no loops over examples or positions. Build every window at once with "
                "sliding_window_view and contract them with np.tensordot or np.einsum (a loop over the K x K "
                "filter taps is fine).")


def _race(conv2d_forward, x, W, b, pad: int, limit_for) -> tuple[float, float]:
    """Kernel side: seconds of the reference (best of 3) and of the student's forward pass on x (N, H, W, C)."""
    return race(lambda: ref.conv2d_forward(x, W, b, 1, pad),
                lambda: run_student(conv2d_forward, x, W, b, stride=1, pad=pad, name="conv2d_forward"), limit_for)


# ------------------------------------------------------------------- conv layer backward

@graded_check
def check_conv2d_backward(conv2d_backward, seed: int = 0, num_examples: int = 2, height: int = 5,
                          width: int = 7, channels: int = 2, num_filters: int = 3, kernel_size: int = 3) -> None:
    """``conv2d_backward(dout, cache)`` returns ``(dx, dW, db)`` equal to the reference.

    The cache is the reference's ``(x, W, b, stride, pad)``, for several (stride, pad).
    """
    rng = random_state(seed)
    x, W, b = _conv_problem(rng, num_examples, height, width, channels, num_filters, kernel_size)
    configs = _conv_configs(height, width, kernel_size)
    for stride, pad in configs:
        where = f"(stride={stride}, pad={pad})"
        out, cache = ref.conv2d_forward(x, W, b, stride, pad)
        dout = rng.normal(size=out.shape)
        got = call_student(conv2d_backward, dout, cache, name="conv2d_backward")
        dx, dW, db = unpack("conv2d_backward", got, ("dx", "dW", "db"))
        expected_dx, expected_dW, expected_db = ref.conv2d_backward(dout, cache)
        padded_shape = (num_examples, height + 2 * pad, width + 2 * pad, channels)
        dx_arr = as_array(f"dx {where}", dx)
        if pad and dx_arr.shape == padded_shape:
            raise CheckFailure(f"dx {where} has the padded shape {padded_shape}; cut the padding off "
                               f"(dxpad[:, pad:-pad, pad:-pad, :]) so dx has the shape of x, {x.shape}.")
        assert_shape(f"dx {where}", dx_arr, x.shape, hint="dx has the shape of x: (N, H, W, C).")
        flipped = ref.conv2d_backward(dout, (x, W[::-1, ::-1], b, stride, pad))
        assert_close(f"dx {where}", dx_arr, expected_dx,
                     hint="every filter position adds dout[n, i, j, f] * W[:, :, :, f] to the window of dx it "
                          "covered; windows overlap, so accumulate with +=. Run a gradient check to see where.",
                     diagnoses=[(flipped[0], "W is flipped in dx: add dout * W[p, q] at the same tap (p, q) "
                                             "that the forward pass used."),
                                (np.zeros_like(expected_dx), "dx is all zeros: each covered pixel gets dout * W.")])
        assert_shape(f"dW {where}", dW, W.shape,
                     hint="dW has the shape of W: (K, K, C, F).")
        assert_close(f"dW {where}", dW, expected_dW,
                     hint="dW[p, q, c, f] = sum over n, i, j of xpad[n, i*stride + p, j*stride + q, c] * "
                          "dout[n, i, j, f]: the input windows weighted by dout.",
                     diagnoses=[(expected_dW / num_examples, "dW is divided by N: sum over the examples, do not "
                                                             "average (dout already holds any 1/N of the loss)."),
                                (expected_dW[::-1, ::-1], "dW is flipped: use the window as it is."),
                                (flipped[1][::-1, ::-1], "dW is flipped: use the window as it is."),
                                (ref.conv2d_backward(dout[:1], (x[:1], W, b, stride, pad))[1],
                                 "only the first example contributes; sum over all N.")])
        assert_shape(f"db {where}", db, (num_filters,),
                     hint="db has one entry per filter: sum dout over axes (0, 1, 2).")
        assert_close(f"db {where}", db, expected_db,
                     hint="db[f] = sum of dout[:, :, :, f].",
                     diagnoses=[(np.zeros(num_filters), "db is zero: each filter's bias was added at every "
                                                        "position, so its gradient is the sum of dout over N, H_out, W_out."),
                                (dout.mean(axis=(0, 1, 2)), "db is a mean; it should be the sum over axes (0, 1, 2)."),
                                (dout.sum(axis=(1, 2)).mean(axis=0), "db averages over the examples; sum instead.")])
    settings = ", ".join(f"stride {s} pad {p}" for s, p in configs)
    passed(f"conv2d_backward: dx, dW and db match for {settings}")


# ------------------------------------------------------------------ filters on an image

@graded_check
def check_activation_maps(activation_maps, seed: int = 0, height: int = 9, width: int = 11,
                          kernel_size: int = 3) -> None:
    """``activation_maps(image, kernels)``: image (H, W), F kernels (K, K) -> maps (H, W, F).

    "Same" padding ``(K - 1) // 2`` (K odd), stride 1, no bias, no activation function.
    """
    rng = random_state(seed)
    image = rng.random((height, width))
    if kernel_size == 3:
        kernels = [ref.FILTERS["sobel_x"].copy(), ref.FILTERS["laplacian"].copy(),
                   ref.FILTERS["gaussian_blur"].copy(), rng.normal(size=(3, 3))]
    else:
        kernels = [rng.normal(size=(kernel_size, kernel_size)) for _ in range(3)]
    pad = (kernel_size - 1) // 2
    got = call_student(activation_maps, image, kernels, name="activation_maps")
    num_filters = len(kernels)

    def reference(weights, padding=pad):
        return ref.conv2d_forward(image[None, :, :, None], ref.filter_bank(weights), np.zeros(len(weights)),
                                  pad=padding)[0][0]

    expected = reference(kernels)
    shape_hints = {
        (num_filters, height, width): "the maps are stacked on axis 0; stack them on the last axis, (H, W, F).",
        (height - 2 * pad, width - 2 * pad, num_filters): f"no padding: pad by (K - 1) // 2 = {pad} so the maps "
                                                          "keep the image's size.",
        (1, height, width, num_filters): "the examples axis is still there: return out[0], shape (H, W, F).",
        (height, width): "only one map: return one map per kernel, stacked on the last axis.",
    }
    arr = as_array("activation_maps(image, kernels)", got)
    if arr.shape != expected.shape:
        raise CheckFailure(f"activation_maps returned shape {arr.shape}, expected (H, W, F) = {expected.shape}."
                           + (f"\nLikely mistake: {shape_hints[arr.shape]}" if arr.shape in shape_hints else ""))
    assert_close("activation_maps(image, kernels)", arr, expected,
                 hint="stack the kernels into W of shape (K, K, 1, F), add a channel axis to the image, "
                      "call conv2d_forward with pad=(K-1)//2 and zero biases.",
                 diagnoses=[(reference([k[::-1, ::-1] for k in kernels]),
                             "the kernels are flipped (true convolution, e.g. scipy.signal.convolve2d). Use "
                             "cross-correlation: the kernels as they are."),
                            (np.maximum(expected, 0.0), "a ReLU is applied; return the raw filter responses."),
                            (reference([k.T for k in kernels]), "the kernels are transposed."),
                            (np.abs(expected), "absolute values are taken; return the signed responses.")])
    passed(f"activation_maps: {num_filters} maps of shape ({height}, {width}) match cross-correlation with "
           f"padding {pad}")
