"""`tpo demo`: play the demo's acts against the configured (by default SQLite) database."""

from __future__ import annotations

from datetime import datetime, timezone

from engine.cli import context


def register(commands, common) -> None:
    demo = commands.add_parser(
        "demo", help="play the demo: prepare the database and run the engine's main job end to end", parents=[common]
    )
    demo.set_defaults(handler=run_demo)


def run_demo(args) -> int:
    from engine.demo.acts import ACTS
    from engine.demo.stage import DemoStage

    config = context.load(args)
    stage = DemoStage(config=config, database=context.database(config), started_at=datetime.now(timezone.utc))
    for number, act in enumerate(ACTS, start=1):
        print(f"\n== Act {number}: {act.__name__.replace('_', ' ')}")
        for line in act(stage):
            print(line)
    print("\nDemo finished.")
    return 0
