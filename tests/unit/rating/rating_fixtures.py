"""A small tariff with round numbers, so each test can show its arithmetic by hand.

Imported by the test modules of this folder (pytest puts the folder on sys.path).
"""

from __future__ import annotations

import copy
from datetime import datetime

from engine.rating.tariffs import TariffsFile, compile_tariff
from engine.rating.zones import NumberCanonicaliser

CANONICAL = NumberCanonicaliser("GB")

TIME_ZONE = "Europe/London"
SUBSCRIBER = "+447400000001"

# Retail "card": uk_mobile per band 0.12 / 0.06 / 0.03 a minute in 60/60; uk_fixed 0.06 in 30/6;
# premium 1.20 + 0.25 connect, minimum 0.50, 1/1; france 0.30 + 0.10 connect, 1/1; europe 0.90 60/60.
# Data 0.02 per MB (1 MB = 1,000,000 bytes) in 100,000-byte blocks.
# Wholesale "host": every voice zone 0.006/min 1/1, sms 0.002, data 0.001/MB per byte.
TARIFF = {
    "default_plan": "payg",
    "band_boundary": "start",
    "wholesale_rate_card": "host",
    "time_bands": {
        "default": "off_peak",
        "holiday_band": "weekend",
        "public_holidays": ["2026-12-25"],
        "windows": [
            {"band": "peak", "days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00", "to": "19:00"},
            {"band": "weekend", "days": ["sat", "sun"], "from": "00:00", "to": "24:00"},
        ],
    },
    "zones": {
        "uk_mobile": {"prefixes": ["+447"]},
        "uk_fixed": {"prefixes": ["+441", "+442"]},
        "premium": {"prefixes": ["+449", "+4470", "118"]},
        "zero": {"prefixes": ["999", "112", "767"], "zero_rated": True},
        "france": {"prefixes": ["+33"]},
        "europe": {"prefixes": ["+3"]},
    },
    "roaming_zones": {"eu": {"roam_like_at_home": True}, "world": {}},
    "rate_cards": {
        "card": {
            "voice": {
                "uk_mobile": {"per_minute": {"peak": "0.12", "off_peak": "0.06", "weekend": "0.03"}, "increments": "60/60"},
                "uk_fixed": {"per_minute": "0.06", "increments": "30/6"},
                "premium": {"per_minute": "1.20", "connect": "0.25", "minimum": "0.50", "increments": "1/1"},
                "france": {"per_minute": "0.30", "connect": "0.10", "increments": "1/1"},
                "europe": {"per_minute": "0.90", "increments": "60/60"},
            },
            "sms": {"uk_mobile": "0.05", "uk_fixed": "0.05", "premium": "0.40", "france": "0.10", "europe": "0.20"},
            "data": {"per_mb": "0.02", "block_bytes": 100_000},
            "roaming": {
                "world": {
                    "voice": {"per_minute": "1.50", "increments": "60/60"},
                    "sms": "0.30",
                    "data": {"per_mb": "5.00", "block_bytes": 1000},
                }
            },
        },
        "host": {
            "voice": {zone: {"per_minute": "0.006", "increments": "1/1"} for zone in ("uk_mobile", "uk_fixed", "premium", "zero", "france", "europe")},
            "sms": {zone: "0.002" for zone in ("uk_mobile", "uk_fixed", "premium", "zero", "france", "europe")},
            "data": {"per_mb": "0.001", "block_bytes": 1},
            "roaming": {
                zone: {"voice": {"per_minute": "0.30", "increments": "1/1"}, "sms": "0.01", "data": {"per_mb": "0.50", "block_bytes": 1}}
                for zone in ("eu", "world")
            },
        },
    },
    "plans": {
        "payg": {"name": "Pay as you go", "monthly_fee": "0", "rate_card": "card"},
        # 600 s of calls to UK mobiles and landlines, 2 texts to UK mobiles, 1,000,000 bytes.
        "bundle": {
            "name": "Bundle",
            "monthly_fee": "10.00",
            "rate_card": "card",
            "allowances": {
                "voice": {"amount": 600, "zones": ["uk_mobile", "uk_fixed"]},
                "sms": {"amount": 2, "zones": ["uk_mobile"]},
                "data": {"amount": 1_000_000},
            },
        },
    },
}


def tariff_data(**changes) -> dict:
    data = copy.deepcopy(TARIFF)
    data.update(changes)
    return data


def make_tariff(**changes):
    return compile_tariff(TariffsFile.model_validate(tariff_data(**changes)), TIME_ZONE, "GB")


def epoch(text: str) -> int:
    """ISO 8601 with offset -> epoch seconds."""
    return int(datetime.fromisoformat(text).timestamp())


def record(service: str, start: str, duration: int = 0, volume: int = 0, called: str = "", roaming: str = "",
           msisdn: str = SUBSCRIBER, record_id: str = "r1") -> tuple:
    """A record as the parser makes it (called number canonical: "07700900123" -> "+447700900123")."""
    return (1, record_id, msisdn, service, epoch(start), duration, volume, CANONICAL(called) if called else "", roaming)
