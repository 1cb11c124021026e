"""Where submissions are graded: local worker processes or the workers of a Dask cluster.

Both pools take :func:`.worker.grade_submission` calls and hand back futures; the driver
(:mod:`.autograde`) keeps them busy up to their ``window`` and restarts a broken one.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from pathlib import Path

from .config import CourseError
from .execution.processes import allowed_cores

MAX_POOL_RESTARTS = 3   # a pool whose workers keep dying is given up after this many restarts


def start_forkserver() -> str:
    """Start the fork server that local workers are forked from, importing nbgrader in it now.

    Called first thing, so the fork server's imports (seconds) overlap with this process's
    own; each worker is then a cheap fork with nbgrader already imported.
    """
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return "spawn"
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(["course_lib.grading.worker"])
    forkserver.ensure_running()
    return "forkserver"


class LocalWorkers:
    """Long-lived worker processes on this machine (nbgrader is imported once, in the fork server)."""

    def __init__(self, jobs: int):
        import multiprocessing

        self.jobs = jobs
        self.context = multiprocessing.get_context(start_forkserver())
        self.pool = self._start()
        self.window = 2 * jobs
        self.description = f"{jobs} local worker{'s' if jobs != 1 else ''}"
        self.warnings: list[str] = []

    def submit(self, common, student: str, folder: Path):
        from .worker import SubmissionPayload, grade_submission

        return self.pool.submit(grade_submission, common, SubmissionPayload(student, folder=str(folder)))

    def _start(self):
        """The process pool; each worker starts from this process's sandbox probe (no probe of its
        own) and takes one of :func:`core_shares` for itself and its kernels."""
        from concurrent.futures import ProcessPoolExecutor

        from .execution.sandbox import findings
        from .worker import warm_up

        shares = self.context.Queue()
        for share in core_shares(self.jobs):
            shares.put(share)
        return ProcessPoolExecutor(max_workers=self.jobs, mp_context=self.context, initializer=warm_up,
                                   initargs=(findings(), shares))

    def restart(self) -> None:
        self.close(kill=True)
        self.pool = self._start()

    def close(self, kill: bool = False) -> None:
        if kill:
            _kill_descendants()
        self.pool.shutdown(wait=not kill, cancel_futures=True)


class DaskWorkers:
    """The workers of a Dask distributed cluster; submissions travel as bytes."""

    def __init__(self, address: str, common):
        try:
            from distributed import Client
        except ImportError as error:   # pragma: no cover - a dependency of the course
            raise CourseError("--scheduler needs dask.distributed: pip install 'dask[distributed]'") from error
        try:
            self.client = Client(address, timeout="10s")
        except OSError as error:
            raise CourseError(f"cannot reach the Dask scheduler at {address}: {error}") from error
        nthreads = self.client.nthreads()   # {worker address: threads}
        processes = len(nthreads) or 1
        self.window = 2 * processes
        shares = dask_core_shares(self.client)
        kept = ", each kept to its share of its machine's cores" if shares else ""
        self.description = f"Dask cluster at {address} ({processes} worker{'s' if processes != 1 else ''}{kept})"
        crowded = sum(1 for threads in nthreads.values() if threads > 1)
        self.warnings = [f"{crowded} of the Dask workers run several threads, but a worker process grades one "
                         f"submission at a time (nbgrader changes its process's working folder and environment); "
                         f"start one single-threaded worker per core instead (dask worker --nworkers N --nthreads 1)"
                         ] if crowded else []
        self.common = self.client.scatter(dataclasses.replace(common, core_shares=shares), broadcast=True)

    def submit(self, common, student: str, folder: Path):
        from concurrent.futures import Future

        from .worker import SubmissionPayload, grade_submission, read_folder

        payload = SubmissionPayload(student, files=read_folder(folder, common.ignore))
        remote = self.client.submit(grade_submission, self.common, payload, pure=False,
                                    key=f"grade-{student}-{uuid.uuid4().hex[:8]}")
        local: Future = Future()

        def _copy(done):
            try:
                local.set_result(done.result())
            except BaseException as error:  # noqa: BLE001
                local.set_exception(error)

        remote.add_done_callback(_copy)
        return local

    def restart(self) -> None:
        pass

    def close(self, kill: bool = False) -> None:
        self.client.close()


def _kill_descendants() -> None:
    """Kill the worker processes this run started, and everything they started (kernels).

    multiprocessing's own helpers (the fork server and the resource tracker, children of this
    process) are left alone: they exit with this process, and killing the fork server behind
    multiprocessing's back would break the next pool.
    """
    import psutil

    from .execution.processes import kill_processes

    me = os.getpid()
    children = []
    for child in psutil.Process(me).children(recursive=True):
        try:
            command = " ".join(child.cmdline())
            if child.ppid() == me and ("resource_tracker" in command or "forkserver" in command):
                continue
            children.append(child)
        except psutil.Error:
            pass
    kill_processes(children)


def core_shares(jobs: int, cores: list[int] | None = None) -> list[set[int]]:
    """The cores of this process (or ``cores``) split into ``jobs`` shares of (nearly) equal size,
    one per worker; none when there are more jobs than cores.

    A worker and the kernels it starts keep to their share. Two TensorFlow kernels free to run
    on any core get in each other's way (each uses a little more than one core: tf.data's and
    TensorFlow's own threads); pinned, a unit-03 notebook graded side by side took 2-8 % less
    time and a little less CPU in our runs (``benchmarks/autograde_profile.py --variants``),
    and NumPy's and TensorFlow's thread pools size themselves to the share.
    """
    cores = allowed_cores() if cores is None else cores
    if not cores or jobs > len(cores):   # (no cores: no affinity on this system)
        return []
    size, extra = divmod(len(cores), jobs)
    shares, start = [], 0
    for index in range(jobs):
        end = start + size + (index < extra)
        shares.append(set(cores[start:end]))
        start = end
    return shares


def dask_core_shares(client) -> dict[str, list[int]]:
    """``{worker address: cores}``: each Dask worker's share of its machine's cores, where its kernels
    run (:func:`.worker.grade_submission` keeps its grading thread to it, and the kernels inherit it).

    As with local workers (:func:`core_shares`), kernels kept to a core each graded a
    TensorFlow unit 5-10 % faster than kernels free to move, in alternating runs of
    ``benchmarks/class_at_scale.py --units 03_frameworks``. A machine is left alone where its
    workers outnumber its cores, share one process, or cannot be kept to cores (no affinity:
    macOS).
    """
    workers = client.scheduler_info().get("workers", {})
    processes = client.run(os.getpid)
    cores = client.run(allowed_cores)
    machines: dict[str, list[str]] = {}
    for address, info in workers.items():
        machines.setdefault(info.get("host", address), []).append(address)
    shares = {}
    for addresses in machines.values():
        addresses.sort()
        if len({processes.get(address) for address in addresses}) < len(addresses):
            continue   # workers that are threads of one process cannot each keep to cores
        for address, share in zip(addresses, core_shares(len(addresses), cores.get(addresses[0]))):
            shares[address] = sorted(share)
    return shares


def default_jobs() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:   # macOS
        return max(1, os.cpu_count() or 1)
