"""A ready-made social world on in-memory ports, for unit tests, the demo and the USSD work.

It uses the project's own `config/messages.toml`, so every test also exercises the real catalogue,
but builds the other settings in code so tests do not depend on an operator's choices.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from engine.config.engine_file import OperatorSection
from engine.social_sms.catalogue import Catalogue, MessagesFile
from engine.social_sms.context import Ports, SocialContext
from engine.social_sms.memory_repository import FixedBilling, MemoryOutbox, MemoryProvisioning, MemoryRepository
from engine.social_sms.settings import Cause, CausesFile, FloodSection, SocialFile, SubscribersSection
from engine.social_sms.sms import SmsResult, handle_sms

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"

OUR_PREFIX = "+447400"
OPERATOR_NUMBER = "+447400999999"
CAUSE_POSTER = "+447400900555"


def load_messages(path: Path | None = None) -> MessagesFile:
    with (path or CONFIG_DIR / "messages.toml").open("rb") as handle:
        return MessagesFile.model_validate(tomllib.load(handle))


def sample_causes() -> CausesFile:
    return CausesFile(causes=(
        Cause(code="water", name={"en": "Clean Water Fund", "fr": "Fonds Eau Potable"},
              description={"en": "Wells and pumps for villages.", "fr": "Puits et pompes."},
              authorised_numbers=(CAUSE_POSTER,)),
        Cause(code="foodbank", name={"en": "Local Food Banks", "fr": "Banques alimentaires"},
              description={"en": "Food for families in need."}),
        Cause(code="climate", name={"en": "Climate Action", "fr": "Action Climat"}),
    ))


def sample_operator(**changes) -> OperatorSection:
    values = dict(name="People's Mobile", time_zone="Europe/London", currency="GBP", default_region="GB",
                  short_code="767", help_url="peoples.example/help", care_number="+443001234567",
                  operator_numbers=(OPERATOR_NUMBER,))
    values.update(changes)
    return OperatorSection(**values)


def sample_social(**changes) -> SocialFile:
    """Defaults, except a flood bucket large enough that scripted conversations are not throttled
    (the flood tests set their own)."""
    values = dict(subscribers=SubscribersSection(our_number_prefixes=(OUR_PREFIX,)),
                  flood=FloodSection(burst=1000, per_minute=1000))
    values.update(changes)
    return SocialFile(**values)


def make_context(social: SocialFile | None = None, causes: CausesFile | None = None,
                 operator: OperatorSection | None = None, messages: MessagesFile | None = None) -> SocialContext:
    social = social or sample_social()
    return SocialContext(
        catalogue=Catalogue(messages or load_messages()),
        social=social,
        causes=causes or sample_causes(),
        operator=operator or sample_operator(),
    )


@dataclass
class World:
    ctx: SocialContext = field(default_factory=make_context)
    repo: MemoryRepository = field(default_factory=MemoryRepository)
    outbox: MemoryOutbox = field(default_factory=MemoryOutbox)
    provisioning: MemoryProvisioning = field(default_factory=MemoryProvisioning)
    billing: FixedBilling = field(default_factory=FixedBilling)

    @property
    def ports(self) -> Ports:
        return Ports(self.repo, self.outbox, self.provisioning, self.billing)

    def sms(self, sender: str, text: str, now: datetime) -> SmsResult:
        return handle_sms(self.ctx, self.ports, sender, text, now)

    def reply(self, sender: str, text: str, now: datetime) -> str:
        """The single reply to a message; fails loudly if there is not exactly one."""
        replies = self.sms(sender, text, now).replies
        assert len(replies) == 1, replies
        return replies[0]
