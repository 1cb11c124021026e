"""Gradient checking: compare a backward pass with centred finite differences.

A gradient computed by hand is easy to get *almost* right. The check is simple:
nudge one number of a parameter by ``+h`` and ``-h``, recompute the loss, and
compare the slope ``(f(x + h) - f(x - h)) / (2h)`` with the analytic gradient.

Two ways to measure the difference between an analytic gradient ``a`` and a
numerical one ``n`` of the same parameter:

* :func:`rel_error`, CS231n's *largest elementwise* relative error
  ``max_i |a_i - n_i| / max(1e-8, |a_i| + |n_i|)``. It finds the single worst entry,
  but an entry whose true gradient is tiny (say 1e-4) is dominated by rounding in
  ``f(x + h) - f(x - h)``, so on a correct network with hundreds of weights it
  can read 1e-7 to 1e-5 now and then;
* :func:`norm_rel_error`, the *norm-based* relative error
  ``||a - n|| / (||a|| + ||n||)`` (Andrew Ng's gradient check). It weighs every entry
  by its size and is what :func:`gradient_check_report` uses for pass/fail.

What to expect in float64 with ``h = 1e-5`` on the course's networks (sigmoid,
tanh, ReLU, MSE), measured over many random two-layer networks:

* norm-based error about 1e-11 to 1e-8 (worst seen about 5e-9): correct;
* largest elementwise error usually 1e-10 to 1e-7, occasionally up to about 1e-5
  on a correct network (tiny entries, or a ReLU kink crossed by the ``+-h`` step);
* 1e-3 or more with either measure: a bug. A wrong transpose, a missing sum over
  the batch, a forgotten factor of 2 or 1/N give errors from about 0.1 to 1.

The pass threshold of :func:`gradient_check_report` is ``1e-7`` on the norm-based
error for float64 parameters (:data:`THRESHOLDS`). Gradient checks belong in
float64: in float32 the rounding of the loss alone gives errors around 1e-3, so the
float32 threshold is a loose 1e-2.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

#: the course's pass thresholds on :func:`norm_rel_error`, by the dtype of the parameters (one convention:
#: the unit 02 checks use the float64 value too)
THRESHOLDS = {"float64": 1e-7, "float32": 1e-2}
DEFAULT_THRESHOLD = THRESHOLDS["float64"]


def numerical_gradient(f: Callable[[np.ndarray], Any], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Centred-difference gradient of a scalar function at ``x``.

    For every entry ``i`` of ``x``: ``grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2 h)``,
    with an error of order ``h**2``.

    Args:
        f: called as ``f(x)`` and returning a scalar (a float or a size-1 array). It
            may also ignore its argument and read ``x`` through a closure (for example
            ``lambda _: model.loss(X, y)[0]`` with ``x = model.params["W1"]``), because
            ``x`` is modified **in place**.
        x: a float array of any shape, e.g. W1 (D, H). Each entry is changed in place
            and restored to its exact original value before the next one.
        h: the step.

    Returns:
        The numerical gradient, same shape as ``x``, float64.
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise TypeError("numerical_gradient needs x to be a float NumPy array (it is changed in place)")
    grad = np.zeros(x.shape, dtype=np.float64)
    for index in np.ndindex(x.shape):
        old_value = x[index]
        x[index] = old_value + h
        f_plus = _scalar(f(x))
        x[index] = old_value - h
        f_minus = _scalar(f(x))
        x[index] = old_value                       # restore exactly
        grad[index] = (f_plus - f_minus) / (2.0 * h)
    return grad


def _scalar(value: Any) -> float:
    """A loss as a float; a ``(loss, grads)`` tuple gives its loss."""
    if isinstance(value, tuple):
        value = value[0]
    array = np.asarray(value, dtype=np.float64)
    if array.size != 1:
        raise ValueError(f"the function should return a scalar loss, got an array of shape {array.shape}")
    return float(array.reshape(()))


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest elementwise relative error ``|a - b| / max(1e-8, |a| + |b|)`` (as in CS231n).

    Two zeros give 0 (the ``1e-8`` floor keeps it safe). a and b: the same shape, any.
    Returns a float: near 1e-8 or below for a correct float64 gradient (see the module docstring).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error needs arrays of one shape; got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def norm_rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Norm-based relative error ``||a - b|| / (||a|| + ||b||)`` (0 when both are zero).

    a and b: the same shape, any. Robust to a few tiny entries; about 1e-11 to 1e-8
    for a correct float64 gradient checked with ``h = 1e-5``.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"norm_rel_error needs arrays of one shape; got {a.shape} and {b.shape}")
    denominator = np.linalg.norm(a) + np.linalg.norm(b)
    if denominator == 0.0:
        return 0.0
    return float(np.linalg.norm(a - b) / denominator)


@dataclass
class ParameterCheck:
    """One row of a :class:`GradientCheckReport`.

    ``relative_error`` is :func:`norm_rel_error` (decides pass/fail);
    ``max_elementwise_error`` is :func:`rel_error`, the worst single entry.
    """

    name: str
    shape: tuple[int, ...]
    analytic_norm: float
    numerical_norm: float
    relative_error: float
    max_elementwise_error: float
    passed: bool


@dataclass
class GradientCheckReport:
    """Per-parameter comparison of analytic and numerical gradients.

    ``str(report)`` (and its display in a notebook) is a table; ``report.passed`` is
    True when every parameter's norm-based relative error is below ``threshold``;
    ``report.errors`` maps each name to that relative error.
    """

    rows: list[ParameterCheck] = field(default_factory=list)
    threshold: float = DEFAULT_THRESHOLD
    h: float = 1e-5

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    @property
    def errors(self) -> dict[str, float]:
        return {row.name: row.relative_error for row in self.rows}

    def __getitem__(self, name: str) -> ParameterCheck:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def _table(self) -> list[list[str]]:
        header = ["parameter", "shape", "|analytic|", "|numerical|", "rel. error",
                  "worst entry", "result"]
        body = [[row.name, str(row.shape), f"{row.analytic_norm:.6g}", f"{row.numerical_norm:.6g}",
                 f"{row.relative_error:.2e}", f"{row.max_elementwise_error:.2e}",
                 "pass" if row.passed else "FAIL"] for row in self.rows]
        return [header, *body]

    def __str__(self) -> str:
        table = self._table()
        widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
                 for line in table]
        lines.insert(1, "  ".join("-" * width for width in widths))
        lines.append(self._caption())
        return "\n".join(lines)

    def _caption(self) -> str:
        verdict = "all gradients pass" if self.passed else "some gradients FAIL"
        return (f"{verdict} (pass: rel. error = ||a - n|| / (||a|| + ||n||) < {self.threshold:.0e}; "
                f"worst entry = largest elementwise rel. error; h = {self.h:g})")

    __repr__ = __str__

    def _repr_html_(self) -> str:
        import html
        table = self._table()
        head = "".join(f"<th>{html.escape(cell)}</th>" for cell in table[0])
        rows = []
        for line, row in zip(table[1:], self.rows):
            colour = "" if row.passed else ' style="color:#b00020;font-weight:bold"'
            rows.append(f"<tr{colour}>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in line) + "</tr>")
        caption = self._caption()
        return (f"<table><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table>")


def _accepts_argument(function: Callable[..., Any]) -> bool:
    """True if ``function`` can be called with one positional argument."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return True
    try:
        signature.bind(None)
        return True
    except TypeError:
        return False


def gradient_check_report(f_or_model: Any, params: Mapping[str, np.ndarray] | None = None,
                          analytic_grads: Mapping[str, np.ndarray] | None = None, *,
                          X: np.ndarray | None = None, y: np.ndarray | None = None,
                          h: float = 1e-5, threshold: float | None = None) -> GradientCheckReport:
    """Check analytic gradients against centred differences, parameter by parameter.

    Args:
        f_or_model: either

            * a loss function of the parameters: ``f(params)`` (or ``f()``) returning
              the scalar loss or a ``(loss, grads)`` tuple, computed from the arrays in
              ``params`` (which are nudged in place); or
            * a model with a ``params`` dict and a ``loss(X, y) -> (loss, grads)``
              method, such as :class:`course_lib.mlp.TwoLayerNet`; then pass ``X``
              (N, D) and ``y`` (N,) and leave ``params``/``analytic_grads`` out.
        params: name -> parameter array (float64), e.g. ``W1 (D, H)``, ``b1 (H,)``.
        analytic_grads: name -> gradient, each shaped like its parameter. When omitted,
            the gradients returned by ``f`` (or ``model.loss``) at ``params`` are used.
        h: finite-difference step.
        threshold: pass threshold on the relative error; defaults to :data:`THRESHOLDS`
            for the parameters' dtype (1e-7 for float64).

    Returns:
        A :class:`GradientCheckReport`: one row per gradient with the norms of the
        analytic and numerical gradients, their norm-based relative error
        (:func:`norm_rel_error`, decides pass/fail), the largest elementwise one
        (:func:`rel_error`) and pass/fail.
    """
    loss_function, params = _loss_function(f_or_model, params, X, y)
    if analytic_grads is None:
        value = loss_function()
        if not (isinstance(value, tuple) and len(value) == 2):
            raise ValueError("pass analytic_grads, or a function that returns (loss, grads)")
        analytic_grads = value[1]
    if threshold is None:
        dtypes = {np.asarray(params[name]).dtype.name for name in analytic_grads}
        threshold = max(THRESHOLDS.get(dtype, DEFAULT_THRESHOLD) for dtype in dtypes)

    report = GradientCheckReport(threshold=threshold, h=h)
    for name, analytic in analytic_grads.items():
        if name not in params:
            raise KeyError(f"gradient {name!r} has no parameter of that name")
        report.rows.append(_check_parameter(name, analytic, params[name], loss_function, h, threshold))
    return report


def _loss_function(f_or_model: Any, params: Mapping[str, np.ndarray] | None, X: np.ndarray | None,
                   y: np.ndarray | None) -> tuple[Callable[..., Any], Mapping[str, np.ndarray]]:
    """The loss as a function that ignores its argument, and the params it reads (a model's own by default)."""
    if hasattr(f_or_model, "loss") and hasattr(f_or_model, "params") and not callable(f_or_model):
        if X is None or y is None:
            raise ValueError("pass X and y to check a model's gradients")
        model = f_or_model
        params = model.params if params is None else params

        def loss_function(_params: Any = None) -> Any:
            return model.loss(X, y)
    else:
        if params is None:
            raise ValueError("pass the params dict that the loss function reads")
        user_function = f_or_model
        takes_params = _accepts_argument(user_function)

        def loss_function(_params: Any = None) -> Any:
            return user_function(params) if takes_params else user_function()

    return loss_function, params


def _check_parameter(name: str, analytic: np.ndarray, parameter: np.ndarray, loss_function: Callable[..., Any],
                     h: float, threshold: float) -> ParameterCheck:
    """One row of the report: ``parameter``'s analytic gradient (shaped like it) against its numerical one."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numerical = numerical_gradient(lambda _x: loss_function(), parameter, h)
    if analytic.shape != numerical.shape:
        error = worst = float("inf")   # a wrong shape is a failed check, whatever the values
    else:
        error, worst = norm_rel_error(analytic, numerical), rel_error(analytic, numerical)
    return ParameterCheck(
        name=name, shape=tuple(np.shape(parameter)), analytic_norm=float(np.linalg.norm(analytic)),
        numerical_norm=float(np.linalg.norm(numerical)), relative_error=error,
        max_elementwise_error=worst, passed=bool(error < threshold))
