"""The pure core imports no adapters: rules, rating and the SMPP state machine stay testable alone."""

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[3] / "engine"
ADAPTER_LIBRARIES = ("twisted", "sqlalchemy", "alembic", "psycopg")
# The core packages are pure except for these adapter modules, which are named here on purpose:
# a new module in a core package is pure unless someone decides otherwise in this list.
CORE_PACKAGES = ["smpp", "rating", "social_sms", "config", "numbers.py"]
ADAPTER_MODULES = {
    "smpp/link.py", "smpp/outbox.py", "smpp/inbox.py", "smpp/receiver.py", "smpp/dispatcher.py",
    "smpp/simulator.py", "smpp/simulator_control.py",
    "rating/mediation.py", "rating/store.py", "rating/rerate.py", "rating/preview.py",
    "social_sms/sql_repository.py", "social_sms/wiring.py", "social_sms/ussd_store.py",
    "social_sms/housekeeping.py",
}


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


def _pure_files() -> list[Path]:
    files = [path for package in CORE_PACKAGES for path in _python_files(package)]
    return [path for path in files if str(path.relative_to(ENGINE)) not in ADAPTER_MODULES]


@pytest.mark.parametrize("path", _pure_files(), ids=lambda p: str(p.relative_to(ENGINE)))
def test_pure_module_imports_no_adapter(path):
    imported = _imported_roots(path) & set(ADAPTER_LIBRARIES)
    if path.name == "engine_file.py":
        imported -= {"sqlalchemy"}  # only make_url, to validate the database URL's syntax
    assert not imported, f"{path.relative_to(ENGINE)} imports {sorted(imported)}"
