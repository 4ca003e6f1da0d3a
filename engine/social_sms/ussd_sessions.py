"""USSD session bookkeeping, pure: which dialogue a `deliver_sm` belongs to, and what to send back.

A USSD dialogue over SMPP is a string of `deliver_sm` (the phone) and `submit_sm` (us) linked by
one of three things, depending on the gateway; `[sessions] key` in `config/ussd.toml` names it:

- `its_session_info` (the SMPP 3.4 way): the network's session number, together with the number
  (session numbers are one octet and are reused across subscribers);
- `user_message_reference`: the gateway's reference, together with the number (several gateways
  number dialogues per subscriber with a short counter);
- `source_addr`: the number alone, one dialogue per subscriber at a time, for gateways that send
  neither. A new dial (PSSR indication) always replaces the subscriber's older dialogue.

When the chosen field is missing from a message the key falls back to the number alone, so a
gateway that leaves the TLV off some messages still gets answers.

What the adapter must do is decided by `UssdSessions.handle`, one function, returning `Handled`:

| came in                                            | disposition | send                       | keep      |
|----------------------------------------------------|-------------|----------------------------|-----------|
| PSSR indication (op 1): the phone dialled us       | OPEN        | first screen (op 2 or 17)  | new       |
| PSSD indication (op 0): phase 1, one shot          | OPEN        | the screen, PSSD response (op 16) | nothing |
| USSR confirm (op 18) for a live session            | CONTINUE    | next screen (op 2 or 17)   | updated   |
| USSR confirm for no session, or an expired one     | LATE        | "session ended" (op 17)    | nothing   |
| a configured vendor release op, or the end bit set | RELEASE     | nothing                    | nothing   |
| USSN confirm (op 19), or an op only we send        | IGNORE      | nothing                    | unchanged |

A message without `ussd_service_op` continues a live session or opens one: some gateways omit the
TLV, and answering is better than dropping. A late answer is never an error: the subscriber gets
a short reply and the dialogue is closed with the end bit set.

Expiry (`timeout_seconds`, default 180) sends nothing: by then the network's own dialogue timer has
released the phone, and a message would arrive as an unrelated notification.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Iterable, Literal, Mapping

from pydantic import Field, field_validator

from engine.config.model import FrozenModel
from engine.smpp.ussd_tlv import (
    PSSD_INDICATION,
    PSSR_INDICATION,
    STANDARD_SERVICE_OPS,
    USSR_CONFIRM,
    SessionInfo,
    reply_service_op,
    reply_session_info,
)

if TYPE_CHECKING:  # the menu imports this module for SessionSettings; only types flow back
    from engine.social_sms.ussd_menu import Step, UssdActions, UssdMenu

__all__ = [
    "SessionKeyMode",
    "SessionSettings",
    "UssdIndication",
    "UssdSession",
    "Disposition",
    "UssdSend",
    "Handled",
    "UssdSessions",
    "SessionBook",
]

SessionKeyMode = Literal["its_session_info", "user_message_reference", "source_addr"]


class SessionSettings(FrozenModel):
    """`[sessions]` of config/ussd.toml."""

    key: SessionKeyMode = "its_session_info"
    timeout_seconds: int = Field(default=180, ge=10, le=3600)
    # Vendor ussd_service_op values that mean "the user or the network ended the dialogue"
    # (several gateways use one in the vendor range 32-255 instead of the end bit).
    release_service_ops: tuple[int, ...] = ()
    its_sequence: Literal["increment", "echo"] = "increment"

    @field_validator("release_service_ops")
    @classmethod
    def _vendor_values(cls, values: tuple[int, ...]) -> tuple[int, ...]:
        for value in values:
            if not 0 <= value <= 255:
                raise ValueError(f"{value} is not a ussd_service_op value (expected 0-255)")
            if value in STANDARD_SERVICE_OPS:
                raise ValueError(f"{value} is a standard ussd_service_op (expected a vendor value, 32-255)")
        return values


@dataclass(frozen=True)
class UssdIndication:
    """The USSD fields of one incoming deliver_sm, as the codec reads them.

    `msisdn` is the E.164 number the adapter normalised from `source_addr` (defaults to it);
    `text` is the decoded short_message: the dialled string or the answer typed.
    """

    source_addr: str
    text: str
    service_op: int | None
    its_session_info: int | None = None
    user_message_reference: int | None = None
    msisdn: str | None = None

    @property
    def number(self) -> str:
        return self.msisdn or self.source_addr


@dataclass(frozen=True)
class UssdSession:
    """One live dialogue: what the adapter stores (a row) between messages. `menu_state` is
    `MenuState.to_json()`."""

    key: str
    msisdn: str
    opened_at: datetime
    last_activity: datetime
    menu_state: Mapping
    its_session_info: int | None = None
    user_message_reference: int | None = None

    def expires_at(self, timeout_seconds: int) -> datetime:
        return self.last_activity + timedelta(seconds=timeout_seconds)


class Disposition(str, Enum):
    OPEN = "open"
    CONTINUE = "continue"
    LATE = "late"
    RELEASE = "release"
    IGNORE = "ignore"


@dataclass(frozen=True)
class UssdSend:
    """The submit_sm to send: fields in the codec's representation (TLVs as integers)."""

    destination: str
    text: str
    service_op: int
    its_session_info: int | None = None
    user_message_reference: int | None = None

    @property
    def ends(self) -> bool:
        return self.service_op != 2


@dataclass(frozen=True)
class Handled:
    """What to do for one incoming message: send `send` (if any), then store `session` under `key`,
    or delete what is stored under `key` when `session` is None (IGNORE keeps it as it was)."""

    disposition: Disposition
    key: str
    send: UssdSend | None
    session: UssdSession | None
    step: "Step | None" = None


class UssdSessions:
    """The rules, over a settings object; keeps no sessions itself (see `SessionBook` for that)."""

    def __init__(self, settings: SessionSettings | None = None) -> None:
        self.settings = settings or SessionSettings()

    def key_of(self, indication: UssdIndication) -> str:
        mode = self.settings.key
        number = indication.number
        if mode == "its_session_info" and indication.its_session_info is not None:
            return f"{number}|its:{SessionInfo.decode(indication.its_session_info).session_number}"
        if mode == "user_message_reference" and indication.user_message_reference is not None:
            return f"{number}|umr:{indication.user_message_reference}"
        return number

    def is_live(self, session: UssdSession | None, now: datetime) -> bool:
        return session is not None and now < session.expires_at(self.settings.timeout_seconds)

    def receive(self, indication: UssdIndication, session: UssdSession | None, now: datetime) -> Disposition:
        """Classify one incoming message; `session` is what is stored under `key_of(indication)`."""
        op = indication.service_op
        if op is not None and op in self.settings.release_service_ops:
            return Disposition.RELEASE
        if indication.its_session_info is not None and SessionInfo.decode(indication.its_session_info).end:
            return Disposition.RELEASE
        if op in (PSSR_INDICATION, PSSD_INDICATION):
            return Disposition.OPEN
        if op == USSR_CONFIRM:
            return Disposition.CONTINUE if self.is_live(session, now) else Disposition.LATE
        if op is None:
            return Disposition.CONTINUE if self.is_live(session, now) else Disposition.OPEN
        return Disposition.IGNORE

    def open(self, indication: UssdIndication, now: datetime, menu_state: Mapping) -> UssdSession:
        return UssdSession(
            key=self.key_of(indication), msisdn=indication.number, opened_at=now, last_activity=now,
            menu_state=dict(menu_state), its_session_info=indication.its_session_info,
            user_message_reference=indication.user_message_reference,
        )

    def continue_(self, session: UssdSession, indication: UssdIndication, now: datetime,
                  menu_state: Mapping) -> UssdSession:
        return UssdSession(
            key=session.key, msisdn=session.msisdn, opened_at=session.opened_at, last_activity=now,
            menu_state=dict(menu_state), its_session_info=indication.its_session_info,
            user_message_reference=indication.user_message_reference,
        )

    def expire(self, sessions: Iterable[UssdSession], now: datetime) -> list[UssdSession]:
        """The sessions past their timeout: delete them, send nothing (module docstring)."""
        return [session for session in sessions if not self.is_live(session, now)]

    def reply(self, indication: UssdIndication, text: str, continues: bool) -> UssdSend:
        """Our answer to `indication`: same session number, end bit set when the dialogue ends, the
        user_message_reference echoed (gateways match the reply to the dialogue by it)."""
        op = reply_service_op(indication.service_op, continues)
        ends = op != 2
        return UssdSend(
            destination=indication.source_addr,
            text=text,
            service_op=op,
            its_session_info=reply_session_info(indication.its_session_info, end=ends,
                                                sequence=self.settings.its_sequence),
            user_message_reference=indication.user_message_reference,
        )

    def handle(self, indication: UssdIndication, session: UssdSession | None, now: datetime, *,
               menu: "UssdMenu", actions: "UssdActions", language: str | None) -> Handled:
        """Everything for one incoming message. `language` is the subscriber's stored language
        (None for a stranger); a continuing dialogue keeps the language in its menu state."""
        key = self.key_of(indication)
        disposition = self.receive(indication, session, now)
        if disposition is Disposition.RELEASE:
            return Handled(disposition, key, None, None)
        if disposition is Disposition.IGNORE:
            return Handled(disposition, key, None, session)
        if disposition is Disposition.LATE:
            if session is not None:
                language = session.menu_state.get("language", language)
            text = menu.words(menu.language_or_default(language)).ended
            return Handled(disposition, key, self.reply(indication, text, continues=False), None)
        if disposition is Disposition.OPEN:
            step = menu.start(indication.text, language, actions, indication.number, now)
        else:
            step = menu.advance(session.menu_state, indication.text, actions, indication.number, now)
        send = self.reply(indication, step.text, step.continues)
        kept = None
        if not send.ends and step.state is not None:
            state = step.state.to_json()
            kept = self.open(indication, now, state) if disposition is Disposition.OPEN else \
                self.continue_(session, indication, now, state)
        return Handled(disposition, key, send, kept, step)


class SessionBook:
    """Sessions kept in memory, for the simulator, the demo and tests; the engine keeps the same
    records in a table. Pure: no clock, `now` is passed in."""

    def __init__(self, sessions: UssdSessions) -> None:
        self.rules = sessions
        self._by_key: dict[str, UssdSession] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, key: str) -> UssdSession | None:
        return self._by_key.get(key)

    def handle(self, indication: UssdIndication, now: datetime, *, menu: "UssdMenu", actions: "UssdActions",
               language: str | None) -> Handled:
        key = self.rules.key_of(indication)
        handled = self.rules.handle(indication, self._by_key.get(key), now, menu=menu, actions=actions,
                                    language=language)
        self.end(key)
        if handled.session is not None:
            self._by_key[key] = handled.session
        return handled

    def end(self, key: str) -> None:
        self._by_key.pop(key, None)

    def expire(self, now: datetime) -> list[UssdSession]:
        expired = self.rules.expire(self._by_key.values(), now)
        for session in expired:
            self.end(session.key)
        return expired
