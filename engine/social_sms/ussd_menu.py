"""The USSD menu: `config/ussd.toml` compiled into screens, and pure navigation over them.

Like h11 for HTTP, nothing here does I/O: `UssdMenu.start` and `UssdMenu.advance` take the dialled
string or the subscriber's answer, the serialisable `MenuState`, the `UssdActions` port, the number
and `now`, and return a `Step` (text, whether the dialogue continues, the new state). The adapter
stores the state (`MenuState.to_json()`, a small dict) between the messages of a dialogue.

Design choices:

- **One structure, words per language.** A screen is defined once (which option leads where) with
  its title and labels given per language, so an English and a French menu can never disagree on
  what "3" does. A screen lacking a language's text is a config error.
- **Three kinds of screen**, told apart by the key they carry: `options` (a numbered menu), `list`
  (a paged dynamic list, today the causes) with `select` run on the chosen item, and `input` (a
  free-text prompt, today the amount to give) whose answer goes to that action.
- **Actions come from a fixed set** (`ACTIONS`) and run through the `UssdActions` port, which the
  wiring connects to the same domain functions SMS commands use: no rule exists twice. An action
  answers a `UssdReply`: refused (`accepted=False`) shows the same screen again with the reply as
  the error line; accepted with a `then` screen shows that screen under the reply (the give
  confirmation); accepted without `then` ends the dialogue with the reply.
- **Every text fits one page** (182 GSM 03.38 septets, or 80 UCS-2 units when a character needs
  UCS-2; limits in `[page]`). Static screens are checked by `tpo config check`; lists paginate by
  what actually fits (`0` more, `00` back); a long final reply is shown a page at a time (`0` more);
  a notice or error line too long for the room left is shortened with "...". Lists reserve room for
  the error line so an invalid choice never hides its own explanation.
- **List items are numbered across pages** (page 2 goes on from 6, 7 ...), and the codes shown are
  kept in the state, so a selection means what the subscriber saw even if the list changed since.
- **Shortcuts walk the menu.** `*767*2*1#` means "answer 2, then 1", exactly what the subscriber
  would type step by step, so a printed shortcut can never disagree with the menu and needs no
  config of its own. The walk stops at the first invalid segment (showing that screen with its
  error line), when the dialogue ends, and *before* a `confirm_gift`: money is never given without
  the confirmation screen having been seen.
- **Invalid input is never an exception**: an unknown option, an empty answer, a state naming a
  screen that no longer exists after a config reload (that restarts at the start screen).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Callable, Literal, Mapping, Protocol, Sequence

from pydantic import Field, field_validator, model_validator

from engine.config.loader import register_cross_check, register_file
from engine.config.model import Code, FrozenModel
from engine.config.problems import ConfigProblem
from engine.smpp.encoding import DATA_CODING_SMSC_DEFAULT, fits_ussd_page, is_gsm_text, ussd_units
from engine.smpp.ussd_tlv import PSSR_RESPONSE, USSR_REQUEST
from engine.social_sms.ussd_sessions import SessionSettings

__all__ = [
    "ACTIONS",
    "USSD_FILE",
    "ListItem",
    "UssdReply",
    "UssdActions",
    "MenuState",
    "Step",
    "UssdFile",
    "UssdMenu",
    "ussd_problems",
]

USSD_FILE = "ussd.toml"

# --- the port --------------------------------------------------------------------------------


@dataclass(frozen=True)
class UssdReply:
    """What an action answers. `text` is shown to the subscriber; `accepted=False` means the action
    refused (bad amount, unknown cause, not a member...) and changed nothing."""

    text: str
    accepted: bool = True


@dataclass(frozen=True)
class ListItem:
    """One entry of a dynamic list: `code` is passed to the select action, `label` is shown."""

    code: str
    label: str


class UssdActions(Protocol):
    """Everything the menu can do, wired to the domain functions SMS commands use.

    Every method takes the acting number (E.164, from the SMSC's source_addr), `now` (aware UTC)
    and `language`, the menu language the subscriber is using right now (a non-member has no
    stored language yet; a member's stored one is normally the same). Texts returned should be
    short: they share a USSD page with the screen that follows them.
    """

    def sign_up(self, msisdn: str, now: datetime, language: str) -> UssdReply: ...
    def list_causes(self, msisdn: str, now: datetime, language: str) -> Sequence[ListItem]: ...
    def choose_cause(self, msisdn: str, now: datetime, language: str, code: str) -> UssdReply: ...
    def follow_cause(self, msisdn: str, now: datetime, language: str, code: str) -> UssdReply: ...
    def show_bill(self, msisdn: str, now: datetime, language: str) -> UssdReply: ...
    def give(self, msisdn: str, now: datetime, language: str, amount_text: str, cause_code: str | None) -> UssdReply:
        """Ask to give; accepted means a gift is pending confirmation (the reply asks to confirm)."""

    def confirm_gift(self, msisdn: str, now: datetime, language: str) -> UssdReply: ...
    def cancel_gift(self, msisdn: str, now: datetime, language: str) -> UssdReply: ...
    def set_language(self, msisdn: str, now: datetime, language: str, chosen: str) -> UssdReply: ...
    def opt_out(self, msisdn: str, now: datetime, language: str) -> UssdReply: ...
    def opt_in(self, msisdn: str, now: datetime, language: str) -> UssdReply: ...
    def help(self, msisdn: str, now: datetime, language: str) -> UssdReply: ...


# Where each action may appear: "plain" and "navigation" on an option; "code" on an option with an
# `argument` or as a list's `select`; "language" on an option whose `argument` is a menu language;
# "input" as a prompt's `input`; "list" as a list's source.
ActionKind = Literal["plain", "navigation", "code", "language", "input", "list"]
ACTIONS: dict[str, ActionKind] = {
    "sign_up": "plain",
    "show_bill": "plain",
    "confirm_gift": "plain",
    "cancel_gift": "plain",
    "opt_out": "plain",
    "opt_in": "plain",
    "help": "plain",
    "choose_cause": "code",
    "follow_cause": "code",
    "set_language": "language",
    "give": "input",
    "list_causes": "list",
    "back": "navigation",
    "exit": "navigation",
}

# --- config/ussd.toml -----------------------------------------------------------------------

_SERVICE_CODE = re.compile(r"^[*#][0-9]{2,8}#$")
Texts = dict[str, str]  # language -> text


class OptionModel(FrozenModel):
    number: int = Field(ge=0, le=99)
    label: Texts
    screen: str | None = None
    action: str | None = None
    argument: str | None = None
    then: str | None = None

    @model_validator(mode="after")
    def _one_target(self):
        if (self.screen is None) == (self.action is None):
            raise ValueError("expected exactly one of screen or action")
        if self.screen is not None and (self.then is not None or self.argument is not None):
            raise ValueError("then and argument go with an action, not a screen (expected only screen)")
        return self


class ScreenModel(FrozenModel):
    """A menu (`options`), a paged list (`list` + `select`) or a prompt (`input`)."""

    title: Texts
    options: tuple[OptionModel, ...] = ()
    list: str | None = None
    select: str | None = None
    input: str | None = None
    argument: str | None = None
    then: str | None = None

    @model_validator(mode="after")
    def _one_kind(self):
        kinds = [bool(self.options), self.list is not None, self.input is not None]
        if sum(kinds) != 1:
            raise ValueError("expected exactly one of options (a menu), list (a paged list) or input (a prompt)")
        if self.list is not None and self.select is None:
            raise ValueError("select: missing (expected the action run on the chosen item, like \"choose_cause\")")
        if self.list is None and self.select is not None:
            raise ValueError("select goes with list (expected it only on a list screen)")
        if self.options and (self.then is not None or self.argument is not None):
            raise ValueError("then and argument go with a list or input screen (expected them on the options)")
        return self

    @property
    def kind(self) -> Literal["menu", "list", "input"]:
        if self.list is not None:
            return "list"
        if self.input is not None:
            return "input"
        return "menu"


class LanguageTexts(FrozenModel):
    """The menu's own words in one language."""

    invalid: str = Field(min_length=1, max_length=60)
    more: str = Field(min_length=1, max_length=20)
    back: str = Field(min_length=1, max_length=20)
    empty: str = Field(min_length=1, max_length=60)
    goodbye: str = Field(min_length=1, max_length=120)
    ended: str = Field(min_length=1, max_length=120)


class PageSection(FrozenModel):
    """One USSD page: 182 GSM septets / 80 UCS-2 units by the standard; some gateways allow less."""

    gsm_characters: int = Field(default=182, ge=40, le=182)
    ucs2_characters: int = Field(default=80, ge=20, le=80)


class UssdFile(FrozenModel):
    service_code: str = "*767#"
    languages: tuple[Code, ...] = ("en",)
    default_language: Code = "en"
    start: Code = "main"
    page: PageSection = PageSection()
    sessions: SessionSettings = SessionSettings()
    text: dict[Code, LanguageTexts] = {}
    screens: dict[Code, ScreenModel] = {}

    @field_validator("service_code")
    @classmethod
    def _service_code(cls, value: str) -> str:
        if not _SERVICE_CODE.match(value):
            raise ValueError(f"{value!r} is not a USSD service code (expected * or #, 2-8 digits and #, like \"*767#\")")
        return value


register_file(USSD_FILE, UssdFile, required=True)

# --- state and steps -------------------------------------------------------------------------

_TRAIL_LIMIT = 8  # screens remembered for "back"; bounds the stored state


@dataclass(frozen=True)
class MenuState:
    """Where a dialogue is, small enough for a JSON column.

    `screen` is the current screen and `page` its page (list) or the page of `text_pages` (a long
    final reply being shown in parts). `trail` is the way back. `shown` holds the codes of the list
    items on the current page, numbered from `first`.
    """

    language: str
    screen: str
    page: int = 0
    trail: tuple[str, ...] = ()
    shown: tuple[str, ...] = ()
    first: int = 1
    text_pages: tuple[str, ...] = ()

    def to_json(self) -> dict:
        data: dict = {"language": self.language, "screen": self.screen}
        if self.page:
            data["page"] = self.page
        if self.trail:
            data["trail"] = list(self.trail)
        if self.shown:
            data["shown"] = list(self.shown)
            data["first"] = self.first
        if self.text_pages:
            data["text_pages"] = list(self.text_pages)
        return data

    @classmethod
    def from_json(cls, data: Mapping) -> "MenuState":
        return cls(
            language=str(data["language"]),
            screen=str(data["screen"]),
            page=int(data.get("page", 0)),
            trail=tuple(str(s) for s in data.get("trail", ())),
            shown=tuple(str(s) for s in data.get("shown", ())),
            first=int(data.get("first", 1)),
            text_pages=tuple(str(s) for s in data.get("text_pages", ())),
        )


@dataclass(frozen=True)
class Step:
    """What to send: `text` (always one page), whether we wait for an answer, and the state to keep.

    `state` is None when the dialogue ends. `refused` marks an invalid answer or a refused action
    (the same screen is shown again with an error line), for logs and the shortcut walk.
    """

    text: str
    continues: bool
    state: MenuState | None = None
    refused: bool = False

    @property
    def service_op(self) -> int:
        """USSR request (2) while the dialogue continues, PSSR response (17) when it ends."""
        return int(USSR_REQUEST if self.continues else PSSR_RESPONSE)


# --- rendering (shared by navigation and the config check) ---------------------------------

_ELLIPSIS = "..."  # GSM has no single-character ellipsis


@dataclass(frozen=True)
class _Page:
    gsm: int = 182
    ucs2: int = 80

    def fits(self, text: str) -> bool:
        return fits_ussd_page(text, gsm_septets=self.gsm, ucs2_units=self.ucs2)

    def clip(self, text: str, render: Callable[[str], str] = lambda shown: shown) -> str:
        """The longest start of `text` (ending in "...") for which `render(start)` fits; "" if none.

        A linear scan, not a bisection: fitting is not monotonic in length, since a start without
        the one UCS-2 character may fit the larger GSM budget.
        """
        if self.fits(render(text)):
            return text
        for end in range(len(text) - 1, 0, -1):
            candidate = text[:end].rstrip() + _ELLIPSIS
            if self.fits(render(candidate)):
                return candidate
        return ""

    def compose(self, head: Sequence[str | None], body: str) -> str:
        """`head` lines (a notice, an error) above `body`; the head gives way first, then the body."""
        prefix = "\n".join(line for line in head if line)
        if not prefix:
            return body if self.fits(body) else self.clip(body)
        whole = prefix + "\n" + body
        if self.fits(whole):
            return whole
        clipped = self.clip(prefix, lambda shown: shown + "\n" + body)
        if clipped:
            return clipped + "\n" + body
        return body if self.fits(body) else self.clip(body)


def _option_line(number: int | str, label: str) -> str:
    return f"{number}. {label}"


def _text_in(texts: Texts, language: str, fallback: str) -> str:
    return texts.get(language) or texts.get(fallback) or next(iter(texts.values()), "")


def _menu_body(screen: ScreenModel, language: str, fallback: str) -> str:
    lines = [_text_in(screen.title, language, fallback)]
    lines += [_option_line(o.number, _text_in(o.label, language, fallback)) for o in screen.options]
    return "\n".join(lines)


_MORE = "0"
_BACK = "00"


def _list_body(title: str, lines: Sequence[str], more: str | None, back: str) -> str:
    body = [title, *lines]
    if more is not None:
        body.append(_option_line(_MORE, more))
    body.append(_option_line(_BACK, back))
    return "\n".join(body)


# --- the menu --------------------------------------------------------------------------------


class UssdMenu:
    """A compiled `UssdFile`. Build once from validated config; share freely (immutable)."""

    def __init__(self, file: UssdFile) -> None:
        if file.start not in file.screens:
            raise ValueError(f"start screen {file.start!r} is not among the screens")
        self.file = file
        self.service_code = file.service_code
        self.languages = file.languages
        self.default_language = file.default_language
        self.start_screen = file.start
        self._screens = file.screens
        self._page = _Page(file.page.gsm_characters, file.page.ucs2_characters)

    @classmethod
    def from_config(cls, config) -> "UssdMenu":
        return cls(config.files[USSD_FILE])

    # -- public API

    def language_or_default(self, language: str | None) -> str:
        return language if language in self.languages else self.default_language

    def words(self, language: str) -> LanguageTexts:
        language = self.language_or_default(language)
        return self.file.text.get(language) or self.file.text[self.default_language]

    def fits(self, text: str) -> bool:
        return self._page.fits(text)

    def shortcut_answers(self, dialled: str) -> tuple[str, ...]:
        """The answers a dialled string stands for: `*767*2*1#` -> ("2", "1"); `*767#` -> ().

        A string that is not our service code (some gateways send only what follows it, or
        nothing) opens the start screen: the SMSC routed it to us, so we answer rather than fail.
        """
        dialled = "".join(dialled.split())
        stem = self.service_code[:-1]  # "*767"
        if not dialled.startswith(stem):
            return ()
        rest = dialled[len(stem):].rstrip("#")
        if not rest.startswith("*"):
            return ()
        return tuple(segment for segment in rest[1:].split("*") if segment)

    def start(self, dialled: str, language: str | None, actions: UssdActions, msisdn: str, now: datetime) -> Step:
        """The first screen of a dialogue, after walking any shortcut segments (module docstring)."""
        language = self.language_or_default(language)
        step = self._show(MenuState(language, self.start_screen), actions, msisdn, now)
        for answer in self.shortcut_answers(dialled):
            if not step.continues or step.state is None or step.state.text_pages:
                break
            if self._action_for(step.state, answer) == "confirm_gift":
                break
            step = self.advance(step.state, answer, actions, msisdn, now)
            if step.refused:
                break
        return step

    def advance(
        self, state: MenuState | Mapping, answer: str, actions: UssdActions, msisdn: str, now: datetime
    ) -> Step:
        """The next step after the subscriber answered `answer` on the screen `state` describes."""
        if not isinstance(state, MenuState):
            state = MenuState.from_json(state)
        answer = (answer or "").strip()
        state = replace(state, language=self.language_or_default(state.language))
        if state.text_pages:
            # Any answer shows the next part: there is nothing to choose on a text page.
            return self._text_step(state, state.text_pages, state.page + 1)
        screen = self._screens.get(state.screen)
        if screen is None:
            return self._show(MenuState(state.language, self.start_screen), actions, msisdn, now)
        if screen.kind == "menu":
            return self._answer_menu(state, screen, answer, actions, msisdn, now)
        if screen.kind == "list":
            return self._answer_list(state, screen, answer, actions, msisdn, now)
        return self._answer_input(state, screen, answer, actions, msisdn, now)

    # -- answering each kind of screen

    def _answer_menu(self, state, screen: ScreenModel, answer, actions, msisdn, now) -> Step:
        option = next((o for o in screen.options if str(o.number) == answer), None)
        if option is None:
            return self._invalid(state, actions, msisdn, now)
        if option.screen is not None:
            return self._go(state, option.screen, actions, msisdn, now)
        return self._run(state, option.action, option.argument, option.then, actions, msisdn, now)

    def _answer_list(self, state, screen: ScreenModel, answer, actions, msisdn, now) -> Step:
        if answer == _MORE:
            pages = self._list_pages(screen, state.language, self._items(screen, state, actions, msisdn, now))
            if state.page + 1 < len(pages):
                return self._show(replace(state, page=state.page + 1), actions, msisdn, now)
            return self._invalid(state, actions, msisdn, now)
        if answer == _BACK:
            if state.page > 0:
                return self._show(replace(state, page=state.page - 1), actions, msisdn, now)
            return self._back(state, actions, msisdn, now)
        if answer.isdigit() and state.first <= int(answer) < state.first + len(state.shown):
            code = state.shown[int(answer) - state.first]
            return self._run(state, screen.select, code, screen.then, actions, msisdn, now)
        return self._invalid(state, actions, msisdn, now)

    def _answer_input(self, state, screen: ScreenModel, answer, actions, msisdn, now) -> Step:
        if not answer:
            return self._invalid(state, actions, msisdn, now)
        return self._run(state, screen.input, screen.argument, screen.then, actions, msisdn, now, typed=answer)

    def _action_for(self, state: MenuState, answer: str) -> str | None:
        """The action `answer` would run on the current screen, if any (for the shortcut walk)."""
        screen = self._screens.get(state.screen)
        if screen is None or state.text_pages:
            return None
        if screen.kind == "menu":
            option = next((o for o in screen.options if str(o.number) == answer.strip()), None)
            return option.action if option else None
        return screen.select if screen.kind == "list" else screen.input

    # -- moving around

    def _go(self, state: MenuState, target: str, actions, msisdn, now, notice: str | None = None) -> Step:
        trail = state.trail
        if target in trail:
            trail = trail[: trail.index(target)]  # going back up the way we came: no loop in the trail
        elif target != state.screen:
            trail = (trail + (state.screen,))[-_TRAIL_LIMIT:]
        return self._show(MenuState(state.language, target, trail=trail), actions, msisdn, now, notice=notice)

    def _back(self, state: MenuState, actions, msisdn, now) -> Step:
        if not state.trail:
            return self._show(MenuState(state.language, self.start_screen), actions, msisdn, now)
        return self._show(MenuState(state.language, state.trail[-1], trail=state.trail[:-1]), actions, msisdn, now)

    def _invalid(self, state: MenuState, actions, msisdn, now, error: str | None = None) -> Step:
        error = error or self.words(state.language).invalid
        return replace(self._show(state, actions, msisdn, now, error=error), refused=True)

    def _run(self, state, action: str, argument: str | None, then: str | None, actions: UssdActions, msisdn, now,
             typed: str | None = None) -> Step:
        language = state.language
        if action == "back":
            return self._back(state, actions, msisdn, now)
        if action == "exit":
            return Step(self._page.compose((), self.words(language).goodbye), continues=False)
        reply = self._call(action, argument, typed, actions, msisdn, now, language)
        if not reply.accepted:
            return self._invalid(state, actions, msisdn, now, error=reply.text)
        if action == "set_language" and argument in self.languages:
            state = replace(state, language=argument)
        if then is not None:
            return self._go(state, then, actions, msisdn, now, notice=reply.text)
        return self._text_step(state, self._text_pages(reply.text, state.language), 0)

    @staticmethod
    def _call(action, argument, typed, actions: UssdActions, msisdn, now, language) -> UssdReply:
        if action == "choose_cause":
            return actions.choose_cause(msisdn, now, language, argument or "")
        if action == "follow_cause":
            return actions.follow_cause(msisdn, now, language, argument or "")
        if action == "set_language":
            return actions.set_language(msisdn, now, language, argument or "")
        if action == "give":
            return actions.give(msisdn, now, language, typed or "", argument)
        plain = {
            "sign_up": actions.sign_up,
            "show_bill": actions.show_bill,
            "confirm_gift": actions.confirm_gift,
            "cancel_gift": actions.cancel_gift,
            "opt_out": actions.opt_out,
            "opt_in": actions.opt_in,
            "help": actions.help,
        }
        return plain[action](msisdn, now, language)

    # -- showing screens

    def _show(self, state: MenuState, actions, msisdn, now, notice: str | None = None, error: str | None = None) -> Step:
        screen = self._screens[state.screen]
        language = state.language
        if screen.kind == "list":
            return self._show_list(state, screen, actions, msisdn, now, notice, error)
        if screen.kind == "menu":
            body = _menu_body(screen, language, self.default_language)
        else:
            body = _text_in(screen.title, language, self.default_language)
        state = replace(state, page=0, shown=(), first=1, text_pages=())
        return Step(self._page.compose((notice, error), body), continues=True, state=state)

    def _items(self, screen: ScreenModel, state: MenuState, actions: UssdActions, msisdn, now) -> list[ListItem]:
        # `list` is checked at config time; list_causes is the only list source today.
        return list(actions.list_causes(msisdn, now, state.language))

    def _show_list(self, state, screen: ScreenModel, actions, msisdn, now, notice, error) -> Step:
        language = state.language
        words = self.words(language)
        title = _text_in(screen.title, language, self.default_language)
        pages = self._list_pages(screen, language, self._items(screen, state, actions, msisdn, now))
        if not pages:
            body = _list_body(title, [words.empty], None, words.back)
            state = replace(state, page=0, shown=(), first=1, text_pages=())
            return Step(self._page.compose((notice, error), body), continues=True, state=state)
        page = min(max(state.page, 0), len(pages) - 1)
        entries = pages[page]
        more = words.more if page + 1 < len(pages) else None
        body = _list_body(title, [line for _, _, line in entries], more, words.back)
        state = replace(state, page=page, shown=tuple(code for _, code, _ in entries), first=entries[0][0],
                        text_pages=())
        return Step(self._page.compose((notice, error), body), continues=True, state=state)

    def _list_pages(self, screen: ScreenModel, language: str, items: Sequence[ListItem]) -> list[list[tuple[int, str, str]]]:
        """Items packed greedily into pages of (number, code, line). Room is kept for both navigation
        lines and the error line, so page breaks do not move when an error is shown."""
        words = self.words(language)
        title = _text_in(screen.title, language, self.default_language)
        reserve = words.invalid

        def render(lines: list[str]) -> str:
            return reserve + "\n" + _list_body(title, lines, words.more, words.back)

        def fits(lines: list[str]) -> bool:
            return self._page.fits(render(lines))

        pages: list[list[tuple[int, str, str]]] = []
        current: list[tuple[int, str, str]] = []
        for number, item in enumerate(items, start=1):
            line = _option_line(number, " ".join(item.label.split()))
            if current and fits([entry[2] for entry in current] + [line]):
                current.append((number, item.code, line))
                continue
            if current:
                pages.append(current)
            if not fits([line]):
                # A label too long for a page of its own is shortened; the number stays whole.
                prefix = _option_line(number, "")
                line = prefix + self._page.clip(line[len(prefix):], lambda shown: render([prefix + shown]))
            current = [(number, item.code, line)]
        if current:
            pages.append(current)
        return pages

    def _text_pages(self, text: str, language: str) -> tuple[str, ...]:
        """A reply cut at spaces into pages that each fit with the "0. More" line under them."""
        more = "\n" + _option_line(_MORE, self.words(language).more)
        pages: list[str] = []
        rest = text.strip()
        while rest and not self._page.fits(rest):
            words = rest.split(" ")
            taken = 0
            for count in range(1, len(words) + 1):
                if not self._page.fits(" ".join(words[:count]) + more):
                    break
                taken = count
            if taken:
                pages.append(" ".join(words[:taken]))
                rest = " ".join(words[taken:]).strip()
                continue
            # One word longer than a page: cut inside it, no "..." (the next page goes on with it).
            cut = max(1, len(self._page.clip(words[0], lambda shown: shown + more)) - len(_ELLIPSIS))
            pages.append(words[0][:cut])
            rest = (words[0][cut:] + " " + " ".join(words[1:])).strip()
        pages.append(rest)
        return tuple(pages)

    def _text_step(self, state: MenuState, pages: Sequence[str], index: int) -> Step:
        index = min(index, len(pages) - 1)
        if index == len(pages) - 1:
            return Step(self._page.compose((), pages[index]), continues=False)
        text = pages[index] + "\n" + _option_line(_MORE, self.words(state.language).more)
        next_state = replace(state, page=index, text_pages=tuple(pages), shown=(), first=1)
        return Step(self._page.compose((), text), continues=True, state=next_state)


# --- tpo config check -----------------------------------------------------------------------


def ussd_problems(file: UssdFile, label: str, longest_list_labels: Mapping[str, str] | None = None) -> list[ConfigProblem]:
    """Everything wrong with a menu beyond types: unknown or misplaced actions, options pointing at
    unknown screens, unreachable screens, duplicate numbers, text missing in a language, screens
    longer than one page. `longest_list_labels[language]` is the longest list entry expected (the
    longest cause name); lists are rendered with it."""
    problems: list[ConfigProblem] = []

    def problem(key: str, message: str) -> None:
        problems.append(ConfigProblem(label, key, message))

    languages = list(file.languages)
    if file.default_language not in languages:
        problem("default_language", f"{file.default_language!r} is not in languages (expected one of {', '.join(languages)})")
    for language in languages:
        if language not in file.text:
            problem(f"text.{language}", "missing (expected the menu's words invalid, more, back, empty, goodbye, "
                    "ended in every language)")
    for language in file.text:
        if language not in languages:
            problem(f"text.{language}", f"unknown language (expected one of {', '.join(languages)})")
    if not file.screens:
        problem("screens", f"none (expected at least the start screen [screens.{file.start}])")
        return problems
    if file.start not in file.screens:
        problem("start", f"no screen {file.start!r} (expected one of {', '.join(sorted(file.screens))})")

    known = sorted(file.screens)

    def check_screen_ref(key: str, target: str | None) -> None:
        if target is not None and target not in file.screens:
            problem(key, f"unknown screen {target!r} (expected one of {', '.join(known)})")

    def check_action(key: str, action: str | None, allowed: tuple[str, ...], where: str) -> bool:
        if action is None:
            return False
        if action not in ACTIONS:
            problem(key, f"unknown action {action!r} (expected one of {', '.join(sorted(ACTIONS))})")
            return False
        if ACTIONS[action] not in allowed:
            problem(key, f"action {action!r} cannot be used {where} ({_where_allowed(action)})")
            return False
        return True

    def check_texts(key: str, texts: Texts) -> None:
        for language in languages:
            if not (texts.get(language) or "").strip():
                problem(f"{key}.{language}", f"missing (expected the text in every menu language: {', '.join(languages)})")
        for language in texts:
            if language not in languages:
                problem(f"{key}.{language}", f"unknown language (expected one of {', '.join(languages)})")

    for screen_id, screen in file.screens.items():
        base = f"screens.{screen_id}"
        check_texts(f"{base}.title", screen.title)
        seen: dict[int, int] = {}
        for index, option in enumerate(screen.options):
            where = f"{base}.options[{index}]"
            check_texts(f"{where}.label", option.label)
            if option.number in seen:
                problem(f"{where}.number", f"{option.number} is already option [{seen[option.number]}] "
                        "(expected each number once per screen)")
            else:
                seen[option.number] = index
            check_screen_ref(f"{where}.screen", option.screen)
            check_screen_ref(f"{where}.then", option.then)
            if check_action(f"{where}.action", option.action, ("plain", "navigation", "code", "language"),
                            "on an option"):
                kind = ACTIONS[option.action]
                if kind == "code" and not option.argument:
                    problem(f"{where}.argument", f"missing (expected the cause code {option.action} acts on)")
                if kind == "language" and option.argument not in languages:
                    problem(f"{where}.argument", f"{option.argument!r} is not a menu language "
                            f"(expected one of {', '.join(languages)})")
                if kind == "navigation" and option.then is not None:
                    problem(f"{where}.then", f"{option.action} leaves the screen itself (expected no then)")
        check_action(f"{base}.list", screen.list, ("list",), "as a list")
        check_action(f"{base}.select", screen.select, ("code",), "as a list's select")
        check_action(f"{base}.input", screen.input, ("input",), "as a prompt's input")
        check_screen_ref(f"{base}.then", screen.then)

    for screen_id in sorted(set(file.screens) - _reachable(file)):
        problem(f"screens.{screen_id}", f"unreachable from the start screen {file.start!r} "
                "(expected an option or a then leading to it, or remove it)")

    page = _Page(file.page.gsm_characters, file.page.ucs2_characters)
    for screen_id, screen in file.screens.items():
        for language in languages:
            text = _longest_render(file, screen, language, (longest_list_labels or {}).get(language, ""))
            if text is not None and not page.fits(text):
                problem(f"screens.{screen_id}", _overflow(text, language, file.page))
    return problems


def _where_allowed(action: str) -> str:
    return {
        "plain": "expected it on an option",
        "navigation": "expected it on an option",
        "code": "expected it as a list's select, or on an option with an argument",
        "language": "expected it on an option with a language as argument",
        "input": "expected it as a prompt screen's input",
        "list": "expected it as a list screen's list",
    }[ACTIONS[action]]


def _reachable(file: UssdFile) -> set[str]:
    seen: set[str] = set()
    todo = [file.start] if file.start in file.screens else []
    while todo:
        screen_id = todo.pop()
        if screen_id in seen:
            continue
        seen.add(screen_id)
        screen = file.screens[screen_id]
        targets = [screen.then] + [o.screen for o in screen.options] + [o.then for o in screen.options]
        todo.extend(t for t in targets if t in file.screens and t not in seen)
    return seen


def _longest_render(file: UssdFile, screen: ScreenModel, language: str, longest_label: str) -> str | None:
    """The screen as shown with the error line above it (the longest static form); lists with one
    entry of the longest expected label numbered 99 and both navigation lines."""
    words = file.text.get(language)
    if words is None:
        return None
    fallback = file.default_language
    if screen.kind == "menu":
        body = _menu_body(screen, language, fallback)
    elif screen.kind == "input":
        body = _text_in(screen.title, language, fallback)
    else:
        entry = _option_line(99, longest_label or words.empty)
        body = _list_body(_text_in(screen.title, language, fallback), [entry], words.more, words.back)
    return words.invalid + "\n" + body


def _overflow(text: str, language: str, page: PageSection) -> str:
    data_coding, size = ussd_units(text)
    if data_coding == DATA_CODING_SMSC_DEFAULT:
        return (f"{size} GSM characters in {language} with the error line (expected at most "
                f"{page.gsm_characters}, one USSD page)")
    odd = next((c for c in text if not is_gsm_text(c)), None)
    return (f"{size} UCS-2 characters in {language} with the error line (expected at most {page.ucs2_characters}, "
            f"one USSD page; {odd!r} is not in the GSM alphabet, so the screen goes as UCS-2)")


def _longest_cause_names(config) -> dict[str, str]:
    causes = config.files.get("causes.toml")
    if causes is None:
        return {}
    ussd: UssdFile = config.files[USSD_FILE]
    longest: dict[str, str] = {}
    for language in ussd.languages:
        for cause in causes.causes:
            name = cause.name_in(language, ussd.default_language)
            if len(name) > len(longest.get(language, "")):
                longest[language] = name
    return longest


def _cross_check(config) -> list[ConfigProblem]:
    ussd = config.files.get(USSD_FILE)
    if ussd is None:
        return []
    if not ussd.screens and not (config.directory / USSD_FILE).exists():
        return []  # no ussd.toml: the engine runs without a USSD menu
    problems = ussd_problems(ussd, config.label(USSD_FILE), _longest_cause_names(config))
    short_code = config.engine.operator.short_code
    if not ussd.service_code.startswith(f"*{short_code}"):
        problems.append(ConfigProblem(
            config.label(USSD_FILE), "service_code",
            f"{ussd.service_code!r} does not use the operator's short code {short_code} "
            f"(expected \"*{short_code}#\", as engine.toml's operator.short_code says)"))
    return problems


register_cross_check(_cross_check)
