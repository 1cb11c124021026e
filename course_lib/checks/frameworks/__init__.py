"""Checks for unit 03: deep-learning frameworks (tensors, tf.data, GradientTape, Keras).

Every ``check_*`` builds its inputs from ``seed``, calls the student's function,
compares the result with the references in :mod:`course_lib.mlp` (unit 02's NumPy
network, float64), :mod:`course_lib.tape` and :mod:`course_lib.models`, prints one
line when it passes, and raises :class:`~course_lib.checks.compare.CheckFailure` (an
``AssertionError``) with a message that names the likely mistake when it does not.

Tolerances: gradients computed in float64 must match unit 02's manual gradients to
``rtol=1e-6``; float32 results (tensors, a training step) use the course default
``rtol=1e-5``; several epochs of float32 training use ``rtol=1e-4``.

Where a tape is used the loss must be one number, a mean (KNOWN-DEFECTS 6). Where
``tape.gradient`` is called is never graded (KNOWN-DEFECTS 7): on the default,
non-persistent tape ``gradient()`` stops the recording, so a call inside the ``with``
block gives the same numbers at the same cost. A spy notes, without failing, a
gradient taken while a *persistent* tape was still recording.

Replay: the answers here are live TensorFlow objects (tensors, variables, datasets,
optimizers, Keras models), which cannot travel to the grader's trusted re-check. So each
check is split in two. Inside the kernel, a *measurement* (run through
:func:`~course_lib.checks.calling.observe`) calls the student's function on the live
objects and returns plain data: a tensor's kind, dtype, shape and values; the batches a
dataset yields in two passes; the variables after a training step; whether
a persistent tape was recording during ``tape.gradient``; a Keras model's summary
(:mod:`.keras_summary`) and predictions. The *judgement* that follows uses only that
data and NumPy, in the kernel and, replayed, in the grader (``TRUSTED_REPLAY``). A check
reports the first problem in a fixed order; a problem met while measuring is kept as a
marker (:func:`_attempt`) that the judgement raises at its place in that order.
TensorFlow is imported only inside the measurements: importing this module is cheap,
and the re-check never loads TensorFlow.
"""


from __future__ import annotations

from .cross_entropy import check_cross_entropy_from_logits  # noqa: F401
from .keras_models import (_dense_counts, check_build_two_layer_model, check_dense_parameter_counts,  # noqa: F401
                           check_output_layer_and_loss, check_train_keras_model)
from .reading import check_why_average, check_why_shuffle  # noqa: F401
from .tensors import (PARAM_NAMES, check_make_train_dataset, check_steps_per_epoch, check_to_tensors,  # noqa: F401
                      check_variables_from_params)
from .training import check_tape_gradients, check_train_loop, check_train_step  # noqa: F401


#: the grader may re-run these checks outside the kernel from recorded results
#: (:mod:`course_lib.grading.recheck`): they reach student code only through call_student and observe
TRUSTED_REPLAY = True
#: the references that answer this unit's exercises (the own-work rule, :mod:`.own_work`)
REFERENCES = ("course_lib.tape", "course_lib.models.two_layer_model", "course_lib.models.set_two_layer_params",
              "course_lib.models.dense_layers", "course_lib.models.deep_mlp", "course_lib.models.dense_parameter_counts",
              "course_lib.models.output_layer_for_task")

