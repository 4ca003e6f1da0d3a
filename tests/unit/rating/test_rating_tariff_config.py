"""tariffs.toml validation: each mistake is reported as `FILE: key.path: what (expected ...)`."""

from pathlib import Path

import pytest
from pydantic import ValidationError
from rating_fixtures import tariff_data

from engine.config.engine_file import EngineFile
from engine.config.loader import Config, problems_from_validation
from engine.config.problems import ConfigError
from engine.rating.tariffs import TariffsFile, _cross_check, compile_tariff, load_tariff_file, tariff_problems

LABEL = "config/tariffs.toml"
REPO_CONFIG = Path(__file__).resolve().parents[3] / "config"


def problems(data: dict) -> list[str]:
    """The lines `tpo config check` would print for this tariffs file."""
    try:
        tariffs = TariffsFile.model_validate(data)
    except ValidationError as error:
        return [str(p) for p in problems_from_validation(LABEL, error)]
    return [f"{LABEL}: {key}: {message}" for key, message in tariff_problems(tariffs)]


def test_the_example_tariff_is_valid_and_compiles():
    tariff = load_tariff_file(REPO_CONFIG / "tariffs.toml", "Europe/London", "GB")
    assert tariff.default_plan in tariff.plans
    assert tariff.zones.match("+447624123456") == "uk_mobile"  # Isle of Man, inside +4476 (premium)
    assert tariff.zones.match("+447654123456") == "uk_premium"


def test_the_fixture_tariff_is_valid():
    assert problems(tariff_data()) == []


def test_zero_increment():
    data = tariff_data()
    data["rate_cards"]["card"]["voice"]["uk_fixed"]["increments"] = "60/0"
    assert problems(data) == [
        f"{LABEL}: rate_cards.card.voice.uk_fixed.increments: '60/0' has a zero increment "
        '(expected "first/next" in seconds, each 1 or more, like "60/60", "30/6" or "1/1")'
    ]


def test_unreadable_increment():
    data = tariff_data()
    data["rate_cards"]["card"]["voice"]["uk_fixed"]["increments"] = "per second"
    assert "rate_cards.card.voice.uk_fixed.increments: 'per second' is not a charging increment" in problems(data)[0]


def test_unknown_zone_in_a_plan():
    data = tariff_data()
    data["plans"]["bundle"]["allowances"]["voice"]["zones"] = ["uk_mobile", "uk_mobiles"]
    assert problems(data) == [
        f"{LABEL}: plans.bundle.allowances.voice.zones: unknown zone 'uk_mobiles' "
        "(expected one of europe, france, premium, uk_fixed, uk_mobile, zero)"
    ]


def test_overlapping_bands():
    data = tariff_data()
    data["time_bands"]["windows"].append({"band": "evening", "days": ["fri"], "from": "18:00", "to": "20:00"})
    assert problems(data) == [
        f"{LABEL}: time_bands: windows[0] (peak) and windows[2] (evening) both cover fri 18:00 "
        "(expected each minute of the week in at most one window)"
    ]


def test_float_money_in_the_file(tmp_path):
    text = (REPO_CONFIG / "tariffs.toml").read_text().replace('monthly_fee = "5.00"', "monthly_fee = 5.0")
    (tmp_path / "tariffs.toml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_tariff_file(tmp_path / "tariffs.toml", "Europe/London")
    assert str(caught.value) == (
        f"{tmp_path / 'tariffs.toml'}: plans.basic.monthly_fee: 5.0 is a float (expected an amount in quotes, like \"9.99\")"
    )


def test_float_in_a_band_price_table():
    data = tariff_data()
    data["rate_cards"]["card"]["voice"]["uk_mobile"]["per_minute"]["peak"] = 0.12
    assert problems(data) == [
        f"{LABEL}: rate_cards.card.voice.uk_mobile.per_minute: peak: 0.12 is a float (expected an amount in quotes, like \"9.99\")"
    ]


def test_price_finer_than_a_micro_unit():
    data = tariff_data()
    data["rate_cards"]["card"]["sms"]["france"] = "0.0000001"
    assert problems(data) == [
        f"{LABEL}: rate_cards.card.sms.france: 0.0000001 has more than 6 decimal places (expected at most 6)"
    ]


def test_rate_card_gaps_and_unknown_names():
    data = tariff_data(default_plan="gold")
    del data["rate_cards"]["card"]["sms"]["france"]
    del data["rate_cards"]["card"]["voice"]["uk_mobile"]["per_minute"]["weekend"]
    data["rate_cards"]["host"]["roaming"].pop("world")
    data["plans"]["payg"]["rate_card"] = "cheap"
    assert problems(data) == [
        f"{LABEL}: default_plan: unknown plan 'gold' (expected one of bundle, payg)",
        f"{LABEL}: plans.payg.rate_card: unknown rate card 'cheap' (expected one of card, host)",
        f"{LABEL}: rate_cards.card.sms: no rate for zones france (expected a rate for every zone not zero-rated)",
        f"{LABEL}: rate_cards.card.voice.uk_mobile.per_minute: no price for bands weekend "
        "(expected a price for each of off_peak, peak, weekend)",
        f"{LABEL}: rate_cards.host.roaming: no rates for roaming zones world (expected rates for every roaming zone)",
    ]


def test_window_that_ends_before_it_starts_and_a_bad_clock():
    data = tariff_data()
    data["time_bands"]["windows"][0]["to"] = "07:00"
    data["time_bands"]["windows"][1]["from"] = "7am"
    assert problems(data) == [
        f"{LABEL}: time_bands.windows[0]: to 07:00 is not after from 08:00 (expected a window within one day; write an overnight window as two)",
        f"{LABEL}: time_bands.windows[1].from: '7am' is not a time of day (expected \"HH:MM\" from \"00:00\" to \"24:00\")",
    ]


def test_unknown_keys_are_errors():
    data = tariff_data()
    data["plans"]["payg"]["monthly_fees"] = "1"
    assert problems(data) == [
        f"{LABEL}: plans.payg.monthly_fees: unknown key (expected only the keys documented in docs/operations.md)"
    ]


def test_the_operators_short_code_must_be_zero_rated():
    engine = EngineFile.model_validate({"operator": {"name": "P", "short_code": "768", "care_number": "+443001234567"}})
    config = Config(directory=Path("config"), files={"engine.toml": engine, "tariffs.toml": TariffsFile.model_validate(tariff_data())})
    found = [str(p) for p in _cross_check(config)]
    assert any("zones: the operator's short_code 768 is not in a zero-rated zone" in line for line in found)
    assert any("the operator's care_number +443001234567 is not in a zero-rated zone" in line for line in found)


def test_an_absent_tariffs_file_loads_but_cannot_rate():
    assert tariff_problems(TariffsFile()) == []
    with pytest.raises(ValueError, match="plans: none defined"):
        compile_tariff(TariffsFile(), "Europe/London")


def test_the_config_loader_reports_tariff_problems_with_file_and_key(tmp_path):
    import shutil

    from engine.config.loader import load_config

    for path in REPO_CONFIG.glob("*.toml"):
        shutil.copy(path, tmp_path / path.name)
    text = (tmp_path / "tariffs.toml").read_text()
    (tmp_path / "tariffs.toml").write_text(text.replace('increments = "30/6" }', 'increments = "30/0" }', 1))
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    lines = [str(p) for p in caught.value.problems if p.file.endswith("tariffs.toml")]
    assert lines == [
        f"{tmp_path / 'tariffs.toml'}: rate_cards.standard.voice.international_1.increments: '30/0' has a zero increment "
        '(expected "first/next" in seconds, each 1 or more, like "60/60", "30/6" or "1/1")'
    ]
