"""How fast is the course's NumPy convolution next to TensorFlow's?

Times, on the same inputs, the forward and backward passes of
:func:`course_lib.conv.conv2d_forward` / :func:`course_lib.conv.conv2d_backward` (NumPy,
float64, CPU) and of ``tf.nn.conv2d`` with ``tf.GradientTape`` (float32 by default; on the
GPU when TensorFlow sees one, else on the CPU), and prints a table with the ratio.
Run on demand, not in the tests:

    .venv/bin/python benchmarks/conv_speed.py              # GPU if visible, else CPU
    .venv/bin/python benchmarks/conv_speed.py --device cpu --repeats 5
    CUDA_VISIBLE_DEVICES=-1 .venv/bin/python benchmarks/conv_speed.py

Each time is the best of ``--repeats`` runs after one warm-up run. The last column checks
that both give the same numbers (largest absolute difference of ``out``, ``dx``, ``dW``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from course_lib import conv  # noqa: E402

#: (N, H, W, C, F, K, stride, pad)
CASES = [
    (8, 28, 28, 1, 8, 3, 1, 1),
    (32, 32, 32, 3, 16, 3, 1, 1),
    (32, 32, 32, 3, 6, 5, 1, 0),
    (64, 32, 32, 16, 32, 3, 1, 1),
    (16, 64, 64, 8, 16, 4, 2, 1),
]


def best_time(function, repeats: int) -> float:
    function()  # warm-up: allocations, kernel selection, GPU start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto",
                        help="where TensorFlow runs (default: the GPU if it sees one)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                        help="TensorFlow's dtype (NumPy always computes in float64)")
    args = parser.parse_args(argv)

    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if args.device == "gpu" and not gpus:
        parser.error("TensorFlow sees no GPU")
    use_gpu = bool(gpus) and args.device != "cpu"
    device = "/GPU:0" if use_gpu else "/CPU:0"
    device_name = (tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
                   if use_gpu else f"CPU ({os.cpu_count()} cores visible)")
    dtype = getattr(tf, args.dtype)
    print(f"NumPy {np.__version__} (float64, CPU) vs TensorFlow {tf.__version__} ({args.dtype}, {device_name}); "
          f"best of {args.repeats}")

    header = ("x (N,H,W,C)", "W (K,K,C,F)", "s,p", "numpy fwd ms", "numpy bwd ms", "tf fwd ms", "tf bwd ms",
              "numpy/tf (fwd+bwd)", "max |diff|")
    rows = []
    for num_examples, height, width, channels, num_filters, kernel_size, stride, pad in CASES:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(num_examples, height, width, channels))
        W = rng.normal(size=(kernel_size, kernel_size, channels, num_filters)) / np.sqrt(kernel_size ** 2 * channels)
        b = rng.normal(size=num_filters)
        out, cache = conv.conv2d_forward(x, W, b, stride, pad)
        dout = rng.normal(size=out.shape)

        numpy_forward = best_time(lambda: conv.conv2d_forward(x, W, b, stride, pad), args.repeats)
        numpy_backward = best_time(lambda: conv.conv2d_backward(dout, cache), args.repeats)
        dx, dW, _ = conv.conv2d_backward(dout, cache)

        padding = [[0, 0], [pad, pad], [pad, pad], [0, 0]]
        with tf.device(device):
            x_tf = tf.constant(x, dtype)
            W_tf = tf.constant(W, dtype)
            b_tf = tf.constant(b, dtype)
            dout_tf = tf.constant(dout, dtype)

            def tf_forward():
                return (tf.nn.conv2d(x_tf, W_tf, strides=stride, padding=padding) + b_tf).numpy()

            def tf_forward_backward():
                with tf.GradientTape() as tape:
                    tape.watch([x_tf, W_tf, b_tf])
                    result = tf.nn.conv2d(x_tf, W_tf, strides=stride, padding=padding) + b_tf
                grads = tape.gradient(result, [x_tf, W_tf, b_tf], output_gradients=dout_tf)
                return result.numpy(), [g.numpy() for g in grads]

            tf_fwd = best_time(tf_forward, args.repeats)
            tf_both = best_time(tf_forward_backward, args.repeats)
            tf_out, (tf_dx, tf_dW, _) = tf_forward_backward()
        tf_bwd = max(tf_both - tf_fwd, 0.0)
        difference = max(np.abs(tf_out - out).max(), np.abs(tf_dx - dx).max(), np.abs(tf_dW - dW).max())
        rows.append((str(x.shape), str(W.shape), f"{stride},{pad}", f"{1e3 * numpy_forward:.2f}",
                     f"{1e3 * numpy_backward:.2f}", f"{1e3 * tf_fwd:.2f}", f"{1e3 * tf_bwd:.2f}",
                     f"{(numpy_forward + numpy_backward) / tf_both:.1f}x", f"{difference:.1e}"))

    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]
    line = " | ".join(h.ljust(w) for h, w in zip(header, widths))
    print(line)
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(cell.rjust(w) if i >= 3 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))))
    print("tf bwd = (forward + GradientTape backward) - forward; the ratio compares the two totals.")


if __name__ == "__main__":
    main()
