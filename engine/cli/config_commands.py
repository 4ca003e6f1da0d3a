"""`tpo config check` and `tpo config show`."""

from __future__ import annotations

import json

from engine.cli import context
from engine.store.database import redacted


def register(commands, common) -> None:
    group = commands.add_parser("config", help="check or show the configuration", parents=[common])
    actions = group.add_subparsers(dest="action", metavar="ACTION", title="actions")
    actions.required = True
    check = actions.add_parser(
        "check", help="validate every config file and report all problems at once", parents=[common]
    )
    check.set_defaults(handler=check_config)
    show = actions.add_parser("show", help="print the effective configuration, secrets masked", parents=[common])
    show.set_defaults(handler=show_config)


def check_config(args) -> int:
    config = context.load(args)
    names = ", ".join(sorted(config.files))
    print(f"{config.directory}: configuration is valid ({names})")
    return 0


def show_config(args) -> int:
    config = context.load(args)
    shown = {}
    for name, model in sorted(config.files.items()):
        shown[name] = model.model_dump(mode="json")
    database = shown["engine.toml"]["database"]
    database["url"] = redacted(database["url"])
    print(json.dumps(shown, indent=2, ensure_ascii=False))
    return 0
