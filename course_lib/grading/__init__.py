"""Instructor and student tooling around nbgrader, laid out as one submission flows through it.

* :mod:`.config`: the course (root, units) and its nbgrader configuration, loaded one way.
* :mod:`.build`: ``dlcourse build``, solutions/ to the student release in notebooks/.
* :mod:`.check`: ``dlcourse check``, the student's self-check, scored as the grader scores.
* :mod:`.submit` and :mod:`.collect`: ``dlcourse submit`` packs an archive, ``dlcourse
  collect`` verifies it (:mod:`.intake.archive`) and files it under submitted/.
* :mod:`.autograde`: ``dlcourse autograde``, the class driver: :mod:`.pools` of
  :mod:`.worker` processes each grade one submission: :mod:`.intake` (is it gradable?),
  :mod:`.execution` (its notebooks run in limited, sandboxed kernels), :mod:`.trusted` (the
  grade cells re-checked outside the kernel); :mod:`.gradebook` records each result.
* :mod:`.feedback` and :mod:`.grades`: ``dlcourse feedback`` and ``dlcourse grades``, with
  :mod:`.messages` (the one-line failure summary all of them share).
* :mod:`.similarity` (with :mod:`.normalise`) and :mod:`.audit` (with :mod:`.mutants`):
  ``dlcourse similarity`` and ``dlcourse audit``.
* :mod:`.console`: what the commands print. The commands themselves are in :mod:`course_lib.cli`.
"""

import sys

# jsonschema (imported by nbformat) imports rfc3987_syntax when it is installed (JupyterLab's
# jupyter-events pulls it in), which compiles 39 grammars on import: about 0.8 s of CPU in
# every grading process, for an "iri" format checker nbformat never calls. The grading tools
# skip it; JupyterLab runs in its own interpreter and keeps it.
if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)
