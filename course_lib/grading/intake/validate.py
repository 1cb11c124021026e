"""Is a submission gradable? Read its files, validate and repair its notebooks.

A missing or misnamed notebook, a file that is not JSON, a notebook of another format
version or with broken nbgrader metadata is not graded and gets a one-line problem; a
copy-pasted cell is repaired so that each exercise counts once; damaged structure is put
back from the gradebook (:mod:`.structure`).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import nbformat
from nbgrader.nbgraderformat import MetadataValidator

from . import structure

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
    :mod:`course_lib.grading.intake.structure`.
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
