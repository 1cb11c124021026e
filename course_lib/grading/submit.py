"""``dlcourse submit NOTEBOOK_OR_UNIT``: hand in a unit as one archive to upload.

For students who work on their own machine and upload a file to a learning platform.
The command

1. finds the unit and its notebooks: the names come from the release folder
   ``notebooks/<unit>/`` of the course, so a renamed copy (``-Copy1``) or a notebook of
   another unit is refused before anything runs;
2. refuses a notebook still as released (no answer cell changed: nothing to grade, and
   usually a sign that the student's work is in another file or not saved);
3. runs the self-check of ``dlcourse check`` and shows its table; failing checks give a
   warning, not a refusal (partial work earns partial marks);
4. writes ``submissions/<student>_<unit>.zip`` (see :mod:`.archive`): the notebooks'
   bytes as saved, and a manifest with their SHA-256, the course version and the local
   time. The notebooks are only read, never written.

The instructor imports the archives with ``dlcourse collect``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .intake.archive import check_id, write_archive
from .config import CourseError, course_root, read_unit
from .config import RELEASE_DIRECTORY

STUDENT_ENV = "DLCOURSE_STUDENT"


@dataclass
class Handin:
    """What will be submitted: the unit, the student's notebooks, the release they came from."""

    unit: str
    release: Path               # notebooks/<unit>/ in the course
    notebooks: list[Path]       # the student's files, named as in the release
    named: Path | None = None   # the notebook given on the command line, if one was
    missing: tuple[str, ...] = ()


def release_units(root: Path) -> dict[str, list[str]]:
    """``{unit: [notebook file names]}`` of the course's release folder ``notebooks/<unit>/``.

    In the course repository, where students work in the release folder itself, a unit's
    notebooks are the ones built from its sources (``solutions/<unit>/*.py``), so that a
    copy made beside them (``linear_regression-Copy1.ipynb``) is not taken for one.
    """
    release = root / RELEASE_DIRECTORY
    if not release.is_dir():
        raise CourseError(f"no release folder {release}: run this inside the course")
    units = {}
    for folder in sorted(p for p in release.iterdir() if p.is_dir()):
        sources = root / "solutions" / folder.name
        if (sources / "unit.toml").is_file():
            units[folder.name] = sorted(f"{p.stem}.ipynb" for p in read_unit(sources).sources)
        elif any(folder.glob("*.ipynb")):
            units[folder.name] = sorted(p.name for p in folder.glob("*.ipynb"))
    if not units:
        raise CourseError(f"no unit in the release folder {release}")
    return units


def _unit_called(name: str, units: dict[str, list[str]]) -> str | None:
    """The unit called ``name`` or numbered ``name`` (``01``)."""
    for unit in units:
        if name in (unit, unit.split("_", 1)[0]):
            return unit
    return None


def locate(target: str | Path) -> tuple[Path, Handin]:
    """The course root and the :class:`Handin` for a notebook path, a unit folder or a unit name."""
    path = Path(target)
    start = path.parent if path.suffix == ".ipynb" else (path if path.is_dir() else None)
    root = course_root(start)
    units = release_units(root)

    def handin(unit: str, folder: Path, named: Path | None = None) -> Handin:
        names = units[unit]
        found = [folder / name for name in names if (folder / name).is_file()]
        if not found:
            raise CourseError(f"no notebook of unit {unit} in {folder} (expected {', '.join(names)})")
        missing = tuple(name for name in names if not (folder / name).is_file())
        return Handin(unit, root / RELEASE_DIRECTORY / unit, found, named, missing)

    if path.suffix == ".ipynb":
        if not path.is_file():
            raise CourseError(f"{path}: no such notebook")
        unit = path.resolve().parent.name
        if unit not in units:   # a copy outside the course: the unit that has a notebook of this name
            owners = [u for u, names in units.items() if path.name in names]
            if len(owners) != 1:
                raise CourseError(f"{path.name} is not a notebook of any unit; notebooks are named as in "
                                  f"{RELEASE_DIRECTORY}/<unit>/ (for example {next(iter(units.values()))[0]})")
            unit = owners[0]
        if path.name not in units[unit]:
            raise CourseError(f"{path.name} is not part of unit {unit} (its notebooks: {', '.join(units[unit])}); "
                              f"submit the notebook with that name, renaming your copy if needed")
        return root, handin(unit, path.parent, named=path)
    if path.is_dir():
        unit = path.resolve().name
        if unit not in units:
            raise CourseError(f"{path} is not a unit folder; units: {', '.join(units)}")
        return root, handin(unit, path)
    unit = _unit_called(str(target), units)
    if unit is None:
        raise CourseError(f"no unit {str(target)!r}; units: {', '.join(units)}")
    return root, handin(unit, root / RELEASE_DIRECTORY / unit)


# --------------------------------------------------------------------------- untouched notebooks

def _read_notebook(path: Path):
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except Exception as error:   # not JSON, not a notebook
        raise CourseError(f"{path} is not a readable notebook ({type(error).__name__}: {error}); "
                          f"open it in JupyterLab and save it again") from None


def _answer_cells(notebook) -> dict[str, object]:
    from nbgrader.utils import is_solution

    return {cell.metadata["nbgrader"].get("grade_id", ""): cell for cell in notebook.cells if is_solution(cell)}


def is_untouched(path: Path, release: Path) -> bool:
    """Whether every answer cell of the notebook at ``path`` is as released.

    Compared with the release notebook's answer cells when the student works in a copy;
    a student who works in the release file itself is compared with the checksums that
    ``nbgrader generate_assignment`` stored in each answer cell at release time.
    """
    from nbgrader.utils import compute_checksum

    answers = _answer_cells(_read_notebook(path))
    if not answers:
        return False
    if release.is_file() and not path.resolve().samefile(release):
        released = {gid: cell.source for gid, cell in _answer_cells(_read_notebook(release)).items()}
        if released.keys() == answers.keys() and all(released[g] == answers[g].source for g in answers):
            return True
    return all(cell.metadata["nbgrader"].get("checksum") == compute_checksum(cell) for cell in answers.values())


# --------------------------------------------------------------------------- the command

def course_version() -> str:
    """The installed course package's version (recorded in the manifest)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dlcourse")
    except PackageNotFoundError:
        return "unknown"


def _self_check(console, notebook: Path) -> int:
    """Run ``dlcourse check``'s self-check on ``notebook``, print its table; return the failures."""
    from .check import check_with_table

    return sum(not r.passed for r in check_with_table(console, notebook))


def hand_in(console, notebook_or_unit: str, student: str | None, out: Path | None = None,
            no_check: bool = False) -> Path:
    """``dlcourse submit``: check the student's notebooks, self-check them and write the archive.

    Prints warnings and the result on ``console``; returns the archive's path. Raises
    :class:`CourseError` for a missing student id, an unknown unit or a notebook still as
    released.
    """
    from .console import print_line

    if not student:
        raise CourseError(f"no student id: pass --student ID or set {STUDENT_ENV}")
    check_id(student, "student id")
    root, handin = locate(notebook_or_unit)

    def say(text: str, style: str = "") -> None:
        print_line(console, text, style)

    untouched = [nb for nb in handin.notebooks if is_untouched(nb, handin.release / nb.name)]
    if handin.named in untouched or len(untouched) == len(handin.notebooks):
        first = handin.named if handin.named in untouched else untouched[0]
        raise CourseError(f"{first} is still as released (no answer changed): fill in your answers and "
                          f"save the notebook before submitting")
    for name in handin.missing:
        say(f"warning: {name} of unit {handin.unit} is not in {handin.notebooks[0].parent}; "
            f"it is left out and will score zero", "yellow")
    for nb in untouched:
        say(f"warning: {nb.name} is still as released; it is included and will score zero", "yellow")
    if no_check:
        say("Self-check skipped (--no-check).")
    else:
        _self_check_all(console, handin, say)
    files = {nb.name: nb.read_bytes() for nb in handin.notebooks}
    target = (out or root / "submissions") / f"{student}_{handin.unit}.zip"
    replaced = target.exists()
    try:
        manifest = write_archive(target, student, handin.unit, files, course_version(), datetime.now().astimezone())
    except OSError as error:
        raise CourseError(f"cannot write {target} ({error.strerror or error}); choose a folder with --out") from None
    full, here = target.resolve(), Path.cwd().resolve()
    shown = full.relative_to(here) if full.is_relative_to(here) else full
    say(f"{'Replaced' if replaced else 'Wrote'} {shown}: "
        + ", ".join(f"{f['name']} ({f['bytes']} bytes, SHA-256 {f['sha256'][:12]})" for f in manifest["files"])
        + f", {manifest['submitted_at']}.", "green")
    say("Upload this file where your instructor asks; submit again to replace it.")
    return target


def _self_check_all(console, handin: Handin, say) -> None:
    """The self-check of every notebook: failures warn, and a check that cannot run is skipped."""
    try:
        failures = sum(_self_check(console, nb) for nb in handin.notebooks)
    except Exception as error:   # a kernel that will not start: the archive is still worth making
        failures = 0
        say(f"warning: the self-check could not run ({type(error).__name__}: {error}); submitting "
            f"without it", "yellow")
    if failures:
        say(f"warning: {failures} exercise(s) fail their visible checks (see the table). Submitting "
            f"anyway; fix them and submit again before the deadline to earn their points.", "yellow")
