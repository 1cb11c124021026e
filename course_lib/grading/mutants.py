"""Small wrong answers derived from a solution cell: the mutants of ``dlcourse audit``.

:func:`mutants` changes the solution's syntax tree the way a student slips (see
:mod:`course_lib.grading.audit` for the list and for how each mutant is judged). Only nodes
between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` change (every such block of the cell).
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass

@dataclass(frozen=True)
class Mutant:
    """One small change to one answer cell of an exercise."""

    answer: int          # which of the exercise's answer cells it changes
    kind: str
    change: str          # ``old -> new``: what the report prints, and what audit.toml names
    line: int            # line within the answer cell
    source: str          # the whole mutated answer cell


_OPERATOR_SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
                   ast.MatMult: ast.Mult, ast.Pow: ast.Mult, ast.FloorDiv: ast.Div}


_FUNCTION_SWAPS = {"sum": "mean", "mean": "sum", "max": "min", "min": "max", "argmax": "argmin",
                   "argmin": "argmax", "maximum": "minimum", "minimum": "maximum"}


_COMPARISON_FLIPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}


def _with(node: ast.AST, **changes) -> ast.AST:
    new = copy.deepcopy(node)
    for name, value in changes.items():
        setattr(new, name, value)
    return new


def _called_name(call: ast.Call) -> str | None:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _edits(node: ast.AST, inputs: list[str]):
    """``(kind, replacement)`` for each mutation of ``node`` (``inputs``: the enclosing function's arguments)."""
    if isinstance(node, ast.BinOp):
        swap = _OPERATOR_SWAPS.get(type(node.op))
        if swap:
            yield "operator swapped", _with(node, op=swap())
        if isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
            yield "term deleted", copy.deepcopy(node.left)
            yield "term deleted", copy.deepcopy(node.right)
        if isinstance(node.op, ast.MatMult):
            yield "arguments swapped", _with(node, left=node.right, right=node.left)
            yield "transpose added", _with(node, left=ast.Attribute(copy.deepcopy(node.left), "T", ast.Load()))
            yield "transpose added", _with(node, right=ast.Attribute(copy.deepcopy(node.right), "T", ast.Load()))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        yield "sign dropped", copy.deepcopy(node.operand)
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        for value in dict.fromkeys((node.value + 1, node.value - 1)):
            yield "constant changed", ast.Constant(type(node.value)(value))
    elif isinstance(node, ast.Call):
        name = _called_name(node)
        if name in _FUNCTION_SWAPS:
            func = node.func
            swapped = (_with(func, attr=_FUNCTION_SWAPS[name]) if isinstance(func, ast.Attribute)
                       else _with(func, id=_FUNCTION_SWAPS[name]))
            yield f"{name} swapped", _with(node, func=swapped)
        if name == "transpose" and isinstance(node.func, ast.Attribute) and len(node.args) == 1:
            yield "transpose removed", copy.deepcopy(node.args[0])
        for index, keyword in enumerate(node.keywords):
            rest = node.keywords[:index] + node.keywords[index + 1:]
            if keyword.arg in ("axis", "keepdims"):
                yield f"{keyword.arg} dropped", _with(node, keywords=rest)
            if keyword.arg == "axis" and isinstance(keyword.value, ast.Constant) and type(keyword.value.value) is int:
                other = ast.keyword("axis", ast.Constant(1 if keyword.value.value in (0, -2) else 0))
                yield "axis changed", _with(node, keywords=[*node.keywords[:index], other, *node.keywords[index + 1:]])
        positional = [a for a in node.args if not isinstance(a, ast.Starred)]
        if len(positional) == len(node.args) >= 2:
            yield "arguments swapped", _with(node, args=[node.args[1], node.args[0], *node.args[2:]])
    elif isinstance(node, ast.Attribute) and node.attr == "T":
        yield "transpose removed", copy.deepcopy(node.value)
    elif isinstance(node, ast.Slice):
        for bound in ("lower", "upper"):
            value = getattr(node, bound)
            if value is not None:
                for op in (ast.Add(), ast.Sub()):
                    yield "slice bound moved", _with(node, **{bound: ast.BinOp(copy.deepcopy(value), op, ast.Constant(1))})
    elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARISON_FLIPS:
        yield "comparison flipped", _with(node, ops=[_COMPARISON_FLIPS[type(node.ops[0])]()])
    elif isinstance(node, ast.Return) and node.value is not None:
        for name in inputs:
            yield "return replaced by an input", _with(node, value=ast.Name(name, ast.Load()))


def _solution_blocks(source: str) -> list[tuple[int, int]]:
    """The first and last line (1-based) strictly between each pair of solution markers (one
    cell may hold several functions, each with its block); the whole cell without markers."""
    blocks, begin = [], None
    for number, text in enumerate(source.splitlines(), 1):
        if "### BEGIN SOLUTION" in text:
            begin = number
        elif "### END SOLUTION" in text and begin is not None:
            blocks.append((begin + 1, number - 1))
            begin = None
    return blocks or [(1, len(source.splitlines()))]


def _replace(tree: ast.AST, target: ast.AST, new: ast.AST) -> None:
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is target:
                setattr(parent, name, new)
                return
            if isinstance(value, list) and any(item is target for item in value):
                value[[id(item) for item in value].index(id(target))] = new
                return


def mutants(source: str, answer: int = 0) -> list[Mutant]:
    """Every mutant of the solution block of one answer cell, without duplicates, in source order."""
    tree = ast.parse(source)
    blocks = _solution_blocks(source)
    inputs: dict[int, list[str]] = {}
    for function in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.Lambda))):
        for inner in ast.walk(function):
            inputs[id(inner)] = [a.arg for a in function.args.args]
    original = ast.unparse(tree)
    nodes = list(ast.walk(tree))
    position = {id(node): index for index, node in enumerate(nodes)}
    parent = {id(child): position[id(node)] for node in nodes for child in ast.iter_child_nodes(node)}
    found: dict[str, Mutant] = {}
    for index, node in enumerate(nodes):
        line = getattr(node, "lineno", None)
        if line is None or not any(first <= line <= last for first, last in blocks) or isinstance(node, ast.JoinedStr):
            continue
        # a number or a slice alone says little: the change is shown in its enclosing expression
        shown = parent[id(node)] if isinstance(node, (ast.Constant, ast.Slice)) and id(node) in parent else index
        for kind, new in _edits(node, inputs.get(id(node), [])):
            copied = copy.deepcopy(tree)
            copied_nodes = list(ast.walk(copied))
            _replace(copied, copied_nodes[index], new)
            try:
                mutated = ast.unparse(ast.fix_missing_locations(copied))
                compile(mutated, "<mutant>", "exec")
            except (SyntaxError, ValueError, TypeError):
                continue
            if mutated == original or mutated in found:
                continue
            after = new if shown == index else copied_nodes[shown]
            change = f"{_short(nodes[shown])} -> {_short(after)}"
            found[mutated] = Mutant(answer, kind, change, line, mutated)
    return list(found.values())


def _short(node: ast.AST, width: int = 70) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= width else text[:width - 3] + "..."
