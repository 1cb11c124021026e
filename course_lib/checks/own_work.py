"""The own-work rule: an exercise's points need the student's own implementation.

The course's reference implementations are installed with it, under the same names as
the exercises. Each unit's checks module declares the references that answer its
exercises, as dotted names of functions, classes or whole modules::

    REFERENCES = ("course_lib.linear",)                       # unit 01: every function in it
    REFERENCES = ("course_lib.conv.conv2d_forward", ...)      # unit 04: the exercises, not FILTERS

Calling earlier units' references, data, plotting, NumPy and TensorFlow stays allowed
(later units build on earlier ones, as d2l does). The rule is judged twice:

* in the kernel (:func:`watching`): while a check runs the student's function, a profile
  hook notes every call, from code outside ``course_lib``, of a declared reference's
  code object. Aliases, ``getattr``, ``importlib`` and copied module objects all end in
  that call. The check then fails with a plain sentence, and the record carries the
  refusal to the grader's re-check;
* outside the kernel (:func:`scan_notebook`), from the notebook's source as submitted: an
  AST scan of the cells the student controls finds imports, names and attributes that
  resolve to a reference, and dynamic ways to reach one (``exec``, ``eval``,
  ``importlib``, ``__import__``, ``getattr`` or ``inspect`` on ``course_lib``), so that
  tampering inside the kernel cannot hide it.

Limit: a student who types the reference's source again by hand is not caught here;
``dlcourse similarity`` shows such answers to a person.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import sys
import types
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

ROOT = "course_lib"
# calls that reach code by name or copy it: with a reference module in reach, they count as a use
_DYNAMIC_CALLS = {"__import__", "getattr", "vars", "import_module", "getsource", "getsourcelines", "reload",
                  "find_spec", "spec_from_file_location", "copy", "deepcopy"}
# builtins that run code the AST cannot see: such a use costs every exercise after the cell
_UNSEEN_DEFINITIONS = {"exec", "eval", "compile"}
# namespaces whose .update(...) may define any name
_NAMESPACES = {"globals", "locals", "vars"}


def message(reached: Iterable[str]) -> str:
    """The sentence a student reads when an answer uses a reference of its own exercise."""
    names = ", ".join(f"`{name}`" for name in sorted(set(reached)))
    return (f"No points for this exercise: this answer uses {names}, the course's reference for "
            f"this unit's exercises. Write it yourself (earlier units' references, NumPy and the data "
            f"helpers are fine).")


# ------------------------------------------------------------------ in the kernel
def _functions(value: Any, name: str) -> Iterator[tuple[types.CodeType, str]]:
    """The code objects of a function, of a class's methods, or of a module's functions and classes."""
    if isinstance(value, types.ModuleType):
        for attribute, member in vars(value).items():
            if getattr(member, "__module__", None) == value.__name__ and not attribute.startswith("__"):
                yield from _functions(member, f"{name}.{attribute}")
    elif isinstance(value, type):
        for attribute, member in vars(value).items():
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if isinstance(member, property):
                member = member.fget
            if isinstance(member, types.FunctionType):
                yield member.__code__, f"{name}.{attribute}"
    else:
        function = inspect.unwrap(value) if callable(value) else value
        if isinstance(function, types.FunctionType):
            yield function.__code__, name


@functools.lru_cache(maxsize=None)
def reference_code(references: tuple[str, ...]) -> dict[int, str]:
    """``{id of a code object: dotted name}`` for every function the ``references`` name.

    By identity: code objects compare equal by content in CPython (bytecode, constants,
    first line), so equality would also match the same source compiled again elsewhere.
    The modules keep these code objects alive, so their ids stay theirs.
    """
    found: dict[int, str] = {}
    for reference in references:
        module_name, _, attribute = reference.rpartition(".")
        try:
            value = importlib.import_module(reference)
        except ImportError:
            value = getattr(importlib.import_module(module_name), attribute)
        for code, name in _functions(value, reference):
            found.setdefault(id(code), name)
    return found


def _is_students_call(caller: types.FrameType | None) -> bool:
    """Whether a call comes from the student's code: from outside ``course_lib``, or from the
    check's own call of the answer (the answer *is* a reference). Calls from the library (an
    earlier unit's reference using this one) and from the checks' own helpers do not count."""
    if caller is None:
        return True
    module = caller.f_globals.get("__name__", "")
    if module == f"{ROOT}.checks.calling" and caller.f_code.co_name == "_invoke":
        return True
    return module != ROOT and not module.startswith(ROOT + ".")


@contextmanager
def watching(references: Iterable[str]) -> Iterator[set[str]]:
    """Note the declared references that the student's code calls inside the block.

    Only the student's calls count (:func:`_is_students_call`).

    Yields the set that fills with their dotted names. Chains to any profile hook already
    set (unit 02's autodiff watcher), and restores it afterwards.
    """
    codes = reference_code(tuple(references))
    reached: set[str] = set()
    if not codes:
        yield reached
        return
    previous = sys.getprofile()

    def hook(frame: types.FrameType, event: str, arg: Any) -> None:
        if previous is not None:
            previous(frame, event, arg)
        if event == "call" and id(frame.f_code) in codes and _is_students_call(frame.f_back):
            reached.add(codes[id(frame.f_code)])

    sys.setprofile(hook)
    try:
        yield reached
    finally:
        sys.setprofile(previous)


def references_of(module_name: str | None) -> tuple[str, ...]:
    """The ``REFERENCES`` a checks module declares (none, or no module: an empty tuple).

    A unit whose checks form a package (``course_lib.checks.backprop``) declares them once,
    in the package: a check in one of its submodules (``course_lib.checks.backprop.layers``)
    finds them there, up to ``course_lib.checks`` itself.
    """
    while module_name:
        module = sys.modules.get(module_name) or importlib.import_module(module_name)
        if hasattr(module, "REFERENCES") or not module_name.startswith(f"{ROOT}.checks."):
            return tuple(getattr(module, "REFERENCES", ()))
        module_name = module_name.rpartition(".")[0]
    return ()


# ------------------------------------------------------------------ outside the kernel, from the source
@dataclass
class Finding:
    """One cell that reaches a reference: where, what, and which grade cells lose their points."""

    cell_index: int
    reached: list[str]
    grade_ids: list[str] = field(default_factory=list)


def _covers(reference: str, dotted: str) -> bool:
    """Whether ``dotted`` is the reference, inside it, or a module that holds it."""
    return dotted == reference or dotted.startswith(reference + ".")


class _Uses(ast.NodeVisitor):
    """Dotted ``course_lib`` names a cell binds (aliases) or reads, and dynamic access to them."""

    def __init__(self, aliases: dict[str, str]):
        self.aliases = aliases        # local name -> dotted path, shared across cells
        self.bound: dict[str, str] = {}
        self.used: list[str] = []
        self.dynamic = False          # reaches code by name at run time
        self.unseen = False           # may define names the AST cannot see (exec, a star import)
        self.mentions_root = False

    def visit_Import(self, node: ast.Import) -> None:
        # importing a module uses nothing yet: a later attribute read (or a bound function) does
        for alias in node.names:
            if alias.name == ROOT or alias.name.startswith(ROOT + "."):
                if alias.asname:
                    self.bound[alias.asname] = alias.name
                else:
                    self.bound[ROOT] = ROOT

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level == 0 and (module == ROOT or module.startswith(ROOT + ".")):
            for alias in node.names:
                if alias.name == "*":            # names the AST cannot see
                    self.dynamic = self.unseen = self.mentions_root = True
                    self.used.append(module)
                    continue
                dotted = f"{module}.{alias.name}"
                self.bound[alias.asname or alias.name] = dotted
                if not _is_module(dotted):       # a function bound by name is a use; a module is not yet
                    self.used.append(dotted)

    def _mentions_course(self, call: ast.Call) -> bool:
        """Whether a call's arguments name ``course_lib``: a string, or a name bound to its modules."""
        for argument in [*call.args, *(k.value for k in call.keywords)]:
            for node in ast.walk(argument):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and ROOT in node.value:
                    return True
                if isinstance(node, ast.Name) and (node.id == ROOT or node.id in self.bound or node.id in self.aliases):
                    return True
        return False

    def _resolve(self, node: ast.expr) -> str | None:
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name):
            base = self.bound.get(node.id) or self.aliases.get(node.id)
            if base:
                return ".".join([base, *reversed(parts)])
        return None

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in ("__dict__", "__getattribute__"):
            self.dynamic = True
        dotted = self._resolve(node)
        if dotted and isinstance(node.ctx, ast.Load):    # `module.name = ...` changes it, does not use it
            self.used.append(dotted)
        elif not dotted:
            self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        dotted = self.bound.get(node.id) or self.aliases.get(node.id)
        if dotted and isinstance(node.ctx, ast.Load):
            self.used.append(dotted)
        if node.id == ROOT:
            self.mentions_root = True

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and ROOT in node.value:
            self.mentions_root = True
            self.used.append(node.value.strip())

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        # by name at run time: only when an argument names course_lib or one of its modules
        if name in _DYNAMIC_CALLS and self._mentions_course(node):
            self.dynamic = True
        if isinstance(func, ast.Name) and name in _UNSEEN_DEFINITIONS and self._mentions_course(node):
            self.dynamic = self.unseen = True     # exec(...) of course code, not model.compile(...)
        if (name in ("update", "run_path") and isinstance(func, ast.Attribute)
                and (name == "run_path" or _is_namespace(func.value))):
            self.dynamic = self.unseen = True
        self.generic_visit(node)


def _is_namespace(node: ast.expr) -> bool:
    """``globals()``, ``vars(...)``, ``locals()`` or ``something.__dict__``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id in _NAMESPACES
    return isinstance(node, ast.Attribute) and node.attr == "__dict__"


def _is_module(dotted: str) -> bool:
    """Whether ``dotted`` names a module (found without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec(dotted) is not None
    except (ImportError, ValueError):
        return False


def _answer_names(tree: ast.AST) -> set[str]:
    """Names a cell defines at its top level (functions, classes, assignments)."""
    names = set()
    for node in getattr(tree, "body", []):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for target in targets for t in ast.walk(target) if isinstance(t, ast.Name))
    return names


def scan_notebook(cells: list[dict], references: Iterable[str], instructor_sources: Iterable[str] = ()
                  ) -> list[Finding]:
    """The cells of a notebook that reach one of ``references``, judged from their source alone.

    ``cells`` are nbformat cells (dicts) in notebook order. Cells the student controls are
    answer cells (nbgrader ``solution``) and code cells without nbgrader metadata whose
    source is not one of ``instructor_sources`` (the release's own plain cells, which may
    use references for demonstrations). Aliases are collected from every code cell, in
    order. A finding's grade cells are the ones that follow it up to the next answer cell,
    and those whose answer cell defines a name that the finding's cell assigns again.
    """
    references = tuple(references)
    if not references:
        return []
    instructor = {source.strip() for source in instructor_sources}
    aliases: dict[str, str] = {}
    parsed: list[tuple[int, dict, ast.AST | None, _Uses | None]] = []
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        try:
            tree = ast.parse(_python_only(cell.get("source", "")))
        except SyntaxError:
            parsed.append((index, cell, None, None))
            continue
        uses = _Uses(aliases)
        uses.visit(tree)
        aliases.update(uses.bound)
        parsed.append((index, cell, tree, uses))

    answers: dict[str, list[str]] = {}       # a name an answer cell defines -> its grade cells
    findings: list[Finding] = []
    for position, (index, cell, tree, uses) in enumerate(parsed):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        is_answer = bool(meta.get("solution"))
        following = _following_grade_cells(parsed[position + 1:])
        if is_answer and tree is not None:
            for name in _answer_names(tree):
                answers.setdefault(name, following)
        student = is_answer or (not meta and cell.get("source", "").strip() not in instructor)
        if not student or uses is None:
            continue
        reached = sorted({ref for dotted in uses.used for ref in references if _covers(ref, dotted)})
        holds = any(_covers(dotted, ref) for dotted in uses.used for ref in references if dotted != ROOT)
        if uses.dynamic and (uses.mentions_root or holds):
            reached = sorted(set(reached) | {f"{ROOT} (reached by name at run time)"})
            if uses.unseen:                  # exec or a star import may define any answer's name
                following = _following_grade_cells(parsed[position + 1:], to_the_end=True)
        if reached:
            findings.append(Finding(index, reached, following))
    trees = {index: tree for index, _, tree, _ in parsed}
    for finding in findings:                 # a cell that redefines an answer's name takes its points too
        for name in _answer_names(trees[finding.cell_index]):
            for grade_id in answers.get(name, []):
                if grade_id not in finding.grade_ids:
                    finding.grade_ids.append(grade_id)
    return findings


def _following_grade_cells(rest: list, to_the_end: bool = False) -> list[str]:
    """The grade cells after a cell, up to the next answer cell (or all of them)."""
    found = []
    for _, cell, _, _ in rest:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and not to_the_end:
            break
        if meta.get("grade") and cell.get("cell_type") == "code":
            found.append(meta.get("grade_id"))
    return found


def _python_only(source: str) -> str:
    """A cell's source with IPython magics and shell lines blanked, so that it parses."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def unit_references(grade_sources: Iterable[str]) -> tuple[str, ...]:
    """The references declared by every checks module that these grade cells import."""
    found: list[str] = []
    for source in grade_sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(f"{ROOT}.checks."):
                try:
                    found += [r for r in references_of(node.module) if r not in found]
                except ImportError:
                    continue
    return tuple(found)
