"""Shortcuts: each segment after the service code is an answer, as if typed one after another."""

import pytest

from engine.social_sms.ussd_menu import MenuState
from ussd_fake_actions import MSISDN, NOW, FakeActions, project_menu

MENU = project_menu()


def dial(dialled, language="en", actions=None):
    actions = actions or FakeActions()
    return MENU.start(dialled, language, actions, MSISDN, NOW), actions


@pytest.mark.parametrize("dialled, answers", [
    ("*767#", ()),
    ("*767*2#", ("2",)),
    ("*767*6*1#", ("6", "1")),
    (" *767 * 6 * 1 # ", ("6", "1")),
    ("*767*4*12#", ("4", "12")),
    ("*767**2#", ("2",)),
    ("*7672#", ()),  # another service code that starts alike
    ("*768*2#", ()),
    ("", ()),
    ("2*1", ()),
])
def test_shortcut_answers(dialled, answers):
    assert MENU.shortcut_answers(dialled) == answers


def test_one_level_jumps_to_a_screen():
    step, _ = dial("*767*6#", "fr")
    assert step.state == MenuState("fr", "settings", trail=("main",)) and step.text.startswith("Réglages")


def test_two_levels_reach_a_nested_screen_and_back_works():
    step, actions = dial("*767*6*1#")
    assert step.state.screen == "language" and step.state.trail == ("main", "settings")
    back = MENU.advance(step.state, "0", actions, MSISDN, NOW)
    assert back.state.screen == "settings"


def test_a_shortcut_can_run_an_action():
    step, actions = dial("*767*2*3#")
    assert ("choose_cause", "climate") in actions.calls and not step.continues


def test_a_shortcut_fills_a_prompt_but_never_confirms_a_gift():
    step, actions = dial("*767*4*5*1#")
    assert step.state.screen == "give_confirm" and step.continues
    assert actions.pending == (5, "water") and actions.gifts == []
    assert "confirm_gift" not in actions.names()
    done = MENU.advance(step.state, "1", actions, MSISDN, NOW)
    assert actions.gifts == [(5, "water")] and not done.continues


def test_an_invalid_segment_stops_the_walk_on_that_screen_with_the_error():
    step, actions = dial("*767*6*9*1#")
    assert step.refused and step.state.screen == "settings"
    assert step.text.startswith(MENU.words("en").invalid + "\nSettings")
    assert actions.names() == []


def test_segments_after_the_dialogue_ended_are_ignored():
    step, actions = dial("*767*3*1*2#")
    assert not step.continues and actions.names() == ["show_bill"]
