"""Put a submitted notebook back into the assignment's shape before it is graded.

A submission may have damaged the cells nbgrader grades by: deleting a test cell,
renaming its ``grade_id``, forging its nbgrader metadata (more points, an unlocked test
turned into an answer cell, a stored score), or editing a locked cell. Stock nbgrader
then stops with an error (forged or renamed metadata) or scores the damaged notebook
(a deleted test is simply not counted). Here the gradebook, which the student never
sees, is the truth:

* every cell whose ``grade_id`` belongs to the assignment gets the assignment's nbgrader
  metadata back (flags, points, checksum), so forged metadata earns nothing;
* nbgrader metadata with a ``grade_id`` the assignment does not have is removed (the cell
  runs as an ordinary cell), and notebook-level nbgrader metadata is dropped;
* a test cell that is missing (deleted, or renamed away) is put back with its original
  source after the cell that precedes it in the assignment, so the original test counts;
* an edited locked cell is named in the report (nbgrader's ``OverwriteCells`` then runs
  the original source).

Each change is one line in the report. This module reads the gradebook with ``sqlite3``
because nbgrader's ORM does not keep the cells' order, and works on the notebook's JSON.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


KNOWN_KEYS = {"cell_type", "checksum", "grade", "grade_id", "locked", "points", "schema_version",
              "solution", "task"}


@dataclass(frozen=True)
class Cell:
    """One nbgrader cell of the assignment as the gradebook stores it, in notebook order."""

    name: str
    cell_type: str
    locked: bool
    source: str
    checksum: str | None
    solution: bool
    grade: bool
    task: bool
    points: float | None

    @property
    def is_test(self) -> bool:
        """An autograded test cell: graded code that is not an answer."""
        return self.grade and not self.solution and self.cell_type == "code"

    def metadata(self) -> dict:
        meta = {"cell_type": self.cell_type, "grade": self.grade, "grade_id": self.name,
                "locked": self.locked, "schema_version": 3, "solution": self.solution, "task": self.task}
        if self.checksum:
            meta["checksum"] = self.checksum
        if self.points is not None:
            meta["points"] = self.points
        return meta


def assignment_cells(db_path, assignment: str, notebooks: list[str]) -> dict[str, list[Cell]]:
    """``{notebook: [Cell, ...]}`` in notebook order, from nbgrader's gradebook at ``db_path``."""
    query = """
        SELECT s.name, s.cell_type, s.locked, s.source, s.checksum,
               EXISTS (SELECT 1 FROM base_cell b JOIN solution_cells x ON x.id = b.id
                       WHERE b.name = s.name AND b.notebook_id = n.id),
               (SELECT g.max_score FROM base_cell b JOIN grade_cells g ON g.id = b.id
                WHERE b.name = s.name AND b.notebook_id = n.id),
               (SELECT t.max_score FROM base_cell b JOIN task_cells t ON t.id = b.id
                WHERE b.name = s.name AND b.notebook_id = n.id)
        FROM source_cell s JOIN notebook n ON n.id = s.notebook_id
        JOIN assignment a ON a.id = n.assignment_id
        WHERE a.name = ? AND n.name = ? ORDER BY s.rowid"""
    found = {}
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        for notebook in notebooks:
            found[notebook] = [
                Cell(name, cell_type, bool(locked), source or "", checksum, bool(solution),
                     grade_points is not None, task_points is not None,
                     grade_points if grade_points is not None else task_points)
                for name, cell_type, locked, source, checksum, solution, grade_points, task_points
                in db.execute(query, (assignment, notebook))]
    return found


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _visible(source: str) -> str:
    """``source`` as students see it: without the hidden-test regions, trailing spaces ignored."""
    lines, hidden = [], False
    for line in source.splitlines():
        marker = line.strip()
        if marker == "### BEGIN HIDDEN TESTS":
            hidden = True
        elif marker == "### END HIDDEN TESTS":
            hidden = False
        elif not hidden:
            lines.append(line.rstrip())
    return "\n".join(lines).strip()


def _grade_id(cell: dict) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader") if isinstance(cell.get("metadata"), dict) else None
    return meta.get("grade_id") if isinstance(meta, dict) else None


def _flag(meta: dict, key: str):
    """A metadata value as it counts: a missing flag is False, points only on graded cells."""
    if key == "points":
        graded = meta.get("grade") or meta.get("task")
        return float(meta.get("points") or 0) if graded else None
    return bool(meta.get(key, False))


def restore_metadata(content: dict, cells: list[Cell]) -> list[str]:
    """Give every nbgrader cell of notebook JSON ``content`` the assignment's metadata back."""
    known = {cell.name: cell for cell in cells}
    changes = []
    metadata = content.get("metadata")
    if isinstance(metadata, dict) and "nbgrader" in metadata:
        del metadata["nbgrader"]
        changes.append("notebook-level nbgrader metadata (a stored score or time stamp?) was ignored")
    for index, cell in enumerate(content.get("cells", [])):
        if not isinstance(cell, dict):
            continue
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = {}
        meta = cell["metadata"].get("nbgrader")
        if meta is None:
            continue
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if grade_id not in known:
            del cell["metadata"]["nbgrader"]
            if grade_id:
                changes.append(f"cell '{grade_id}' is not a cell of this assignment (a renamed grade id?); "
                               f"it ran as an ordinary cell")
            elif isinstance(meta, dict) and any(meta.get(k) for k in ("grade", "solution", "locked", "task")):
                changes.append(f"cell {index + 1} had nbgrader metadata without a grade id; it ran as an "
                               f"ordinary cell")
            continue
        wanted = known[grade_id].metadata()
        changed = [key for key in ("grade", "solution", "locked", "task", "points")
                   if _flag(meta, key) != _flag(wanted, key)]
        changed += [str(key) for key in meta if key not in KNOWN_KEYS]   # a forged score, say
        if changed:
            changes.append(f"cell '{grade_id}': its nbgrader metadata was changed ({', '.join(sorted(changed))}); "
                           f"the assignment's was restored")
        cell["metadata"]["nbgrader"] = wanted
    return changes


def restore_tests(content: dict, cells: list[Cell]) -> list[str]:
    """Put back missing test cells and name edited locked cells (after duplicates are resolved)."""
    changes = []
    present = {}
    for cell in content.get("cells", []):
        grade_id = _grade_id(cell) if isinstance(cell, dict) else None
        if grade_id:
            present[grade_id] = cell
    for cell in cells:
        if cell.locked and cell.name in present and _visible(_source(present[cell.name])) != _visible(cell.source):
            changes.append(f"locked cell '{cell.name}' was edited; the original ran instead")
    for position, cell in enumerate(cells):
        if not cell.is_test or cell.name in present:
            continue
        restored = {"cell_type": "code", "execution_count": None, "outputs": [], "source": cell.source,
                    "metadata": {"editable": False, "deletable": False, "nbgrader": cell.metadata()}}
        if content.get("nbformat_minor", 0) >= 5:
            restored["id"] = f"restored-{cell.name}"[:64]
        anchor = next((present[before.name] for before in reversed(cells[:position]) if before.name in present), None)
        notebook_cells = content["cells"]
        at = next((i + 1 for i, c in enumerate(notebook_cells) if c is anchor), len(notebook_cells))
        notebook_cells.insert(at, restored)
        present[cell.name] = restored
        changes.append(f"test cell '{cell.name}' was missing (deleted or renamed); the original was put back "
                       f"and graded")
    return changes
