"""`config/messages.toml`: every word the engine sends, and every keyword it understands, per language.

One file holds all languages side by side (`[languages.en]`, `[languages.fr]`), so a translator sees
each key in every language at once and adding a language needs no code change. The code names the
replies it needs (`REPLIES`) and the placeholders each may use; the config check holds every
language to that list, so a missing or misspelt key is found by `tpo config check`, not by a
subscriber at 3 a.m.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass, field
from typing import Mapping

from pydantic import Field, field_validator

from engine.config.model import FrozenModel

# The commands the rules implement. The catalogue gives each its keywords in every language.
COMMANDS = (
    "join", "stop", "help", "lang", "causes", "cause", "mycause", "bill", "name", "whois",
    "follow", "unfollow", "on", "off", "following", "followers", "post", "dm", "give", "yes", "no",
    "causepost",
)

# Commands a subscriber may send, as HELP 2, 3... lists them with every keyword of the language:
# all but CAUSEPOST, which only cause accounts and operators may send.
HELP_COMMANDS = tuple(command for command in COMMANDS if command != "causepost")

# Commands that act only when the whole message is the keyword: "stop the war" is not an opt-out,
# and "yes please" to a friend's DM-like text must not confirm a gift.
SINGLE_WORD_COMMANDS = frozenset({"stop", "yes", "no"})

# Every reply the rules send, with the placeholders its template may use.
REPLIES: dict[str, frozenset[str]] = {
    key: frozenset(names)
    for key, names in {
        "welcome_mobile": {"program", "share", "short_code"},
        "welcome_social": {"program"},
        # Notices from the host network's answers (engine/hostnet): the line is live, or it is not.
        "line_active": {"program", "plan_code", "share"},
        "line_activation_failed": {"program", "reason", "care_number"},
        "welcome": {"program", "plan_code", "share"},
        "welcome_back": {"program"},
        "already_member": {"program"},
        "not_member": {"program"},
        "stopped": {"program"},
        "help": {"program", "help_url", "care_number", "rates", "short_code"},
        # HELP 2, 3...: every command with all its keywords (`HELP_COMMANDS`), a page per SMS.
        "help_page": {"page", "pages", "list", "next"},
        "help_last_page": {"page", "pages", "list"},
        "lang_set": set(),
        "lang_unknown": {"languages"},
        "causes_page": {"page", "pages", "list", "next"},
        "causes_last_page": {"page", "pages", "list"},
        "causes_none": set(),
        "cause_chosen": {"cause_name", "share"},
        "cause_unknown": {"cause"},
        "cause_usage": set(),
        "mycause": {"cause_name", "description"},
        "mycause_none": set(),
        "bill": {"period", "charges", "minutes", "texts", "data_mb", "gifts", "donation", "cause_name"},
        "bill_no_cause": {"period", "charges", "minutes", "texts", "data_mb", "gifts"},
        "bill_social": {"program"},
        "name_set": {"handle"},
        "name_taken": {"handle"},
        "name_invalid": set(),
        "whois": {"handle", "followers", "following"},
        "unknown_handle": {"handle"},
        "follow_done": {"target"},
        "follow_already": {"target"},
        "follow_self": set(),
        "follow_limit": {"limit"},
        "follow_usage": set(),
        "unfollow_done": {"target"},
        "unfollow_not": {"target"},
        "notifications_on": set(),
        "notifications_off": set(),
        "follow_notifications_on": {"target"},
        "follow_notifications_off": {"target"},
        "following_list": {"count", "list"},
        "following_none": set(),
        "followers_list": {"count", "list"},
        "followers_none": set(),
        "need_handle": set(),
        "post_sent": {"count"},
        "post_empty": set(),
        "post_too_long": {"length", "max"},
        "post_duplicate": set(),
        "post_limit": {"limit"},
        "dm_sent": {"handle"},
        "dm_usage": set(),
        "dm_self": set(),
        "dm_unavailable": {"handle"},
        "dm_limit": {"limit"},
        "give_confirm": {"amount", "cause_name", "minutes"},
        "give_done": {"amount", "cause_name"},
        "give_cancelled": set(),
        "give_expired": set(),
        "give_nothing": set(),
        "give_cap": {"cap", "remaining"},
        "give_bad_amount": {"minimum"},
        "give_usage": set(),
        "give_social": set(),
        "unknown_suggest": {"suggestion"},
        "unknown": set(),
        "not_allowed": set(),
        "cause_post_sent": {"cause_name", "count"},
        "cause_post_usage": set(),
        # Sent to other people: followers and the recipient of a direct message.
        "post_fanout": {"handle", "text"},
        "cause_post_fanout": {"cause_name", "text"},
        "dm_delivery": {"handle", "text"},
    }.items()
}

# Replies whose SMS wording tells the subscriber to text a keyword ("Reply YES", "text CAUSES"):
# on a USSD screen that is wrong, so each has USSD wording too (`[languages.xx.ussd_replies]`), with
# the same placeholders as its SMS reply (it may use fewer). Every other reply reads the same on
# both channels. Used by engine/social_sms/ussd_actions.py through `Catalogue.render_ussd`.
USSD_REPLIES: tuple[str, ...] = (
    "not_member", "welcome_mobile", "welcome_social", "welcome_back", "already_member", "stopped", "help",
    "lang_set", "cause_chosen", "cause_unknown", "bill_no_cause", "give_confirm", "give_expired",
    "give_nothing", "give_bad_amount", "give_usage",
)

_KEYWORD = re.compile(r"^[A-Z0-9]{1,20}$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")


def normalise_keyword(word: str) -> str:
    """Upper case without accents or punctuation: "Arrêt!" -> "ARRET", so feature phones without
    accented letters and people who add a full stop still reach the command."""
    decomposed = unicodedata.normalize("NFKD", word)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(ch for ch in plain.upper() if ch.isascii() and ch.isalnum())


class LanguagePack(FrozenModel):
    name: str = Field(min_length=1, max_length=20)
    decimal_mark: str = Field(default=".", pattern=r"^[.,]$")
    currency_after: bool = False
    rates_line: str = Field(min_length=1, max_length=60)
    keywords: dict[str, tuple[str, ...]]
    replies: dict[str, str]
    ussd_replies: dict[str, str] = {}  # USSD wording of the replies in USSD_REPLIES


class MessagesFile(FrozenModel):
    default_language: str = "en"
    languages: dict[str, LanguagePack] = {}

    @field_validator("languages")
    @classmethod
    def _codes(cls, languages: dict[str, LanguagePack]) -> dict[str, LanguagePack]:
        for code in languages:
            if not _LANGUAGE.match(code):
                raise ValueError(f"{code!r} is not a language code (expected two lower-case letters like \"fr\")")
        return languages


@dataclass(frozen=True)
class KeywordMatch:
    command: str
    language: str | None  # None when the keyword is shared by several languages ("STOP", "INFO")


@dataclass(frozen=True)
class Catalogue:
    """The loaded messages: render a reply, look up a keyword. Built once from a valid file."""

    messages: MessagesFile
    _keywords: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_keywords", _keyword_table(self.messages))

    @property
    def default_language(self) -> str:
        return self.messages.default_language

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.messages.languages)

    def pack(self, language: str | None) -> LanguagePack:
        return self.messages.languages.get(language or "") or self.messages.languages[self.default_language]

    def language_or_default(self, language: str | None) -> str:
        return language if language in self.messages.languages else self.default_language

    def render(self, language: str | None, key: str, **params: object) -> str:
        return self.pack(language).replies[key].format(**params)

    def render_ussd(self, language: str | None, key: str, **params: object) -> str:
        """A reply worded for a USSD screen: its `ussd_replies` text where USSD_REPLIES has one
        (the config check makes sure every language does), else the SMS wording."""
        pack = self.pack(language)
        template = pack.ussd_replies.get(key) if key in USSD_REPLIES else None
        return (template or pack.replies[key]).format(**params)

    def keyword_table(self) -> dict[str, KeywordMatch]:
        return self._keywords

    def keywords_for_language(self, language: str | None) -> tuple[str, ...]:
        pack = self.pack(language)
        return tuple(normalise_keyword(k) for words in pack.keywords.values() for k in words)

    def keywords_for(self, command: str, language: str | None) -> tuple[str, ...]:
        return tuple(normalise_keyword(k) for k in self.pack(language).keywords.get(command, ()))


def _keyword_table(messages: MessagesFile) -> dict[str, KeywordMatch]:
    table: dict[str, KeywordMatch] = {}
    for language, pack in messages.languages.items():
        for command, words in pack.keywords.items():
            for word in words:
                key = normalise_keyword(word)
                previous = table.get(key)
                if previous is None:
                    table[key] = KeywordMatch(command, language)
                elif previous.language != language:
                    table[key] = KeywordMatch(previous.command, None)
    return table


def template_fields(template: str) -> list[str]:
    """The placeholder names of a template; ValueError says what is wrong with a malformed one."""
    names = []
    for _literal, field, spec, conversion in string.Formatter().parse(template):
        if field is None:
            continue
        if field == "" or field.isdigit():
            raise ValueError("has a positional placeholder {} (expected names like {handle})")
        if not field.isidentifier():
            raise ValueError(f"placeholder {{{field}}} is not a plain name (expected names like {{handle}})")
        if spec or conversion:
            raise ValueError(f"placeholder {{{field}}} has a format spec or conversion (expected just {{{field}}})")
        names.append(field)
    return names


# The longest value each runtime placeholder can take, for the "fits one SMS" check. Values known
# from config (operator name, cause names, the rates line) are measured from config instead.
PLACEHOLDER_WIDTHS: Mapping[str, int] = {
    "share": 5, "languages": 20, "page": 2, "pages": 2, "next": 2, "list": 40, "cause": 32,
    "period": 7, "charges": 11, "minutes": 6, "texts": 5, "data_mb": 8, "gifts": 11, "donation": 11,
    "handle": 15, "target": 30, "limit": 4, "count": 6, "length": 4, "max": 4, "amount": 11, "cap": 11,
    "remaining": 11, "minimum": 11, "suggestion": 12, "followers": 6, "following": 6,
}
