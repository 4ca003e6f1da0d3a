"""Fixtures shared by the whole suite, chiefly the database backends.

Every test that takes `database` runs once on SQLite and, when it is reachable, once on PostgreSQL
(TPO_TEST_DATABASE_URL, default postgresql://127.0.0.1:5432/test). Each test gets a database of
its own: a new SQLite file, or a new PostgreSQL schema, brought to the newest revision.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.databases import BACKENDS, BackendRegistry  # noqa: E402

backend_registry = BackendRegistry(os.environ.get("TPO_TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/test"))


def pytest_generate_tests(metafunc):
    wanted = {"database_url", "empty_database_url", "database"} & set(metafunc.fixturenames)
    if wanted:
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request):
    name = request.param
    if not backend_registry.available(name):
        backend_registry.record_skip(name)
        pytest.skip(f"{name}: {backend_registry.reason(name)}")
    backend_registry.record_run(name)
    return name


@pytest.fixture
def empty_database_url(backend, tmp_path):
    """The URL of a new, empty database on the backend under test."""
    url = backend_registry.new_database(backend, tmp_path)
    yield url
    backend_registry.drop_database(backend, url)


@pytest.fixture
def database_url(empty_database_url):
    """The URL of a new database at the newest schema revision."""
    from engine.store.database import make_engine
    from engine.store.migrate import upgrade

    engine = make_engine(empty_database_url)
    upgrade(engine)
    engine.dispose()
    return empty_database_url


@pytest.fixture
def database(database_url):
    """A SQLAlchemy engine on a new database at the newest schema revision."""
    from engine.store.database import make_engine

    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(backend_registry.summary())
