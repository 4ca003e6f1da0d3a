"""SMS text -> command. Forgiving about case, accents, spaces and punctuation; strict about STOP.

The first word is the keyword, looked up in every language of the catalogue (a French speaker on
an English setting can still type AIDE). The rest of the text is kept exactly as typed, because it
may be a post or a direct message: emoji and accents pass through untouched.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from engine.social_sms.catalogue import SINGLE_WORD_COMMANDS, Catalogue, normalise_keyword

_FIRST_WORD = re.compile(r"^[\W_]*([^\W_]+)(.*)$", re.DOTALL)
# Around an argument word, not part of it: "OFF bob." is OFF bob, "D @cat: hi" is a message to cat.
_AROUND_A_WORD = ".,;:!?\"'()[]<>@"


def bare_word(word: str) -> str:
    """An argument word without the punctuation people type around it ("bob." -> "bob")."""
    return word.strip(_AROUND_A_WORD)


class ParsedSms(NamedTuple):
    command: str | None  # None: not a command (free text, or a keyword used wrongly)
    keyword: str  # the first word, normalised ("ARRET"); "" for an empty message
    language: str | None  # the language the keyword belongs to, when only one
    rest: str  # everything after the keyword, as typed (less the separating space or colon)
    text: str  # the whole message, trimmed

    @property
    def args(self) -> list[str]:
        """The words after the keyword, each a `bare_word`, those of punctuation alone dropped:
        handles, codes, amounts, page numbers. A post's or a message's text is `rest`, as typed."""
        return [word for word in map(bare_word, self.rest.split()) if word]


def parse_sms(catalogue: Catalogue, text: str) -> ParsedSms:
    """Never raises: any text gives a ParsedSms."""
    trimmed = (text or "").strip()
    match = _FIRST_WORD.match(trimmed)
    if not match:
        return ParsedSms(None, "", None, "", trimmed)
    keyword = normalise_keyword(match.group(1))
    rest = _after_separator(match.group(2))
    found = catalogue.keyword_table().get(keyword)
    if found is None:
        return ParsedSms(None, keyword, None, rest, trimmed)
    if found.command in SINGLE_WORD_COMMANDS and normalise_keyword(rest):
        # "stop the war" is a sentence, not an opt-out; "STOP ALL" is STOPALL typed with a space.
        joined = catalogue.keyword_table().get(keyword + normalise_keyword(rest))
        if joined is None or joined.command != found.command:
            return ParsedSms(None, keyword, found.language, rest, trimmed)
    return ParsedSms(found.command, keyword, found.language, rest, trimmed)


def _after_separator(rest: str) -> str:
    rest = rest.lstrip()
    if rest[:1] in (":", ","):
        rest = rest[1:].lstrip()
    return rest.rstrip()


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: a swap of neighbours ("FOLLWO") costs one, like a typo."""
    previous_previous: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, start=1):
            cost = 0 if char_a == char_b else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous_previous[j - 2] + 1)
        previous_previous, previous = previous, current
    return previous[len(b)]


def _tolerance(word: str) -> int:
    return 1 if len(word) <= 4 else 2


def closest_keyword(catalogue: Catalogue, word: str, language: str | None) -> str | None:
    """The keyword nearest to `word`, if near enough to be a typo; the subscriber's language wins ties.

    Single-letter keywords (D) are never suggested: every short word is one edit from them.
    """
    word = normalise_keyword(word)
    if not word:
        return None
    preferred = set(catalogue.keywords_for_language(language))
    best: tuple[int, int, str] | None = None
    for keyword in catalogue.keyword_table():
        if len(keyword) < 2:
            continue
        distance = edit_distance(word, keyword)
        if distance > _tolerance(keyword) or distance >= max(len(word), len(keyword)):
            continue
        rank = (distance, 0 if keyword in preferred else 1, keyword)
        if best is None or rank < best:
            best = rank
    return best[2] if best else None


def looks_like_mistyped_command(catalogue: Catalogue, parsed: ParsedSms) -> bool:
    """Free text whose first word is one typo from a keyword ("FOLOW bob") is not posted to the
    world by the catch-all; the sender gets a suggestion instead."""
    word = parsed.keyword
    if len(word) < 4 or word in catalogue.keyword_table():
        return False
    return any(
        len(keyword) >= 4 and edit_distance(word, keyword) <= 1 for keyword in catalogue.keyword_table()
    )
