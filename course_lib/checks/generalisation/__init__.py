"""Checks for unit 06: generalisation (learning curves, early stopping, penalties, dropout,
batch normalisation, initialisation, augmentation).

Every ``check_*`` builds its inputs from its literal arguments (seed, shapes, rates), calls
the student's code only through :func:`~course_lib.checks.calling.call_student` (or measures
it with :func:`~course_lib.checks.calling.observe`, or takes an answer that is a value with
:func:`~course_lib.checks.calling.student_value`), compares with the references in
:mod:`course_lib.regularization` and :mod:`course_lib.layers`, prints one line when it
passes and raises :class:`~course_lib.checks.compare.CheckFailure` naming the likely
mistake when it does not. So the grader can re-run every check outside the kernel
(``TRUSTED_REPLAY``).

Tolerances: values ``rtol=1e-5`` (float32 work passes); random quantities (the share of
dropped units, the spread of initial weights) are judged with bounds several standard
errors wide for the sample sizes used here.

Answers that are values on fixed inputs (the learning-curve labels, the augmentation
choices) are reported as a count of wrong entries: a failure never prints the expected
answer.
"""


from __future__ import annotations

from .augmentation import AUGMENTATION_QUESTIONS, check_augmentation_choices, check_augmentation_model  # noqa: F401
from .curves import (CURVE_LABELS, check_curve_labels, check_early_stopping,  # noqa: F401
                     check_early_stopping_callback, early_stopping_problem, learning_curves)
from .layers import (batchnorm_problem, check_batchnorm_backward, check_batchnorm_forward,  # noqa: F401
                     check_dropout_backward, check_dropout_forward, check_init_weights)
from .penalties import check_elastic_net_penalty, check_l2_penalty, check_logistic_loss, logistic_problem  # noqa: F401

#: the grader may re-run these checks outside the kernel from recorded results
TRUSTED_REPLAY = True

#: the references that answer this unit's exercises: calling them from an answer earns nothing
#: (:mod:`.own_work`). The stable cross-entropy, the data and the plots stay allowed.
REFERENCES = ("course_lib.regularization.l2_penalty", "course_lib.regularization.l1_penalty",
              "course_lib.regularization.elastic_net_penalty", "course_lib.regularization.logistic_loss",
              "course_lib.regularization.initialize", "course_lib.regularization.early_stopping_epochs",
              "course_lib.regularization.EarlyStopping", "course_lib.layers.dropout_forward",
              "course_lib.layers.dropout_backward", "course_lib.layers.batchnorm_forward",
              "course_lib.layers.batchnorm_backward")

