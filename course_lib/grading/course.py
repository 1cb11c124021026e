"""Where the course lives and what units it has.

A unit is a folder ``solutions/NN_slug/`` with a ``unit.toml``::

    title = "A one-layer network is linear regression"
    kernel = "cpu"            # or "gpu": the kernel spec its notebooks name
    release_files = []        # files beside the sources that students receive

and one or more notebook sources (jupytext py:percent files).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path


class CourseError(Exception):
    """A problem an instructor or student can fix; the CLI prints it as one line."""


@dataclass(frozen=True)
class Unit:
    """One unit of the course, read from ``solutions/<name>/unit.toml``."""

    name: str
    folder: Path
    title: str
    kernel: str = "cpu"
    release_files: tuple[str, ...] = field(default_factory=tuple)

    @property
    def sources(self) -> list[Path]:
        """The unit's notebook sources: ``*.py`` files that carry a jupytext header."""
        return sorted(p for p in self.folder.glob("*.py") if _is_jupytext_source(p))


def _is_jupytext_source(path: Path) -> bool:
    head = path.read_text(encoding="utf-8")[:2000]
    return "jupytext:" in head and "format_name: percent" in head


def find_root(start: Path | None = None) -> Path:
    """The course root: the nearest folder at or above ``start`` with ``nbgrader_config.py`` and ``solutions/``."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "nbgrader_config.py").is_file() and (folder / "solutions").is_dir():
            return folder
    package_root = Path(__file__).resolve().parents[2]   # an editable install points at the repository
    if (package_root / "nbgrader_config.py").is_file():
        return package_root
    raise CourseError(f"no course found at or above {start}: run this inside the course repository")


def course_root(start: Path | None = None) -> Path:
    """The nbgrader course being graded: the nearest folder at or above ``start`` (default: the
    working directory) with an ``nbgrader_config.py``, as nbgrader finds it; else the repository."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "nbgrader_config.py").is_file():
            return folder
    return find_root(start)


def read_unit(folder: Path) -> Unit:
    """Parse ``folder/unit.toml``."""
    try:
        meta = tomllib.loads((folder / "unit.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise CourseError(f"{folder / 'unit.toml'}: {error}") from error
    kernel = meta.get("kernel", "cpu")
    if kernel not in ("cpu", "gpu"):
        raise CourseError(f"{folder / 'unit.toml'}: kernel must be 'cpu' or 'gpu', not {kernel!r}")
    return Unit(name=folder.name, folder=folder, title=meta["title"], kernel=kernel,
                release_files=tuple(meta.get("release_files", [])))


def units(root: Path) -> list[Unit]:
    """Every unit under ``root/solutions``, in order."""
    return [read_unit(folder) for folder in sorted((root / "solutions").iterdir())
            if (folder / "unit.toml").is_file()]


def unit_named(root: Path, name: str) -> Unit:
    """The unit called ``name`` (``01_linear_regression``, or just ``01``)."""
    for unit in units(root):
        if name in (unit.name, unit.name.split("_", 1)[0]):
            return unit
    raise CourseError(f"no unit {name!r}; units: {', '.join(u.name for u in units(root))}")
