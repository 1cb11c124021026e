"""What the grading tests share: kernels that compute with other numerics than the grader.

``tests/release/test_notebooks.py`` grades every unit this way too and imports from here.
"""

from __future__ import annotations

from pathlib import Path

X86_CORE_TYPES = ("Haswell", "Sandybridge", "Nehalem", "Prescott")


def grader_blas() -> str:
    """The OpenBLAS kernel this process uses (``"SkylakeX"``, ``"Haswell"``, ...)."""
    from threadpoolctl import threadpool_info

    return next((info.get("architecture") or "" for info in threadpool_info()
                 if info.get("internal_api") == "openblas"), "")


def other_numerics_env(folder: Path) -> dict[str, str]:
    """Variables that make graded kernels compute with other numerics than this process.

    Writes copies of the course's kernel specs under ``folder`` whose environments force
    another OpenBLAS core type (on x86-64) and one BLAS thread, and returns the
    ``JUPYTER_PATH`` that makes the grader find them first. The grader's own process (the
    trusted re-check) keeps its own BLAS, so the kernel's matrix products can differ from
    the grader's in their last bits, as on a machine whose processor OpenBLAS detects
    differently inside the sandbox.
    """
    import json

    from jupyter_client.kernelspec import KernelSpecManager

    from course_lib.grading.execution.kernels import KERNELS

    numerics = kernel_numerics()
    manager = KernelSpecManager()
    for name in KERNELS:
        spec = manager.get_kernel_spec(name)
        target = folder / "kernels" / name
        target.mkdir(parents=True, exist_ok=True)
        (target / "kernel.json").write_text(json.dumps({
            "argv": spec.argv, "display_name": spec.display_name, "language": spec.language,
            "env": {**(spec.env or {}), **numerics}}))
    return {"JUPYTER_PATH": str(folder)}


def kernel_numerics() -> dict[str, str]:
    """What :func:`other_numerics_env` sets in the kernels: one BLAS thread and, on x86-64,
    the first core type in :data:`X86_CORE_TYPES` that is not this process's."""
    import platform

    numerics = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    if platform.machine() in ("x86_64", "AMD64"):
        mine = grader_blas().lower()
        numerics["OPENBLAS_CORETYPE"] = next(t for t in X86_CORE_TYPES if t.lower() != mine)
    return numerics
