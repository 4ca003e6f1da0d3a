"""The messages catalogue check: the real catalogue passes, and each kind of mistake is named."""

import shutil
import tomllib

import pytest

from engine.config.loader import load_config
from engine.config.problems import ConfigError
from engine.social_sms.catalogue import COMMANDS, REPLIES, Catalogue, MessagesFile
from engine.social_sms.config_files import catalogue_problems
from engine.social_sms.testing import CONFIG_DIR

LABEL = "config/messages.toml"


def raw_catalogue() -> dict:
    with (CONFIG_DIR / "messages.toml").open("rb") as handle:
        return tomllib.load(handle)


def problems_of(data: dict, samples=None) -> list[str]:
    return [str(p) for p in catalogue_problems(MessagesFile.model_validate(data), LABEL, samples)]


def test_the_shipped_catalogue_is_complete_and_fits():
    assert problems_of(raw_catalogue()) == []
    data = raw_catalogue()
    for language in ("en", "fr"):
        assert set(data["languages"][language]["replies"]) == set(REPLIES)
        assert set(data["languages"][language]["keywords"]) == set(COMMANDS)


def test_the_shipped_config_folder_loads():
    config = load_config(CONFIG_DIR)
    assert Catalogue(config["messages.toml"]).render("fr", "name_set", handle="sam") == "Votre nom est maintenant @sam."
    assert config["causes.toml"].find("WATER").code == "water"


def test_missing_reply_in_one_language():
    data = raw_catalogue()
    del data["languages"]["fr"]["replies"]["bill"]
    assert problems_of(data) == [
        "config/messages.toml: languages.fr.replies.bill: missing (expected this reply in every language)"
    ]


def test_unknown_reply_key_is_a_typo():
    data = raw_catalogue()
    data["languages"]["en"]["replies"]["welcom"] = "Hi"
    assert problems_of(data) == [
        "config/messages.toml: languages.en.replies.welcom: unknown reply (expected only the replies listed in docs)"
    ]


def test_placeholders_must_agree_across_languages():
    data = raw_catalogue()
    data["languages"]["fr"]["replies"]["name_set"] = "Votre nom est maintenant enregistré."
    assert problems_of(data) == [
        "config/messages.toml: languages.fr.replies.name_set: placeholders none differ from en's {handle} "
        "(expected the same placeholders in every language)"
    ]


def test_unknown_placeholder_names_what_is_allowed():
    data = raw_catalogue()
    data["languages"]["en"]["replies"]["name_set"] = "Your name is now @{handel}."
    assert problems_of(data) == [
        "config/messages.toml: languages.en.replies.name_set: unknown placeholder {handel} (expected {handle})"
    ]


@pytest.mark.parametrize("template, reason", [
    ("Hello {", "not a valid template"),
    ("Hello {}", "positional placeholder"),
    ("Hello {handle!r}", "format spec or conversion"),
    ("Hello {handle.upper}", "not a plain name"),
])
def test_malformed_templates(template, reason):
    data = raw_catalogue()
    data["languages"]["en"]["replies"]["name_set"] = template
    (problem,) = [p for p in problems_of(data) if "languages.en.replies.name_set" in p]
    assert reason in problem


def test_reply_too_long_for_one_sms():
    data = raw_catalogue()
    data["languages"]["en"]["replies"]["unknown"] = "x" * 161
    assert problems_of(data) == [
        "config/messages.toml: languages.en.replies.unknown: 161 characters at the longest (expected at most 160, one SMS)"
    ]


def test_a_non_gsm_character_is_pointed_out():
    data = raw_catalogue()
    data["languages"]["fr"]["replies"]["unknown"] = "Commande inconnue. Envoyez AIDE pour la liste complète des commandes, ça aide."
    (problem,) = problems_of(data)
    assert "languages.fr.replies.unknown" in problem and "'ç' is not in the GSM alphabet" in problem


def test_config_values_count_in_the_length_check():
    data = raw_catalogue()
    assert problems_of(data, {"en": {"program": "P" * 40}}) != []  # HELP no longer fits


def test_keyword_rules():
    data = raw_catalogue()
    keywords = data["languages"]["fr"]["keywords"]
    keywords["follow"] = ["SUIVRE", "AIDE"]  # AIDE already means help
    keywords["bill"] = ["MA FACTURE"]
    del keywords["whois"]
    keywords["tweet"] = ["TWEET"]
    problems = problems_of(data)
    assert any("keywords.follow: 'AIDE' is already the keyword of languages.fr.keywords.help" in p for p in problems)
    assert any("keywords.bill: 'MA FACTURE' is not a keyword" in p for p in problems)
    assert any("keywords.whois: missing (expected at least one keyword)" in p for p in problems)
    assert any("keywords.tweet: unknown command" in p for p in problems)


def test_default_language_must_exist():
    data = raw_catalogue()
    data["default_language"] = "de"
    assert any("default_language: 'de' has no [languages.de]" in p for p in problems_of(data))


def test_load_config_reports_file_and_key(tmp_path):
    for name in ("engine.toml", "tariffs.toml", "social.toml", "causes.toml", "messages.toml", "ussd.toml"):
        if (CONFIG_DIR / name).exists():
            shutil.copy(CONFIG_DIR / name, tmp_path / name)
    text = (tmp_path / "messages.toml").read_text(encoding="utf-8")
    (tmp_path / "messages.toml").write_text(text.replace('name_set = "Votre nom est maintenant @{handle}."\n', ""),
                                            encoding="utf-8")
    (tmp_path / "causes.toml").write_text(
        '[[causes]]\ncode = "water"\nname = { en = "Water" }\n', encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path)
    lines = str(raised.value).splitlines()
    assert any(line.endswith("messages.toml: languages.fr.replies.name_set: missing (expected this reply in every language)")
               for line in lines)
    assert any(line.endswith("causes.toml: causes[0].name.fr: missing (expected the cause's name in every catalogue language)")
               for line in lines)


def test_bad_social_and_causes_values_name_their_keys(tmp_path):
    for name in ("engine.toml", "tariffs.toml", "messages.toml"):
        if (CONFIG_DIR / name).exists():
            shutil.copy(CONFIG_DIR / name, tmp_path / name)
    (tmp_path / "social.toml").write_text(
        '[quiet_hours]\nstart = "25:00"\n[give]\nmax_per_month = 50.0\n[subscribers]\nour_number_prefixes = ["4474"]\n',
        encoding="utf-8")
    (tmp_path / "causes.toml").write_text(
        '[[causes]]\ncode = "Water!"\nname = { en = "W" }\nauthorised_numbers = ["0740012345"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path)
    message = str(raised.value)
    assert "social.toml: quiet_hours.start: '25:00' is not a time of day" in message
    assert "social.toml: give.max_per_month: 50.0 is a float" in message
    assert "social.toml: subscribers.our_number_prefixes: '4474' is not a number prefix" in message
    assert "causes.toml: causes[0].code: 'Water!' is not a valid code" in message
    assert "causes.toml: causes[0].authorised_numbers: '0740012345' is not an E.164 number" in message
