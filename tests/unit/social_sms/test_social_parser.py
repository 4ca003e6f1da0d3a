"""Parsing SMS text into commands: keywords in both languages, tolerance, and the exact STOP rule."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.social_sms.catalogue import Catalogue
from engine.social_sms.parser import closest_keyword, edit_distance, looks_like_mistyped_command, parse_sms
from engine.social_sms.testing import load_messages

CATALOGUE = Catalogue(load_messages())


@pytest.mark.parametrize(
    "text, command, language",
    [
        ("JOIN", "join", "en"), ("start", "join", "en"), ("Inscription", "join", "fr"),
        ("HELP", "help", "en"), ("aide", "help", "fr"), ("INFO", "help", None),
        ("CAUSES", "causes", None), ("cause water", "cause", None), ("CHOISIR water", "cause", "fr"),
        ("MYCAUSE", "mycause", "en"), ("macause", "mycause", "fr"),
        ("BILL", "bill", "en"), ("Facture", "bill", "fr"),
        ("NAME sam", "name", "en"), ("nom sam", "name", "fr"), ("WHOIS sam", "whois", "en"),
        ("FOLLOW sam", "follow", "en"), ("suivre sam", "follow", "fr"), ("UNFOLLOW sam", "unfollow", "en"),
        ("ON", "on", "en"), ("OFF sam", "off", "en"), ("PAUSE", "off", "fr"), ("ACTIVER", "on", "fr"),
        ("FOLLOWING", "following", "en"), ("abonnements", "following", "fr"),
        ("FOLLOWERS", "followers", "en"), ("abonnés", "followers", "fr"),
        ("POST hi", "post", "en"), ("publier salut", "post", "fr"), ("D sam hi", "dm", "en"), ("MP sam salut", "dm", "fr"),
        ("GIVE 5 water", "give", "en"), ("DON 5,50 water", "give", "fr"), ("YES", "yes", "en"), ("oui", "yes", "fr"),
        ("NO", "no", "en"), ("non", "no", "fr"), ("LANG FR", "lang", "en"), ("LANGUE EN", "lang", "fr"),
        ("CAUSEPOST water hi", "causepost", "en"),
    ],
)
def test_every_keyword_in_both_languages(text, command, language):
    parsed = parse_sms(CATALOGUE, text)
    assert (parsed.command, parsed.language) == (command, language)


@pytest.mark.parametrize("word", ["STOP", "stop", "StopAll", "UNSUBSCRIBE", "cancel", "END", "quit", "ARRET",
                                  "Arrêt", "arrêt", "  STOP  ", "STOP.", "Stop!", "stop\n"])
def test_stop_words_alone_are_opt_outs(word):
    assert parse_sms(CATALOGUE, word).command == "stop"


@pytest.mark.parametrize("text", ["stop the war", "STOP it now", "cancel my order please", "end of story",
                                  "quit smoking", "arrêt de bus", "stop stop"])
def test_stop_words_in_a_sentence_are_not_opt_outs(text):
    assert parse_sms(CATALOGUE, text).command is None


@pytest.mark.parametrize("text", ["STOP ALL", "stop all.", "Stop  All!"])
def test_stopall_typed_with_a_space_is_an_opt_out(text):
    assert parse_sms(CATALOGUE, text).command == "stop"


def test_yes_in_a_sentence_confirms_nothing():
    assert parse_sms(CATALOGUE, "yes please").command is None
    assert parse_sms(CATALOGUE, "Yes!").command == "yes"


def test_spaces_punctuation_and_case_are_tolerated_and_the_body_is_kept():
    parsed = parse_sms(CATALOGUE, "  follow:   @Sam_K  ")
    assert parsed.command == "follow" and parsed.args == ["Sam_K"]
    for text, args in (("OFF.", []), ("join!", []), ("FOLLOW bob.", ["bob"]), ("GIVE 5. water!", ["5", "water"]),
                       ("CAUSE (water)", ["water"]), ("HELP 2.", ["2"]), ("GIVE 5,50 £", ["5,50", "£"])):
        assert parse_sms(CATALOGUE, text).args == args, text
    post = parse_sms(CATALOGUE, "POST: Héllo  wörld 🌍 — «ça va»")
    assert post.command == "post" and post.rest == "Héllo  wörld 🌍 — «ça va»"


def test_empty_and_punctuation_only_messages():
    for text in ["", "   ", "?!", "🌍"]:
        parsed = parse_sms(CATALOGUE, text)
        assert parsed.command is None


def test_edit_distance_counts_a_swap_as_one():
    assert edit_distance("FOLLOW", "FOLLOW") == 0
    assert edit_distance("FOLOW", "FOLLOW") == 1
    assert edit_distance("FOLLWO", "FOLLOW") == 1
    assert edit_distance("", "ABC") == 3
    assert edit_distance("KITTEN", "SITTING") == 3


@pytest.mark.parametrize("typo, language, expected", [
    ("FOLOW", "en", "FOLLOW"), ("HLEP", "en", "HELP"), ("BILLL", "en", "BILL"), ("FACTUR", "fr", "FACTURE"),
    ("SUIVR", "fr", "SUIVRE"), ("CAUS", "en", "CAUSE"), ("xyzzyq", "en", None), ("Q", "en", None),
])
def test_closest_keyword(typo, language, expected):
    assert closest_keyword(CATALOGUE, typo, language) == expected


def test_a_typo_is_not_taken_for_free_text():
    assert looks_like_mistyped_command(CATALOGUE, parse_sms(CATALOGUE, "FOLOW sam"))
    assert not looks_like_mistyped_command(CATALOGUE, parse_sms(CATALOGUE, "Lovely weather today"))
    assert not looks_like_mistyped_command(CATALOGUE, parse_sms(CATALOGUE, "Hello all"))


@settings(max_examples=300)
@given(st.text(max_size=200))
def test_parser_never_raises(text):
    parsed = parse_sms(CATALOGUE, text)
    assert parsed.command is None or parsed.command in CATALOGUE.messages.languages["en"].keywords
