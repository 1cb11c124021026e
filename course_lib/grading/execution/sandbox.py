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
import json
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
# The grader's variables that pass into the clean environment: they choose or tune the
# numerical libraries' kernels for this machine's processor, and some processors need them
# to compute correctly at all (an OpenBLAS that misdetects a CPU gives wrong results or
# crashes; machines set OPENBLAS_CORETYPE for that). Thread counts are not here: the grader
# sets those on purpose per kernel. The kernel spec's own variables win over these.
NUMERICAL_VARIABLES = (
    "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",          # OpenBLAS: forced core type, cache size
    "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS",            # MKL: reproducibility mode, instruction set
    "NPY_DISABLE_CPU_FEATURES",                       # NumPy: SIMD paths turned off
    "TF_ENABLE_ONEDNN_OPTS",                          # TensorFlow: oneDNN kernels on or off
    "CUDA_VISIBLE_DEVICES",                           # which GPUs the GPU kernel may use
)
# What a graded kernel must import; the probe imports it inside the sandbox before grading.
KERNEL_IMPORTS = ("course_lib", "numpy", "ipykernel")


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


_IMPORT_REPORT = ("import json, sys\n"
                  "found = {'prefixes': [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix],"
                  " 'modules': {}}\n"
                  "for name in %r:\n"
                  "    module = __import__(name)\n"
                  "    found['modules'][name] = module.__file__\n"
                  "print(json.dumps(found))\n") % (KERNEL_IMPORTS,)
_KERNEL_PYTHONS: dict[tuple, dict] = {}


def kernel_python(kernel_executable: str, env: dict[str, str] | None = None) -> dict:
    """Where the kernel's own Python finds its installation and :data:`KERNEL_IMPORTS`.

    Asked of that Python itself, with the kernel's variables, outside the sandbox: the
    course installed from another folder than the grader's (a shared environment and an
    instructor's clone) is found where the kernel will import it. Raises
    :class:`SandboxUnavailable` with the real error when it cannot import them even here.
    """
    executable = shutil.which(kernel_executable) or kernel_executable
    kernel_env = {k: v for k, v in (env or {}).items() if k != "PYTHONSAFEPATH"}
    key = (executable, tuple(sorted(kernel_env.items())))
    if key not in _KERNEL_PYTHONS:
        run_env = {"PATH": os.environ.get("PATH", ""), **SAFE_PYTHON, **kernel_env}
        with tempfile.TemporaryDirectory(prefix="dlcourse-kernel-python-") as folder:
            try:
                run = subprocess.run([executable, "-c", _IMPORT_REPORT], capture_output=True, text=True,
                                     env=run_env, cwd=folder, timeout=PROBE_TIMEOUT_S, stdin=subprocess.DEVNULL)
            except (OSError, subprocess.TimeoutExpired) as error:
                raise SandboxUnavailable(f"the kernel's Python ({executable}) could not run: {error}") from None
        if run.returncode != 0:
            raise SandboxUnavailable(f"the kernel's Python ({executable}) cannot import "
                                     f"{', '.join(KERNEL_IMPORTS)} even outside the sandbox: {_last_line(run.stderr)}")
        _KERNEL_PYTHONS[key] = json.loads(run.stdout.strip().splitlines()[-1])
    return _KERNEL_PYTHONS[key]


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no error message"


def python_folders(kernel_executable: str, env: dict[str, str] | None = None) -> list[Path]:
    """The folders a graded kernel needs: the grader's Python and ``course_lib`` (the launcher,
    :mod:`.limited_kernel`, runs on them), and the kernel's own Python's installation and the
    folders it imports :data:`KERNEL_IMPORTS` from (``course_lib``: its package folder only).

    A folder that holds ``$HOME``, the temporary folder or this process's current folder
    (the course root, for a local run) is never bound, so an unusual layout fails the
    probe instead of exposing those.
    """
    import course_lib

    executable = shutil.which(kernel_executable) or kernel_executable
    found = kernel_python(executable, env)
    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  Path(course_lib.__file__).resolve().parent, *found["prefixes"],
                  Path(executable).parent.parent, Path(os.path.realpath(executable)).parent.parent]
    for name, file in found["modules"].items():
        package = Path(file).resolve().parent                  # .../site-packages/numpy, .../course_lib
        under_prefix = any(_is_ancestor(Path(p).resolve(), package) for p in found["prefixes"])
        if name == "course_lib":
            candidates.append(package)
        elif not under_prefix:
            candidates.append(package.parent)                  # its site-packages, for its .libs
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
    """The kernel's whole environment inside the sandbox: nothing of the grader's own but
    :data:`NUMERICAL_VARIABLES`.

    ``kernel_env`` holds the kernel spec's variables and the executor's thread settings.
    """
    env = {"PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin", "HOME": WORKDIR,
           "LANG": os.environ.get("LANG") or "C.UTF-8", "MPLCONFIGDIR": MPLCONFIGDIR, **SAFE_PYTHON}
    env.update({name: os.environ[name] for name in NUMERICAL_VARIABLES if os.environ.get(name)})
    env.update({k: v for k, v in kernel_env.items() if not k.startswith(("NBGRADER", "JPY_"))})
    if evidence:
        from ...checks.evidence import RECORD_ENV

        env[RECORD_ENV] = evidence
    return env


def command(bwrap: Bubblewrap, kernel_argv: list[str], *, files: list[Path], channel: Path,
            evidence_dir: Path | None, env: dict[str, str], tmpfs_mb: int = TMPFS_MB,
            kernel_python: str | None = None, as_pid_1: bool = False) -> list[str]:
    """The ``bwrap`` command line that runs ``kernel_argv`` in the sandbox.

    ``kernel_python`` is the kernel's own Python when ``kernel_argv`` starts with a launcher
    (default: ``kernel_argv[0]``); :func:`python_folders` says what is bound for it.

    ``files`` are bound read-only into :data:`WORKDIR` under their own names; ``channel``
    (connection file and sockets) is bound writable at its own path; ``evidence_dir``
    writable at :data:`EVIDENCE_DIR`; ``env`` is the complete environment. ``as_pid_1``: the
    command itself is process 1 of the sandbox (no bubblewrap reaper), which processes inside
    cannot kill or stop; it must then collect its orphaned children itself.
    """
    size = str(max(16, tmpfs_mb) * 2**20)
    args = [bwrap.path, "--die-with-parent", "--new-session", "--unshare-pid", *(["--as-pid-1"] if as_pid_1 else []),
            "--unshare-net",
            "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
    if bwrap.user_namespace:
        args += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--disable-userns"]
    args += ["--cap-drop", "ALL"]
    args += _system_arguments()
    # the private /tmp first: a venv or course under /tmp (a CI checkout) is bound on top of it
    args += ["--size", size, "--tmpfs", "/tmp", "--size", size, "--tmpfs", "/dev/shm",
             "--size", size, "--tmpfs", WORKDIR]
    for folder in python_folders(kernel_python or kernel_argv[0], env):
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
    count as working. Then starts each course kernel's Python in it, with that kernel's
    variables, and imports :data:`KERNEL_IMPORTS`, so that a kernel that could not start in
    the sandbox is found before anyone is graded, with the real error. The answer is kept
    for the life of the process.
    """
    kernels = course_kernels()
    key = (path, os.geteuid(), tuple((name, argv0, tuple(sorted(env.items()))) for name, argv0, env in kernels))
    if key not in _PROBED:
        try:
            bwrap = _probe(path)
            for_each_kernel(lambda name, argv0, env: _probe_imports(bwrap, name, argv0, env), kernels)
            _PROBED[key] = bwrap
        except SandboxUnavailable as error:
            _PROBED[key] = str(error)
    found = _PROBED[key]
    if isinstance(found, str):
        raise SandboxUnavailable(found)
    return found


def findings() -> dict[str, dict]:
    """What :func:`probe` and :func:`kernel_python` have found in this process so far.

    Local worker processes start from these (:func:`adopt`) instead of probing again: each
    probe imports every kernel's packages inside a sandbox, seconds of CPU per worker.
    """
    return {"probed": dict(_PROBED), "kernel_pythons": dict(_KERNEL_PYTHONS)}


def adopt(found: dict[str, dict]) -> None:
    """Start from another process's :func:`findings`: only for a process on the same machine.

    Safe there because every answer is keyed by what it depends on (the bubblewrap, the
    user id, each kernel's Python and variables); a worker whose key differs probes anew.
    """
    _PROBED.update(found.get("probed", {}))
    _KERNEL_PYTHONS.update(found.get("kernel_pythons", {}))


def for_each_kernel(check, kernels: list[tuple[str, str, dict[str, str]]]) -> None:
    """Run ``check(name, python, env)`` for every kernel side by side (each starts a Python:
    a few tenths of a second apiece); re-raises the first kernel's error, in ``kernels``' order."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, len(kernels))) as pool:
        futures = [pool.submit(check, *kernel) for kernel in kernels]
    for future in futures:
        future.result()


def course_kernels() -> list[tuple[str, str, dict[str, str]]]:
    """``(name, python, env)`` of each installed course kernel (else this Python, as ``python3``)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    from .kernels import KERNELS

    manager, found = KernelSpecManager(), []
    for name in KERNELS:
        try:
            spec = manager.get_kernel_spec(name)
        except NoSuchKernel:
            continue
        found.append((name, spec.argv[0], dict(spec.env or {})))
    return found or [("python3", sys.executable, {})]


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
            last = _last_line(run.stderr) if run.stderr.strip() else f"exit status {run.returncode}"
    raise SandboxUnavailable(f"bubblewrap could not start a sandbox ({last})")


def _probe_imports(bwrap: Bubblewrap, name: str, python: str, kernel_env: dict[str, str]) -> None:
    """Import :data:`KERNEL_IMPORTS` with kernel ``name``'s Python inside the sandbox, or say why not."""
    outside = kernel_python(python, kernel_env)        # raises with the real error if even that fails
    env = environment(kernel_env, str(Path(python).parent))
    with tempfile.TemporaryDirectory(prefix="dlcourse-probe-") as channel:
        argv = command(bwrap, [python, "-c", f"import {', '.join(KERNEL_IMPORTS)}"], files=[],
                       channel=Path(channel), evidence_dir=None, env=env)
        try:
            run = subprocess.run(argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
                                 stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise SandboxUnavailable(f"kernel {name} could not start in the sandbox: {error}") from None
    if run.returncode != 0:
        bound = ", ".join(str(folder) for folder in python_folders(python, env))
        raise SandboxUnavailable(
            f"kernel {name} ({python}) cannot import {', '.join(KERNEL_IMPORTS)} inside the sandbox: "
            f"{_last_line(run.stderr)} (outside it, course_lib comes from "
            f"{Path(outside['modules']['course_lib']).parent}; bound read-only: {bound})")


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
