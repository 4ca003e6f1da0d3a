"""The values every social rule is called with, and the value every rule returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping, NamedTuple

from engine.config.engine_file import OperatorSection
from engine.social_sms.catalogue import Catalogue
from engine.social_sms.ports import Billing, MessageClass, Outbox, Provisioning, SocialRepository
from engine.social_sms.settings import CausesFile, SocialFile


@dataclass(frozen=True)
class SocialContext:
    """Config the rules read: plain immutable values, so a rule is a function of its arguments."""

    catalogue: Catalogue
    social: SocialFile
    causes: CausesFile
    operator: OperatorSection

    @classmethod
    def from_config(cls, config) -> "SocialContext":
        messages = config.files.get("messages.toml")
        if messages is None or not messages.languages:
            raise ValueError(f"{config.label('messages.toml')}: no languages (expected [languages.en] and others)")
        return cls(
            catalogue=Catalogue(messages),
            social=config.files.get("social.toml") or SocialFile(),
            causes=config.files.get("causes.toml") or CausesFile(),
            operator=config.engine.operator,
        )

    @property
    def currency(self) -> str:
        return self.operator.currency

    @property
    def minor_unit(self) -> int:
        return self.operator.currency_minor_unit

    def is_operator(self, msisdn: str) -> bool:
        return msisdn in self.operator.operator_numbers


class Ports(NamedTuple):
    repo: SocialRepository
    outbox: Outbox
    provisioning: Provisioning
    billing: Billing


@dataclass(frozen=True)
class Reply:
    """A catalogue reply by key; params are already formatted for `language` (amounts, lists)."""

    key: str
    params: Mapping[str, object] = field(default_factory=dict)


class Outgoing(NamedTuple):
    recipient: str
    text: str
    message_class: MessageClass
    not_before: datetime | None = None  # UTC; None means send now
    topic: str | None = None  # for notices: which kind ("bill"), checked against essential topics


@dataclass(frozen=True)
class Outcome:
    """What an action did: replies to the actor (by key, rendered by the SMS or USSD layer in
    `language`), messages to other people (already rendered), and how many fan-out MTs went to
    the outbox in bulk."""

    replies: tuple[Reply, ...] = ()
    language: str | None = None
    messages: tuple[Outgoing, ...] = ()
    fanned_out: int = 0


def render_replies(catalogue: Catalogue, outcome: Outcome) -> list[str]:
    return [catalogue.render(outcome.language, reply.key, **reply.params) for reply in outcome.replies]
