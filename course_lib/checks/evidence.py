"""Evidence for grading outside the student's kernel: what the student's functions returned.

A check calls the student's code only through :func:`course_lib.checks.calling.call_student`.
When grading, that call is *recorded* under a key that says which call it is (the check,
marked by :func:`graded_check`, with its literal parameters such as seed and shapes; the
student's function; the call's order within the check), with a small sketch of its
inputs and the result, as plain data (JSON; arrays as lists with their dtype, never
pickles) in the file named by :data:`RECORD_ENV`.

Keys never depend on floating-point bits. The kernel and the grader compute a check's
inputs in two processes that may differ in BLAS kernel (``OPENBLAS_CORETYPE``), thread
count or library build, and so in the last bits of a matrix product. The re-run finds a
call by its key and then compares the recorded inputs with its own under a stated
tolerance (:func:`same_inputs`, :data:`INPUT_RTOL`).

Where an answer cannot travel as data itself (a Keras model, a ``tf.data`` pipeline, a
function whose speed matters), the check records what it measured of it instead
(:func:`course_lib.checks.calling.observe`): the model's layers and predictions on the
check's inputs, the batches the pipeline yields, the variables after a training step.

The grader then runs the same grade-cell code again in its own, trusted process, where
``call_student`` and ``observe`` *replay* those results instead of calling anything (see
:mod:`course_lib.grading.recheck`). The expected values are computed there, by the
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

import functools
import json
import math
import os
from collections import Counter
from contextvars import ContextVar
from typing import Any, Callable

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


# ------------------------------------------------------------------ which call is this?
class _CheckCall:
    """One running grade-cell check: what identifies it, and how often it has called each function."""

    def __init__(self, identity: str, module: str):
        self.identity = identity
        self.module = module            # the checks module: its REFERENCES are the own-work rule's
        self.calls: Counter = Counter()


_current_check: ContextVar[_CheckCall | None] = ContextVar("current_check", default=None)


def _parameter(value: Any) -> str:
    """A check's keyword argument as part of its identity: literals by value, else ``*``.

    Only what reads the same in the kernel and in the grader's re-run counts: a seed, a
    shape, a name. Floats never identify a call (see :func:`same_inputs` for why).
    """
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "(" + ",".join(_parameter(v) for v in value) + ")"
    return "*"


def graded_check(check: Callable[..., Any]) -> Callable[..., Any]:
    """Mark ``check`` as a function that grade cells call, so that its calls can be identified.

    Every call that ``check`` makes to a student's function is recorded under the check's
    name, its keyword parameters (seed, shapes, names), the function's name and the call's
    order within the check: the same key in the student's kernel and in the grader's
    re-run, whatever the floating-point bits of the inputs (another BLAS kernel, thread
    count or NumPy build changes those). Grade cells pass the student's functions and
    values positionally (they count as ``*``: an int or a string answer is a literal in the
    kernel but a stand-in in the re-run) and parameters by keyword, as literals. A check
    called from inside another check belongs to the outer one.
    """
    name = f"{check.__module__}.{check.__qualname__}"

    @functools.wraps(check)
    def run(*args: Any, **kwargs: Any) -> Any:
        if _current_check.get() is not None:
            return check(*args, **kwargs)
        # positional: the student's functions and values (a stand-in in the re-run, whatever
        # their type); keyword: the parameters a grade cell writes as literals (seed=3)
        parameters = ["*"] * len(args) + [f"{k}={_parameter(v)}" for k, v in sorted(kwargs.items())]
        token = _current_check.set(_CheckCall(f"{name}({','.join(parameters)})", check.__module__))
        try:
            return check(*args, **kwargs)
        finally:
            _current_check.reset(token)

    run.graded_check = True
    return run


def current_check_module() -> str | None:
    """The module of the running check (None outside a check)."""
    current = _current_check.get()
    return current.module if current is not None else None


def call_key(name: str) -> str:
    """The key of the next call to the student's ``name`` in the running check."""
    current = _current_check.get()
    if current is None:
        return f"-|{name}"
    index = current.calls[name]
    current.calls[name] += 1
    return f"{current.identity}|{name}#{index}"


# ------------------------------------------------------------------ inputs, compared with a tolerance
#: relative tolerance for the inputs a call saw: far above rounding (1e-16 per operation),
#: far below any change a different seed or shape makes
INPUT_RTOL = 1e-6
_PROBE_SEED = 20240917


def sketch(value: Any) -> Any:
    """What the grader compares of a call's inputs: plain data, small whatever the input's size.

    Arrays become their shape, dtype, sum, sum of absolute values and two fixed random
    projections (which notice a permutation or a sign); integers, strings and generator
    states stay exact; floats stay floats. Objects that are not data (a Keras model)
    become their type's name.
    """
    if hasattr(value, "numpy") and callable(value.numpy) and not isinstance(value, np.ndarray):
        try:
            value = value.numpy()
        except Exception:
            return {"object": type(value).__name__}
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        flat = value.astype(np.float64).ravel()
        probes = np.random.default_rng(_PROBE_SEED).normal(size=(2, flat.size))
        finite = np.isfinite(flat)
        where_not = []
        if not finite.all():   # nan or inf would make every statistic nan: sketch the finite part, then where the others are
            codes = np.where(finite, 0.0, np.where(np.isnan(flat), 1.0, np.where(flat > 0, 2.0, 3.0)))
            flat = np.where(finite, flat, 0.0)
            where_not = [float(v) for v in probes @ codes]
        return {"array": list(value.shape), "kind": value.dtype.kind,
                "stats": [float(flat.sum()), float(np.abs(flat).sum()), *map(float, probes @ flat), *where_not]}
    if isinstance(value, np.random.Generator):
        return {"rng": json.loads(json.dumps(value.bit_generator.state, default=str))}
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, (tuple, list)):
        return [sketch(v) for v in value]
    if isinstance(value, dict):
        return {"dict": [[repr(k), sketch(value[k])] for k in sorted(value, key=repr)]}
    return {"object": type(value).__name__}


def same_inputs(recorded: Any, ours: Any, rtol: float = INPUT_RTOL) -> bool:
    """Whether a recorded sketch and the grader's own agree: exactly where exact, else within ``rtol``.

    Two processes can compute the same inputs with different last bits (a matrix product
    on another BLAS kernel), so numbers compare relative to the input's size: an array's
    statistics against its sum of absolute values, a float against itself.
    """
    if isinstance(ours, dict) and "array" in ours:
        if not (isinstance(recorded, dict) and recorded.get("array") == ours["array"]
                and recorded.get("kind") == ours["kind"] and isinstance(recorded.get("stats"), list)
                and len(recorded["stats"]) == len(ours["stats"])):
            return False
        try:
            theirs = np.asarray(recorded["stats"], dtype=float)
        except (TypeError, ValueError):
            return False
        scale = max(abs(ours["stats"][1]), 1e-300) * 8   # projections are up to a few times the 1-norm
        return bool(np.all(np.abs(theirs - np.asarray(ours["stats"])) <= rtol * scale + 1e-300))
    if isinstance(ours, float) and not isinstance(ours, bool):
        return (isinstance(recorded, (int, float)) and not isinstance(recorded, bool)
                and abs(recorded - ours) <= rtol * max(abs(ours), 1e-12))
    if isinstance(ours, list):
        return (isinstance(recorded, list) and len(recorded) == len(ours)
                and all(same_inputs(r, o, rtol) for r, o in zip(recorded, ours)))
    if isinstance(ours, dict):
        if not isinstance(recorded, dict) or recorded.keys() != ours.keys():
            return False
        return all(same_inputs(recorded[k], ours[k], rtol) for k in ours)
    return type(recorded) is type(ours) and recorded == ours


# ------------------------------------------------------------------ recording and replaying
class Recorder:
    """Appends one JSON line per student call to a file (flushed, so a crash keeps what came before)."""

    def __init__(self, path: str):
        self.path = path

    def write(self, key: str, inputs: Any, outcome: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"key": key, "inputs": inputs, **outcome}) + "\n")


class Replayer:
    """Answers calls from a record: a call gets the first unused outcome under its key whose inputs match."""

    def __init__(self, lines: list[dict]):
        self.outcomes: dict[str, list[dict]] = {}
        for line in lines:
            if isinstance(line, dict) and isinstance(line.get("key"), str):
                self.outcomes.setdefault(line["key"], []).append(line)
        self.used: set[int] = set()

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

    def outcome(self, key: str, inputs: Any) -> dict:
        """The recorded outcome for the call ``key`` that saw ``inputs`` (a :func:`sketch`).

        A student's answer cell may run a check too, so a key can hold several outcomes: the
        first one not yet used whose inputs match is the answer. Raises :class:`ReplayMiss`.
        """
        recorded = self.outcomes.get(key, [])
        for line in recorded:
            if id(line) not in self.used and same_inputs(line.get("inputs"), inputs):
                self.used.add(id(line))
                return line
        if recorded:
            raise ReplayMiss(f"{key}: recorded, but for other inputs")
        raise ReplayMiss(key)


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
