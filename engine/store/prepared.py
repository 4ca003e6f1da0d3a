"""Core statements for the hot paths, compiled once and run on the driver's own cursor.

SQLAlchemy's `Connection.execute` spends 15-100 µs per statement on bookkeeping (cache key,
parameter processing, result metadata) against a few µs in SQLite itself; at thousands of MO
commands a second, with about ten statements each, that bookkeeping was most of the engine's time
(benchmarks/mo_commands.py). A `Prepared` statement keeps what SQLAlchemy would do for it and does
it once:

- the statement is compiled once per dialect, with positional parameters (`?` for sqlite3, `%s`
  for psycopg, which takes that style as well as SQLAlchemy's named one), so rows go to the driver
  as plain tuples on both backends;
- each value goes through its column type's bind processor, each result value through the type's
  result processor, exactly as `Connection.execute` would (`UtcDateTime` naive UTC in, aware UTC
  out; SQLite's datetimes as text, its booleans as integers);
- it runs inside the transaction of the SQLAlchemy connection it is given (which begins one if
  none is open, like `execute`), so savepoints, commits and rollbacks are the caller's as usual;
- a driver error comes out as SQLAlchemy's exception (`IntegrityError`, `OperationalError`...),
  which is what callers catch.

Values are given by bound-parameter name, as to `Connection.execute`; values written into the
statement (`.values(state="handled")`, `col == "x"`) are part of it, not parameters to give. A parameter made
with `bindparam(name, expanding=True)` takes a list (`col.in_(bindparam("ids", expanding=True))`).
An INSERT without `.values()` names its columns with `keys`, as the keys of an executemany would.
"""

from __future__ import annotations

import copy
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import Connection, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import ArgumentError, DBAPIError

_POSITIONAL = {"sqlite": "qmark", "postgresql": "format"}


class _Compiled:
    """One statement as one dialect runs it."""

    def __init__(self, statement, dialect: Dialect, keys: Sequence[str] | None):
        positional = copy.copy(dialect)
        positional.paramstyle = _POSITIONAL.get(dialect.name, dialect.paramstyle)
        positional.positional = positional.paramstyle in ("qmark", "format", "numeric")
        if not positional.positional:
            raise ArgumentError(f"Prepared needs a driver with positional parameters; {dialect.name} has none known")
        compiled = statement.compile(dialect=positional, column_keys=list(keys) if keys is not None else None,
                                     for_executemany=True)
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        self.marker = "?" if positional.paramstyle == "qmark" else "%s"
        self.sql = compiled.string
        # (key, bind processor, value written into the statement, required, expanding) per position
        self.parameters = []
        self._tokens = {}  # expanding parameter's key -> its token in the SQL
        for name in compiled.positiontup:
            bind = binds[name]
            process = _remembering(bind.type.dialect_impl(dialect).bind_processor(dialect), bind.type, dialect)
            required = bind.required or bind.callable is not None
            self.parameters.append((bind.key, process, bind.value, required, bind.expanding))
            if bind.expanding:
                self._tokens[bind.key] = f"__[POSTCOMPILE_{name}]"
        self.expanding = bool(self._tokens)
        # The fast way for the rest: values written into the statement processed once, here, and
        # only the given ones looked up and processed per execution.
        self._template = [None if required else (process(written) if process else written)
                          for _key, process, written, required, _expanding in self.parameters]
        self._given = [(index, key, process) for index, (key, process, _written, required, _expanding)
                       in enumerate(self.parameters) if required]
        if "__[POSTCOMPILE_" in self.sql and not self.expanding:
            raise ArgumentError(f"statement renders values at execution time, which Prepared does not: {self.sql}")
        self.returns = " RETURNING " in self.sql
        returned = list(getattr(statement, "exported_columns", ()))
        if not returned and self.returns:
            # SQLAlchemy remembers a statement's returned columns when it is first compiled, and a
            # copy made by `.returning()` after that reports none: its values would come back
            # unprocessed (naive datetimes).
            raise ArgumentError(f"RETURNING added to a statement already compiled; build it afresh: {self.sql}")
        self.result = [(index, process) for index, process in
                       ((index, column.type.dialect_impl(dialect).result_processor(dialect, None))
                        for index, column in enumerate(returned))
                       if process is not None]

    def values(self, given: Mapping[str, Any]) -> tuple:
        if self.expanding:
            return self._expanded_values(given)
        values = self._template.copy()
        try:
            for index, key, process in self._given:
                values[index] = process(given[key]) if process else given[key]
        except KeyError as error:
            raise ArgumentError(f"a value is required for bind parameter {error.args[0]!r}") from None
        return tuple(values)

    def _expanded_values(self, given: Mapping[str, Any]) -> tuple:
        values = []
        for key, process, written, required, expanding in self.parameters:
            if not required:
                value = written
            elif key in given:
                value = given[key]
            else:
                raise ArgumentError(f"a value is required for bind parameter {key!r}")
            if expanding:
                values.extend(map(process, value) if process else value)
            else:
                values.append(process(value) if process else value)
        return tuple(values)

    def sql_for(self, given: Mapping[str, Any]) -> str:
        """The statement with each expanding parameter's token replaced by one marker per value."""
        if not self.expanding:
            return self.sql
        sql = self.sql
        for key, token in self._tokens.items():
            count = len(given[key])
            if count == 0:
                raise ArgumentError(f"expanding parameter {key!r} got no values (expected at least one)")
            sql = sql.replace(token, ", ".join([self.marker] * count), 1)
        return sql

    def rows(self, raw: list) -> list:
        if not self.result:
            return raw
        processed = []
        for row in raw:
            row = list(row)
            for index, process in self.result:
                row[index] = process(row[index])
            processed.append(tuple(row))
        return processed


class Prepared:
    """A Core statement that runs on the driver's cursor: see the module's notes."""

    def __init__(self, statement, keys: Sequence[str] | None = None):
        self.statement = statement
        self.keys = tuple(keys) if keys is not None else None
        self._compiled: dict[tuple[str, str], _Compiled] = {}
        self._last: tuple[Dialect | None, _Compiled | None] = (None, None)

    def compiled(self, connection: Connection) -> _Compiled:
        dialect = connection.dialect
        last_dialect, last = self._last
        if dialect is last_dialect:
            return last
        found = self._compiled.get((dialect.name, dialect.driver))
        if found is None:
            found = self._compiled[(dialect.name, dialect.driver)] = _Compiled(self.statement, dialect, self.keys)
        self._last = (dialect, found)
        return found

    def position(self, connection: Connection, key: str) -> int:
        """Where the value of `key` sits in the tuples of `parameters` (its first use)."""
        return [parameter[0] for parameter in self.compiled(connection).parameters].index(key)

    def parameters(self, connection: Connection, values: Mapping[str, Any]) -> tuple:
        """`values` as the driver takes them for this statement: processed once, for `run_many_processed`."""
        return self.compiled(connection).values(values)

    def rows(self, connection: Connection, values: Mapping[str, Any] = {}) -> list[tuple]:
        compiled = self.compiled(connection)
        parameters = compiled.values(values)
        sql = compiled.sql_for(values)
        cursor = _cursor(connection)
        try:
            cursor.execute(sql, parameters)
            return compiled.rows(cursor.fetchall() if cursor.description is not None else [])
        except connection.dialect.loaded_dbapi.Error as error:
            raise _wrapped(connection, sql, parameters, error) from error
        finally:
            cursor.close()

    def first(self, connection: Connection, values: Mapping[str, Any] = {}) -> tuple | None:
        rows = self.rows(connection, values)
        return rows[0] if rows else None

    def scalar(self, connection: Connection, values: Mapping[str, Any] = {}) -> Any:
        """The first column of the first row, or None when there is no row."""
        rows = self.rows(connection, values)
        return rows[0][0] if rows else None

    def inserted_keys(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """An INSERT that may skip its row (ON CONFLICT DO NOTHING), run once per row of values, in
        order: the primary key each run inserted, or None where it skipped. On psycopg the statement
        RETURNs its key and runs as one pipelined executemany (one round trip for all); on sqlite3
        it has no RETURNING and the key is the cursor's `lastrowid`: SQLite collects RETURNING rows
        in a temporary table, which more than doubled the insert (benchmarks/RESULTS.md, stop 14)."""
        compiled = self.compiled(connection)
        if compiled.expanding:
            raise ArgumentError("inserted_keys cannot take expanding parameters (each row would need its own SQL)")
        psycopg = connection.dialect.driver == "psycopg"
        if compiled.returns != psycopg:
            raise ArgumentError(f"inserted_keys on {connection.dialect.driver} needs an INSERT "
                                f"{'RETURNING its key' if psycopg else 'without RETURNING'}: {compiled.sql}")
        parameters = [compiled.values(row) for row in rows]
        if not parameters:
            return []
        cursor = _cursor(connection)
        try:
            if psycopg:
                cursor.executemany(compiled.sql, parameters, returning=True)
                return [row[0] if row else None for row in (result.fetchone() for result in cursor.results())]
            keys = []
            for values in parameters:
                cursor.execute(compiled.sql, values)
                keys.append(cursor.lastrowid if cursor.rowcount == 1 else None)
            return keys
        except connection.dialect.loaded_dbapi.Error as error:
            raise _wrapped(connection, compiled.sql, parameters, error) from error
        finally:
            cursor.close()

    def run(self, connection: Connection, values: Mapping[str, Any] = {}) -> int:
        """Execute a statement that returns no rows; returns the driver's row count."""
        compiled = self.compiled(connection)
        parameters = compiled.values(values)
        return self._execute(connection, compiled.sql_for(values), parameters, many=False)

    def run_many(self, connection: Connection, rows: Iterable[Mapping[str, Any]]) -> int:
        """One executemany of the statement for `rows`; returns the driver's row count."""
        compiled = self.compiled(connection)
        if compiled.expanding:
            raise ArgumentError("run_many cannot take expanding parameters (each row would need its own SQL)")
        return self.run_many_processed(connection, [compiled.values(row) for row in rows])

    def run_many_processed(self, connection: Connection, rows: Sequence[tuple]) -> int:
        """`run_many` for rows already made by `parameters` (a fan-out repeats one row's values)."""
        if not rows:
            return 0
        return self._execute(connection, self.compiled(connection).sql, rows, many=True)

    def _execute(self, connection: Connection, sql: str, parameters, many: bool) -> int:
        cursor = _cursor(connection)
        try:
            if many:
                cursor.executemany(sql, parameters)
            else:
                cursor.execute(sql, parameters)
            return cursor.rowcount
        except connection.dialect.loaded_dbapi.Error as error:
            raise _wrapped(connection, sql, parameters, error) from error
        finally:
            cursor.close()


# One memory per datetime type and driver, shared by every statement and holding the last few
# hundred values: a unit of work hands the same `now` to several statements (the flood bucket, the
# reply, the handled mark...), and an MO batch binds each message's `now` in turn, then again in the
# batch's reply insert and handled update. Remembering only each statement's last value converted
# most of them once per statement (benchmarks/RESULTS.md, stop 14).
_REMEMBERED_VALUES = 256
_CONVERSIONS: dict[tuple[str, str, str], dict[int, tuple]] = {}


def _remembering(process, type_, dialect: Dialect):
    """A datetime's bind processor that keeps its recent conversions: datetimes are immutable, and
    UtcDateTime's conversion (to UTC, then SQLite's text) is the dearest of the processors. Kept by
    identity, with the value itself, so an entry is never taken for another object's."""
    if process is None or not isinstance(getattr(type_, "impl_instance", type_), DateTime):
        return process
    known = _CONVERSIONS.setdefault((repr(type_), dialect.name, dialect.driver), {})

    def remembered(value):
        entry = known.get(id(value))
        if entry is not None and entry[0] is value:
            return entry[1]
        converted = process(value)
        if value is not None:
            if len(known) >= _REMEMBERED_VALUES:
                known.clear()
            known[id(value)] = (value, converted)  # one tuple: a reader on another thread sees a matching pair
        return converted

    return remembered


def execute_on_driver(connection: Connection, sql: str) -> None:
    """A statement without parameters or rows on the driver's cursor, as it is, with SQLAlchemy's
    errors; unlike `Prepared`, it begins no transaction (it may be the one that begins it)."""
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(sql)
    except connection.dialect.loaded_dbapi.Error as error:
        raise _wrapped(connection, sql, (), error) from error
    finally:
        cursor.close()


def _cursor(connection: Connection):
    if not connection.in_transaction():
        connection.begin()  # what Connection.execute's autobegin does
    return connection.connection.driver_connection.cursor()


def _wrapped(connection: Connection, sql: str, parameters, error: Exception) -> DBAPIError:
    dialect = connection.dialect
    return DBAPIError.instance(sql, parameters, error, dialect.loaded_dbapi.Error, dialect=dialect)
