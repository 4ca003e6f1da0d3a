"""What the demo's acts share: config, database, clock, and the account they print."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from engine.config.loader import Config


@dataclass
class DemoStage:
    config: Config
    database: Engine
    started_at: datetime
    facts: dict = field(default_factory=dict)
