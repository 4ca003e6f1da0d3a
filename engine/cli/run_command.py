"""`tpo run`: the engine as one process, until SIGTERM or Ctrl-C (then a graceful stop, exit 0)."""

from __future__ import annotations

import logging
import sys

from engine.cli import context

log = logging.getLogger(__name__)


def register(commands, common) -> None:
    run = commands.add_parser(
        "run", help="run the engine: SMPP binds, commands, host folders, scheduled jobs, metrics", parents=[common]
    )
    run.set_defaults(handler=run_engine)


def run_engine(args) -> int:
    from twisted.internet import reactor

    from engine.service.assembly import build_engine, keep_startup_objects_out_of_collections
    from engine.store import migrate

    config = context.load(args)
    database = context.database(config)
    current, head = migrate.current_revision(database), migrate.head_revision()
    if current != head:
        print(f"the database is at schema revision {current or 'none'}, the engine needs {head}: "
              "run `tpo db upgrade` first; nothing was started.", file=sys.stderr)
        return 2
    service = build_engine(reactor, config, database)
    keep_startup_objects_out_of_collections()
    # Twisted turns SIGTERM and SIGINT into reactor.stop(); the trigger lets the stop finish first.
    reactor.addSystemEventTrigger("before", "shutdown", service.stop)
    reactor.callWhenRunning(service.start)
    reactor.run()
    return 0
