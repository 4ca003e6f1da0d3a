"""An in-memory `UssdActions` for the menu tests: records every call, keeps just enough state
(a pending gift, the chosen cause) to follow a dialogue. Texts are short and plain on purpose."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import tomllib

from engine.social_sms.ussd_menu import ListItem, UssdFile, UssdMenu, UssdReply

PROJECT_USSD = Path(__file__).resolve().parents[3] / "config" / "ussd.toml"
NOW = datetime(2024, 5, 17, 12, 0, tzinfo=timezone.utc)
MSISDN = "+447700900123"

DEFAULT_CAUSES = (
    ListItem("water", "Clean Water Fund"),
    ListItem("foodbank", "Local Food Banks"),
    ListItem("climate", "Climate Action"),
    ListItem("schools", "School Meals"),
)


def project_menu_data() -> dict:
    with PROJECT_USSD.open("rb") as handle:
        return tomllib.load(handle)


def project_menu() -> UssdMenu:
    return UssdMenu(UssdFile.model_validate(project_menu_data()))


@dataclass
class FakeActions:
    causes: tuple[ListItem, ...] = DEFAULT_CAUSES
    help_text: str = "Help: dial *767# for the menu, or text HELP to 767."
    calls: list[tuple] = field(default_factory=list)
    chosen: str | None = None
    followed: list[str] = field(default_factory=list)
    pending: tuple[int, str] | None = None
    gifts: list[tuple[int, str]] = field(default_factory=list)

    def _name(self, code: str) -> str | None:
        return next((c.label for c in self.causes if c.code == code), None)

    def sign_up(self, msisdn, now, language):
        self.calls.append(("sign_up", language))
        return UssdReply("Welcome to People's Mobile!" if language == "en" else "Bienvenue chez People's Mobile !")

    def list_causes(self, msisdn, now, language):
        self.calls.append(("list_causes", language))
        return self.causes

    def choose_cause(self, msisdn, now, language, code):
        self.calls.append(("choose_cause", code))
        if self._name(code) is None:
            return UssdReply("Unknown cause.", accepted=False)
        self.chosen = code
        return UssdReply(f"Your cause is now {self._name(code)}.")

    def follow_cause(self, msisdn, now, language, code):
        self.calls.append(("follow_cause", code))
        self.followed.append(code)
        return UssdReply(f"You follow {self._name(code)}.")

    def show_bill(self, msisdn, now, language):
        self.calls.append(("show_bill",))
        return UssdReply("Bill 2024-05 so far: £12.34. £1.23 goes to Clean Water Fund.")

    def give(self, msisdn, now, language, amount_text, cause_code):
        self.calls.append(("give", amount_text, cause_code))
        if not amount_text.isdigit() or int(amount_text) < 1:
            return UssdReply("Amount must be at least £1.", accepted=False)
        cause = cause_code or self.chosen or "water"
        self.pending = (int(amount_text), cause)
        return UssdReply(f"Give £{amount_text} to {self._name(cause)} on your next bill?")

    def confirm_gift(self, msisdn, now, language):
        self.calls.append(("confirm_gift",))
        if self.pending is None:
            return UssdReply("Nothing to confirm.", accepted=False)
        self.gifts.append(self.pending)
        amount, cause = self.pending
        self.pending = None
        return UssdReply(f"Thank you! £{amount} to {self._name(cause)}.")

    def cancel_gift(self, msisdn, now, language):
        self.calls.append(("cancel_gift",))
        self.pending = None
        return UssdReply("Gift cancelled.")

    def set_language(self, msisdn, now, language, chosen):
        self.calls.append(("set_language", chosen))
        return UssdReply("Language set to English." if chosen == "en" else "Langue : français.")

    def opt_out(self, msisdn, now, language):
        self.calls.append(("opt_out",))
        return UssdReply("You will get no more messages.")

    def opt_in(self, msisdn, now, language):
        self.calls.append(("opt_in",))
        return UssdReply("Your messages are on again.")

    def help(self, msisdn, now, language):
        self.calls.append(("help",))
        return UssdReply(self.help_text)

    def names(self) -> list[str]:
        return [call[0] for call in self.calls if call[0] != "list_causes"]
