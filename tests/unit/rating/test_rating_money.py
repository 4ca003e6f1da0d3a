from decimal import Decimal

import pytest

from engine.rating.money import (
    decimal_from_micros,
    divide_half_up,
    micros_from_decimal,
    micros_from_minor_units,
    minor_units_from_micros,
)


def test_config_amounts_become_exact_micro_units():
    assert micros_from_decimal(Decimal("0.035")) == 35_000
    assert micros_from_decimal(Decimal("12")) == 12_000_000
    assert micros_from_decimal(Decimal("0.000001")) == 1
    assert decimal_from_micros(1_234_567) == Decimal("1.234567")


def test_amounts_finer_than_a_micro_unit_are_refused():
    with pytest.raises(ValueError, match="more than 6 decimal places"):
        micros_from_decimal(Decimal("0.0000001"))


def test_record_rounding_is_half_up_to_the_micro_unit():
    # 1 second at 0.0001/minute = 100/60 = 1.67 micro-units -> 2; 30/60 = 0.5 -> 1; 29/60 -> 0.
    assert divide_half_up(100, 60) == 2
    assert divide_half_up(30, 60) == 1
    assert divide_half_up(29, 60) == 0
    assert divide_half_up(-30, 60) == -1  # refunds round away from zero like charges


@pytest.mark.parametrize(
    ("micros", "rule", "pence"),
    [
        (12_345_000, "half_up", 1235),  # 12.345 -> 12.35
        (12_345_000, "half_even", 1234),  # 4 is even: stays
        (12_355_000, "half_even", 1236),  # 5 is odd: goes up
        (12_345_999, "down", 1234),
        (12_340_001, "up", 1235),
        (-12_345_000, "half_up", -1235),
        (-12_340_001, "down", -1234),
        (0, "up", 0),
    ],
)
def test_invoice_line_rounding_rules(micros, rule, pence):
    assert minor_units_from_micros(micros, 2, rule) == pence


def test_currencies_without_minor_units():
    # XOF has no minor unit: 1,500,000 micro-units = 1.5 -> 2 francs half-up.
    assert minor_units_from_micros(1_500_000, 0) == 2
    assert micros_from_minor_units(1235, 2) == 12_350_000
