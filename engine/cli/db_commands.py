"""`tpo db upgrade` and `tpo db current`."""

from __future__ import annotations

import sys

from engine.cli import context
from engine.store import migrate
from engine.store.database import redacted


def register(commands, common) -> None:
    group = commands.add_parser("db", help="create or upgrade the database schema", parents=[common])
    actions = group.add_subparsers(dest="action", metavar="ACTION", title="actions")
    actions.required = True
    upgrade = actions.add_parser(
        "upgrade", help="bring the database to the newest schema (safe to run again)", parents=[common]
    )
    upgrade.set_defaults(handler=upgrade_database)
    current = actions.add_parser("current", help="print the database's schema revision", parents=[common])
    current.set_defaults(handler=show_revision)


def upgrade_database(args) -> int:
    config = context.load(args)
    engine = context.database(config)
    where = redacted(engine.url)
    try:
        before, after = migrate.upgrade(engine)
    except migrate.UpgradeRefused as error:
        print(f"{where}: upgrade refused, nothing changed: {error}", file=sys.stderr)
        return 2
    if before == after:
        print(f"{where}: already at schema revision {after}; nothing changed")
    else:
        print(f"{where}: upgraded schema from {before or 'empty'} to {after}")
    return 0


def show_revision(args) -> int:
    config = context.load(args)
    engine = context.database(config)
    current = migrate.current_revision(engine)
    head = migrate.head_revision()
    state = "up to date" if current == head else f"behind (newest is {head}; run tpo db upgrade)"
    print(f"{redacted(engine.url)}: schema revision {current or 'none'}, {state}")
    return 0 if current == head else 1
