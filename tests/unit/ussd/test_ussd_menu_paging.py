"""Paged lists (0 more, 00 back) and the one-page guarantee, including a property test over
random cause names."""

import json
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.social_sms.ussd_menu import ListItem, MenuState
from ussd_fake_actions import MSISDN, NOW, FakeActions, project_menu

MENU = project_menu()
TWELVE = tuple(ListItem(f"cause{i}", f"Cause number {i} of many") for i in range(1, 13))


def at_list(actions, language="en"):
    return MENU.start("*767*2#", language, actions, MSISDN, NOW)


def item_numbers(text):
    return [int(line.split(".")[0]) for line in text.splitlines()[1:] if line[:1].isdigit() and not line.startswith("0")]


def test_causes_over_two_pages_with_more_and_back():
    actions = FakeActions(causes=TWELVE)
    first = at_list(actions)
    assert first.text.endswith("0. More\n00. Back")
    page_one = item_numbers(first.text)
    assert page_one[0] == 1 and len(page_one) < 12

    second = MENU.advance(first.state, "0", actions, MSISDN, NOW)
    page_two = item_numbers(second.text)
    assert page_two[0] == page_one[-1] + 1  # numbering goes on across pages
    assert second.state.page == 1 and second.state.first == page_two[0]

    pages = [page_one, page_two]
    step = second
    while "0. More" in step.text:
        step = MENU.advance(step.state, "0", actions, MSISDN, NOW)
        pages.append(item_numbers(step.text))
    assert [n for page in pages for n in page] == list(range(1, 13))
    assert step.text.endswith("\n00. Back") and "0. More" not in step.text
    last_page = step.state
    assert MENU.advance(last_page, "0", actions, MSISDN, NOW).refused  # no page after the last

    back = MENU.advance(second.state, "00", actions, MSISDN, NOW)
    assert back.text == first.text and back.state == first.state
    to_main = MENU.advance(first.state, "00", actions, MSISDN, NOW)
    assert to_main.state == MenuState("en", "main")


def test_selection_on_page_two_chooses_what_was_shown():
    actions = FakeActions(causes=TWELVE)
    second = MENU.advance(at_list(actions).state, "0", actions, MSISDN, NOW)
    number = second.state.first + 1
    step = MENU.advance(second.state, str(number), actions, MSISDN, NOW)
    assert ("choose_cause", f"cause{number}") in actions.calls and not step.continues


def test_a_number_from_another_page_is_invalid():
    actions = FakeActions(causes=TWELVE)
    second = MENU.advance(at_list(actions).state, "0", actions, MSISDN, NOW)
    step = MENU.advance(second.state, "1", actions, MSISDN, NOW)
    assert step.refused and step.state == second.state
    assert not any(call[0] == "choose_cause" for call in actions.calls)


def test_selection_uses_the_codes_shown_even_if_the_list_changed():
    actions = FakeActions()
    shown = at_list(actions)
    actions.causes = (ListItem("new", "A New Cause"),) + actions.causes
    MENU.advance(shown.state, "1", actions, MSISDN, NOW)
    assert ("choose_cause", "water") in actions.calls


def test_empty_list_says_so_and_offers_back():
    step = at_list(FakeActions(causes=()))
    assert step.text.splitlines()[1:] == ["Nothing here yet.", "00. Back"]
    assert MENU.advance(step.state, "1", FakeActions(causes=()), MSISDN, NOW).refused


def test_error_line_is_shown_whole_on_a_full_list_page():
    actions = FakeActions(causes=TWELVE)
    first = at_list(actions)
    step = MENU.advance(first.state, "xyz", actions, MSISDN, NOW)
    assert step.text == MENU.words("en").invalid + "\n" + first.text


def test_a_name_too_long_for_any_page_is_shortened_not_dropped():
    actions = FakeActions(causes=(ListItem("long", "x" * 400), ListItem("ok", "Short")))
    step = at_list(actions)
    assert MENU.fits(step.text) and "1. xxx" in step.text and step.text.count("...") == 1
    step = MENU.advance(step.state, "0", actions, MSISDN, NOW)
    assert "2. Short" in step.text


def test_a_ucs2_name_gets_a_ucs2_sized_page():
    causes = tuple(ListItem(f"c{i}", f"Cause ç{i}") for i in range(10))  # ç is not GSM: 80 units a page
    actions = FakeActions(causes=causes)
    step = at_list(actions)
    assert MENU.fits(step.text) and "0. More" in step.text


names = st.text(
    alphabet=st.one_of(st.sampled_from(string.ascii_letters + " -'&€[]{}"), st.characters(codec="utf-8")),
    min_size=1, max_size=120,
).filter(lambda s: s.strip())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    labels=st.lists(names, max_size=25),
    language=st.sampled_from(["en", "fr"]),
    answers=st.lists(st.sampled_from(["0", "00", "1", "2", "5", "9", "x", ""]), max_size=8),
)
def test_every_page_of_a_cause_list_fits_one_ussd_page(labels, language, answers):
    actions = FakeActions(causes=tuple(ListItem(f"c{i}", label) for i, label in enumerate(labels)))
    step = at_list(actions, language)
    assert MENU.fits(step.text), step.text
    for answer in answers:
        if not step.continues:
            break
        step = MENU.advance(json.loads(json.dumps(step.state.to_json())), answer, actions, MSISDN, NOW)
        assert MENU.fits(step.text), step.text


@settings(max_examples=100, deadline=None)
@given(reply=names, refused=st.booleans(), language=st.sampled_from(["en", "fr"]))
def test_any_action_reply_fits_whatever_screen_follows_it(reply, refused, language):
    class Replying(FakeActions):
        def give(self, msisdn, now, language, amount_text, cause_code):
            from engine.social_sms.ussd_menu import UssdReply

            return UssdReply(reply * 3, accepted=not refused)

    actions = Replying()
    step = MENU.start("*767*4#", language, actions, MSISDN, NOW)
    step = MENU.advance(step.state, "5", actions, MSISDN, NOW)
    assert MENU.fits(step.text) and step.continues
    assert step.state.screen == ("give_amount" if refused else "give_confirm")


@settings(max_examples=100, deadline=None)
@given(words=st.lists(names, min_size=1, max_size=40), language=st.sampled_from(["en", "fr"]))
def test_a_long_final_reply_is_split_into_pages_that_fit(words, language):
    text = " ".join(w.strip() for w in words)
    actions = FakeActions(help_text=text)
    step = MENU.start("*767*7#", language, actions, MSISDN, NOW)
    seen = 0
    while True:
        assert MENU.fits(step.text), step.text
        seen += 1
        if not step.continues:
            break
        step = MENU.advance(json.loads(json.dumps(step.state.to_json())), "0", actions, MSISDN, NOW)
    assert seen <= len(text) + 1
