"""Rating: a usage record in, its retail and wholesale charges out, integer micro-units only.

`Rater.rate(record)` takes a record tuple (`records.UsageRecord` layout) and returns a tuple in
`RatedRecord` layout, or raises `RatingError` with a reason for suspense (unknown subscriber,
no zone for the called number, unknown roaming zone). `Rater.rate_rows(records)` rates a batch in
one loop and gives each rated record's stored row (record and result in one tuple) and each
failure's position and reason. It keeps the allowance counters it is
given, so a bulk importer rates a file's records in `rating_order` with one `Rater` and stores
each result; re-rating the same records from the same seeded counters gives identical results.

The rules, in the order they apply (docs/rating.md has the worked examples):
- Zone: the longest prefix of the canonical called number (voice, sms); data has no zone.
- Zero-rated zones are free at retail and take nothing from bundles; wholesale still prices them.
- Roaming: a roam-like-at-home zone uses the plan's home rates and bundles; any other roaming
  zone uses the card's rates for that zone and no bundle.
- Bundles cover the earliest units of a record; the rest is charged.
- Voice: billed seconds = `first` increment, then whole `next` increments; a call partly in the
  bundle is charged for its remaining seconds in whole `next` increments, without connect fee or
  minimum (the call was set up in the bundle). A wholly charged call costs
  max(connect + time charge, minimum). Zero-second calls cost nothing.
- Bands: `band_boundary = "start"` prices the whole call at the band in force when it started;
  `"split"` prices each charged second at its own band, and the increment rounding at the band
  of the last second.
- Data: the charged bytes of a session are rounded up to whole blocks, then priced per megabyte.
- SMS: one message per record at the zone's price.
- Each price is rounded once, half-up to a micro-unit (`money.divide_half_up`).
"""

from __future__ import annotations

from operator import add
from typing import Iterable, Mapping, NamedTuple

from engine.rating.records import DATA, SMS, VOICE, UsageRecord
from engine.rating.tariffs import CompiledVoiceRate, Tariff

NO_ZONE = ""  # the zone of a data record


# Rater totals: six sums packed in one int, 96 bits a field (signed: any sum within +-4e28, far
# beyond a subscriber's bytes or micro-units in a period), so a record adds one int.
_FIELD_BITS = 96
_Q, _I, _B, _R, _W = (1 << (_FIELD_BITS * n) for n in range(1, 6))
_FIELD_MASK = (1 << _FIELD_BITS) - 1
_FIELD_SIGN = 1 << (_FIELD_BITS - 1)


def _unpack(packed: int) -> list[int]:
    """[records, quantity, included, billed, retail, wholesale] from their packed sum."""
    sums = []
    for _ in range(6):
        value = packed & _FIELD_MASK
        if value >= _FIELD_SIGN:
            value -= 1 << _FIELD_BITS
        sums.append(value)
        packed = (packed - value) >> _FIELD_BITS
    return sums


class RatedRecord(NamedTuple):
    period: str  # "YYYY-MM" in the operator's time zone, by start time
    plan: str
    zone: str  # destination zone code; NO_ZONE for data
    band: str  # time band at the start of the record
    included: int  # units from the bundle (seconds, messages, bytes)
    chargeable: int  # units not from the bundle; included + chargeable = the record's quantity
    billed: int  # chargeable units after increment/block rounding (0 when free)
    retail: int  # micro-units charged to the subscriber
    wholesale: int  # micro-units the host network charges us


# A stored row (Rater.rate_rows) begins with these record fields: UsageRecord's without the line number.
ROW_RECORD_FIELDS = UsageRecord._fields[1:]
ROW_WIDTH = len(ROW_RECORD_FIELDS) + len(RatedRecord._fields)
ROW_PERIOD = len(ROW_RECORD_FIELDS) + RatedRecord._fields.index("period")  # where a row's usage period is


class RatingError(ValueError):
    """The record cannot be rated with this tariff and subscriber list; the reason says why."""


def rating_order(record) -> tuple:
    """Sort key that makes bundle consumption deterministic: start time, subscriber, record id."""
    return (record[4], record[2], record[1])


class Rater:
    def __init__(
        self, tariff: Tariff, plan_of: Mapping[str, str], counters: dict | None = None, totals: dict | None = None
    ):
        """plan_of: subscriber msisdn (E.164) -> plan code for the records being rated.
        counters: allowance counters to continue from (see allowances.seed_counters).
        totals: when given, every rated record is also summed, and `collect_totals()` adds the sums
        to `totals[(msisdn, period, service)] = [records, quantity, included, billed, retail, wholesale]`
        (quantity = included + chargeable): the sums a bulk importer stores beside the records. They
        are summed here, where the values are at hand, because a second pass over the result tuples
        costs nearly as much as rating them; and each record's six numbers are packed into one int
        (96 bits a field) added to one sum per (msisdn, period, service), because six list
        updates scattered over tens of thousands of keys cost more than the rest of rating. The
        caller may empty `totals` whenever it has read it."""
        self.tariff = tariff
        self.plan_of = plan_of
        self.counters = {} if counters is None else counters
        self.totals = totals
        # Packed sums (see collect_totals): each subscriber's for its current period are kept in its
        # entry of `_subscribers`, beside its plan, and moved to `_packed` (period -> (voice, sms,
        # data) dicts of msisdn -> packed sums) when its records reach another period.
        self._packed: dict[str, tuple[dict, dict, dict]] = {}
        self._active = [0]  # subscribers whose entry holds sums
        # msisdn -> [plan fields (see _plan), period of the sums or None, voice, sms, data sums]
        self._subscribers: dict = {}
        self._at = tariff.timeline.at
        self._split = tariff.split_at_band_boundary
        self._megabyte = tariff.megabyte_bytes
        self.rate_rows = self._rate_function()

    def _plan(self, msisdn: str):
        code = self.plan_of.get(msisdn)
        if code is None:
            raise RatingError(f"subscriber {msisdn} is unknown (expected a subscriber with a plan)")
        plan = self.tariff.plans.get(code)
        if plan is None:
            raise RatingError(f"subscriber {msisdn} has plan {code!r}, which tariffs.toml does not define")
        # The fields the rating loop reads, flat: one tuple unpacking instead of attribute lookups.
        card = plan.card
        fields = (
            plan.code, card.voice, card.sms, card.data, card.roaming,
            plan.voice_seconds, plan.voice_zones, plan.sms_messages, plan.sms_zones, plan.data_bytes,
        )
        entry = self._subscribers[msisdn] = [fields, None, 0, 0, 0]
        return entry

    def _move_sums(self, msisdn: str, entry: list, period: str | None) -> None:
        """A subscriber's packed sums from its entry to `_packed`; the entry then sums `period`."""
        held = entry[1]
        if held is None:
            self._active[0] += 1
        else:
            tables = self._packed.get(held)
            if tables is None:
                tables = self._packed[held] = ({}, {}, {})
            for table, packed in zip(tables, entry[2:]):
                if packed:
                    table[msisdn] = table.get(msisdn, 0) + packed
            entry[2:] = (0, 0, 0)
            if period is None:
                self._active[0] -= 1
        entry[1] = period

    def collect_totals(self) -> int:
        """Add the sums packed since the last call to `totals` (see __init__); returns how many
        (msisdn, period, service) keys `totals` holds."""
        totals = self.totals
        if totals is None:
            return 0
        for msisdn, entry in self._subscribers.items():
            if entry[1] is not None:
                self._move_sums(msisdn, entry, None)
        for period, tables in self._packed.items():
            for service, table in zip((VOICE, SMS, DATA), tables):
                for msisdn, packed in table.items():
                    sums = _unpack(packed)
                    key = (msisdn, period, service)
                    before = totals.get(key)
                    totals[key] = sums if before is None else list(map(add, before, sums))
        self._packed.clear()
        return len(totals)

    def totals_keys(self) -> int:
        """How many (msisdn, period, service) keys are summed and not yet collected."""
        return 3 * self._active[0] + sum(len(table) for tables in self._packed.values() for table in tables)

    def rate(self, record) -> tuple:
        """One record (UsageRecord layout) -> a RatedRecord-layout tuple. Raises RatingError."""
        rows, failed = self.rate_rows((record,))
        if failed:
            raise RatingError(failed[0][1])
        return rows[0][len(ROW_RECORD_FIELDS):]

    def rate_rows(self, records, one_list: bool = False) -> tuple[list, list[tuple[int, str]]]:  # see _rate_function
        """Records (UsageRecord layout, in rating order) -> (rows, failed). A row is what is stored
        for a rated record: its fields without the line number, then its RatedRecord fields
        (`ROW_WIDTH` values, `ROW_RECORD_FIELDS` + `RatedRecord._fields`), built in the rating
        loop so the importer does not join two tuples per record. With `one_list`, `rows` is one list
        of the rows' values in turn, as SQLite's multi-row INSERT takes them (flattening the
        tuples afterwards cost ~0.3 µs a record). `failed`: (the record's position in `records`,
        the reason) for each record not rated."""
        raise NotImplementedError

    def _rate_function(self):
        # A closure over everything the loop reads: local names instead of attribute lookups,
        # worth about a third of the rating time.
        tariff = self.tariff
        counters = self.counters
        plans = self._subscribers
        find_plan = self._plan
        minute_cache = tariff.timeline.minute_cache
        timeline_at = tariff.timeline.at
        band_names = tariff.band_names
        zone_of = tariff.zones.match
        zone_stems = tariff.zones.by_stem
        stem_length = tariff.zones.stem_length
        zero_rated = tariff.zero_rated
        roaming_zones = tariff.roaming_zones
        wholesale_card = tariff.wholesale
        voice_price = self._voice_price
        megabyte = self._megabyte
        two_megabytes = 2 * megabyte
        wholesale_voice, wholesale_sms, wholesale_roaming = wholesale_card.voice, wholesale_card.sms, wholesale_card.roaming
        if wholesale_card.data is not None:
            wholesale_per_mb, wholesale_block = wholesale_card.data
        else:  # as before: a data record then fails when it unpacks the missing rate
            wholesale_per_mb = wholesale_block = None
        totals = self.totals
        move_sums = self._move_sums

        def rate_rows(records, one_list: bool = False) -> tuple[list, list[tuple[int, str]]]:
            rows: list = []
            failed: list[tuple[int, str]] = []
            append = rows.extend if one_list else rows.append
            # One loop for the batch: a call per record cost ~0.15 µs. A record that cannot be rated
            # raises RatingError inside the loop; its position is the records handled before it.
            for record in records:
                try:
                    _, record_id, msisdn, service, start, duration, volume, called, roaming = record
                    entry = plans.get(msisdn) or find_plan(msisdn)
                    (
                        code, card_voice, card_sms, card_data, card_roaming,
                        voice_seconds, voice_zones, sms_messages, sms_zones, data_bytes,
                    ) = entry[0]
                    band, _, period = minute_cache.get(start // 60) or timeline_at(start)
                    if roaming:
                        like_home = roaming_zones.get(roaming)
                        if like_home is None:
                            raise RatingError(
                                f"roaming zone {roaming!r} is unknown (expected one of {', '.join(sorted(roaming_zones))})"
                            )
                    else:
                        like_home = True

                    if service == DATA:
                        slot = 4  # the service's sums in the subscriber's entry: voice 2, sms 3, data 4
                        included = 0
                        if not like_home:
                            per_mb, block = card_roaming[roaming].data
                        else:
                            per_mb, block = card_data
                            if data_bytes:
                                # allowances.consume, inlined (as for voice and SMS below).
                                key = (msisdn, period, DATA)
                                used = counters.get(key, 0)
                                if used < data_bytes:
                                    included = volume if volume < data_bytes - used else data_bytes - used
                                    counters[key] = used + included
                        chargeable = volume - included
                        if chargeable > 0:
                            # Whole blocks, then money.divide_half_up(billed * per_mb, megabyte) inlined.
                            billed = -(-chargeable // block) * block
                            retail = (2 * billed * per_mb + megabyte) // two_megabytes
                        else:
                            billed = retail = 0
                        if roaming:
                            per_mb, block = wholesale_roaming[roaming].data
                            wholesale = -(-volume // block) * block
                            wholesale = (2 * wholesale * per_mb + megabyte) // two_megabytes
                        else:
                            wholesale = -(-volume // wholesale_block) * wholesale_block
                            wholesale = (2 * wholesale * wholesale_per_mb + megabyte) // two_megabytes
                        zone = NO_ZONE
                    else:
                        # PrefixTable.match's cache probed here first ("" there means no zone: match answers).
                        zone = zone_stems.get(called[:stem_length]) or zone_of(called)
                        if zone is None:
                            raise RatingError(
                                f"called number {called!r} is in no zone (expected a prefix in tariffs.toml zones)"
                            )

                        if service == VOICE:
                            slot = 2
                            included = 0
                            if zone in zero_rated:
                                billed = retail = 0
                            else:
                                if not like_home:
                                    rate = card_roaming[roaming].voice
                                else:
                                    rate = card_voice[zone]
                                    if voice_seconds and zone in voice_zones:
                                        key = (msisdn, period, VOICE)
                                        used = counters.get(key, 0)
                                        if used < voice_seconds and duration > 0:
                                            included = duration if duration < voice_seconds - used else voice_seconds - used
                                            counters[key] = used + included
                                connect, minimum, first, following, _, flat = rate
                                if included == duration:
                                    billed = retail = 0  # wholly in the bundle, or a 0-second call
                                elif included or flat is None:
                                    billed, retail = voice_price(rate, start, included, duration - included, band)
                                else:
                                    # _voice_price's commonest case (one price, no bundle), inlined.
                                    billed = first if duration <= first else first - (first - duration) // following * following
                                    retail = (billed * flat + 30) // 60 + connect
                                    if retail < minimum:
                                        retail = minimum
                            rate = wholesale_roaming[roaming].voice if roaming else wholesale_voice[zone]
                            connect, minimum, first, following, _, flat = rate
                            if flat is None or not duration:
                                wholesale = voice_price(rate, start, 0, duration, band)[1]
                            else:
                                wholesale = (first if duration <= first else first - (first - duration) // following * following)
                                wholesale = (wholesale * flat + 30) // 60 + connect
                                if wholesale < minimum:
                                    wholesale = minimum
                            chargeable = duration - included
                        elif service == SMS:
                            slot = 3
                            included = 0
                            if zone in zero_rated:
                                billed = retail = 0
                            elif not like_home:
                                billed = 1
                                retail = card_roaming[roaming].sms
                            else:
                                if sms_messages and zone in sms_zones:
                                    key = (msisdn, period, SMS)
                                    used = counters.get(key, 0)
                                    if used < sms_messages:
                                        included = 1
                                        counters[key] = used + 1
                                billed = 1 - included
                                retail = card_sms[zone] * billed
                            wholesale = wholesale_roaming[roaming].sms if roaming else wholesale_sms[zone]
                            chargeable = 1 - included
                        else:
                            raise RatingError(f"service {service!r} is unknown (expected voice, sms or data)")

                    if totals is not None:
                        # [records, quantity, included, billed, retail, wholesale] packed in one int.
                        if entry[1] != period:
                            move_sums(msisdn, entry, period)
                        packed = 1 + (included + chargeable) * _Q + wholesale * _W
                        if included:
                            packed += included * _I
                        if billed:
                            packed += billed * _B
                        if retail:
                            packed += retail * _R
                        entry[slot] += packed
                    append((
                        record_id, msisdn, service, start, duration, volume, called, roaming,
                        period, code, zone, band_names[band], included, chargeable, billed, retail, wholesale,
                    ))
                except RatingError as problem:
                    failed.append(((len(rows) // ROW_WIDTH if one_list else len(rows)) + len(failed), str(problem)))
            return rows, failed

        return rate_rows

    def _voice_price(self, rate: CompiledVoiceRate, start: int, included: int, seconds: int, start_band: int):
        """(billed seconds, micro-units) for `seconds` of a call after `included` bundle seconds."""
        if seconds <= 0:
            return 0, 0
        connect, minimum, first, following, per_minute, flat = rate
        continuation = included > 0
        if continuation:
            billed = -(-seconds // following) * following
        elif seconds <= first:
            billed = first
        else:
            billed = first + -(-(seconds - first) // following) * following
        if flat is not None:
            numerator = billed * flat
        elif not self._split:
            numerator = billed * per_minute[start_band]
        else:
            begin = start + included
            band, run_end, _ = self._at(begin)
            if begin + seconds <= run_end:
                numerator = billed * per_minute[band]
            else:
                numerator = 0
                for band, piece_seconds in self.tariff.timeline.split(begin, seconds):
                    numerator += piece_seconds * per_minute[band]
                # The rounding-up beyond the last real second is priced at the last second's band.
                numerator += (billed - seconds) * per_minute[band]
        price = (numerator + 30) // 60  # money.divide_half_up(numerator, 60), inlined; never negative
        if not continuation:
            price = max(price + connect, minimum)
        return billed, price

    def rate_all(self, records: Iterable) -> tuple[list, list]:
        """Rate records in rating order: ([(record, rated)], [(record, RatingError)])."""
        ordered = sorted(records, key=rating_order)
        rows, failed = self.rate_rows(ordered)
        skipped = {position for position, _ in failed}
        rated = [record for position, record in enumerate(ordered) if position not in skipped]
        width = len(ROW_RECORD_FIELDS)
        return (
            [(record, row[width:]) for record, row in zip(rated, rows)],
            [(ordered[position], RatingError(reason)) for position, reason in failed],
        )


def totals_by_subscriber(rated: Iterable[tuple]) -> dict[tuple[str, str], int]:
    """Retail micro-units per (msisdn, period), from (record, rated) pairs: the usage invoice line."""
    totals: dict[tuple[str, str], int] = {}
    for record, result in rated:
        key = (record[2], result[0])
        totals[key] = totals.get(key, 0) + result[7]
    return totals
