"""A unit's solution as ``dlcourse audit`` reads it: its code cells, its exercises (answer
cells and the grade cells that judge them) and the reviewed lists kept beside it."""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

AUDIT_FILE = "audit.toml"


@dataclass
class Exercise:
    """A grade cell and the answer cells since the previous grade cell.

    ``shared`` holds the grade cells that follow it with no answer cell of their own: they test
    functions written in this exercise's answer cells (unit 02 writes tanh and leaky ReLU in one
    cell and grades them in two), so a change to those cells is judged by all of them.
    """

    grade_id: str
    grade_cell: int                 # index into the unit's code cells
    answers: list[int] = field(default_factory=list)
    shared: list[tuple[str, int]] = field(default_factory=list)

    @property
    def graded(self) -> list[tuple[str, int]]:
        """``(grade_id, cell index)`` of every grade cell that judges this exercise's answer cells."""
        return [(self.grade_id, self.grade_cell), *self.shared]

    @property
    def name(self) -> str:
        """The report's name: the grade ids, joined (``tanh + leaky_relu``)."""
        return " + ".join(grade_id for grade_id, _ in self.graded)

    @property
    def span(self) -> list[int]:
        """The cells one evaluation runs: the first answer cell to the last grade cell."""
        return list(range(self.answers[0] if self.answers else self.grade_cell, self.graded[-1][1] + 1))


def cell_names(tree: ast.AST, stored: bool) -> set[str]:
    """Names a cell defines (``stored``) or reads."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store if stored else ast.Load):
            found.add(node.id)
        elif stored and isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            found.add(node.name)
        elif stored and isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return found


def unit_cells(folder: Path) -> list[dict]:
    """The code cells of the unit's solution source that grading needs, as ``{source, nbgrader}``.

    Plain cells stay only when a later kept cell reads a name they define (plots and
    demonstrations go), so that each worker reaches its exercises quickly.
    """
    import jupytext

    notebook = jupytext.read(next(p for p in sorted(folder.glob("*.py"))), fmt="py:percent")
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    wanted: set[str] = set()
    kept = []
    for cell in reversed(cells):
        tree = ast.parse(without_magics(cell.source))
        if "nbgrader" in cell.metadata or cell_names(tree, True) & wanted:
            kept.append({"source": cell.source, "nbgrader": dict(cell.metadata.get("nbgrader", {}))})
            wanted |= cell_names(tree, False)
    return kept[::-1]


def without_magics(source: str) -> str:
    """A cell without IPython magics and shell lines."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def exercises(cells: list[dict]) -> list[Exercise]:
    """The graded exercises of ``cells`` in order; a grade cell without answer cells of its own
    joins the exercise before it (:attr:`Exercise.shared`)."""
    found, answers = [], []
    for index, cell in enumerate(cells):
        meta = cell["nbgrader"]
        if meta.get("solution"):
            answers.append(index)
        elif meta.get("grade"):
            if not answers and found and found[-1].answers:
                found[-1].shared.append((meta["grade_id"], index))
            else:
                found.append(Exercise(meta["grade_id"], index, answers))
            answers = []
    return found


def read_audit_file(folder: Path) -> dict:
    """The unit's reviewed lists (``audit.toml``): ``{"equivalent": [...], "variant": [...]}``."""
    path = folder / AUDIT_FILE
    if not path.is_file():
        return {"equivalent": [], "variant": []}
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    return {"equivalent": data.get("equivalent", []), "variant": data.get("variant", [])}
