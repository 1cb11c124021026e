"""Evidence for grading outside the student's kernel: what the student's functions returned.

A check calls the student's code only through :func:`course_lib.checks.compare.call_student`.
When grading, that call is *recorded*: a fingerprint of the inputs (the function's name
and a hash of every argument) and the result, written as plain data (JSON; arrays as
lists with their dtype, never pickles) to the file named by :data:`RECORD_ENV`.

Where an answer cannot travel as data itself (a Keras model, a ``tf.data`` pipeline, a
function whose speed matters), the check records what it measured of it instead
(:func:`course_lib.checks.compare.observe`): the model's layers and predictions on the
check's inputs, the batches the pipeline yields, the variables after a training step.

The grader then runs the same grade-cell code again in its own, trusted process, where
``call_student`` and ``observe`` *replay* those results instead of calling anything (see
:mod:`course_lib.grading.trusted`). The expected values are computed there, by the
grader's own NumPy and ``course_lib``, so nothing the notebook does to NumPy, builtins,
IPython or the checks inside its kernel changes the verdict. What the notebook can do is
write whatever results it likes into the record, which earns points only when they are
the right answers for inputs it is shown only at grading time: the work itself. The same
holds for measured values (a model's predictions, the variables after a step). Measured
*behaviour* is weaker: whether a backward pass used automatic differentiation, where
``tape.gradient`` ran, how fast a function was. It is judged outside the kernel, but a
notebook that replaces the measuring code in its kernel (or writes the record itself) can
misreport it, just as it could fool the kernel's own check before.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import Counter
from contextvars import ContextVar
from typing import Any

import numpy as np

RECORD_ENV = "DLCOURSE_EVIDENCE_FILE"
# Bounds on a record the grader reads back. Honest records hold a few results per check
# (arrays as lists: a few dimensions deep); only a notebook writing the file itself passes these.
MAX_RECORD_BYTES = 64 * 2**20
MAX_DEPTH = 64


class NotRecordable(TypeError):
    """A value that cannot travel as plain data (a model, a file handle, ...)."""


class UnreadableRecord(Exception):
    """The record as a whole cannot be trusted (too large, nested too deeply): no call is answered."""


class ReplayMiss(Exception):
    """The trusted replay met a call that the record does not hold.

    Deliberately not an ``AssertionError``: the grader decides what a miss means.
    """


# ------------------------------------------------------------------ values as plain data
def to_data(value: Any) -> Any:
    """A JSON-safe form of ``value`` that :func:`from_data` turns back into an equal value."""
    if hasattr(value, "numpy") and callable(value.numpy) and not isinstance(value, np.ndarray):
        value = value.numpy()                       # a TensorFlow tensor or variable
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise NotRecordable(f"array of dtype {value.dtype}")
        return {"__array__": value.tolist(), "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, np.generic):
        return {"__scalar__": value.item(), "dtype": value.dtype.str}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, tuple):
        return {"__tuple__": [to_data(v) for v in value]}
    if isinstance(value, list):
        return [to_data(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"__dict__": {k: to_data(v) for k, v in value.items()}}
    raise NotRecordable(type(value).__name__)


def from_data(data: Any) -> Any:
    """Inverse of :func:`to_data`."""
    if isinstance(data, list):
        return [from_data(v) for v in data]
    if not isinstance(data, dict):
        return data
    if "__array__" in data:
        return np.array(data["__array__"], dtype=np.dtype(data["dtype"])).reshape(data["shape"])
    if "__scalar__" in data:
        return np.dtype(data["dtype"]).type(data["__scalar__"])
    if "__float__" in data:
        return float(data["__float__"])
    if "__tuple__" in data:
        return tuple(from_data(v) for v in data["__tuple__"])
    if "__dict__" in data:
        return {k: from_data(v) for k, v in data["__dict__"].items()}
    raise ValueError(f"not recorded data: {sorted(data)[:3]}")


# ------------------------------------------------------------------ fingerprints of inputs
def _feed(digest, value: Any) -> None:
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        digest.update(f"nd{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    elif isinstance(value, np.random.Generator):
        digest.update(b"rng" + json.dumps(value.bit_generator.state, sort_keys=True, default=str).encode())
    elif isinstance(value, (tuple, list)):
        # a namedtuple comes back from the record as a plain tuple: fingerprint it as one
        digest.update(f"{'tuple' if isinstance(value, tuple) else 'list'}{len(value)}(".encode())
        for item in value:
            _feed(digest, item)
        digest.update(b")")
    elif isinstance(value, dict):
        digest.update(f"dict{len(value)}(".encode())
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
        digest.update(b")")
    elif value is None or isinstance(value, (bool, int, float, str, np.generic)):
        digest.update(f"{type(value).__name__}:{value!r}".encode())
    else:
        raise NotRecordable(type(value).__name__)


def fingerprint(name: str, args: tuple, kwargs: dict) -> str:
    """A hash of a call's function name and inputs (arrays by dtype, shape and bytes)."""
    digest = hashlib.sha256(name.encode())
    _feed(digest, tuple(args))
    _feed(digest, dict(kwargs))
    return digest.hexdigest()


# ------------------------------------------------------------------ recording and replaying
class Recorder:
    """Appends one JSON line per student call to a file (flushed, so a crash keeps what came before)."""

    def __init__(self, path: str):
        self.path = path

    def write(self, key: str | None, outcome: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"key": key, **outcome}) + "\n")


class Replayer:
    """Answers calls from a record: the k-th call with some inputs gets the k-th recorded result."""

    def __init__(self, lines: list[dict]):
        self.outcomes: dict[str, list[dict]] = {}
        for line in lines:
            if isinstance(line, dict) and isinstance(line.get("key"), str):
                self.outcomes.setdefault(line["key"], []).append(line)
        self.seen: Counter = Counter()

    @classmethod
    def from_file(cls, path) -> "Replayer":
        """The record at ``path`` (none: an empty one); a line that is not JSON is not evidence.

        Raises :class:`UnreadableRecord` for a record over :data:`MAX_RECORD_BYTES` or with a
        line nested deeper than :data:`MAX_DEPTH`: the grader must not parse, hold or recurse
        through whatever a hostile notebook wrote there.
        """
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_RECORD_BYTES + 1)
        except OSError:
            return cls([])
        if len(data) > MAX_RECORD_BYTES:
            raise UnreadableRecord(f"it is larger than {MAX_RECORD_BYTES // 2**20} MB")
        lines = []
        for raw in data.splitlines():
            try:
                line = json.loads(raw)
            except ValueError:            # not JSON, or not UTF-8
                continue                  # a damaged line is simply not evidence
            except RecursionError:
                raise UnreadableRecord(f"a line is nested more than {MAX_DEPTH} levels deep") from None
            if _depth(line) > MAX_DEPTH:
                raise UnreadableRecord(f"a line is nested more than {MAX_DEPTH} levels deep")
            lines.append(line)
        return cls(lines)

    def outcome(self, key: str) -> dict:
        recorded = self.outcomes.get(key, [])
        index = self.seen[key]
        self.seen[key] += 1
        if index >= len(recorded):
            raise ReplayMiss(key)
        return recorded[index]


def _depth(value: Any) -> int:
    """How deeply lists and dicts nest in ``value``, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list):
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        stack.extend((item, depth + 1) for item in value if isinstance(item, (list, dict)))
    return deepest


_recorder: Recorder | None = Recorder(os.environ[RECORD_ENV]) if os.environ.get(RECORD_ENV) else None
replayer: ContextVar[Replayer | None] = ContextVar("replayer", default=None)


def recorder() -> Recorder | None:
    """The active recorder inside a graded kernel, else None."""
    return _recorder
