"""Included allowances: how much of a record a plan's bundle covers, and the running counters.

Counters are a plain dict `{(msisdn, period, allowance): units used}` where `allowance` is the
service name ("voice" seconds, "sms" messages, "data" bytes): one bundle per service per plan.
A bulk importer keeps one dict for a whole file (or a whole run) and seeds it from the stored
totals of the records already rated in the period (`seed_counters`), so a subscriber's bundle is
consumed across files exactly as it would be within one.

Consumption is in time order: the importer rates a file's records sorted by start time (see
`rater.rating_order`). A record that crosses the end of the bundle is split: `included` units
come from the bundle and the rest is charged. A record that arrives in a later file but started
earlier than records already rated takes what is left; re-rating the period from its stored
records restores strict time order, deterministically.
"""

from __future__ import annotations

from typing import Iterable

AllowanceKey = tuple[str, str, str]  # (msisdn E.164, period "YYYY-MM", service)


def consume(counters: dict, key: AllowanceKey, amount: int, quantity: int) -> int:
    """Take up to `quantity` units from a bundle of `amount`; return the units included."""
    used = counters.get(key, 0)
    left = amount - used
    if left <= 0 or quantity <= 0:
        return 0
    included = quantity if quantity < left else left
    counters[key] = used + included
    return included


def seed_counters(totals: Iterable[tuple[str, str, str, int]], counters: dict | None = None) -> dict:
    """Counters from stored totals: rows of (msisdn, period, service, included units so far)."""
    counters = {} if counters is None else counters
    for msisdn, period, service, used in totals:
        key = (msisdn, period, service)
        counters[key] = counters.get(key, 0) + used
    return counters


def remaining(counters: dict, key: AllowanceKey, amount: int) -> int:
    """Units left in a bundle, for balance enquiries (`*NNN#`, "BAL" by SMS)."""
    return max(0, amount - counters.get(key, 0))
