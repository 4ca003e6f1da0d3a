import pytest
from rating_fixtures import make_tariff

from engine.numbers import normalise_msisdn
from engine.rating.zones import NumberCanonicaliser, PrefixTable


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("+447700900123", "+447700900123"),
        ("447700900123", "+447700900123"),  # international without the plus (TON=1)
        ("07700 900123", "+447700900123"),  # national, with a space
        ("07700900123", "+447700900123"),
        ("00331234567890", "+331234567890"),
        ("999", "999"),  # short codes stay as dialled
        ("112", "112"),
        ("118118", "118118"),
        ("767", "767"),
        ("*123#", "*123#"),  # not a number at all: kept, and will match no zone
    ],
)
def test_canonical_numbers(given, canonical):
    assert NumberCanonicaliser("GB")(given) == canonical


@pytest.mark.parametrize("given", ["447400123456", "07400 123456", "00447400123456", "+447400123456", "020 7123 4567"])
def test_canonical_form_agrees_with_the_engines_normaliser_for_valid_numbers(given):
    assert NumberCanonicaliser("GB")(given) == normalise_msisdn(given, "GB")


def test_longest_prefix_wins():
    zones = make_tariff().zones
    assert zones.match("+447700900123") == "uk_mobile"  # +447
    assert zones.match("+447000123456") == "premium"  # +4470 is longer than +447
    assert zones.match("+33123456789") == "france"  # +33 is longer than +3
    assert zones.match("+39123456789") == "europe"
    assert zones.match("999") == "zero"
    assert zones.match("118118") == "premium"
    assert zones.match("+61123456789") is None


def test_cached_answers_respect_prefixes_longer_than_the_stem():
    table = PrefixTable([("+44", "uk"), ("+443001234567", "care")], stem_length=7)
    assert table.match("+443001234567") == "care"
    assert table.match("+443001234568") == "uk"
    assert table.match("+443001234567") == "care"  # again, after a cached neighbour
    assert table.match("+443009999999") == "uk"


def test_a_prefix_in_two_places_is_refused():
    with pytest.raises(ValueError, match="listed twice"):
        PrefixTable([("+44", "a"), ("+44", "b")])
