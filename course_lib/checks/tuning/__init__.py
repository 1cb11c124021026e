"""Checks for unit 07: hyperparameter search, test-time augmentation and ensembles.

Deterministic exercises (the sanity run, reading a learning-rate range test, the grid,
narrowing a range, the ten crops, an ensemble's scores, the cyclic schedule) are compared
with :mod:`course_lib.search` and :mod:`course_lib.ensembles` on inputs drawn from
``seed``. Random ones (the log-uniform sampler, random search, the grid-versus-random
simulation) are judged by what any correct sampler must do: stay in range, follow the
right distribution over many draws (a Kolmogorov-Smirnov distance with a stated bound),
and give the same draws for the same generator. The reading question is data
(:func:`.calling.student_value`); its failure message never names the right answer.
"""

from __future__ import annotations

from .ensembles import check_cosine_restarts, check_ensemble_report, check_ten_crops  # noqa: F401
from .sampling import (check_grid_points, check_narrow_range, check_random_points,  # noqa: F401
                       check_sample_log_uniform, check_search_duel)
from .sanity import SANITY_OPTIONS, check_lr_range, check_overfit_tiny_batch, check_sanity_bug  # noqa: F401

#: the grader may re-run these checks outside the kernel from recorded results
#: (:mod:`course_lib.grading.recheck`): they reach student code only through call_student
#: and student_value
TRUSTED_REPLAY = True
#: the references that answer this unit's exercises (the own-work rule, :mod:`.own_work`);
#: ``search.toy_objective``, the data and the metrics stay free to use
REFERENCES = ("course_lib.search.overfit_tiny_batch", "course_lib.search.lr_range",
              "course_lib.search.sample_log_uniform", "course_lib.search.grid_points",
              "course_lib.search.random_points", "course_lib.search.grid_search", "course_lib.search.random_search",
              "course_lib.search.search_duel", "course_lib.search.narrow_range", "course_lib.search.coarse_to_fine",
              "course_lib.ensembles.ten_crops", "course_lib.ensembles.tta_predict",
              "course_lib.ensembles.ensemble_report", "course_lib.ensembles.cosine_restarts")
