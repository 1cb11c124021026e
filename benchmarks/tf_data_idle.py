"""Why a TensorFlow notebook graded beside another left its core idle, and how batch scheduling fixes it.

Run on demand: ``.venv/bin/python benchmarks/tf_data_idle.py [--iterators 50]``.

Each ``for batch in dataset`` (and each Keras ``fit`` epoch) makes a tf.data iterator; with
autotuning on (the default) the iterator starts a model thread, and deleting the iterator
cancels that thread. TensorFlow's cancellation wakes the thread before it marks the iterator
cancelled; on a busy core (the process kept to one core, as graded kernels are with ``--jobs``
= cores, or every core busy) the woken thread takes the core at once, sees no cancellation and
sleeps out its period while the notebook waits: about 20 ms per iterator with nothing running.
The dataset's own ``tf.data.Options().autotune.enabled`` avoids it, but that is the student's
code. Linux's ``SCHED_BATCH`` policy, which the grader gives every kernel
(:func:`course_lib.grading.execution.limited_kernel.schedule`), keeps the woken thread from
preempting, so it runs after the cancellation is marked and stops at once.

Prints wall and CPU milliseconds per iterator, one core and all cores, and all cores while a
busy loop runs on each (as when every core grades a notebook; there the process also waits
its turn for a core), autotuning on and off, normal and batch scheduling (the loops too), each
in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from course_lib.grading.execution.limited_kernel import schedule

CHILD = r"""
import json, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import tensorflow as tf

count, autotune = int(sys.argv[1]), sys.argv[2] == "on"
dataset = tf.data.Dataset.from_tensor_slices(np.zeros((8, 8), np.float32)).batch(4)   # 2 batches
options = tf.data.Options()
options.autotune.enabled = autotune
dataset = dataset.with_options(options)
for batch in dataset:   # warm up: functions traced, thread pools started
    pass
wall, cpu = time.perf_counter(), time.process_time()
for _ in range(count):
    for batch in dataset:
        pass
print(json.dumps([(time.perf_counter() - wall) / count, (time.process_time() - cpu) / count]))
"""


def measure(count: int, autotune: str, cores: set[int] | None, busy: int = 0,
            scheduling: str = "normal") -> tuple[float, float]:
    def pin():
        if cores is not None:
            os.sched_setaffinity(0, cores)
        schedule(scheduling)

    # the loops stand for the other kernels being graded, under the same policy
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=lambda: schedule(scheduling))
             for _ in range(busy)]
    try:
        run = subprocess.run([sys.executable, "-c", CHILD, str(count), autotune], capture_output=True, text=True,
                             preexec_fn=pin, check=True)
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
    return tuple(json.loads(run.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterators", type=int, default=50)
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    print(f"tf.data iterators of 2 batches each, {args.iterators} per run, on a machine with {len(cores)} cores.\n")
    print("| process kept to | autotuning | scheduling | wall ms per iterator | CPU ms per iterator | not running |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for label, share, busy in (("one core", {cores[0]}, 0), (f"all {len(cores)} cores", None, 0),
                               (f"all {len(cores)} cores, each busy with a loop", None, len(cores))):
        for autotune in ("on", "off"):
            for scheduling in ("normal", "batch"):
                wall, cpu = measure(args.iterators, autotune, share, busy, scheduling)
                print(f"| {label} | {autotune} | {scheduling} | {1000 * wall:.1f} | {1000 * cpu:.1f} "
                      f"| {max(0.0, 1 - cpu / wall):.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
