"""Run one notebook under limits, in a sandbox: :class:`LimitedExecute` and its :class:`Limits`.

:func:`apply_limits` puts :class:`LimitedExecute` in place of the course's executor in an
nbgrader configuration; :func:`limit_notes` reads back, from a graded notebook, which
limits it hit (one line each for the grading report).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import psutil
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader.preprocessors import Execute
from traitlets import Bool, Enum, Integer, Unicode
from traitlets.config import Config

from ...checks.evidence import RECORD_ENV
from .. import config as course
from . import sandbox as sandboxing
from . import warm_kernels
from .jupyter_workarounds import poll_in_slices, reconnect_when_dropped
from .limited_kernel import SCHEDULING
from .outputs import MISSING, OUTPUT_MESSAGES, OutputLimiter, note_text
from .preprocessors import CourseExecute
from .processes import kill_processes, session_members

CELL_TIMEOUT_S = course.CELL_TIMEOUT_S
# A TensorFlow notebook: ~650 MB and 6-8 s before any work, minutes of training cells.
NOTEBOOK_TIMEOUT_S = course.NOTEBOOK_TIMEOUT_S
KERNEL_MEMORY_MB = course.KERNEL_MEMORY_MB
LAUNCHER = "course_lib.grading.execution.limited_kernel"   # run as python -I -m LAUNCHER

# Error names the grader writes into cells it stopped (students see them in feedback).
KILLED = "KernelKilled"
NOT_RUN = "NotRun"
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
    warm_kernels: bool = True    # fork sandboxed kernels from a zygote (warm_kernels); False: start each cold
    scheduling: str = "batch"    # the kernels' CPU scheduling: "batch" (SCHED_BATCH, see limited_kernel) or "normal"

    def describe(self) -> str:
        return (f"{self.cell_timeout_s} s per cell, {self.notebook_timeout_s} s per notebook, "
                f"{self.memory_mb} MB per kernel")


class LimitedExecute(CourseExecute):
    """The course's executor with limits, in a sandbox: per cell, per notebook, per kernel.

    * Sandbox (``sandbox``): ``"auto"`` runs the kernel in a bubblewrap sandbox
      (:mod:`course_lib.grading.execution.sandbox`) where one can start, else unsandboxed;
      ``"required"`` refuses to start a kernel without one; ``"off"`` (this class's default,
      for use outside grading) never sandboxes. ``dlcourse autograde`` grades with
      ``"auto"`` unless told otherwise (:func:`apply_limits`). In the sandbox the kernel is
      interrupted by a message (a signal cannot reach into it), and it sees a clean
      environment; outside, it still gets ``PYTHONSAFEPATH`` and no ``NBGRADER_*`` variable.
    * Cell time limit (``timeout``): nbgrader interrupts the cell and records a
      ``CellTimeoutError``; the rest of the notebook runs.
    * Memory: the kernel is started through :mod:`course_lib.grading.execution.limited_kernel`,
      which sets ``RLIMIT_DATA`` (or ``RLIMIT_AS``) to ``memory_mb`` before exec'ing it, so
      an allocation past the limit raises ``MemoryError`` in the student's cell. A watchdog
      also kills the whole kernel process tree when its resident memory passes the limit
      (children started by the kernel each get their own copy of the per-process limit).
    * Processes, file size, open files: rlimits set by the same launcher (``processes``
      only in the sandbox's own user namespace, see there); the watchdog also stops a
      kernel whose process tree grows past ``processes``.
    * Output: at most ``output_limit`` characters per output and ``cell_output_limit`` per
      cell are kept (:mod:`course_lib.grading.execution.outputs`); a single message over
      ``message_limit_mb`` is discarded by ZeroMQ before Python reads it.
    * Notebook wall clock (``notebook_timeout``), a kernel that ignores the interrupt, or a
      kernel that dies: the kernel's whole process tree is killed, the cell that was running
      gets a ``KernelKilled`` error saying why and every later code cell a ``NotRun`` error,
      so grade cells that did not run score zero and the ones that finished keep their points.
    * Scheduling (``scheduling``): ``"batch"`` (what ``dlcourse autograde`` uses) runs the
      kernel under Linux's ``SCHED_BATCH`` policy, so TensorFlow's input pipelines do not
      leave the core idle (:func:`course_lib.grading.execution.limited_kernel.schedule`).
    * Evidence (``evidence_file``): when set (by the grading worker), the kernel records what
      the student's functions returned there, for the trusted re-check
      (:mod:`course_lib.grading.recheck`).
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
    warm_kernels = Bool(False, help="Fork sandboxed kernels from a process that has already imported "
                                    "what the notebook imports (course_lib.grading.execution."
                                    "warm_kernels)").tag(config=True)
    scheduling = Enum(list(SCHEDULING), "normal", help="The kernel's Linux scheduling policy: normal, or batch "
                                                      "(SCHED_BATCH; see limited_kernel.schedule)").tag(config=True)
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
    forked = False              # whether the last kernel was forked from a zygote (warm_kernels)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", warm_kernels.WarmKernelManager)   # (nbgrader sets its own)
        super().__init__(*args, **kwargs)

    def create_kernel_manager(self):
        manager = super().create_kernel_manager()   # IpcKernelMixin: self.kernel_folder
        spec = manager.kernel_spec
        self._warm, self.forked = None, False
        if spec is not None and LAUNCHER not in spec.argv:
            bubblewrap, problem = sandboxing.resolve(self.sandbox, self.bwrap)
            self.sandboxed, self.sandbox_problem = bubblewrap is not None, problem
            kernel_env = {**self._thread_env(), **(spec.env or {})}
            rlimits = self._rlimits(bubblewrap)
            if bubblewrap is not None and self.warm_kernels and warm_kernels.standard_kernel(spec.argv):
                self._offer_warm_kernel(manager, bubblewrap, spec.argv[0], kernel_env, rlimits)
            launcher = [sys.executable, "-I", "-m", LAUNCHER,
                        "--memory-mb", str(self.memory_mb), "--limit", self.memory_limit,
                        "--scheduling", self.scheduling]
            for name, value in rlimits.items():
                launcher += ["--rlimit", f"{name}={value}"]
            evidence = Path(self.evidence_file) if self.evidence_file else None
            if evidence is not None:
                evidence.parent.mkdir(parents=True, exist_ok=True)
            if bubblewrap is not None:
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

    def _rlimits(self, bubblewrap) -> dict[str, int]:
        """The kernel's rlimits besides memory (the launcher's ``--rlimit`` options). Processes
        only in the sandbox's own user namespace (see :mod:`.limited_kernel`)."""
        found = {"fsize": self.file_mb * 2**20, "nofile": self.open_files}
        if bubblewrap is not None and bubblewrap.user_namespace:
            found["nproc"] = self.processes
        return {name: value for name, value in found.items() if value}

    def _offer_warm_kernel(self, manager, bubblewrap, python: str, kernel_env: dict[str, str],
                           rlimits: dict[str, int]) -> None:
        """Let ``manager`` fork its kernel from this thread's zygote (:mod:`.warm_kernels`), with
        the environment and limits a cold kernel would get; else it starts cold."""
        modules = warm_kernels.preloads(self.nb)
        if not modules:
            return
        env = sandboxing.environment(kernel_env, str(Path(sys.executable).parent))
        env.setdefault("MALLOC_ARENA_MAX", "2")   # as the limited_kernel launcher sets it
        if self.memory_mb:
            rlimits = {**rlimits, self.memory_limit: self.memory_mb * 2**20}
        self._warm = warm_kernels.WarmLaunch.offer(
            manager, bubblewrap, python, env, modules, self.tmpfs_mb, rlimits,
            files=self._work_files, record_evidence=bool(self.evidence_file), log=self.log,
            scheduling=self.scheduling)
        if self._warm is not None:
            self.kernel_folder = self._warm.folder   # the cold fallback's sandbox binds it too

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
        """Make ZeroMQ discard any kernel message over ``message_limit_mb`` on this kernel's client
        (and reconnect sooner)."""
        import zmq

        make_client = manager.client
        limit = self.message_limit_mb * 2**20

        def client(**kwargs):
            kc = make_client(**kwargs)
            if limit:
                kc.context.setsockopt(zmq.MAXMSGSIZE, limit)   # default for the sockets it opens next
            # a socket that connects before the new kernel has bound its end retries after this
            # many ms (ZeroMQ's default, 100, is idle time at every kernel start)
            kc.context.setsockopt(zmq.RECONNECT_IVL, 10)
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
            processes += session_members(self._kernel_pid)
        kill_processes(processes)

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
        reconnect_when_dropped(kc, "iopub", self._outputs.lost)
        for channel in (kc.shell_channel, kc.iopub_channel):
            poll_in_slices(channel)
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
                leftovers += session_members(self._kernel_pid)
            kill_processes([p for p in leftovers if p.is_running()])
            if getattr(self, "_warm", None) is not None:
                self.forked = self._warm.done(self.evidence_file, self.log)
                self._warm = None

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
    config.LimitedExecute.warm_kernels = limits.warm_kernels
    config.LimitedExecute.scheduling = limits.scheduling
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
