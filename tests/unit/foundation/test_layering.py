"""The pure core imports no adapters: rules, rating and the SMPP state machine stay testable alone."""

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[3] / "engine"
ADAPTER_LIBRARIES = ("twisted", "sqlalchemy", "alembic", "psycopg")
PURE_MODULES = [
    "numbers.py",
    "config",
    "rating/tariffs.py", "rating/zones.py", "rating/bands.py", "rating/rater.py", "rating/allowances.py",
    "rating/records.py", "rating/money.py",
    "smpp/codec.py", "smpp/session.py", "smpp/encoding.py", "smpp/segmentation.py", "smpp/receipts.py",
    "smpp/reassembly.py",
]


def _python_files(relative: str) -> list[Path]:
    path = ENGINE / relative
    if path.is_dir():
        return sorted(path.rglob("*.py"))
    return [path] if path.exists() else []


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", [p for m in PURE_MODULES for p in _python_files(m)], ids=lambda p: p.name)
def test_pure_module_imports_no_adapter(path):
    imported = _imported_roots(path) & set(ADAPTER_LIBRARIES)
    if path.name == "engine_file.py":
        imported -= {"sqlalchemy"}  # only make_url, to validate the database URL's syntax
    assert not imported, f"{path.relative_to(ENGINE)} imports {sorted(imported)}"
