"""Checks for unit 02: backpropagation by hand, with gradient checking.

Every ``check_*`` builds its inputs from ``seed``, calls the student's function,
compares the result with the references in :mod:`course_lib.layers`,
:mod:`course_lib.mlp` and :mod:`course_lib.gradcheck`, prints one line when it
passes, and raises :class:`~course_lib.checks.compare.CheckFailure` (an
``AssertionError``) with a message that names the likely mistake when it does not.
Tolerance: ``rtol=1e-5`` (a float32 computation passes; realistic mistakes are off
by far more). Gradient-check based checks use the norm-based relative error
``||a - n|| / (||a|| + ||n||)`` with the course's one float64 threshold, ``1e-7``
(:data:`course_lib.gradcheck.THRESHOLDS`).

The "no shortcuts" rule: in the backward-pass exercises the gradients must be
written by hand. A function that computes them with an automatic-differentiation
tool (``tf.GradientTape``, ``jax.grad``, ``torch.autograd``, HIPS ``autograd``...)
earns no points, whatever its numbers (:mod:`.rules` finds such tools, statically and
while the function runs, and records the findings with the results, so the grader's
trusted re-check enforces the rule too).

Replay: every check reaches student code only through
:func:`~course_lib.checks.calling.call_student` (or measures it with
:func:`~course_lib.checks.calling.observe`) and judges only returned data, so the grader
can re-run it outside the kernel (``TRUSTED_REPLAY``). Checks therefore name the
student's functions by the exercise's names, not by their ``__name__``, and build every
input themselves, including the small examples the notebook shows (:data:`TINY_X`,
:func:`gradient_check_problem`, the gene-expression training data).
"""

from __future__ import annotations

from ..rules import find_autodiff_use  # noqa: F401 (the no-shortcuts rule these checks apply)
from .gradient_check import (FLOAT32_GRADIENT_THRESHOLD, GRADIENT_CHECK_THRESHOLD, check_gradient_check,  # noqa: F401
                             check_numerical_gradient, gradient_check_problem)
from .layers import (check_activation, check_affine_backward, check_affine_forward, check_leaky_relu,  # noqa: F401
                     check_relu, check_sigmoid, check_tanh)
from .network import (_GRAPH_VALUE_NODES, TINY_PARAMS, TINY_X, TINY_Y, _network_inputs, _two_layer_variant,  # noqa: F401
                      check_graph_shapes, check_graph_values, check_two_layer_forward, check_two_layer_loss,
                      graph_node_shapes)
from .training import (check_fixed_backprop, check_init_params, check_saturation_factor,  # noqa: F401
                       check_train_two_layer, lecture_inputs)

#: the grader may re-run these checks outside the kernel from recorded results
#: (:mod:`course_lib.grading.recheck`): they reach student code only through call_student and observe
TRUSTED_REPLAY = True
#: the references that answer this unit's exercises (the own-work rule, :mod:`.own_work`);
#: ``gradcheck.rel_error`` and ``gradient_check_report`` are tools the notebook hands out
REFERENCES = ("course_lib.layers.sigmoid", "course_lib.layers.sigmoid_forward", "course_lib.layers.sigmoid_backward",
              "course_lib.layers.tanh_forward", "course_lib.layers.tanh_backward",
              "course_lib.layers.relu_forward", "course_lib.layers.relu_backward",
              "course_lib.layers.leaky_relu_forward", "course_lib.layers.leaky_relu_backward",
              "course_lib.layers.affine_forward", "course_lib.layers.affine_backward", "course_lib.layers.mse_loss",
              "course_lib.mlp", "course_lib.gradcheck.numerical_gradient")

