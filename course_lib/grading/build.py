"""``dlcourse build``: instructor sources in ``solutions/`` become the student release in ``notebooks/``.

1. Each jupytext source ``solutions/NN_slug/*.py`` becomes an nbgrader source notebook
   in ``build/source/NN_slug/`` with the unit's kernel spec and stable cell ids;
   only the files that ``unit.toml`` lists are copied beside it.
2. ``nbgrader generate_assignment`` (nbgrader's own API, in this process) strips
   solutions and hidden tests, records the tests in the gradebook, and writes
   ``notebooks/NN_slug/``.
3. The release is normalised (no outputs, stable ids, sorted keys) so that two
   builds in a row give byte-identical files.

``--check`` builds into a temporary course folder and compares, so it touches
neither ``notebooks/`` nor the gradebook.
"""

from __future__ import annotations

import filecmp
import re
import shutil
import tempfile
from pathlib import Path

import jupytext
import nbformat

from .config import CourseError, Unit, units
from .execution.kernels import kernelspec_metadata
from .config import RELEASE_DIRECTORY, SOURCE_DIRECTORY, configure

_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def source_notebook(path: Path, unit: Unit) -> nbformat.NotebookNode:
    """Read one jupytext source as an nbgrader source notebook (nbformat 4.5)."""
    notebook = jupytext.read(path, fmt="py:percent")
    notebook.metadata.pop("jupytext", None)
    notebook.metadata["kernelspec"] = kernelspec_metadata(unit.kernel)
    notebook.metadata["language_info"] = {"name": "python"}
    notebook.nbformat, notebook.nbformat_minor = 4, 5
    used: set[str] = set()
    for index, cell in enumerate(notebook.cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        base = _ID_CHARS.sub("-", grade_id)[:60] if grade_id else f"cell-{index:03d}"
        cell_id, n = base, 1
        while cell_id in used:
            n += 1
            cell_id = f"{base}-{n}"
        used.add(cell_id)
        cell["id"] = cell_id
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return notebook


def write_sources(root: Path, unit: Unit, target_root: Path) -> Path:
    """Write ``unit``'s nbgrader source folder under ``target_root/build/source``."""
    target = target_root / SOURCE_DIRECTORY / unit.name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    if not unit.sources:
        raise CourseError(f"{unit.folder}: no notebook source (a .py file with a jupytext percent header)")
    for path in unit.sources:
        nbformat.write(source_notebook(path, unit), target / f"{path.stem}.ipynb")
    for name in unit.release_files:
        extra = unit.folder / name
        if not extra.is_file():
            raise CourseError(f"{unit.folder / 'unit.toml'} lists {name!r}, which does not exist")
        shutil.copy2(extra, target / name)
    return target


def normalise_release(folder: Path) -> None:
    """Rewrite released notebooks deterministically: no outputs, no execution counts."""
    for path in sorted(folder.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nbformat.write(notebook, path)


def generate(course_root: Path, unit_names: list[str]) -> None:
    """Run nbgrader's generate_assignment for each unit in ``course_root``."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    config = Config()
    configure(config, course_root)
    api = NbGraderAPI(CourseDirectory(config=config), config=config)
    for name in unit_names:
        result = api.generate_assignment(name, force=True, create=True)
        if not result["success"]:
            raise CourseError(f"nbgrader could not generate {name}:\n{result.get('error') or result.get('log')}")
        normalise_release(course_root / RELEASE_DIRECTORY / name)


def build(root: Path, only: list[str] | None = None, output_root: Path | None = None) -> list[Path]:
    """Build the release of every unit (or those in ``only``); return the release folders.

    ``output_root`` (default ``root``) is the nbgrader course folder written to.
    """
    output_root = output_root or root
    chosen = [u for u in units(root) if not only or u.name in only or u.name.split("_")[0] in only]
    if only and not chosen:
        raise CourseError(f"no unit matches {only}")
    for unit in chosen:
        write_sources(root, unit, output_root)
        release = output_root / RELEASE_DIRECTORY / unit.name
        if release.exists():   # nbgrader replaces it: keep the old one, in case someone worked in it
            backup = output_root / "build" / "previous-release" / unit.name
            shutil.rmtree(backup, ignore_errors=True)
            shutil.copytree(release, backup)
            shutil.rmtree(release)
    generate(output_root, [u.name for u in chosen])
    return [output_root / RELEASE_DIRECTORY / u.name for u in chosen]


def stale_files(root: Path) -> list[str]:
    """Build into a temporary course folder and list what differs from ``notebooks/``."""
    with tempfile.TemporaryDirectory(prefix="dlcourse-check-") as scratch:
        scratch_root = Path(scratch)
        build(root, output_root=scratch_root)
        fresh, committed = scratch_root / RELEASE_DIRECTORY, root / RELEASE_DIRECTORY
        fresh_files = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
        committed_files = {p.relative_to(committed) for p in committed.rglob("*") if p.is_file()
                           and ".ipynb_checkpoints" not in p.parts} if committed.exists() else set()
        stale = []
        for rel in sorted(fresh_files | committed_files):
            if rel not in committed_files:
                stale.append(f"{RELEASE_DIRECTORY}/{rel} (missing)")
            elif rel not in fresh_files:
                stale.append(f"{RELEASE_DIRECTORY}/{rel} (not built from any source)")
            elif not filecmp.cmp(fresh / rel, committed / rel, shallow=False):
                stale.append(f"{RELEASE_DIRECTORY}/{rel} (differs from its source)")
        return stale
