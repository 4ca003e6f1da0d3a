"""The `UssdActions` port on the social rules: every menu action runs the SMS command's function.

`DomainUssdActions(context, ports)` is made per unit of work (one MO message), on the same ports
the SMS handler builds, so a cause chosen in the menu and one chosen with `CAUSE water` go through
the very same `actions.choose_cause` and leave the same state. Nothing here decides anything about
subscribers, causes or money; it only adapts the calls and renders the outcomes for a USSD screen.

Design choices:

- **Words.** An outcome's replies are rendered with `Catalogue.render_ussd`: the USSD wording
  (`[languages.xx.ussd_replies]`) of the replies whose SMS text says "text CAUSES" or "Reply YES",
  the SMS wording of all others. Several replies are joined with a space. They are rendered in the
  menu language the subscriber is reading (normally their stored language; after a successful
  `set_language`, the chosen one, which the menu switches to as well).
- **Accepted or refused.** The menu shows the same screen again with the reply above it when an
  action is refused, and moves on (or ends) when it is accepted. Each action names the reply keys
  that mean "done"; any other reply (unknown cause, bad amount, over the cap...) is a refusal, so
  the subscriber can correct it where they are. Two exceptions, on purpose:
  `confirm_gift` and `cancel_gift` always move on: whether the gift went through, expired or was
  never there, pressing "1" again on the same screen cannot change that, so the dialogue ends with
  the reason.
- **Members only, like SMS.** The SMS front door answers "join first" to anything but JOIN, HELP and
  STOP from a number that has not joined, and the domain functions rely on that. The same guard is
  here: such an action is refused with the `not_member` reply, nothing is called.
- **"Messages on again" is START.** `opt_in` is `actions.join` for a member (it clears a STOP, as
  the SMS keyword START does); it never creates a member, that is what "Join" is for.
- **Amounts typed on a keypad.** Many USSD keypads have no decimal point, so a `*` in the amount
  stands for it ("5*50" is 5.50); everything else is `money.parse_amount`'s, as for SMS.
- **Messages to other people** an action produces (none of today's menu actions do; a DM would)
  are kept in `messages` for the handler to queue with the reply.
"""

from __future__ import annotations

from datetime import datetime
from typing import Collection, Sequence

from engine.social_sms import actions
from engine.social_sms.context import Outcome, Outgoing, Ports, SocialContext
from engine.social_sms.ports import Subscriber
from engine.social_sms.ussd_menu import ListItem, UssdReply

__all__ = ["DomainUssdActions", "KEYPAD_DECIMAL_MARK"]

KEYPAD_DECIMAL_MARK = "*"  # stands for "." in an amount typed on a USSD keypad


class DomainUssdActions:
    """`UssdActions` over `engine.social_sms.actions` (see the module docstring)."""

    def __init__(self, context: SocialContext, ports: Ports) -> None:
        self.context = context
        self.ports = ports
        self.messages: list[Outgoing] = []

    # -- open to everyone (like JOIN, HELP and STOP by SMS)

    def sign_up(self, msisdn: str, now: datetime, language: str) -> UssdReply:
        return self._render(actions.join(self.context, self.ports, msisdn, now, language=language), language)

    def help(self, msisdn: str, now: datetime, language: str) -> UssdReply:
        return self._render(actions.help_text(self.context, self.ports, msisdn, language), language)

    def opt_out(self, msisdn: str, now: datetime, language: str) -> UssdReply:
        return self._render(actions.opt_out(self.context, self.ports, msisdn, now, language), language)

    def list_causes(self, msisdn: str, now: datetime, language: str) -> Sequence[ListItem]:
        # The causes in config order, named in the menu language: the same list `CAUSES` pages
        # through by SMS (actions.cause_pages), as items rather than one text. Reading it needs no
        # membership; choosing from it does.
        default = self.context.catalogue.default_language
        return [ListItem(cause.code, cause.name_in(language, default)) for cause in self.context.causes.causes]

    # -- members only

    def opt_in(self, msisdn: str, now: datetime, language: str) -> UssdReply:
        if self._member(msisdn) is None:
            return self._not_member(language)
        return self._render(actions.join(self.context, self.ports, msisdn, now, language=language), language)

    def choose_cause(self, msisdn: str, now: datetime, language: str, code: str) -> UssdReply:
        if self._member(msisdn) is None:
            return self._not_member(language)
        outcome = actions.choose_cause(self.context, self.ports, msisdn, code, now)
        return self._render(outcome, language, accepted_when={"cause_chosen"})

    def follow_cause(self, msisdn: str, now: datetime, language: str, code: str) -> UssdReply:
        if self._member(msisdn) is None:
            return self._not_member(language)
        if self.context.causes.find(code) is None:
            # FOLLOW takes a handle or a cause; the menu only ever means a cause, so a code removed
            # from the config since the list was shown must not be read as a handle.
            return self._refused(language, "cause_unknown", cause=code.strip()[:32])
        outcome = actions.follow(self.context, self.ports, msisdn, code, now)
        return self._render(outcome, language, accepted_when={"follow_done"})

    def show_bill(self, msisdn: str, now: datetime, language: str) -> UssdReply:
        if self._member(msisdn) is None:
            return self._not_member(language)
        return self._render(actions.bill(self.context, self.ports, msisdn, now), language)

    def give(self, msisdn: str, now: datetime, language: str, amount_text: str, cause_code: str | None) -> UssdReply:
        if self._member(msisdn) is None:
            return self._not_member(language)
        amount = (amount_text or "").replace(KEYPAD_DECIMAL_MARK, ".")
        outcome = actions.give(self.context, self.ports, msisdn, amount, cause_code, now)
        return self._render(outcome, language, accepted_when={"give_confirm"})

    def confirm_gift(self, msisdn: str, now: datetime, language: str) -> UssdReply:
        if self._member(msisdn) is None:
            return self._not_member(language)
        return self._render(actions.confirm_give(self.context, self.ports, msisdn, now), language)

    def cancel_gift(self, msisdn: str, now: datetime, language: str) -> UssdReply:
        if self._member(msisdn) is None:
            return self._not_member(language)
        return self._render(actions.cancel_give(self.context, self.ports, msisdn), language)

    def set_language(self, msisdn: str, now: datetime, language: str, chosen: str) -> UssdReply:
        if self._member(msisdn) is None:
            return self._not_member(language)
        outcome = actions.set_language(self.context, self.ports, msisdn, chosen)
        # A language set answers in the new language, as the menu will from now on.
        return self._render(outcome, outcome.language or language, accepted_when={"lang_set"})

    # -- helpers

    def _member(self, msisdn: str) -> Subscriber | None:
        return self.ports.repo.get_subscriber(msisdn)

    def _not_member(self, language: str) -> UssdReply:
        return self._refused(language, "not_member", program=self.context.operator.name)

    def _refused(self, language: str, key: str, **params: object) -> UssdReply:
        return UssdReply(self.context.catalogue.render_ussd(language, key, **params), accepted=False)

    def _render(self, outcome: Outcome, language: str, accepted_when: Collection[str] | None = None) -> UssdReply:
        """The outcome's replies as one text; accepted unless `accepted_when` names the reply keys
        that mean success and the first reply is not one of them."""
        self.messages.extend(outcome.messages)
        catalogue = self.context.catalogue
        text = " ".join(catalogue.render_ussd(language, reply.key, **reply.params) for reply in outcome.replies)
        accepted = accepted_when is None or (bool(outcome.replies) and outcome.replies[0].key in accepted_when)
        return UssdReply(text, accepted=accepted)
