"""`tpo demo`: play a month of the operator with real processes, and tell what happened."""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from engine.config.loader import config_dir_from


def register(commands, common) -> None:
    demo = commands.add_parser(
        "demo", help="play the demo: a month of the operator with the SMSC simulator and the engine", parents=[common]
    )
    demo.add_argument("--folder", default="var/demo", help="where the demo keeps its database, folders and logs")
    demo.set_defaults(handler=run_demo)


def run_demo(args) -> int:
    from engine.demo.acts import ACTS
    from engine.demo.stage import DemoFailed, DemoStage
    from engine.logs import configure_logging

    configure_logging(getattr(args, "log_level", "WARNING"), getattr(args, "log_format", "text"))
    stage = DemoStage(project_config=config_dir_from(getattr(args, "config", None)).resolve(),
                      folder=Path(args.folder).resolve(),
                      started_at=datetime.now(timezone.utc))
    began = time.monotonic()
    status = 0
    try:
        for number, act in enumerate(ACTS, start=1):
            summary = (act.__doc__ or act.__name__).strip().splitlines()[0]
            print(f"\n== Act {number}: {summary}", flush=True)
            for line in act(stage):
                print(line, flush=True)
    except DemoFailed as failure:
        print(f"\nThe demo stopped: {failure}", file=sys.stderr)
        status = 1
    finally:
        print()
        for line in stage.close():
            print(line)
    print(f"Demo {'finished' if status == 0 else 'failed'} in {time.monotonic() - began:.1f} s.")
    return status
