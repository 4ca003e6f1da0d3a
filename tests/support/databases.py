"""Test databases: a fresh SQLite file or a fresh PostgreSQL schema per test."""

from __future__ import annotations

import uuid
from collections import Counter
from urllib.parse import quote

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

BACKENDS = ["sqlite", "postgresql"]


class BackendRegistry:
    def __init__(self, postgresql_url: str):
        self.postgresql_url = make_url(postgresql_url).set(drivername="postgresql+psycopg")
        self._availability: dict[str, str | None] = {"sqlite": None}
        self.ran: Counter = Counter()
        self.skipped: Counter = Counter()

    def available(self, name: str) -> bool:
        if name not in self._availability:
            self._availability[name] = self._probe_postgresql()
        return self._availability[name] is None

    def reason(self, name: str) -> str:
        return self._availability.get(name) or ""

    def _probe_postgresql(self) -> str | None:
        try:
            engine = create_engine(self.postgresql_url, connect_args={"connect_timeout": 3})
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            engine.dispose()
        except Exception as error:  # any failure means: not reachable from here
            return f"not reachable at {self.postgresql_url.render_as_string(hide_password=True)} ({type(error).__name__})"
        return None

    def record_run(self, name: str) -> None:
        self.ran[name] += 1

    def record_skip(self, name: str) -> None:
        self.skipped[name] += 1

    def new_database(self, name: str, tmp_path) -> str:
        if name == "sqlite":
            return f"sqlite:///{tmp_path / 'tpo-test.db'}"
        schema = f"tpo_test_{uuid.uuid4().hex[:12]}"
        admin = create_engine(self.postgresql_url)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        options = quote(f"-csearch_path={schema}")
        return self.postgresql_url.render_as_string(hide_password=False) + f"?options={options}"

    def drop_database(self, name: str, url: str) -> None:
        if name != "postgresql":
            return
        options = make_url(url).query.get("options", "")
        schema = options.split("=", 1)[1]
        admin = create_engine(self.postgresql_url)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    def summary(self) -> str:
        parts = []
        for name in BACKENDS:
            if self.ran[name]:
                parts.append(f"{name}: {self.ran[name]} test(s) ran")
            elif self.skipped[name]:
                parts.append(f"{name}: skipped ({self.reason(name)})")
            else:
                parts.append(f"{name}: not used")
        return "database backends: " + "; ".join(parts)


class FailingBegins:
    """An engine whose next `failures` transactions fail to begin, as when the database server
    restarts or SQLite stays locked past its busy timeout; then the engine itself again."""

    def __init__(self, engine, failures: int = 0):
        self.engine = engine
        self.failures = failures

    def begin(self):
        from sqlalchemy.exc import OperationalError

        if self.failures:
            self.failures -= 1
            raise OperationalError("BEGIN", {}, ConnectionError("server closed the connection unexpectedly"))
        return self.engine.begin()

    def __getattr__(self, name):
        return getattr(self.engine, name)
