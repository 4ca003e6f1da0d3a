"""`tpo config check` on ussd.toml: file and key in every message."""

import copy

import pytest
from pydantic import ValidationError

from engine.config.loader import load_config
from engine.config.problems import ConfigError
from engine.social_sms.ussd_menu import UssdFile, UssdMenu, ussd_problems
from tests.support.configs import copy_project_config, replace_in
from ussd_fake_actions import project_menu_data

LABEL = "config/ussd.toml"


def problems(data, longest=None):
    return [str(p) for p in ussd_problems(UssdFile.model_validate(data), LABEL, longest)]


def edited(edit):
    data = copy.deepcopy(project_menu_data())
    edit(data)
    return data


def test_the_project_menu_has_no_problems_and_compiles():
    assert problems(project_menu_data(), {"en": "x" * 30, "fr": "x" * 30}) == []
    assert UssdMenu(UssdFile.model_validate(project_menu_data())).start_screen == "main"


def test_the_project_config_folder_loads_with_the_menu(tmp_path):
    config = load_config(copy_project_config(tmp_path), environ={})
    assert UssdMenu.from_config(config).service_code == "*767#"


def test_an_overflowing_screen_is_reported_through_config_check(tmp_path):
    directory = copy_project_config(tmp_path)
    replace_in(directory / "ussd.toml", 'title = { en = "Settings", fr = "Réglages" }',
               'title = { en = "Settings' + " and more" * 20 + '", fr = "Réglages" }')
    with pytest.raises(ConfigError) as raised:
        load_config(directory, environ={})
    [problem] = [str(p) for p in raised.value.problems]
    assert problem.startswith(f"{directory / 'ussd.toml'}: screens.settings: ")
    assert "GSM characters in en with the error line (expected at most 182, one USSD page)" in problem


def test_a_screen_that_needs_ucs2_is_held_to_80():
    def edit(data):
        data["screens"]["settings"]["title"]["fr"] = "Réglages: ô" + " choisissez" * 5
    [problem] = problems(edited(edit))
    assert problem.startswith(f"{LABEL}: screens.settings: ")
    assert "UCS-2 characters in fr" in problem and "'ô' is not in the GSM alphabet" in problem


def test_a_list_is_checked_with_the_longest_cause_name():
    assert problems(project_menu_data(), {"en": "y" * 30}) == []
    found = problems(project_menu_data(), {"en": "y" * 140})
    assert [p.split(": ")[1] for p in found] == ["screens.causes", "screens.follow"]
    assert all("GSM characters in en" in p for p in found)


def test_unreachable_screen():
    def edit(data):
        data["screens"]["orphan"] = {"title": {"en": "Orphan", "fr": "Orphelin"}, "options": [
            {"number": 1, "label": {"en": "Main", "fr": "Menu"}, "screen": "main"}]}
    assert problems(edited(edit)) == [
        f"{LABEL}: screens.orphan: unreachable from the start screen 'main' "
        "(expected an option or a then leading to it, or remove it)"]


def test_unknown_action():
    def edit(data):
        data["screens"]["main"]["options"][2]["action"] = "refund"
    [problem] = problems(edited(edit))
    assert problem.startswith(f"{LABEL}: screens.main.options[2].action: unknown action 'refund' (expected one of ")


def test_misplaced_action():
    def edit(data):
        data["screens"]["main"]["options"][2]["action"] = "give"
    [problem] = problems(edited(edit))
    assert problem == (f"{LABEL}: screens.main.options[2].action: action 'give' cannot be used on an option "
                       "(expected it as a prompt screen's input)")


def test_option_to_unknown_screen():
    def edit(data):
        data["screens"]["main"]["options"][5]["screen"] = "setings"
    found = problems(edited(edit))
    assert f"{LABEL}: screens.main.options[5].screen: unknown screen 'setings' (expected one of " in found[0]
    # settings and language are now unreachable too, and said so
    assert any(p.startswith(f"{LABEL}: screens.settings: unreachable") for p in found)


def test_text_missing_in_a_language():
    def edit(data):
        del data["screens"]["give_confirm"]["title"]["fr"]
        del data["screens"]["main"]["options"][1]["label"]["fr"]
        del data["text"]["fr"]
    assert sorted(problems(edited(edit))) == [
        f"{LABEL}: screens.give_confirm.title.fr: missing (expected the text in every menu language: en, fr)",
        f"{LABEL}: screens.main.options[1].label.fr: missing (expected the text in every menu language: en, fr)",
        f"{LABEL}: text.fr: missing (expected the menu's words invalid, more, back, empty, goodbye, ended "
        "in every language)",
    ]


def test_duplicate_option_numbers():
    def edit(data):
        data["screens"]["settings"]["options"][2]["number"] = 1
    assert problems(edited(edit)) == [
        f"{LABEL}: screens.settings.options[2].number: 1 is already option [0] (expected each number once per screen)"]


def test_set_language_to_a_language_the_menu_lacks():
    def edit(data):
        data["screens"]["language"]["options"][1]["argument"] = "de"
    assert problems(edited(edit)) == [
        f"{LABEL}: screens.language.options[1].argument: 'de' is not a menu language (expected one of en, fr)"]


@pytest.mark.parametrize("code", ["767", "*767", "*767*", "**767#", "*7#", "*76a#", "*123456789#"])
def test_bad_service_code_syntax(code, tmp_path):
    directory = copy_project_config(tmp_path)
    replace_in(directory / "ussd.toml", 'service_code = "*767#"', f'service_code = "{code}"')
    with pytest.raises(ConfigError) as raised:
        load_config(directory, environ={})
    [problem] = [str(p) for p in raised.value.problems]
    assert problem == (f"{directory / 'ussd.toml'}: service_code: {code!r} is not a USSD service code "
                       "(expected * or #, 2-8 digits and #, like \"*767#\")")


def test_a_screen_must_be_exactly_one_kind():
    def edit(data):
        data["screens"]["settings"]["input"] = "give"
    with pytest.raises(ValidationError, match="exactly one of options"):
        UssdFile.model_validate(edited(edit))


def test_release_ops_must_be_vendor_values():
    def edit(data):
        data["sessions"]["release_service_ops"] = [17]
    with pytest.raises(ValidationError, match="17 is a standard ussd_service_op"):
        UssdFile.model_validate(edited(edit))


def test_the_service_code_must_use_the_operators_short_code(tmp_path):
    directory = copy_project_config(tmp_path)
    replace_in(directory / "ussd.toml", 'service_code = "*767#"', 'service_code = "*768#"')
    with pytest.raises(ConfigError) as raised:
        load_config(directory, environ={})
    assert [str(p) for p in raised.value.problems] == [
        f"{directory / 'ussd.toml'}: service_code: '*768#' does not use the operator's short code 767 "
        "(expected \"*767#\", as engine.toml's operator.short_code says)"
    ]
