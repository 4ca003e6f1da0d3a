"""Every keyword of every command, in every language of the shipped catalogue: it reaches its
command, and the member who sent it is answered from their own language's replies.

Built from config/messages.toml, so a keyword added there is tested without a line here; and HELP
2, 3... list every keyword of the language, from the same table."""

import re
import string
from datetime import datetime, timezone

import pytest

from engine.smpp.segmentation import fits_one_sms
from engine.social_sms.catalogue import COMMANDS, HELP_COMMANDS, Catalogue, normalise_keyword
from engine.social_sms.testing import CAUSE_POSTER, World, load_messages, make_context

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
ALICE, MEMBER = "+447400123456", "+447400123457"
CATALOGUE = Catalogue(load_messages())
LANGUAGES = CATALOGUE.languages

# What follows each keyword, so the command does its work rather than ask for its arguments.
ARGUMENTS = {
    "join": "", "stop": "", "help": "", "lang": "{language}", "causes": "", "cause": "water", "mycause": "",
    "bill": "", "name": "newname", "whois": "alice", "follow": "alice", "unfollow": "alice", "on": "alice",
    "off": "alice", "following": "", "followers": "", "post": "Hello from the square", "dm": "alice see you",
    "give": "5 water", "yes": "", "no": "", "causepost": "water The wells are open",
}


def _template_pattern(template: str) -> re.Pattern:
    parts = []
    for literal, field, _spec, _conversion in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if field is not None:
            parts.append(".+?")
    return re.compile("".join(parts), re.S)


PATTERNS = {language: {key: _template_pattern(template) for key, template in CATALOGUE.pack(language).replies.items()}
            for language in LANGUAGES}


def replies_it_could_be(text: str, language: str) -> set[str]:
    return {key for key, pattern in PATTERNS[language].items() if pattern.fullmatch(text)}


def keyword_cases():
    for language in LANGUAGES:
        for command in COMMANDS:
            for keyword in CATALOGUE.pack(language).keywords[command]:
                yield pytest.param(language, command, keyword, id=f"{language}-{keyword}")


def test_every_command_has_a_keyword_in_every_language_and_arguments_here():
    assert set(ARGUMENTS) == set(COMMANDS)
    for language in LANGUAGES:
        assert all(CATALOGUE.pack(language).keywords[command] for command in COMMANDS), language


@pytest.mark.parametrize("language, command, keyword", list(keyword_cases()))
def test_a_keyword_reaches_its_command_and_is_answered_in_the_senders_language(language, command, keyword):
    world = World(ctx=make_context())
    world.sms(ALICE, "JOIN alice", NOON)
    world.sms(MEMBER, "JOIN member", NOON)
    world.sms(MEMBER, f"LANG {language}", NOON)
    world.sms(MEMBER, "FOLLOW alice", NOON)
    if command in ("yes", "no"):
        world.sms(MEMBER, "GIVE 5 water", NOON)  # a gift waiting for its answer
    sender = CAUSE_POSTER if command == "causepost" else MEMBER
    result = world.sms(sender, f"{keyword} {ARGUMENTS[command].format(language=language)}".strip(), NOON)
    assert result.command == command
    assert result.replies
    others = [other for other in LANGUAGES if other != language]
    for text in result.replies:
        own = replies_it_could_be(text, language)
        assert own, f"{text!r} is none of the {language} replies"
        # Some templates are all placeholders ("@{handle}: {text}") and read alike in any language:
        # the reply must also be one that no other language's same reply could be.
        assert any(all(key not in replies_it_could_be(text, other) for other in others) for key in own), \
            f"{text!r} reads the same in another language: it proves nothing"


def _with_aliases_of_no(count: int) -> Catalogue:
    """The shipped catalogue with `count` more keywords for NO, the last command listed: one of
    these counts fills the last page to the brim, where a page that fitted its "more" reply did not
    fit the last page's longer one."""
    messages = load_messages()
    languages = {code: pack.model_copy(update={"keywords": {
        **pack.keywords, "no": (*pack.keywords["no"], *(f"NOPE{index}" for index in range(count)))}})
        for code, pack in messages.languages.items()}
    return Catalogue(messages.model_copy(update={"languages": languages}))


@pytest.mark.parametrize("catalogue", [_with_aliases_of_no(count) for count in range(16)],
                         ids=[f"no+{count}" for count in range(16)])
@pytest.mark.parametrize("language", LANGUAGES)
def test_help_pages_list_every_keyword_of_the_language_each_page_one_sms(language, catalogue):
    world = World(ctx=make_context(messages=catalogue.messages))
    world.sms(MEMBER, "JOIN", NOON)
    world.sms(MEMBER, f"LANG {language}", NOON)
    help_word = catalogue.pack(language).keywords["help"][0]
    first = world.reply(MEMBER, help_word, NOON)
    assert f"{help_word} 2" in first and fits_one_sms(first)
    pages, number = [], 2
    while True:
        text = world.reply(MEMBER, f"{help_word} {number}", NOON)
        assert fits_one_sms(text), text
        pages.append(text)
        if f"{help_word} {number + 1}" not in text:
            break
        number += 1
    assert f"{number}/{number}" in pages[-1]
    assert world.reply(MEMBER, f"{help_word} 99", NOON) == pages[-1]
    listed = re.findall(r"[A-Z0-9]+(?:/[A-Z0-9]+)*", " ".join(pages))
    for command in HELP_COMMANDS:
        keywords = "/".join(normalise_keyword(k) for k in catalogue.pack(language).keywords[command])
        assert keywords in listed, (command, keywords)
    causepost = catalogue.pack(language).keywords["causepost"][0]
    assert causepost not in listed  # for cause accounts and operators only


def test_help_lists_every_alias_in_english_and_french():
    world = World(ctx=make_context())
    world.sms(MEMBER, "JOIN", NOON)
    english = " ".join(world.reply(MEMBER, f"HELP {page}", NOON) for page in range(2, 6))
    assert "STOP/STOPALL/UNSUBSCRIBE/CANCEL/END/QUIT" in english and "GIVE/DONATE" in english
    world.sms(MEMBER, "LANG FR", NOON)
    french = " ".join(world.reply(MEMBER, f"AIDE {page}", NOON) for page in range(2, 6))
    assert "INSCRIPTION/ADHERER" in french and "ARRET/STOP" in french and "DON/DONNER" in french
