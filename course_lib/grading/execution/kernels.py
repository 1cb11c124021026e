"""The course's two Jupyter kernel specs, and the fallback from GPU to CPU.

``dlcourse-cpu`` hides any GPU from TensorFlow; ``dlcourse-gpu`` lets TensorFlow use
one and grow its memory as needed (``TF_FORCE_GPU_ALLOW_GROWTH``), so several
notebooks can share a card. Both run the Python that installed them, so they see
the course's virtual environment whatever Jupyter starts them.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import tempfile
import weakref
from pathlib import Path

CPU_KERNEL = "dlcourse-cpu"
GPU_KERNEL = "dlcourse-gpu"

# Quiet TensorFlow's C++ start-up chatter and debugpy's frozen-module notice; neither is
# the student's business (and stock nbgrader used to fail grade cells on such stderr lines).
_COMMON_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}

KERNELS = {
    CPU_KERNEL: {"display_name": "Python 3 (DL course, CPU)",
                 "env": {**_COMMON_ENV, "CUDA_VISIBLE_DEVICES": "-1"}},
    GPU_KERNEL: {"display_name": "Python 3 (DL course, GPU)",
                 "env": {**_COMMON_ENV, "TF_FORCE_GPU_ALLOW_GROWTH": "true"}},
}


def kernelspec_metadata(kernel: str) -> dict:
    """The ``kernelspec`` notebook metadata for ``"cpu"`` or ``"gpu"``."""
    name = {"cpu": CPU_KERNEL, "gpu": GPU_KERNEL}[kernel]
    return {"name": name, "display_name": KERNELS[name]["display_name"], "language": "python"}


def install_kernels(prefix: str | None = None) -> list[str]:
    """Install both kernel specs under ``prefix`` (default: this Python's ``sys.prefix``).

    Installing into the virtual environment needs no root and no home folder, and
    Jupyter started from that environment finds them.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    prefix = prefix or sys.prefix
    manager = KernelSpecManager()
    installed = []
    for name, spec in KERNELS.items():
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "kernel.json").write_text(json.dumps({
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": spec["display_name"],
                "language": "python",
                "env": spec["env"],
                "metadata": {"debugger": True},
            }, indent=1))
            installed.append(manager.install_kernel_spec(folder, name, prefix=prefix, replace=True))
    return installed


def resolve_kernel(name: str | None, log: logging.Logger | None = None) -> str:
    """The kernel to run a notebook that asks for ``name``.

    A GPU kernel that is not installed here maps to the CPU kernel (then to
    ``python3``), so grading never fails on a machine without the GPU spec.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    available = KernelSpecManager().find_kernel_specs()
    if name and name in available:
        return name
    for fallback in (CPU_KERNEL, "python3"):
        if fallback in available:
            if log:
                log.warning("kernel %r is not installed here; using %r instead", name, fallback)
            return fallback
    raise RuntimeError(f"no kernel to run {name!r}: run `make lab` or `dlcourse kernels` first")


class IpcKernelMixin:
    """For nbclient clients: start kernels on Unix sockets in a private folder, not TCP ports.

    Kernels launched at the same moment race for TCP ports ("Address already in use");
    sockets in a fresh folder cannot collide, and nothing listens on the network. The
    connection file lies in the same folder (:attr:`kernel_folder`), so a sandbox that
    binds only that folder gives the kernel everything it needs to connect (TCP on
    loopback could not cross a sandbox's own network namespace). The folder is removed
    when the kernel manager goes.
    """

    kernel_folder: Path | None = None

    def create_kernel_manager(self):
        manager = super().create_kernel_manager()
        folder = Path(tempfile.mkdtemp(prefix="dlcourse-kernel-"))
        manager.transport = "ipc"
        manager.ip = str(folder / "kernel")
        manager.connection_file = str(folder / "kernel.json")
        weakref.finalize(manager, shutil.rmtree, folder, True)
        self.kernel_folder = folder
        return manager
