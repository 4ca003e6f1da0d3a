"""What every command needs: the validated config, logging, and the database engine."""

from __future__ import annotations

import argparse

from engine.config.loader import Config, config_dir_from, load_config
from engine.logs import configure_logging, hide_secret


def load(args: argparse.Namespace) -> Config:
    """Validate the config folder named on the command line and set up logging from it."""
    config = load_config(config_dir_from(getattr(args, "config", None)))
    settings = config.engine.logging
    configure_logging(getattr(args, "log_level", settings.level), getattr(args, "log_format", settings.format))
    for secret in secrets_of(config):
        hide_secret(secret)
    return config


def secrets_of(config: Config) -> list[str]:
    engine = config.engine
    values = [bind.password.get_secret_value() for bind in engine.smpp.binds if bind.password]
    if engine.database.password:
        values.append(engine.database.password.get_secret_value())
    return values


def database(config: Config):
    from engine.store.database import make_engine

    settings = config.engine.database
    password = settings.password.get_secret_value() if settings.password else None
    return make_engine(settings.url, password=password, busy_timeout_ms=settings.busy_timeout_ms)
