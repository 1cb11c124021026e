"""The worker side of ``dlcourse autograde``: grade ONE submission in a private scratch course.

A worker is a long-lived process (a ``ProcessPoolExecutor`` worker or a Dask worker) that
imports nbgrader once and then calls :func:`grade_submission` for one student at a time:

1. It builds a scratch nbgrader course in a temporary folder: a copy of the gradebook
   snapshot the parent took at the start of the run (assignment structure and source cells
   only, no other student), the course's ``nbgrader_config.py``, the non-notebook files of
   the assignment's source folder, and this one submission.
2. It validates the submission (:func:`check_notebook`): a missing or misnamed notebook, a
   file that is not JSON, a notebook of another format version or with broken nbgrader
   metadata is not graded and gets a note; a copy-pasted cell is repaired so that each
   exercise counts once, and graded.
3. It runs nbgrader's own Autograde converter in-process, one notebook at a time, with the
   course's configuration and :class:`LimitedExecute` in place of the course's executor: each
   kernel in a bubblewrap sandbox (:mod:`.sandbox`; unsandboxed with a note where none can
   start), a time limit per cell and per notebook, memory, process, file and output limits.
4. It re-checks the grade cells outside the kernel (:func:`recheck`): the gradebook's test
   code runs again here against what the student's functions returned in the kernel, so
   tampering inside the kernel cannot earn points.
5. It returns a plain :class:`GradeResult` (autograded notebooks as JSON text, the files
   nbgrader copied beside them, the submission time stamp, seconds, status and notes).
   It never raises for a bad submission; a grader error comes back as ``status="failed"``.

The parent (:mod:`course_lib.grading.autograde`) is the only writer of the master gradebook
and of ``autograded/``; nothing here touches the master course.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

# jsonschema imports rfc3987_syntax (1.2 s: it compiles a grammar) for its "iri" format
# checker, which nbformat never uses. Grading processes skip it, so workers start faster.
if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)

import nbformat  # noqa: E402
import psutil  # noqa: E402
from nbclient.exceptions import CellTimeoutError, DeadKernelError  # noqa: E402
from nbgrader.apps import NbGraderAPI  # noqa: E402
from nbgrader.coursedir import CourseDirectory  # noqa: E402
from nbgrader.nbgraderformat import MetadataValidator  # noqa: E402
from nbgrader.preprocessors import Execute  # noqa: E402
from traitlets import Bool, Enum, Integer, Unicode  # noqa: E402
from traitlets.config import Config  # noqa: E402
from traitlets.config.loader import PyFileConfigLoader  # noqa: E402

from . import nbconfig  # noqa: E402
from . import sandbox as sandboxing  # noqa: E402
from ..checks.evidence import RECORD_ENV  # noqa: E402
from .outputs import MISSING, OUTPUT_MESSAGES, OutputLimiter, note_text  # noqa: E402
from . import structure  # noqa: E402
from .preprocessors import CourseExecute  # noqa: E402

CELL_TIMEOUT_S = nbconfig.CELL_TIMEOUT_S
# A TensorFlow notebook: ~650 MB and 6-8 s before any work, minutes of training cells.
NOTEBOOK_TIMEOUT_S = nbconfig.NOTEBOOK_TIMEOUT_S
KERNEL_MEMORY_MB = nbconfig.KERNEL_MEMORY_MB

# Error names the grader writes into cells it stopped (students see them in feedback).
KILLED = "KernelKilled"
NOT_RUN = "NotRun"
STATUS_ORDER = ("ok", "limit", "invalid", "failed")   # worst last
SCRATCH_PREFIX = "dlcourse-grade-"
# Math threads per kernel: BLAS/OpenMP, and TensorFlow's two pools (intra-op: inside one op;
# inter-op: ops run side by side), which TensorFlow reads from the environment at start-up.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
# The watchdog kills a kernel's process tree above memory_mb * RSS_FACTOR + RSS_MARGIN_MB resident.
RSS_FACTOR, RSS_MARGIN_MB = 1.25, 256


@dataclass(frozen=True)
class Limits:
    """Resource limits for one graded notebook."""

    cell_timeout_s: int = CELL_TIMEOUT_S
    notebook_timeout_s: int = NOTEBOOK_TIMEOUT_S
    memory_mb: int = KERNEL_MEMORY_MB
    memory_limit: str = "data"   # "data" (RLIMIT_DATA) or "as" (RLIMIT_AS); see limited_kernel
    threads: int = 0             # math-library threads per kernel; 0: cores / concurrent kernels
    sandbox: str | None = None   # "auto", "required" or "off"; None: the course config's, else "auto"

    def describe(self) -> str:
        return (f"{self.cell_timeout_s} s per cell, {self.notebook_timeout_s} s per notebook, "
                f"{self.memory_mb} MB per kernel")


@dataclass
class CommonPayload:
    """What every submission of one run needs; built once by the parent."""

    assignment: str
    notebooks: list[str]                 # the assignment's notebook names, without .ipynb
    snapshot_db: bytes                   # gradebook snapshot: the assignment, no students
    config_text: str | None              # the course's nbgrader_config.py, or None
    source_files: dict[str, bytes]       # non-notebook files of build/source/<assignment>
    limits: Limits = field(default_factory=Limits)
    ignore: list[str] = field(default_factory=list)
    test_cells: dict[str, list[str]] = field(default_factory=dict)   # notebook -> autograded test cell ids
    # notebook -> the release's plain code cells: the instructor's own, which may use references
    instructor_code: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class SubmissionPayload:
    """One student's submission: a folder on this machine, or its files as bytes (Dask)."""

    student: str
    folder: str | None = None
    files: dict[str, bytes] | None = None

    def read_files(self, ignore: list[str]) -> dict[str, bytes]:
        if self.files is not None:
            return self.files
        return read_folder(Path(self.folder), ignore)


@dataclass
class GradeResult:
    """What a worker returns for one submission (plain data, picklable)."""

    student: str
    assignment: str
    status: str = "ok"                                   # ok, limit, invalid or failed
    notebooks: dict[str, str] = field(default_factory=dict)   # name -> autograded notebook JSON
    files: dict[str, bytes] = field(default_factory=dict)     # other files for autograded/
    timestamp: datetime | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    worker: str = ""

    def worsen(self, status: str) -> None:
        if STATUS_ORDER.index(status) > STATUS_ORDER.index(self.status):
            self.status = status


def read_folder(folder: Path, ignore: list[str]) -> dict[str, bytes]:
    """Every file under ``folder`` (relative POSIX path -> bytes), skipping nbgrader's ignore patterns."""
    from fnmatch import fnmatch

    files = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(fnmatch(part, pattern) for part in rel.parts for pattern in ignore):
            continue
        if path.is_file() and not path.is_symlink():
            files[rel.as_posix()] = path.read_bytes()
    return files


# --------------------------------------------------------------------------- validation

def _unique_id(base: str, used: set[str]) -> str:
    n = 2
    base = base[:56]
    while f"{base}-{n}" in used:
        n += 1
    return f"{base}-{n}"


def repair_duplicates(notebook: dict) -> list[str]:
    """Make a copy-pasted notebook gradable; return what was changed, one line each.

    * Two cells with the same nbformat cell ``id``: the later copies get new ids.
    * Two cells with the same nbgrader ``grade_id`` (a pasted answer, test or task cell):
      the LAST copy keeps its nbgrader metadata and is graded; the earlier copies run as
      ordinary cells. The last copy is the one that runs after the student's final
      answer, so the exercise earns what the work earns, once. (nbgrader's own
      ``DeduplicateIds`` keeps the last copy too, but leaves the others with empty
      metadata, which its metadata check then rejects, stopping the whole batch.)
    """
    changes = []
    used: set[str] = set()
    for cell in notebook.get("cells", []):
        cell_id = cell.get("id")
        if cell_id is None:
            continue
        if cell_id in used:
            cell["id"] = _unique_id(cell_id, used)
        used.add(cell["id"])
    counts: dict[str, int] = {}
    for cell in reversed(notebook.get("cells", [])):
        meta = cell.get("metadata", {}).get("nbgrader")
        if not isinstance(meta, dict) or "grade_id" not in meta:
            continue
        if not (meta.get("grade") or meta.get("solution") or meta.get("locked") or meta.get("task")):
            continue
        grade_id = meta["grade_id"]
        counts[grade_id] = counts.get(grade_id, 0) + 1
        if counts[grade_id] > 1:
            del cell["metadata"]["nbgrader"]
    for grade_id, count in counts.items():
        if count > 1:
            changes.append(f"cell '{grade_id}' appears {count} times (copy and paste?); "
                           f"graded the last copy once, the others ran as ordinary cells")
    return changes


def check_notebook(data: bytes, filename: str, cells: list[structure.Cell] | None = None
                   ) -> tuple[nbformat.NotebookNode | None, list[str], str | None]:
    """Validate one submitted notebook file; with the assignment's ``cells`` (from the
    gradebook), also restore its nbgrader metadata and missing test cells.

    Returns ``(notebook, notes, problem)``: ``problem`` is one line saying why the
    notebook cannot be graded (and ``notebook`` is None), or None when it can; ``notes``
    lists repairs made to a gradable notebook.
    """
    try:
        content = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        return None, [], f"{filename} is not a text file (not UTF-8); it is not a notebook"
    except json.JSONDecodeError as error:
        return None, [], (f"{filename} is not valid JSON (line {error.lineno}, column {error.colno}: "
                          f"{error.msg}); was it saved completely?")
    if not isinstance(content, dict) or "nbformat" not in content:
        return None, [], f"{filename} is JSON but not a Jupyter notebook (no nbformat version)"
    major = content.get("nbformat")
    if major != 4:
        return None, [], (f"{filename} has notebook format {major!r}; the course uses format 4 "
                          f"(open and save it in a current Jupyter)")
    if not isinstance(content.get("cells"), list):
        return None, [], f"{filename} is not a valid format-4 notebook: it has no list of cells"
    if content.get("nbformat_minor", 0) >= 5:   # format 4.5 requires cell ids; give missing ones one
        used = {cell.get("id") for cell in content["cells"] if isinstance(cell, dict)}
        for index, cell in enumerate(content["cells"]):
            if isinstance(cell, dict) and not cell.get("id"):
                cell["id"] = _unique_id(f"cell-{index}", used)
                used.add(cell["id"])
    notes = structure.restore_metadata(content, cells) if cells is not None else []
    notes += repair_duplicates(content)
    if cells is not None:
        notes += structure.restore_tests(content, cells)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            notebook = nbformat.reads(json.dumps(content), as_version=4)   # joins multi-line sources
            nbformat.validate(notebook)
    except Exception as error:   # nbformat.ValidationError and malformed structures
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return None, [], f"{filename} is not a valid format-4 notebook: {first}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            MetadataValidator().validate_nb(notebook)
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return None, [], f"{filename} has damaged nbgrader cell metadata ({first})"
    return notebook, notes, None


CODE_SUFFIXES = (".py", ".pyc", ".pth", ".so", ".pyd")


def is_code(rel: str, files: dict[str, bytes]) -> bool:
    """Whether a submitted file is importable Python: a module, an extension, a path hook,
    or anything inside a folder that is a package."""
    parts = Path(rel).parts
    if rel.endswith(CODE_SUFFIXES):
        return True
    return any("/".join(parts[:depth] + ("__init__.py",)) in files for depth in range(1, len(parts)))


def validate_submission(files: dict[str, bytes], expected: list[str],
                        cells: dict[str, list[structure.Cell]] | None = None,
                        ) -> tuple[dict[str, nbformat.NotebookNode], dict[str, str], list[str]]:
    """Split a submission into gradable notebooks, problems and notes.

    Returns ``(gradable, problems, notes)``: ``gradable`` maps notebook name to a (repaired)
    notebook; ``problems`` maps each expected notebook that cannot be graded to one line
    saying why; ``notes`` lists repairs and files that are not part of the assignment.
    ``cells`` (``{notebook: assignment cells}``) turns on the structure repairs of
    :mod:`course_lib.grading.structure`.
    """
    submitted = {Path(rel).stem: rel for rel in files if rel.endswith(".ipynb") and "/" not in rel}
    unexpected = sorted(rel for rel in files if rel.endswith(".ipynb")
                        and ("/" in rel or Path(rel).stem not in expected))
    gradable, problems, notes = {}, {}, []
    for name in expected:
        filename = f"{name}.ipynb"
        if name not in submitted:
            if unexpected:
                problems[name] = (f"{filename} is missing; found {', '.join(unexpected)} instead: "
                                  f"rename it to {filename} and regrade this student with --force")
            else:
                problems[name] = f"{filename} is missing from the submission"
            continue
        notebook, repairs, problem = check_notebook(files[submitted[name]], filename,
                                                    None if cells is None else cells.get(name))
        if problem:
            problems[name] = problem
        else:
            gradable[name] = notebook
            notes += [f"{filename}: {line}" for line in repairs]
    if not problems:
        notes += [f"{rel} is not part of this assignment and was not graded" for rel in unexpected]
    return gradable, problems, notes


# --------------------------------------------------------------------------- limited execution

def _kill_processes(processes: list[psutil.Process]) -> None:
    alive = []
    for process in processes:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue   # already dead (a sandbox's bwrap, say); waiting for its parent to reap it takes seconds
            process.kill()
            alive.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    psutil.wait_procs(alive, timeout=5)


def _session_members(session_id: int) -> list[psutil.Process]:
    """Processes in the session ``session_id`` (the kernel starts one; its children stay in it)."""
    members = []
    for process in psutil.process_iter():
        try:
            if process.pid != session_id and os.getsid(process.pid) == session_id:
                members.append(process)
        except (OSError, psutil.Error):
            continue
    return members


class LimitedExecute(CourseExecute):
    """The course's executor with limits, in a sandbox: per cell, per notebook, per kernel.

    * Sandbox (``sandbox``): ``"auto"`` runs the kernel in a bubblewrap sandbox
      (:mod:`course_lib.grading.sandbox`) where one can start, else unsandboxed;
      ``"required"`` refuses to start a kernel without one; ``"off"`` (this class's default,
      for use outside grading) never sandboxes. ``dlcourse autograde`` grades with
      ``"auto"`` unless told otherwise (:func:`apply_limits`). In the sandbox the kernel is
      interrupted by a message (a signal cannot reach into it), and it sees a clean
      environment; outside, it still gets ``PYTHONSAFEPATH`` and no ``NBGRADER_*`` variable.
    * Cell time limit (``timeout``): nbgrader interrupts the cell and records a
      ``CellTimeoutError``; the rest of the notebook runs.
    * Memory: the kernel is started through :mod:`course_lib.grading.limited_kernel`,
      which sets ``RLIMIT_DATA`` (or ``RLIMIT_AS``) to ``memory_mb`` before exec'ing it, so
      an allocation past the limit raises ``MemoryError`` in the student's cell. A watchdog
      also kills the whole kernel process tree when its resident memory passes the limit
      (children started by the kernel each get their own copy of the per-process limit).
    * Processes, file size, open files: rlimits set by the same launcher (``processes``
      only in the sandbox's own user namespace, see there); the watchdog also stops a
      kernel whose process tree grows past ``processes``.
    * Output: at most ``output_limit`` characters per output and ``cell_output_limit`` per
      cell are kept (:mod:`course_lib.grading.outputs`); a single message over
      ``message_limit_mb`` is discarded by ZeroMQ before Python reads it.
    * Notebook wall clock (``notebook_timeout``), a kernel that ignores the interrupt, or a
      kernel that dies: the kernel's whole process tree is killed, the cell that was running
      gets a ``KernelKilled`` error saying why and every later code cell a ``NotRun`` error,
      so grade cells that did not run score zero and the ones that finished keep their points.
    * Evidence (``evidence_file``): when set (by the grading worker), the kernel records what
      the student's functions returned there, for the trusted re-check
      (:mod:`course_lib.grading.trusted`).
    """

    memory_mb = Integer(KERNEL_MEMORY_MB, help="Memory limit per kernel in MB (0: none)").tag(config=True)
    memory_limit = Enum(["data", "as"], "data", help="Which rlimit caps a kernel's memory").tag(config=True)
    notebook_timeout = Integer(NOTEBOOK_TIMEOUT_S, help="Wall-clock limit per notebook in seconds (0: none)").tag(config=True)
    threads = Integer(0, help="Threads for NumPy's BLAS, OpenMP and TensorFlow in each kernel "
                              "(0: leave the libraries' default, one per core)").tag(config=True)
    sandbox = Enum(list(sandboxing.MODES), "off", help="Run kernels in a bubblewrap sandbox: auto, required "
                                                       "or off").tag(config=True)
    bwrap = Unicode("bwrap", help="The bubblewrap executable").tag(config=True)
    evidence_file = Unicode("", help="Where the kernel records evidence for the trusted re-check "
                                     "(empty: no recording)").tag(config=True)
    processes = Integer(256, help="Processes (and threads) per kernel (0: no limit)").tag(config=True)
    file_mb = Integer(256, help="Largest file a kernel may write, in MB (0: no limit)").tag(config=True)
    open_files = Integer(1024, help="Open files per kernel process (0: no limit)").tag(config=True)
    tmpfs_mb = Integer(sandboxing.TMPFS_MB, help="Size of the sandbox's /tmp and of its working "
                                                 "folder, in MB each").tag(config=True)
    output_limit = Integer(1_000_000, help="Characters kept per output").tag(config=True)
    cell_output_limit = Integer(4_000_000, help="Characters kept per cell").tag(config=True)
    message_limit_mb = Integer(32, help="Largest kernel message read, in MB; larger ones are "
                                        "discarded").tag(config=True)
    # A reply whose output lags (a flood of output, a message ZeroMQ discarded) is scored from
    # the reply (nbgrader adds its error) with the output that did arrive; the kernel is fine.
    raise_on_iopub_timeout = Bool(False, help="Fail a cell whose output lags past iopub_timeout").tag(config=True)
    poll_interval = 0.25
    sandboxed = False           # whether the last kernel started ran in the sandbox
    sandbox_problem = None      # why not, when it did not

    def create_kernel_manager(self):
        manager = super().create_kernel_manager()   # IpcKernelMixin: self.kernel_folder
        spec = manager.kernel_spec
        if spec is not None and "course_lib.grading.limited_kernel" not in spec.argv:
            bubblewrap, problem = sandboxing.resolve(self.sandbox, self.bwrap)
            self.sandboxed, self.sandbox_problem = bubblewrap is not None, problem
            launcher = [sys.executable, "-I", "-m", "course_lib.grading.limited_kernel",
                        "--memory-mb", str(self.memory_mb), "--limit", self.memory_limit]
            for name, value in (("fsize", self.file_mb * 2**20), ("nofile", self.open_files)):
                if value:
                    launcher += ["--rlimit", f"{name}={value}"]
            kernel_env = {**self._thread_env(), **(spec.env or {})}
            evidence = Path(self.evidence_file) if self.evidence_file else None
            if evidence is not None:
                evidence.parent.mkdir(parents=True, exist_ok=True)
            if bubblewrap is not None:
                if self.processes and bubblewrap.user_namespace:
                    launcher += ["--rlimit", f"nproc={self.processes}"]
                inside = f"{sandboxing.EVIDENCE_DIR}/{evidence.name}" if evidence else None
                env = sandboxing.environment(kernel_env, str(Path(sys.executable).parent), inside)
                spec.argv = sandboxing.command(
                    bubblewrap, [*launcher, "--", *spec.argv], files=self._work_files(),
                    channel=self.kernel_folder, evidence_dir=evidence.parent if evidence else None,
                    env=env, tmpfs_mb=self.tmpfs_mb, kernel_python=spec.argv[0])
                spec.env = {}
                spec.interrupt_mode = "message"   # SIGINT to bwrap would not reach the kernel
            else:
                spec.argv = [*launcher, "--parent-pid", str(os.getpid()), "--", *spec.argv]
                spec.env = {**kernel_env, **sandboxing.SAFE_PYTHON}
                if evidence is not None:
                    spec.env[RECORD_ENV] = str(evidence)
        self._limit_messages(manager)
        return manager

    def _thread_env(self) -> dict[str, str]:
        """Kernels graded side by side each start one math thread per core; the threads then
        fight over the cores. Share them out (an instructor's own setting wins)."""
        env = {}
        for name in THREAD_VARIABLES:
            value = os.environ.get(name) or (str(self.threads) if self.threads else None)
            if value:
                env[name] = value
        return env

    def _work_files(self) -> list[Path]:
        """What the sandbox's working folder shows: the graded notebook's folder, less other notebooks.

        (nbgrader runs a notebook in its autograded folder: the submission's files and the
        assignment's data files.) Links and hidden files are left out.
        """
        folder = Path((self.resources or {}).get("metadata", {}).get("path") or ".")
        notebook = f"{(self.resources or {}).get('unique_key', '')}.ipynb"
        files = []
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            if path.name.startswith(".") or path.is_symlink() or path.name == "__pycache__":
                continue
            if path.suffix == ".ipynb" and path.name != notebook:
                continue
            files.append(path)
        return files

    def _limit_messages(self, manager) -> None:
        """Make ZeroMQ discard any kernel message over ``message_limit_mb`` on this kernel's client."""
        import zmq

        make_client = manager.client
        limit = self.message_limit_mb * 2**20

        def client(**kwargs):
            kc = make_client(**kwargs)
            if limit:
                kc.context.setsockopt(zmq.MAXMSGSIZE, limit)   # default for the sockets it opens next
            return kc

        manager.client = client

    def start_new_kernel(self, **kwargs):
        # nbgrader sets NBGRADER_EXECUTION while it grades; a kernel must not see it (a
        # submission could behave only when graded). The sandbox clears everything anyway.
        kwargs["env"] = {k: v for k, v in os.environ.items() if not k.startswith("NBGRADER_")}
        # what the kernel writes to its own stdout and stderr is not the instructor's terminal's business
        kwargs.setdefault("stdout", subprocess.DEVNULL)
        kwargs.setdefault("stderr", subprocess.DEVNULL)
        super().start_new_kernel(**kwargs)
        self.error_on_timeout = {
            "ename": "CellTimeoutError",
            "evalue": f"this cell ran longer than the {self.timeout} s limit per cell and was interrupted",
            "traceback": [f"CellTimeoutError: this cell ran longer than the {self.timeout} s limit "
                          f"per cell and was interrupted"],
        }
        self._kernel_pid = getattr(self.km.provisioner, "pid", None) if self.km is not None else None
        if self._kernel_pid:
            self._watchdog = threading.Thread(target=self._watch, args=(self._kernel_pid,), daemon=True,
                                              name="dlcourse-kernel-watchdog")
            self._watchdog.start()

    # ---- the watchdog
    def _stop_kernel(self, reason: str) -> None:
        """Kill the kernel and everything it started; remember why (first reason wins)."""
        with self._lock:
            if self._killed_reason is None:
                self._killed_reason = reason
        processes = list(self._seen.values())
        if self._kernel_pid:
            processes += _session_members(self._kernel_pid)
        _kill_processes(processes)

    def _watch(self, kernel_pid: int) -> None:
        # Resident memory also counts shared libraries, which the rlimit does not: leave room.
        limit_bytes = int(self.memory_mb * RSS_FACTOR + RSS_MARGIN_MB) * 2**20 if self.memory_mb else 0
        try:
            kernel = psutil.Process(kernel_pid)
        except psutil.NoSuchProcess:
            return
        self._seen[kernel_pid] = kernel
        while not self._stop_watch.wait(self.poll_interval):
            try:
                tree = [kernel, *kernel.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for process in tree:
                self._seen.setdefault(process.pid, process)
            if self.notebook_timeout and time.monotonic() > self._deadline:
                self._stop_kernel(f"the notebook ran longer than its {self.notebook_timeout} s time limit; "
                                  f"the kernel was stopped")
                return
            if self.processes and len(tree) > self.processes:   # a fork bomb the rlimit does not stop
                self._stop_kernel(f"the kernel started more than {self.processes} processes; "
                                  f"the kernel was stopped")
                return
            if limit_bytes:
                rss = 0
                for process in tree:
                    try:
                        rss += process.memory_info().rss
                    except psutil.Error:
                        pass
                if rss > limit_bytes:
                    self._stop_kernel(f"the kernel and its processes used {rss / 2**20:.0f} MB, more than "
                                      f"the {self.memory_mb} MB memory limit allows; the kernel was stopped")
                    return

    def start_new_kernel_client(self):
        kc = super().start_new_kernel_client()
        _reconnect_when_dropped(kc, "iopub", self._outputs.lost)
        for channel in (kc.shell_channel, kc.iopub_channel):
            _poll_in_slices(channel)
        return kc

    # ---- execution
    def preprocess(self, nb, resources=None, km=None):
        self._lock = threading.Lock()
        self._killed_reason = None
        self._kernel_pid = None
        self._seen: dict[int, psutil.Process] = {}
        self._stop_watch = threading.Event()
        self._watchdog = None
        self._deadline = time.monotonic() + (self.notebook_timeout or 0)
        self._interrupted = False
        self._outputs = OutputLimiter(self.output_limit, self.cell_output_limit)
        try:
            return super().preprocess(nb, resources, km)
        finally:
            self._stop_watch.set()
            if self._watchdog is not None:
                self._watchdog.join(timeout=5)
            # whatever the student's code left running (background processes) goes too
            leftovers = list(self._seen.values())
            if self._kernel_pid:
                leftovers += _session_members(self._kernel_pid)
            _kill_processes([p for p in leftovers if p.is_running()])

    def preprocess_cell(self, cell, resources, index):
        if self._killed_reason is not None:
            if cell.cell_type == "code" and cell.source.strip():
                cell.outputs = [_error_output(NOT_RUN, "not run: the kernel was stopped in an earlier cell")]
                cell.execution_count = None
            return cell, resources
        self._interrupted = False
        self._outputs.start_cell()
        self._idle = not (cell.cell_type == "code" and cell.source.strip())   # nbclient skips the others
        unresponsive = ("the kernel did not respond after this cell was interrupted at the "
                        f"{self.timeout} s cell time limit; the kernel was stopped")
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
            if not self._idle and self._interrupted:   # interrupted, and still busy
                self._stop_in(cell, unresponsive)
            elif not self._idle:   # the kernel replied, but its output stopped short of the end
                self._outputs.lost()
            return cell, resources
        except (DeadKernelError, CellTimeoutError) as error:
            if isinstance(error, CellTimeoutError) and not self._interrupted and self._killed_reason is None:
                # (raise_on_iopub_timeout configured) the output lagged: keep what arrived, go on
                self._outputs.lost()
                return cell, resources
            if isinstance(error, CellTimeoutError) and self._killed_reason is None:
                self._stop_in(cell, unresponsive)
            else:
                self._stop_in(cell, "the kernel died while running this cell (it crashed or ran out of memory)")
            return cell, resources
        finally:
            if cell.cell_type == "code":
                self._outputs.finish_cell(cell.outputs, kernel_stopped=self._killed_reason is not None)

    def _stop_in(self, cell, reason: str) -> None:
        """Stop the kernel while ``cell`` runs; the cell gets a ``KernelKilled`` error saying why."""
        self._stop_kernel(reason)
        cell.outputs = list(cell.get("outputs", [])) + [_error_output(KILLED, self._killed_reason)]

    def process_message(self, msg, cell, cell_index):
        if msg["msg_type"] not in OUTPUT_MESSAGES:
            if msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
                self._idle = True
            return super().process_message(msg, cell, cell_index)
        captured = self.output_hook_stack[msg["parent_header"].get("msg_id")]   # a widget's Output
        if self._outputs.absorb(msg, cell.outputs, not (captured or self.clear_before_next_output)):
            return None
        output = super().process_message(msg, cell, cell_index)
        self._outputs.created(output)
        return output

    async def _async_handle_timeout(self, timeout, cell=None):
        self._interrupted = True   # the cell hit its time limit and the kernel is being interrupted
        return await super()._async_handle_timeout(timeout, cell)


POLL_SLICE_S = 0.5


def _poll_in_slices(channel) -> None:
    """Make ``channel.get_msg(timeout)`` wait in short slices instead of one long wait.

    pyzmq's asyncio sockets can miss the edge-triggered wake-up of a message that has
    already arrived; the wait then lasts until its timeout, when pyzmq checks the socket
    again and finds the message. nbclient waits for an execute reply with the whole cell
    timeout and for output with no timeout at all, so one missed wake-up cost a student's
    notebook 120 s (seen about once per 20 notebooks graded two at a time on 2 cores), or
    would have been taken for a hung kernel. Waiting in slices bounds that delay.
    """
    from queue import Empty

    wait = channel.get_msg

    async def get_msg(timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = POLL_SLICE_S if deadline is None else min(POLL_SLICE_S, deadline - time.monotonic())
            try:
                return await wait(timeout=max(remaining, 0.0))
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    channel.get_msg = get_msg


def _reconnect_when_dropped(kc, name: str, on_drop) -> None:
    """Reconnect channel ``name`` of client ``kc`` when ZeroMQ drops its connection.

    A message over ``MAXMSGSIZE`` makes ZeroMQ close the connection it came on, and it does
    not reconnect by itself: every later output of the notebook would be lost. A monitor
    reports the disconnection; the next wait for a message reconnects and calls
    ``on_drop()`` (messages sent in between are lost).
    """
    import zmq

    channel = getattr(kc, f"{name}_channel")
    socket, url = channel.socket, kc._make_url(name)
    address = f"inproc://dlcourse-monitor-{id(socket)}"
    socket.monitor(address, zmq.EVENT_DISCONNECTED)
    events = zmq.Context.shadow(socket.context.underlying).socket(zmq.PAIR)   # a plain, blocking view
    events.connect(address)
    wait = channel.get_msg

    async def get_msg(timeout: float | None = None):
        try:
            return await wait(timeout=timeout)
        finally:
            if events.poll(0):
                while events.poll(0):
                    events.recv_multipart()
                socket.disconnect(url)
                socket.connect(url)
                on_drop()

    channel.get_msg = get_msg
    stop_channels = kc.stop_channels

    def stop():   # the client's context waits for every socket on it to close
        socket.disable_monitor()
        events.close(linger=0)
        stop_channels()

    kc.stop_channels = stop


def limited(executor: type) -> type:
    """``executor`` (an nbgrader ``Execute`` subclass) with :class:`LimitedExecute`'s limits.

    The course's executor becomes :class:`LimitedExecute`; any other executor (a sandboxing
    one, say) is combined with it, so its own kernel-manager changes still apply and the
    memory launcher wraps whatever command it builds.
    """
    if issubclass(executor, LimitedExecute):
        return executor
    if executor in (CourseExecute, Execute):
        return LimitedExecute
    return type(f"Limited{executor.__name__}", (LimitedExecute, executor), {})


def _error_output(ename: str, evalue: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def limit_notes(notebook, name: str, limits: Limits) -> list[str]:
    """One line per limit a graded notebook hit, read from its cells' error outputs and output notes."""
    notes = []
    for index, cell in enumerate(notebook.cells):
        label = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index + 1}"
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            ename = output.get("ename", "")
            if ename == "CellTimeoutError":
                notes.append(f"{name}.ipynb: '{label}' was stopped at the {limits.cell_timeout_s} s cell time limit")
            elif ename == KILLED:
                notes.append(f"{name}.ipynb: in '{label}': {output.get('evalue')}; later cells did not run")
            elif "MemoryError" in ename:
                notes.append(f"{name}.ipynb: '{label}' ran out of memory (limit {limits.memory_mb} MB per kernel)")
        found = [text for text in map(note_text, cell.get("outputs", [])) if text is not None]
        if any(not text.startswith(MISSING) for text in found):
            notes.append(f"{name}.ipynb: '{label}' printed more output than the grader keeps; the rest was dropped")
        if any(text.startswith(MISSING) for text in found):
            notes.append(f"{name}.ipynb: some of the output of '{label}' did not reach the grader (too much "
                         f"output, or one output larger than the grader reads)")
    return notes


# --------------------------------------------------------------------------- configuration

def course_config(scratch_root: Path, config_text: str | None, limits: Limits) -> Config:
    """The course's nbgrader configuration for a scratch course at ``scratch_root``, with ``limits``."""
    if config_text:
        (scratch_root / "nbgrader_config.py").write_text(config_text, encoding="utf-8")
        config = PyFileConfigLoader("nbgrader_config.py", path=str(scratch_root)).load_config()
    else:
        config = Config()
        nbconfig.configure(config, scratch_root)
    # the scratch course, whatever the instructor's file says about paths
    config.CourseDirectory.root = str(scratch_root)
    config.CourseDirectory.db_url = f"sqlite:///{scratch_root / 'gradebook.db'}"
    apply_limits(config, limits)
    return config


def apply_limits(config: Config, limits: Limits) -> None:
    """Put :class:`LimitedExecute` in place of the autograde executor and set the limits."""
    from nbgrader.converters import Autograde

    current = config.Autograde.get("autograde_preprocessors") or Autograde.class_traits()["autograde_preprocessors"].default_value
    replaced, chain = False, []
    for step in current:
        cls = step
        if isinstance(step, str):
            module, _, name = step.rpartition(".")
            cls = getattr(__import__(module, fromlist=[name]), name)
        if isinstance(cls, type) and issubclass(cls, Execute) and not replaced:
            chain.append(limited(cls))
            replaced = True
        else:
            chain.append(step)
    if not replaced:
        chain.insert(0, LimitedExecute)
    config.Autograde.autograde_preprocessors = chain
    for name in ("Execute", "CourseExecute", "LimitedExecute"):
        config[name].timeout = limits.cell_timeout_s
    config.LimitedExecute.memory_mb = limits.memory_mb
    config.LimitedExecute.memory_limit = limits.memory_limit
    config.LimitedExecute.notebook_timeout = limits.notebook_timeout_s
    config.LimitedExecute.threads = limits.threads or _threads_per_kernel()
    if limits.sandbox:
        config.LimitedExecute.sandbox = limits.sandbox
    elif "sandbox" not in config.LimitedExecute:
        config.LimitedExecute.sandbox = "auto"   # grading sandboxes wherever it can


def sandbox_setting(config: Config) -> tuple[str, str]:
    """``(mode, bwrap)``: how this configuration (after :func:`apply_limits`) sandboxes kernels."""
    section = config.LimitedExecute
    return section.get("sandbox", "auto"), section.get("bwrap", LimitedExecute.bwrap.default_value)


def _threads_per_kernel() -> int:
    """Cores per grading thread of this process (a Dask worker may run several)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    try:
        from distributed import get_worker

        concurrent = get_worker().state.nthreads
    except (ImportError, ValueError, AttributeError):
        concurrent = 1
    return max(1, cores // max(1, concurrent))


# --------------------------------------------------------------------------- the worker

_QUIET = False


def _quiet_worker() -> None:
    """Keep nbgrader's and nbclient's log lines out of the instructor's terminal (they are captured)."""
    global _QUIET
    if _QUIET:
        return
    logger = logging.getLogger("traitlets")
    logger.handlers = [logging.NullHandler()]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    nbconfig.ensure_environment_on_path()
    _remove_stale_scratch()
    _QUIET = True


def _remove_stale_scratch() -> None:
    """Remove scratch folders left by workers that were killed (their process is gone)."""
    tmp = Path(tempfile.gettempdir())
    for folder in tmp.glob(f"{SCRATCH_PREFIX}*"):
        try:   # another worker may be removing the same folder right now
            pid = int(folder.name[len(SCRATCH_PREFIX):].split("-", 1)[0])
            if pid != os.getpid() and not psutil.pid_exists(pid) and folder.owner() == _user():
                shutil.rmtree(folder, ignore_errors=True)
        except (ValueError, OSError, KeyError):
            continue


def _user() -> str:
    import getpass
    return getpass.getuser()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def grade_submission(common: CommonPayload, submission: SubmissionPayload) -> GradeResult:
    """Grade one submission in a scratch course; never raises for a bad submission."""
    start = time.monotonic()
    result = GradeResult(student=submission.student, assignment=common.assignment, worker=worker_name())
    scratch = None
    try:
        _quiet_worker()
        scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
        with warnings.catch_warnings():   # nbgrader's SQLAlchemy and nbformat chatter
            warnings.simplefilter("ignore")
            _grade_in(scratch, common, submission, result)
    except BaseException as error:   # noqa: BLE001 - a worker must always answer
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise
        last = traceback.format_exception_only(type(error), error)[-1].strip()
        result.notebooks.clear()
        result.worsen("failed")
        result.notes.append(f"grader error: {last}")
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        result.seconds = time.monotonic() - start
    return result


def _grade_in(scratch: Path, common: CommonPayload, submission: SubmissionPayload, result: GradeResult) -> None:
    assignment, student = common.assignment, submission.student
    (scratch / "gradebook.db").write_bytes(common.snapshot_db)
    source = scratch / nbconfig.SOURCE_DIRECTORY / assignment
    source.mkdir(parents=True)
    for rel, data in common.source_files.items():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_bytes(data)

    files = submission.read_files(common.ignore)
    cells = structure.assignment_cells(scratch / "gradebook.db", assignment, common.notebooks)
    gradable, problems, notes = validate_submission(files, common.notebooks, cells)
    result.notes += [problems[name] for name in common.notebooks if name in problems] + notes
    if problems:
        result.worsen("invalid")

    submitted = scratch / "submitted" / student / assignment
    submitted.mkdir(parents=True)
    code = sorted(rel for rel in files if is_code(rel, files) and rel not in common.source_files)
    if code:
        result.notes.append(f"not copied to the grading folder: {', '.join(code)} (Python code beside the "
                            f"notebook could stand in for the course's modules; only the notebook and data "
                            f"files are graded)")
    for rel, data in files.items():
        if (rel.endswith(".ipynb") and "/" not in rel) or rel in code:
            continue   # notebooks: only the validated ones, written below
        (submitted / rel).parent.mkdir(parents=True, exist_ok=True)
        (submitted / rel).write_bytes(data)
    for name, notebook in gradable.items():
        nbformat.write(notebook, submitted / f"{name}.ipynb")

    config = course_config(scratch, common.config_text, common.limits)
    coursedir = CourseDirectory(config=config)
    api = NbGraderAPI(coursedir=coursedir, config=config)
    if gradable and not _sandbox_or_note(config, result):
        return
    tests = grade_cell_sources(coursedir.db_url, assignment, list(gradable))   # before any student code runs
    try:
        result.timestamp = coursedir.get_existing_timestamp(str(submitted))
    except Exception:   # an unreadable timestamp.txt: grade it as nbgrader would without one
        result.notes.append("timestamp.txt could not be read; the submission has no time stamp")
    autograded = scratch / coursedir.autograded_directory / student / assignment
    for name in common.notebooks:
        if name not in gradable:
            continue
        coursedir.notebook_id = name
        evidence = scratch / "evidence" / name / "calls.jsonl"   # the kernel's record, for the re-check
        config.LimitedExecute.evidence_file = str(evidence)
        outcome = api.autograde(assignment, student, force=True, create=True)
        path = autograded / f"{name}.ipynb"
        if not outcome.get("success") or not path.is_file():
            result.worsen("failed")
            result.notes.append(f"{name}.ipynb: grader error: {real_cause(outcome)}")
            continue
        text = path.read_text(encoding="utf-8")
        graded = nbformat.reads(text, as_version=4)
        notes, changed = recheck(graded, tests[name], evidence, common.instructor_code.get(name, []))
        result.notes += [f"{name}.ipynb: {note}" for note in notes]
        result.notebooks[name] = nbformat.writes(graded) if changed else text
        present = {c.metadata.get("nbgrader", {}).get("grade_id") for c in graded.cells}
        deleted = [cell for cell in common.test_cells.get(name, []) if cell not in present]
        if deleted:
            result.notes.append(f"{name}.ipynb: test cell(s) {', '.join(deleted)} missing from the notebook "
                                f"(deleted?); scored 0")
        hit = limit_notes(graded, name, common.limits)
        if hit:
            result.worsen("limit")
            result.notes += hit
    # the files nbgrader put beside the notebooks before running them (not what the run wrote)
    wanted = {rel for rel in files if not rel.endswith(".ipynb")} | set(common.source_files)
    for rel in sorted(wanted):
        if (autograded / rel).is_file():
            result.files[rel] = (autograded / rel).read_bytes()


# "SomeError: message" in a traceback or a log line ("[ERROR] ..." prefixes allowed)
_EXCEPTION_LINE = re.compile(r"^\s*(?:\[\w+\]\s*)?([A-Za-z_][\w.]*(?:Error|Exception|Exit|Warning))\s*:\s*(\S.*)$")
_WRAPPERS = ("NbGraderException", "nbgrader.converters.base.NbGraderException")


def real_cause(outcome: dict) -> str:
    """The line that says why nbgrader's ``autograde`` failed, from its log and traceback.

    nbgrader ends with ``NbGraderException: Please see the above traceback``; the cause
    (a kernel that died, a module it could not import, a timeout) is in the log above it.
    """
    text = "\n".join(str(outcome.get(key) or "") for key in ("log", "error"))
    causes = [f"{m.group(1).rsplit('.', 1)[-1]}: {m.group(2).strip()}"
              for m in map(_EXCEPTION_LINE.match, text.splitlines())
              if m and m.group(1) not in _WRAPPERS and "see the above traceback" not in m.group(2).lower()]
    if causes:
        return causes[-1][:500]
    errors = [line.split("]", 1)[-1].strip() for line in text.splitlines()
              if line.startswith("[ERROR]") and "above traceback" not in line]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (errors[-1] if errors else lines[-1] if lines else "nbgrader gave no reason")[:500]


def _sandbox_or_note(config: Config, result: GradeResult) -> bool:
    """Whether to grade: add the report's note when kernels will run unsandboxed; refuse
    (status failed) when the sandbox is required but cannot start here."""
    mode, bwrap = sandbox_setting(config)
    try:
        _, problem = sandboxing.resolve(mode, bwrap)
    except sandboxing.SandboxUnavailable as error:
        result.worsen("failed")
        result.notes.append(f"not graded: the sandbox is required but cannot start on {socket.gethostname()} "
                            f"({error})")
        return False
    if problem:
        result.notes.append(sandboxing.unsandboxed_note(problem))
    return True


def grade_cell_sources(db_url: str, assignment: str, notebooks: list[str]) -> dict[str, list[tuple[str, str]]]:
    """``{notebook: [(grade_id, source), ...]}``: the autograded test cells as the gradebook stores them.

    Never read from a submitted notebook, so an edited, deleted or forged test cell does
    not change what the trusted re-check runs.
    """
    from nbgrader.api import Gradebook

    found = {}
    with Gradebook(db_url) as gradebook:
        for name in notebooks:
            notebook = gradebook.find_notebook(name, assignment)
            answers = {cell.name for cell in notebook.solution_cells}
            sources = {cell.name: cell.source for cell in notebook.source_cells}
            found[name] = [(cell.name, sources.get(cell.name) or "") for cell in notebook.grade_cells
                           if cell.cell_type == "code" and cell.name not in answers]
    return found


def recheck(notebook, tests: list[tuple[str, str]], evidence: Path, instructor: list[str] = ()
            ) -> tuple[list[str], bool]:
    """Score ``tests`` again outside the kernel from the recorded ``evidence``, and apply the
    own-work rule to the notebook's source (``instructor``: the release's plain code cells,
    which may use references).

    Changes the outputs of each re-checked grade cell whose verdict differs from the
    kernel's (see :func:`course_lib.grading.trusted.apply_verdicts`), so the parent's
    ``SaveAutoGrades`` scores the trusted verdict. Cells whose checks cannot be re-run keep
    the kernel's verdict, and a note says which. Returns the report's notes and whether
    ``notebook`` changed.
    """
    from . import trusted

    found = trusted.verdicts(tests, evidence)
    own, own_notes = trusted.own_work_verdicts(notebook, tests, instructor)
    found.update(own)
    notes = trusted.apply_verdicts(notebook, found)
    changed = bool(notes)
    notes += own_notes
    kept = [grade_id for grade_id, verdict in found.items() if not verdict.replayed]
    if kept:
        notes.append(f"scored inside the kernel only (checks the grader cannot re-run): {', '.join(kept)}")
    return notes, changed


def warm_up() -> None:
    """Called once in each local worker process: imports are done, logging is quiet."""
    _quiet_worker()
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl+C is the parent's business
