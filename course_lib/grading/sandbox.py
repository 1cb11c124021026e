"""A bubblewrap sandbox around each graded kernel.

``dlcourse autograde`` runs students' code. Each grading kernel is started through
bubblewrap (``bwrap``, Debian's ``bubblewrap`` package), which puts it in fresh Linux
namespaces. Inside, the kernel sees:

* the system, read-only: ``/usr`` (and ``/bin``, ``/lib*``, ``/sbin`` as the host has
  them), ``/etc``, ``/sys``, the Python installation and virtual environment that run the
  kernel, and the ``course_lib`` package folder;
* a private working folder :data:`WORKDIR` (also ``$HOME`` and the kernel's current
  folder) on a size-capped tmpfs, holding read-only binds of that submission's notebook and
  its data files, and a private, size-capped ``/tmp``;
* writable: the kernel's connection folder (connection file and IPC sockets, at the same
  path as outside: TCP on loopback cannot cross ``--unshare-net``) and the folder of the
  evidence file (:data:`EVIDENCE_DIR`) that the grader's trusted re-check reads;
* nothing else: not the course root, the gradebook, ``build/source``, other submissions,
  the grader's scratch course or ``$HOME``.

It runs as uid/gid 65534 ("nobody") in its own user namespace where the system allows
one (else as the grader's own, non-root, user with a setuid ``bwrap``), in its own pid,
network (no network at all), IPC and UTS namespaces, in a new session, with a clean
environment (:func:`environment`), and ``--die-with-parent``: when the grading process
dies or kills the sandbox, everything inside goes with it (the pid namespace ends with
its first process).

Where the sandbox cannot start (no ``bwrap``, user namespaces disabled and no setuid
``bwrap``, or only root inside), :func:`resolve` says why in one line; the grader then
runs unsandboxed with a warning, or refuses when the mode is ``"required"``.
"""

from __future__ import annotations

import glob
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

MODES = ("auto", "required", "off")
WORKDIR = "/home/student"
EVIDENCE_DIR = "/run/evidence"
MPLCONFIGDIR = "/tmp/matplotlib"
NOBODY = 65534
TMPFS_MB = 512          # default size of the private /tmp and of the working folder (each)
PROBE_TIMEOUT_S = 30

# What the kernel's environment always holds; PYTHONSAFEPATH keeps files in the working
# folder (a `numpy.py`, an `ipykernel_launcher.py`) from shadowing real modules.
SAFE_PYTHON = {"PYTHONSAFEPATH": "1", "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1",
               "MPLBACKEND": "Agg"}


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot start here; the message is one line saying why."""


@dataclass(frozen=True)
class Bubblewrap:
    """A bubblewrap that works on this machine."""

    path: str
    user_namespace: bool   # True: uid 65534 in its own user namespace; False: setuid bwrap, grader's uid


# --------------------------------------------------------------------------- what is bound

def _system_arguments() -> list[str]:
    """Read-only system folders; merged-/usr links stay links."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(name):
            args += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            args += ["--ro-bind", name, name]
    args += ["--ro-bind", "/etc", "/etc", "--ro-bind-try", "/sys", "/sys",
             "--proc", "/proc", "--dev", "/dev"]
    for device in sorted(glob.glob("/dev/nvidia*")) + sorted(glob.glob("/dev/dri")):
        args += ["--dev-bind", device, device]   # the GPU kernel (unit 04)
    return args


def _is_ancestor(path: Path, of: Path) -> bool:
    return path == of or path in of.parents


def python_folders(kernel_executable: str) -> list[Path]:
    """The folders the kernel's Python needs: its installation and virtual environment, and course_lib.

    A folder that holds ``$HOME``, the temporary folder or this process's current folder
    (the course root, for a local run) is never bound, so an unusual layout fails the
    probe instead of exposing those.
    """
    import course_lib

    executable = shutil.which(kernel_executable) or kernel_executable
    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  Path(executable).parent.parent, Path(os.path.realpath(executable)).parent.parent,
                  Path(course_lib.__file__).resolve().parent]
    folders: list[Path] = []
    for candidate in candidates:
        for path in {Path(candidate), Path(os.path.realpath(candidate))}:
            if path not in folders and path.is_dir():
                folders.append(path)
    forbidden = [Path(p).resolve() for p in (Path.home(), tempfile.gettempdir(), os.getcwd())]
    for path in folders:
        for secret in forbidden:
            if _is_ancestor(path, secret):
                raise SandboxUnavailable(f"the kernel's Python lives in {path}, which also holds {secret}; "
                                         f"binding it would expose {secret}")
    return sorted(folders)


_FONT_CACHE: list[Path] | None = None


def matplotlib_font_cache() -> list[Path]:
    """This user's matplotlib font list(s), built once here when missing.

    Without one, matplotlib in a fresh sandbox spends over a second scanning fonts at its
    first import, in every graded notebook. The sandbox gets a read-only copy (a bind), in
    a private writable :data:`MPLCONFIGDIR`.
    """
    global _FONT_CACHE
    if _FONT_CACHE is None:
        def find() -> list[Path]:
            xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
            for folder in (os.environ.get("MPLCONFIGDIR"), os.path.join(xdg, "matplotlib")):
                found = sorted(Path(folder).glob("fontlist-*.json")) if folder else []
                if found:
                    return found
            return []

        _FONT_CACHE = find()
        if not _FONT_CACHE:
            try:
                importlib.import_module("matplotlib.font_manager")   # writes the font list as it loads
            except ImportError:
                pass
            _FONT_CACHE = find()
    return _FONT_CACHE


def environment(kernel_env: dict[str, str], python_bin: str, evidence: str | None = None) -> dict[str, str]:
    """The kernel's whole environment inside the sandbox: nothing of the grader's own.

    ``kernel_env`` holds the kernel spec's variables and the executor's thread settings.
    """
    env = {"PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin", "HOME": WORKDIR,
           "LANG": os.environ.get("LANG") or "C.UTF-8", "MPLCONFIGDIR": MPLCONFIGDIR, **SAFE_PYTHON}
    env.update({k: v for k, v in kernel_env.items() if not k.startswith(("NBGRADER", "JPY_"))})
    if evidence:
        from ..checks.evidence import RECORD_ENV

        env[RECORD_ENV] = evidence
    return env


def command(bwrap: Bubblewrap, kernel_argv: list[str], *, files: list[Path], channel: Path,
            evidence_dir: Path | None, env: dict[str, str], tmpfs_mb: int = TMPFS_MB) -> list[str]:
    """The ``bwrap`` command line that runs ``kernel_argv`` in the sandbox.

    ``files`` are bound read-only into :data:`WORKDIR` under their own names; ``channel``
    (connection file and sockets) is bound writable at its own path; ``evidence_dir``
    writable at :data:`EVIDENCE_DIR`; ``env`` is the complete environment.
    """
    size = str(max(16, tmpfs_mb) * 2**20)
    args = [bwrap.path, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
            "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
    if bwrap.user_namespace:
        args += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--disable-userns"]
    args += ["--cap-drop", "ALL"]
    args += _system_arguments()
    # the private /tmp first: a venv or course under /tmp (a CI checkout) is bound on top of it
    args += ["--size", size, "--tmpfs", "/tmp", "--size", size, "--tmpfs", "/dev/shm",
             "--size", size, "--tmpfs", WORKDIR]
    for folder in python_folders(kernel_argv[0]):
        args += ["--ro-bind", str(folder), str(folder)]
    for path in matplotlib_font_cache():
        args += ["--ro-bind", str(path), f"{MPLCONFIGDIR}/{path.name}"]
    for path in files:
        args += ["--ro-bind", str(path), f"{WORKDIR}/{path.name}"]
    args += ["--bind", str(channel), str(channel)]
    if evidence_dir is not None:
        args += ["--bind", str(evidence_dir), EVIDENCE_DIR]
    args += ["--remount-ro", "/", "--chdir", WORKDIR, "--clearenv"]
    for name, value in env.items():
        args += ["--setenv", name, value]
    return [*args, "--", *kernel_argv]


# --------------------------------------------------------------------------- can it start here?

_PROBED: dict[tuple[str, int], Bubblewrap | str] = {}


def probe(path: str = "bwrap") -> Bubblewrap:
    """A working :class:`Bubblewrap` at ``path``, or :class:`SandboxUnavailable` saying why.

    Starts a real sandbox (the same folders and namespaces a kernel gets) running this
    Python, first as uid 65534 in a user namespace, then (a setuid ``bwrap`` on a system
    without unprivileged user namespaces) as the grader's own user. Root inside does not
    count as working. The answer is kept for the life of the process.
    """
    key = (path, os.geteuid())
    if key not in _PROBED:
        try:
            _PROBED[key] = _probe(path)
        except SandboxUnavailable as error:
            _PROBED[key] = str(error)
    found = _PROBED[key]
    if isinstance(found, str):
        raise SandboxUnavailable(found)
    return found


def _probe(path: str) -> Bubblewrap:
    found = shutil.which(path)
    if not found:
        raise SandboxUnavailable(f"bubblewrap ({path}) is not installed")
    last = ""
    with tempfile.TemporaryDirectory(prefix="dlcourse-probe-") as channel:
        for user_namespace in (True, False):
            bwrap = Bubblewrap(found, user_namespace)
            argv = command(bwrap, [sys.executable, "-I", "-c", "import os; print(os.getuid())"], files=[],
                           channel=Path(channel), evidence_dir=None,
                           env=environment({}, str(Path(sys.executable).parent)))
            try:
                run = subprocess.run(argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
                                     stdin=subprocess.DEVNULL)
            except (OSError, subprocess.TimeoutExpired) as error:
                raise SandboxUnavailable(f"bubblewrap ({found}) could not run: {error}") from None
            if run.returncode == 0 and run.stdout.strip().isdigit():
                if int(run.stdout) == 0:
                    last = "the sandbox would run students' code as root"
                    continue
                return bwrap
            last = (run.stderr.strip().splitlines() or [f"exit status {run.returncode}"])[-1]
    raise SandboxUnavailable(f"bubblewrap could not start a sandbox ({last})")


def resolve(mode: str, path: str = "bwrap") -> tuple[Bubblewrap | None, str | None]:
    """``(bubblewrap, None)`` to sandbox, or ``(None, why not)`` to grade unsandboxed.

    ``mode`` is ``"auto"`` (sandbox where possible), ``"required"`` (raise
    :class:`SandboxUnavailable` where not) or ``"off"``.
    """
    if mode not in MODES:
        raise ValueError(f"sandbox mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "off":
        return None, "the sandbox is turned off (--sandbox off)"
    try:
        return probe(path), None
    except SandboxUnavailable as error:
        if mode == "required":
            raise
        return None, str(error)


def unsandboxed_note(reason: str) -> str:
    """The line each affected submission's report row carries."""
    return f"graded WITHOUT the sandbox: {reason}; its code ran with the grader's rights"


def warning(reason: str) -> str:
    """The loud line the instructor sees before and after a run without the sandbox."""
    return (f"WARNING: grading WITHOUT the sandbox ({reason}). Students' code runs as you and can read "
            f"and change your files, other submissions and the gradebook. Install bubblewrap "
            f"(apt-get install bubblewrap) or pass --sandbox required to refuse to grade without it.")
