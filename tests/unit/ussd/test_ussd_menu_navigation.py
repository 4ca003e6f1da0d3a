"""Walking the project's menu screen by screen, in both languages, with a fake actions port."""

import json

import pytest

from engine.smpp.ussd_tlv import PSSR_RESPONSE, USSR_REQUEST
from engine.social_sms.ussd_menu import MenuState
from ussd_fake_actions import MSISDN, NOW, FakeActions, project_menu

MENU = project_menu()
LANGUAGES = ["en", "fr"]


def walk(language, *answers, actions=None, dialled="*767#"):
    actions = actions or FakeActions()
    step = MENU.start(dialled, language, actions, MSISDN, NOW)
    for answer in answers:
        assert step.continues, f"dialogue ended before answer {answer!r}: {step.text!r}"
        # The state goes through JSON between messages, as it does through the database.
        stored = json.loads(json.dumps(step.state.to_json()))
        step = MENU.advance(stored, answer, actions, MSISDN, NOW)
        assert MENU.fits(step.text)
    return step, actions


@pytest.mark.parametrize("language", LANGUAGES)
def test_start_shows_the_main_menu_and_waits(language):
    step, _ = walk(language)
    assert step.continues and step.service_op == USSR_REQUEST == 2
    assert step.text.splitlines()[0] == "People's Mobile"
    assert ("2. Choose my cause" if language == "en" else "2. Choisir ma cause") in step.text
    assert step.state == MenuState(language, "main")


def test_unknown_language_falls_back_to_default():
    step, _ = walk("de")
    assert step.state.language == "en" and "1. Join" in step.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_action_without_then_ends_the_dialogue_with_its_reply(language):
    step, actions = walk(language, "3")
    assert not step.continues and step.state is None
    assert step.service_op == PSSR_RESPONSE == 17
    assert step.text.startswith("Bill 2024-05")
    assert actions.names() == ["show_bill"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_sign_up_gets_the_menu_language(language):
    step, actions = walk(language, "1")
    assert ("sign_up", language) in actions.calls
    assert not step.continues


@pytest.mark.parametrize("language", LANGUAGES)
def test_list_selection_chooses_the_cause(language):
    step, actions = walk(language, "2")
    assert step.text.splitlines()[1:3] == ["1. Clean Water Fund", "2. Local Food Banks"]
    assert step.text.splitlines()[-1] == ("00. Back" if language == "en" else "00. Retour")
    step, _ = walk(language, "2", "3", actions=actions)
    assert ("choose_cause", "climate") in actions.calls and actions.chosen == "climate"
    assert step.text == "Your cause is now Climate Action." and not step.continues


def test_follow_list_runs_follow_cause():
    step, actions = walk("en", "5", "2")
    assert actions.followed == ["foodbank"] and step.text == "You follow Local Food Banks."


@pytest.mark.parametrize("language", LANGUAGES)
def test_give_asks_for_confirmation_and_yes_gives(language):
    step, actions = walk(language, "4")
    assert step.state.screen == "give_amount" and step.continues
    step, _ = walk(language, "4", "5", actions=actions)
    lines = step.text.splitlines()
    assert lines[0] == "Give £5 to Clean Water Fund on your next bill?"  # the action's reply, above the screen
    assert lines[1] == ("Confirm?" if language == "en" else "Confirmer ?")
    assert step.state.screen == "give_confirm" and actions.gifts == []
    step = MENU.advance(step.state, "1", actions, MSISDN, NOW)
    assert actions.gifts == [(5, "water")]
    assert step.text == "Thank you! £5 to Clean Water Fund." and not step.continues


def test_give_no_cancels_the_pending_gift():
    step, actions = walk("en", "4", "7", "2")
    assert actions.names() == ["give", "cancel_gift"] and actions.pending is None and actions.gifts == []
    assert step.text == "Gift cancelled."


def test_refused_action_shows_the_same_screen_with_its_reason():
    step, actions = walk("en", "4", "0")
    assert step.refused and step.continues and step.state.screen == "give_amount"
    assert step.text.splitlines()[0] == "Amount must be at least £1."
    assert actions.pending is None


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("answers", [("9",), ("",), ("abc",), ("2", "x"), ("2", "5"), ("2", "99"), ("4", " "), ("6", "7")])
def test_invalid_input_repeats_the_screen_with_an_error_line(language, answers):
    before, _ = walk(language, *answers[:-1])
    step, actions = walk(language, *answers)
    invalid = MENU.words(language).invalid
    assert step.refused and step.continues
    assert step.text == invalid + "\n" + before.text
    assert step.state == before.state
    assert actions.names() == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_settings_back_returns_to_main(language):
    step, _ = walk(language, "6")
    assert step.state.screen == "settings" and step.state.trail == ("main",)
    step, _ = walk(language, "6", "0")
    assert step.state == MenuState(language, "main")
    step, _ = walk(language, "6", "1", "0", "0")
    assert step.state == MenuState(language, "main")


@pytest.mark.parametrize("start, choice, wanted", [("en", "2", "fr"), ("fr", "1", "en")])
def test_set_language_uses_the_argument(start, choice, wanted):
    step, actions = walk(start, "6", "1", choice)
    assert ("set_language", wanted) in actions.calls and not step.continues


@pytest.mark.parametrize("choice, action", [("2", "opt_out"), ("3", "opt_in")])
def test_opt_out_and_in(choice, action):
    step, actions = walk("en", "6", choice)
    assert actions.names() == [action] and not step.continues


@pytest.mark.parametrize("language", LANGUAGES)
def test_exit_says_goodbye(language):
    step, actions = walk(language, "0")
    assert step.text == MENU.words(language).goodbye and not step.continues and actions.names() == []


def test_long_reply_is_shown_a_page_at_a_time():
    words = " ".join(f"word{i}" for i in range(80))  # about 500 characters: three pages
    actions = FakeActions(help_text=words)
    step, _ = walk("en", "7", actions=actions)
    shown = []
    while step.continues:
        assert step.text.endswith("\n0. More") and MENU.fits(step.text)
        shown.append(step.text.removesuffix("\n0. More"))
        step = MENU.advance(json.loads(json.dumps(step.state.to_json())), "0", actions, MSISDN, NOW)
    shown.append(step.text)
    assert len(shown) >= 3 and " ".join(shown) == words
    assert actions.names() == ["help"]  # the action ran once; later pages come from the state


def test_stale_state_after_a_config_change_restarts_at_the_start_screen():
    step = MENU.advance({"language": "fr", "screen": "gone"}, "1", FakeActions(), MSISDN, NOW)
    assert step.state == MenuState("fr", "main") and not step.refused


def test_state_json_is_small_and_round_trips():
    step, _ = walk("en", "2")
    data = step.state.to_json()
    assert MenuState.from_json(json.loads(json.dumps(data))) == step.state
    assert len(json.dumps(data)) < 200
