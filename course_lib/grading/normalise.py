"""Normalised answer cells for ``dlcourse similarity``: the same program, whatever its formatting.

A cell is parsed with :mod:`ast` and unparsed again; docstrings, bare strings and
annotations are dropped; the names the cell defines are renamed (see
:mod:`course_lib.grading.similarity` for the rules and why). A cell that does not parse
falls back to its raw tokens without comments.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass

STUB_EXCEPTION = "NotImplementedError"


#: what every local variable becomes (the cell's functions and their arguments are numbered instead)
PLACEHOLDER = "_"


class _BoundNames(ast.NodeVisitor):
    """The names a cell binds: functions and classes it defines, their arguments, assigned variables."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.names.add(node.id)

    def visit_arg(self, node: ast.arg) -> None:
        self.names.add(node.arg)

    def _defines(self, node) -> None:
        self.names.add(node.name)
        self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _defines

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.names.add(node.name)
        self.generic_visit(node)


class _Canonical(ast.NodeTransformer):
    """Rename ``signature`` names ``v0, v1, ...`` in order of appearance and every other bound name
    :data:`PLACEHOLDER`; drop docstrings and annotations."""

    def __init__(self, bound: set[str], signature: set[str]) -> None:
        self.bound = bound
        self.signature = signature
        self.mapping: dict[str, str] = {}

    def _name(self, name: str) -> str:
        if name not in self.bound:
            return name
        if name not in self.signature:
            return PLACEHOLDER
        return self.mapping.setdefault(name, f"v{len(self.mapping)}")

    def visit_Name(self, node: ast.Name):
        node.id = self._name(node.id)
        return node

    def visit_arg(self, node: ast.arg):
        node.arg, node.annotation = self._name(node.arg), None
        return node

    def _define(self, node):
        node.name = self._name(node.name)
        if hasattr(node, "returns"):
            node.returns = None
        return self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _define

    def visit_ExceptHandler(self, node: ast.ExceptHandler):
        if node.name:
            node.name = self._name(node.name)
        return self.generic_visit(node)

    def visit_Global(self, node):
        node.names = [self._name(name) for name in node.names]
        return node

    visit_Nonlocal = visit_Global

    def visit_AnnAssign(self, node: ast.AnnAssign):
        if node.value is None:
            return None
        return self.visit(ast.Assign(targets=[node.target], value=node.value, lineno=node.lineno))

    def visit_Expr(self, node: ast.Expr):
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return None   # docstrings and bare strings
        return self.generic_visit(node)

    def generic_visit(self, node):
        super().generic_visit(node)
        if not isinstance(node, ast.Module) and getattr(node, "body", None) == []:
            node.body = [ast.Pass()]   # a body that held only its docstring
        return node


def _is_stub_raise(node: ast.AST) -> bool:
    if not isinstance(node, ast.Raise) or node.exc is None:
        return False
    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    return isinstance(exc, ast.Name) and exc.id == STUB_EXCEPTION


def _is_docstring(node: ast.AST) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def is_untouched(tree: ast.Module) -> bool:
    """True when the cell still holds the release stub: ``raise NotImplementedError()``, alone or as
    the only statement (besides docstrings) of the functions the cell defines."""
    def only_stub(statements) -> bool:
        rest = [s for s in statements if not _is_docstring(s) and not isinstance(s, ast.Pass)]
        return bool(rest) and all(
            _is_stub_raise(s) or (isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and only_stub(s.body))
            for s in rest)
    return only_stub(tree.body)


def _tokens(source: str) -> list[str]:
    """The tokens of ``source`` without comments and layout; a new statement is ``;``, blocks ``{`` ``}``."""
    kept = []
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type in skip:
                continue
            kept.append({tokenize.NEWLINE: ";", tokenize.INDENT: "{", tokenize.DEDENT: "}"}.get(token.type, token.string))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        kept = re.findall(r"\w+|[^\w\s]", re.sub(r"#[^\n]*", "", source))
    return kept


_MAGIC = re.compile(r"^\s*[%!].*$", re.MULTILINE)


@dataclass(frozen=True)
class Normalised:
    """An answer cell after normalisation."""

    text: str                 # the unparsed canonical source (or the raw source, where it does not parse)
    tokens: tuple[str, ...]
    size: int                 # tokens inside function bodies (all tokens for code outside functions)
    untouched: bool = False


def normalise(source: str) -> Normalised:
    """Canonical form of one answer cell: see the module's docstring."""
    try:
        tree = ast.parse(_MAGIC.sub("", source))
    except SyntaxError:
        tokens = tuple(_tokens(source))
        return Normalised(source, tokens, len(tokens))
    if is_untouched(tree):
        return Normalised("", (), 0, untouched=True)
    bound = _BoundNames()
    bound.visit(tree)
    functions = [s for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
    signature = {f.name for f in functions} | {a.arg for f in functions for a in ast.walk(f.args)
                                               if isinstance(a, ast.arg)}
    tree = _Canonical(bound.names, signature).visit(tree)
    text = ast.unparse(tree)
    size = 0
    for statement in tree.body:
        inner = statement.body if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)) else [statement]
        size += sum(len(_tokens(ast.unparse(s))) for s in inner)
    return Normalised(text, tuple(_tokens(text)), size)


def defined_functions(source: str) -> list[str]:
    """Names of the top-level functions a cell defines (before renaming)."""
    try:
        tree = ast.parse(_MAGIC.sub("", source))
    except SyntaxError:
        return []
    return [s.name for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
