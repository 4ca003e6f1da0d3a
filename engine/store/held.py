"""A connection kept between transactions, for the engine's hot paths.

`Engine.begin()` takes a connection from the pool and gives it back for every transaction: the
checkout, PostgreSQL's liveness ping (`pool_pre_ping`, a round trip to the server) and the reset on
return cost more than the BEGIN itself, and the MO path runs two transactions per batch of a few
messages. `HeldConnection.begin()` is the same context manager on one connection kept while it is
in use (benchmarks/RESULTS.md, stop 15: 4.5-5% fewer instructions per MO command):

- Kept no longer than `idle_seconds` unused: the next transaction then takes a fresh connection
  from the pool, with its ping, so a server restarted while the engine was quiet costs nothing.
- Given back after any error: a connection the server dropped is not used again (SQLAlchemy has
  marked it invalid; the next transaction takes a fresh one), and a healthy one is only replaced.
- Given back by `release()`, when the engine stops.

The engine's receiver, MO worker and MT dispatcher share one (`EngineService.hot_transactions`):
their transactions follow one another on the reactor thread, never nest (a second `begin` on it
while one is open raises), and on SQLite one connection keeps one page cache warm, where a
connection that finds the database changed by another one starts its next transaction with an
empty cache.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, ContextManager, Iterator, Protocol

from sqlalchemy import Connection, Engine

IDLE_SECONDS = 5.0


class Transactions(Protocol):
    """What the engine's components need of a database: an `Engine`, or a `HeldConnection` on one."""

    def begin(self) -> ContextManager[Connection]: ...


class HeldConnection:
    def __init__(self, engine: Engine, idle_seconds: float = IDLE_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.engine = engine
        self.idle_seconds = idle_seconds
        self.clock = clock
        self._connection: Connection | None = None
        self._used_at = 0.0

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        now = self.clock()
        if self._connection is not None and now - self._used_at > self.idle_seconds:
            self.release()
        if self._connection is None:
            self._connection = self.engine.connect()
        self._used_at = now
        connection = self._connection
        try:
            with connection.begin():
                yield connection
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Give the connection back to the pool (closing an invalid one)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
