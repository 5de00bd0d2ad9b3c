"""tools/build_sql.py compiles the server modules with optimize=2: nothing they rely on may be dropped."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import build_sql  # noqa: E402


ALL_SERVER_MODULES = build_sql.SERVER_MODULES + build_sql.LAZY_MODULES


def test_server_modules_use_no_assert():
    """optimize=2 removes assert statements: a check written as one would vanish on the server."""
    for name in ALL_SERVER_MODULES:
        tree = ast.parse((build_sql.PACKAGE / f"{name}.py").read_text())
        asserts = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]
        assert asserts == [], f"{name}.py has assert statements at lines {asserts}"


def test_server_modules_do_not_read_docstrings():
    """optimize=2 also drops docstrings."""
    for name in ALL_SERVER_MODULES:
        assert "__doc__" not in (build_sql.PACKAGE / f"{name}.py").read_text(), name


def test_compiled_modules_keep_annotations_postponed():
    """The __future__ import becomes a compiler flag: annotations stay strings, line numbers stay put."""
    code = build_sql.module_code("session", "session.py")
    namespace: dict = {"__name__": "pg_session_jwt.session", "__package__": "pg_session_jwt"}
    exec(code, namespace)
    assert namespace["Session"].keys.__annotations__ == {"return": "jwk.KeySet"}
    assert "annotations" not in namespace
    lines = (build_sql.PACKAGE / "session.py").read_text().splitlines()
    validate_line = next(i for i, line in enumerate(lines, 1) if line.strip().startswith("def validate("))
    assert namespace["Session"].validate.__code__.co_firstlineno == validate_line


def test_lazy_modules_are_imported_as_the_server_can_load_them():
    """On the server a module of LAZY_MODULES exists only once imported, through
    the package's __getattr__, which ``from . import name`` asks and
    ``from .name import x`` or an eager module's top-level import would not."""
    for name in ALL_SERVER_MODULES:
        tree = ast.parse((build_sql.PACKAGE / f"{name}.py").read_text())
        top_level = set(tree.body)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                assert node.module not in build_sql.LAZY_MODULES, f"{name}.py: from .{node.module} import ..."
                lazy = {a.name for a in node.names} & set(build_sql.LAZY_MODULES)
                assert not (lazy and node in top_level and name in build_sql.SERVER_MODULES), \
                    f"{name}.py imports {lazy} when loaded"
