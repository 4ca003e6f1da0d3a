"""`tpo`: the engine's command line. Each command group lives in its own module under engine/cli/,
named `*_command.py` or `*_commands.py`, with a `register(commands, common)` function.

Every command takes `--config DIR` (default `config/`, or $TPO_CONFIG) and the logging options;
TPO_DATABASE_URL overrides the configured database for a run.
"""

from __future__ import annotations

import argparse
import sys

import importlib
import pkgutil

import engine.cli
from engine.config.problems import ConfigError


def command_modules() -> list:
    """Every `engine/cli/*_command(s).py` module: a new command group is a new file, nothing else."""
    names = sorted(
        info.name for info in pkgutil.iter_modules(engine.cli.__path__)
        if info.name.endswith(("_command", "_commands"))
    )
    return [importlib.import_module(f"engine.cli.{name}") for name in names]


def common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="DIR", default=argparse.SUPPRESS, help="config folder (default: $TPO_CONFIG or config/)"
    )
    common.add_argument(
        "--log-format", choices=["text", "json"], default=argparse.SUPPRESS, help="log lines as text or JSON"
    )
    common.add_argument(
        "--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], default=argparse.SUPPRESS, help="log level"
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = argparse.ArgumentParser(
        prog="tpo",
        description="The people's operator engine: SMPP link, rating, donations and a social network over SMS.",
        parents=[common],
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    commands.required = True
    for module in command_modules():
        module.register(commands, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = args.handler(args)
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        print(f"{len(error.problems)} problem(s) found; nothing was started.", file=sys.stderr)
        return ConfigError.exit_status
    except KeyboardInterrupt:
        return 130
    return status or 0


def entry_point() -> None:
    sys.exit(main())
