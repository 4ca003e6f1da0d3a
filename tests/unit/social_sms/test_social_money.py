"""Amounts typed by subscribers become exact integer minor units; floats never appear."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.social_sms.money import BadAmount, cause_share, format_amount, parse_amount, share_percent


@pytest.mark.parametrize("text, minor", [
    ("5", 500), ("5.50", 550), ("5,50", 550), ("£5", 500), ("£5.5", 550), ("5,50 £", 550), ("5 GBP", 500),
    ("0.01", 1), ("10.10", 1010), (" 7 ", 700), ("5gbp", 500),
])
def test_accepted_amounts(text, minor):
    assert parse_amount(text, "GBP", 2) == minor


@pytest.mark.parametrize("text", ["", "five", "5.555", "1,000", "-5", "5e3", "nan", "inf", "5..5", "£", "1.2.3", "½",
                                  "££5", "£5£"])
def test_refused_amounts(text):
    with pytest.raises(BadAmount):
        parse_amount(text, "GBP", 2)


@pytest.mark.parametrize("text", ["5€", "$3", "5 EUR", "€5", "5 USD"])
def test_another_currency_is_refused_not_read_as_the_bills(text):
    with pytest.raises(BadAmount, match="expected an amount in GBP"):
        parse_amount(text, "GBP", 2)
    assert parse_amount(text, "EUR" if ("€" in text or "EUR" in text) else "USD", 2) in (500, 300)


def test_currency_without_minor_units():
    assert parse_amount("500", "XOF", 0) == 500
    with pytest.raises(BadAmount, match="at most 0"):
        parse_amount("5.5", "XOF", 0)


def test_formatting_per_language():
    assert format_amount(550, "GBP", 2) == "£5.50"
    assert format_amount(550, "EUR", 2, ",", True) == "5,50 €"
    assert format_amount(500, "XOF", 0) == "500 XOF"
    assert format_amount(5, "GBP", 2) == "£0.05"


def test_cause_share_rounds_down_exactly():
    assert cause_share(1234, Decimal("0.10")) == 123  # 123.4 -> 123
    assert cause_share(1239, Decimal("0.10")) == 123  # 123.9 -> 123: never promise more than is paid
    assert cause_share(1000, Decimal("0.125")) == 125
    assert share_percent(Decimal("0.10")) == "10%" and share_percent(Decimal("0.125")) == "12.5%"


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=99))
def test_formatted_amounts_parse_back(whole, cents):
    minor = whole * 100 + cents
    assert parse_amount(format_amount(minor, "GBP", 2), "GBP", 2) == minor
    assert parse_amount(format_amount(minor, "EUR", 2, ",", True), "EUR", 2) == minor


@given(st.text(max_size=30))
def test_parse_amount_only_raises_bad_amount(text):
    try:
        assert parse_amount(text, "GBP", 2) >= 0
    except BadAmount:
        pass
