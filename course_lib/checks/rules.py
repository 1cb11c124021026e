"""Behaviour rules that checks enforce on the student's code, beyond its results.

* **No shortcuts** (unit 02): in the backward-pass exercises the gradients must be written
  by hand. A function that computes them with an automatic-differentiation tool
  (``tf.GradientTape``, ``jax.grad``, ``torch.autograd``, HIPS ``autograd``...) earns no
  points, whatever its numbers. :func:`find_autodiff_use` looks for such tools in two
  independent ways: statically, in the code objects of the function and of every function
  it calls, recursively (names, imports, closures, globals); and dynamically
  (:func:`call_watched`), by watching which modules' code runs during one call
  (``sys.setprofile``) and which get imported. The findings are recorded with the results
  (:func:`assert_no_autodiff`), so the grader's trusted re-check enforces the rule too.
* **Inputs stay untouched** (:func:`assert_inputs_untouched`): a function must not change
  its array arguments in place.
* **Where ``tape.gradient`` runs** (unit 03, :func:`watch_gradient_calls`): never graded,
  only noted for a persistent tape that was still recording.
* **Speed** (unit 04, :func:`race`): how long the student's code takes next to a reference.

Every rule is *measured* inside the kernel (through :func:`~course_lib.checks.calling.observe`
or a recorded call) and *judged* from that data, in the kernel and in the grader's re-check.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import types
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from . import evidence
from .calling import call_student, observe, raise_with_shapes, run_student
from .compare import CheckFailure


# ====================================================================== no shortcuts
#: top-level modules that differentiate automatically (or wrap a framework that does)
AUTODIFF_MODULES = frozenset({"tensorflow", "tf_keras", "keras", "jax", "jaxlib", "flax", "torch",
                              "autograd", "mxnet", "paddle", "mlx", "chainer", "theano", "pytensor"})
#: names that only automatic differentiation uses
AUTODIFF_NAMES = frozenset({"GradientTape", "value_and_grad", "vjp", "jvp", "jacrev", "jacfwd",
                            "autograd", "elementwise_grad", "ForwardAccumulator"})
#: library modules whose functions are trusted and not walked into
_TRUSTED_MODULES = frozenset({"numpy", "scipy", "math", "cmath", "builtins", "functools", "itertools",
                              "operator", "collections", "copy", "typing", "random", "statistics",
                              "course_lib", "IPython", "ipykernel", "matplotlib", "abc", "numbers",
                              "dataclasses", "enum", "warnings", "inspect", "_operator", "_functools"})
_MAX_DEPTH = 8


def _root(module_name: Any) -> str:
    return module_name.split(".", 1)[0] if isinstance(module_name, str) else ""


_LIBRARY_PREFIXES = tuple(sorted({os.path.realpath(prefix) + os.sep
                                  for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix)}))


def _is_library_file(filename: str | None) -> bool:
    """True for code of the Python installation (standard library, site-packages): not walked."""
    if not filename or filename.startswith("<frozen"):
        return True
    if filename.startswith("<"):                    # exec'd or interactive code: the student's
        return False
    return os.path.realpath(filename).startswith(_LIBRARY_PREFIXES)


def _is_library_module(module_name: Any) -> bool:
    if _root(module_name) in _TRUSTED_MODULES:
        return True
    module = sys.modules.get(module_name) if isinstance(module_name, str) else None
    return module is not None and _is_library_file(getattr(module, "__file__", None))


def _code_objects(code: types.CodeType) -> Iterable[types.CodeType]:
    """A code object and every code object nested in it (inner functions, lambdas, comprehensions)."""
    yield code
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _code_objects(constant)


def _static_findings(obj: Any, findings: list[str], seen: set[int], depth: int = 0) -> None:
    """Walk ``obj`` (a function, method, partial, module, class or callable) for autodiff tools."""
    if depth > _MAX_DEPTH or id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, types.ModuleType):
        if _root(obj.__name__) in AUTODIFF_MODULES:
            findings.append(f"uses the module `{obj.__name__}`")
        return
    owner = getattr(obj, "__module__", None)
    type_owner = getattr(type(obj), "__module__", None)
    for module_name in (owner, type_owner):
        if _root(module_name) in AUTODIFF_MODULES:
            label = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__name__
            findings.append(f"uses `{label}` from `{module_name}`")
            return
    if isinstance(obj, types.MethodType):
        _static_findings(obj.__func__, findings, seen, depth + 1)
        return
    if hasattr(obj, "func") and hasattr(obj, "args") and callable(getattr(obj, "func")):  # functools.partial
        _static_findings(obj.func, findings, seen, depth + 1)
        return
    if isinstance(obj, type):
        if _is_library_module(owner):
            return
        for attribute in vars(obj).values():
            if isinstance(attribute, (types.FunctionType, staticmethod, classmethod)):
                _static_findings(getattr(attribute, "__func__", attribute), findings, seen, depth + 1)
        return
    if not isinstance(obj, types.FunctionType):
        call = getattr(type(obj), "__call__", None)
        if isinstance(call, types.FunctionType):
            _static_findings(call, findings, seen, depth + 1)
        return
    if depth > 0 and (_root(owner) in _TRUSTED_MODULES or _is_library_file(obj.__code__.co_filename)):
        return
    _walk_function(obj, findings, seen, depth)


def _walk_function(obj: types.FunctionType, findings: list[str], seen: set[int], depth: int) -> None:
    """:func:`_static_findings` for a plain function: its names, constants, closure and defaults."""
    function_globals = obj.__globals__
    for code in _code_objects(obj.__code__):
        for name in code.co_names:
            if name in AUTODIFF_NAMES:
                findings.append(f"calls `{name}`")
            elif name in AUTODIFF_MODULES:
                findings.append(f"imports or uses `{name}`")
            if name in function_globals:
                value = function_globals[name]
                if isinstance(value, (types.FunctionType, types.ModuleType, types.MethodType, type)) \
                        or callable(value):
                    _static_findings(value, findings, seen, depth + 1)
        for constant in code.co_consts:
            if isinstance(constant, str) and _root(constant) in AUTODIFF_MODULES:
                findings.append(f"refers to the module {constant!r}")
    for cell in obj.__closure__ or ():
        try:
            value = cell.cell_contents
        except ValueError:          # an empty cell
            continue
        _static_findings(value, findings, seen, depth + 1)
    for default in obj.__defaults__ or ():
        if callable(default) or isinstance(default, types.ModuleType):
            _static_findings(default, findings, seen, depth + 1)


def find_autodiff_use(function: Callable[..., Any]) -> list[str]:
    """Static search: how ``function`` (or anything it calls, recursively) uses autodiff tools.

    Returns a list of short findings such as ``"calls `GradientTape`"``; empty when
    none was found. NumPy, SciPy and course_lib functions are trusted and not walked.
    """
    findings: list[str] = []
    _static_findings(function, findings, set())
    return list(dict.fromkeys(findings))


def call_watched(function: Callable[..., Any], *args: Any, name: str | None = None,
                 **kwargs: Any) -> tuple[Any, list[str]]:
    """Call ``function`` through :func:`~course_lib.checks.calling.call_student` while watching it.

    Returns ``(result, findings)``: findings list the autodiff modules whose Python
    code ran, or that were imported, during the call. In the grader's re-run nothing
    runs, so there is nothing to watch (the findings come from the record instead).
    """
    if evidence.replayer.get() is not None:
        return call_student(function, *args, name=name, **kwargs), []
    modules_before = set(sys.modules)
    seen_roots: set[str] = set()

    def profiler(frame: types.FrameType, event: str, arg: Any) -> None:
        if event == "call":
            root = _root(frame.f_globals.get("__name__"))
        elif event == "c_call":
            root = _root(getattr(arg, "__module__", None))
        else:
            return
        if root in AUTODIFF_MODULES:
            seen_roots.add(root)

    previous = sys.getprofile()
    sys.setprofile(profiler)
    try:
        result = call_student(function, *args, name=name, **kwargs)
    finally:
        sys.setprofile(previous)
    imported = {_root(module) for module in set(sys.modules) - modules_before}
    findings = [f"runs code from `{root}`" for root in sorted(seen_roots)]
    findings += [f"imports `{root}`" for root in sorted(imported & AUTODIFF_MODULES - seen_roots)]
    return result, findings


def assert_no_autodiff(function: Callable[..., Any], name: str, inputs: tuple = (),
                       dynamic_findings: Iterable[str] = ()) -> None:
    """Fail with a plain "no points" message if ``function`` uses automatic differentiation.

    The findings (static, plus ``dynamic_findings`` from :func:`call_watched`) are measured in
    the kernel and recorded under ``inputs`` (the call's arguments), so that the trusted
    re-check, which cannot inspect the function, fails the same answers.
    """
    dynamic_findings = list(dynamic_findings)
    findings = observe(f"{name}: automatic differentiation",
                       lambda: list(dict.fromkeys([*find_autodiff_use(function), *dynamic_findings])), *inputs)
    if findings:
        raise CheckFailure(
            f"No points for this exercise: `{name}` uses an automatic-differentiation framework "
            f"({'; '.join(findings[:4])}).\n"
            "This exercise is backpropagation by hand: write each backward step yourself with NumPy, "
            "without tf.GradientTape, jax.grad, torch.autograd, autograd or any other framework. "
            "Automatic differentiation is the topic of unit 03.")


def call_by_hand(function: Callable[..., Any], *args: Any, name: str, shapes: str = "",
                  **kwargs: Any) -> Any:
    """Call a student's backward function, enforce the no-shortcuts rule, add the input shapes to crashes."""
    try:
        result, findings = call_watched(function, *args, name=name, **kwargs)
    except CheckFailure as failure:
        assert_no_autodiff(function, name, (args, kwargs))      # a crash that used autodiff says so
        raise_with_shapes(failure, shapes)
        raise
    assert_no_autodiff(function, name, (args, kwargs), findings)
    return result


# ====================================================================== inputs untouched
def _arrays_in(value: Any) -> list[np.ndarray]:
    """The NumPy arrays inside ``value`` (nested tuples, lists and dicts), in a fixed order."""
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, (tuple, list)):
        return [array for item in value for array in _arrays_in(item)]
    if isinstance(value, dict):
        return [array for key in sorted(value, key=str) for array in _arrays_in(value[key])]
    return []


def assert_inputs_untouched(function: Callable[..., Any], args: tuple, labels: tuple[str, ...], name: str) -> None:
    """Fail if ``function(*args)`` changes one of its array arguments in place (an upstream gradient, a cache).

    The student's function runs once more on copies (:func:`run_student` inside :func:`observe`, so
    the trusted re-check replays the finding); ``labels`` name the arguments in the message.
    """
    def measure() -> list[str]:
        def call_and_return_arguments(*copies: Any) -> tuple:
            function(*copies)
            return copies
        after = run_student(call_and_return_arguments, *args, name=name)
        return [label for label, before, now in zip(labels, args, after)
                if any(not np.array_equal(a, b, equal_nan=True) for a, b in zip(_arrays_in(before), _arrays_in(now)))]

    changed = observe(f"{name}: inputs changed in place", measure, *args)
    if changed:
        raise CheckFailure(
            f"`{name}` changes its input {' and '.join(f'`{label}`' for label in changed)} in place. The caller still "
            "owns it: an upstream gradient may feed another branch of the graph, and a cache may be used again. "
            "Write the result into a new array: dx = dout.copy() before editing entries, dx = dout * mask, or "
            "np.where(...), instead of dx = dout; dx[...] = 0 (which edits dout itself).")


# ======================================================================= tape rules
@contextlib.contextmanager
def watch_gradient_calls() -> Iterator[list[dict[str, bool]]]:
    """Record, for every ``tape.gradient`` call, whether its tape was persistent and still recording.

    Where ``tape.gradient`` sits does not matter for a default tape: on a non-persistent
    tape ``gradient()`` itself stops the recording (TensorFlow pops the tape; see
    ``GradientTape.gradient`` in ``tensorflow/python/eager/backprop.py``), so a call inside
    the ``with`` block records nothing more and gives the same numbers as one after it.
    Only a persistent tape keeps recording the gradient computation, which costs time and
    memory (TensorFlow warns); the checks then add a note, never a failure.
    """
    import tensorflow as tf

    calls: list[dict[str, bool]] = []
    original = tf.GradientTape.gradient

    def gradient(self, *args, **kwargs):
        calls.append({"recording": bool(getattr(self, "_recording", False)),
                      "persistent": bool(getattr(self, "_persistent", False))})
        return original(self, *args, **kwargs)

    tf.GradientTape.gradient = gradient
    try:
        yield calls
    finally:
        tf.GradientTape.gradient = original


_PERSISTENT_INSIDE = ("  Note: `{name}` calls `tape.gradient` inside the `with` block of a persistent tape "
                      "(`persistent=True`). A persistent tape keeps recording, so it also records the gradient "
                      "computation: more time and memory for the same numbers. Call it after the block. (On the "
                      "default, non-persistent tape the place makes no difference: gradient() stops the recording.)")


def tape_rules(calls: list[dict[str, bool]]) -> dict[str, int]:
    """Kernel side: how many ``tape.gradient`` calls ran while a persistent tape was still recording."""
    return {"persistent_recording": sum(1 for call in calls if call["persistent"] and call["recording"])}


def note_tape_placement(name: str, rules: dict[str, int]) -> None:
    """Print a note (never a failure) when a persistent tape recorded its own gradient computation."""
    if rules.get("persistent_recording", 0):
        print(_PERSISTENT_INSIDE.format(name=name))


# ============================================================================ timing
def timed(function: Callable[..., Any], *args: Any, **kwargs: Any) -> float:
    """Seconds one call of ``function(*args, **kwargs)`` takes."""
    start = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - start


def race(reference: Callable[[], Any], student: Callable[[], Any],
         limit_for: Callable[[float], float]) -> tuple[float, float]:
    """Kernel side: seconds of ``reference()`` (best of 3) and of ``student()``.

    The student's run is timed again when it is over ``limit_for(reference time)``, in case
    the machine was busy.
    """
    reference_time = min(timed(reference) for _ in range(3))
    student_time = timed(student)
    if student_time > limit_for(reference_time):
        student_time = min(student_time, timed(student))
    return reference_time, student_time
