from decimal import Decimal

import pytest

from engine.config.loader import load_config
from engine.config.model import Amount, FrozenModel
from engine.config.problems import ConfigError
from tests.support.configs import copy_project_config, replace_in


def problems_of(directory, environ=None) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_config(directory, environ=environ or {})
    return [str(problem) for problem in raised.value.problems]


def test_the_project_config_is_valid_and_typed(tmp_path):
    config = load_config(copy_project_config(tmp_path), environ={})
    operator = config.engine.operator
    assert operator.short_code == "767"
    assert operator.currency_minor_unit == 2
    assert config.engine.smpp.binds[0].window == 64


def test_three_mistakes_are_all_reported_with_file_and_key(tmp_path):
    directory = copy_project_config(tmp_path)
    engine_toml = directory / "engine.toml"
    replace_in(engine_toml, 'time_zone = "Europe/London"', 'time_zone = "Europe/Londres"')
    replace_in(engine_toml, "port = 2775", "port = 99999")
    replace_in(engine_toml, 'mode = "transceiver"', 'mode = "sideways"')

    problems = problems_of(directory)

    label = str(engine_toml)
    assert len(problems) == 3, problems
    assert any(p.startswith(f"{label}: operator.time_zone: unknown time zone 'Europe/Londres'") for p in problems)
    assert any(p.startswith(f"{label}: smpp.binds[0].port: 99999 is not valid (expected") for p in problems)
    assert any(p.startswith(f"{label}: smpp.binds[0].mode: 'sideways' is not valid (expected") for p in problems)


def test_unknown_keys_are_errors_not_silent_defaults(tmp_path):
    directory = copy_project_config(tmp_path)
    replace_in(directory / "engine.toml", "[scheduler]\nenabled = true", "[scheduler]\nenabeld = true")
    assert problems_of(directory) == [f"{directory / 'engine.toml'}: scheduler.enabeld: unknown key "
                                      "(expected only the keys documented in docs/operations.md)"]


def test_toml_syntax_error_names_the_file_and_line(tmp_path):
    directory = copy_project_config(tmp_path)
    replace_in(directory / "engine.toml", 'short_code = "767"', "short_code = 767 767")
    [problem] = problems_of(directory)
    assert problem.startswith(f"{directory / 'engine.toml'}: not valid TOML:")
    assert "line" in problem


def test_missing_folder_and_missing_required_file(tmp_path):
    assert problems_of(tmp_path / "nowhere")[0].endswith("no such config folder (expected a folder of TOML files)")
    (tmp_path / "empty").mkdir()
    assert problems_of(tmp_path / "empty") == [
        f"{tmp_path / 'empty' / name}: file is missing (expected it in the config folder)"
        for name in ("engine.toml", "messages.toml", "tariffs.toml", "ussd.toml")
    ]


def test_smpp_password_from_environment_and_missing_variable(tmp_path):
    directory = copy_project_config(tmp_path)
    replace_in(directory / "engine.toml", 'password = "secret"', 'password_env = "HOST_A_PASSWORD"')
    config = load_config(directory, environ={"HOST_A_PASSWORD": "s3cr3t"})
    assert config.engine.smpp.binds[0].password.get_secret_value() == "s3cr3t"
    assert "s3cr3t" not in repr(config.engine)

    [problem] = problems_of(directory, environ={})
    assert problem.endswith(
        "smpp.binds[0]: environment variable HOST_A_PASSWORD is not set (expected it to hold the SMPP password)"
    )


def test_database_url_is_overridden_by_environment(tmp_path):
    directory = copy_project_config(tmp_path)
    config = load_config(directory, environ={"TPO_DATABASE_URL": "postgresql://db.example/tpo"})
    assert config.engine.database.url == "postgresql://db.example/tpo"


def test_unsupported_database_and_unknown_currency(tmp_path):
    directory = copy_project_config(tmp_path)
    replace_in(directory / "engine.toml", 'url = "sqlite:///var/tpo.db"', 'url = "mysql://x/y"')
    replace_in(directory / "engine.toml", 'currency = "GBP"', 'currency = "ZZZ"')
    problems = problems_of(directory)
    assert any("database.url: unsupported database 'mysql' (expected sqlite or postgresql)" in p for p in problems)
    assert any("operator: minor_unit: not set and currency ZZZ is not one the engine knows" in p for p in problems)


class Fee(FrozenModel):
    amount: Amount


@pytest.mark.parametrize("written, expected", [("9.99", Decimal("9.99")), (5, Decimal(5)), ("0.0350", Decimal("0.0350"))])
def test_amounts_are_exact_decimals(written, expected):
    assert Fee(amount=written).amount == expected


@pytest.mark.parametrize("written, reason", [(9.99, "is a float"), ("-1", "is negative"), ("nine", "is not an amount")])
def test_floats_negative_and_words_are_refused_as_money(written, reason):
    with pytest.raises(ValueError, match=reason):
        Fee(amount=written)


def test_loaded_config_is_immutable(tmp_path):
    config = load_config(copy_project_config(tmp_path), environ={})
    with pytest.raises(Exception):
        config.engine.operator.short_code = "999"
