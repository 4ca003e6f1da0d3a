"""Time bands (peak, off-peak, weekend, holiday...) in the operator's time zone, looked up fast.

The configured week is a list of windows (days + local start/end minute); minutes no window names
take the default band, and a public holiday takes the holiday band all day. Lookups go by epoch
seconds: `BandTimeline.at(epoch)` returns `(band_index, run_end_epoch, period)` where `run_end` is
the first instant at which the band may change (a window edge or local midnight) and `period` is
the billing month `YYYY-MM` in the operator's zone. Answers are cached per UTC minute; that is
exact because band edges are whole local minutes and every zone's offset is whole minutes, and it
makes DST days right by construction: zoneinfo does each conversion once per minute, never the
hot loop.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Iterable
from zoneinfo import ZoneInfo

MINUTES_PER_DAY = 24 * 60
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CACHE_LIMIT = 600_000  # over a year of minutes; cleared, not grown, beyond that


class BandTimeline:
    def __init__(
        self,
        time_zone: str,
        band_names: tuple[str, ...],
        week: list[list[int]],
        holidays: Iterable[date] = (),
        holiday_band: int | None = None,
    ):
        """`week[weekday][minute_of_day]` is a band index (weekday 0 = Monday)."""
        self.zone = ZoneInfo(time_zone)
        self.band_names = band_names
        self.holidays = frozenset(holidays)
        self.holiday_band = holiday_band
        # Per weekday: runs (end_minute, band) in order, so a lookup finds the first end > minute.
        self._runs: list[tuple[tuple[int, int], ...]] = [self._runs_of(day) for day in week]
        # UTC minute (epoch // 60) -> at()'s answer; the rater probes it directly.
        self.minute_cache: dict[int, tuple[int, int, str]] = {}

    @staticmethod
    def _runs_of(minutes: list[int]) -> tuple[tuple[int, int], ...]:
        runs = []
        for minute in range(1, MINUTES_PER_DAY + 1):
            if minute == MINUTES_PER_DAY or minutes[minute] != minutes[minute - 1]:
                runs.append((minute, minutes[minute - 1]))
        return tuple(runs)

    def at(self, epoch: int) -> tuple[int, int, str]:
        """(band index, end of this band's run in epoch seconds, period "YYYY-MM")."""
        minute = epoch // 60
        found = self.minute_cache.get(minute)
        if found is None:
            found = self._compute(minute * 60)
            cache = self.minute_cache
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            # Every minute up to the run's end has the same answer, so they are cached at once (a
            # month has a few hundred runs, not 44,640 minutes, to convert), unless the UTC offset
            # or the local day changes inside the run: there each minute is computed on its own.
            for later in range(minute, minute + self._minutes_alike(minute * 60, found[1])):
                cache[later] = found
        return found

    def _minutes_alike(self, minute_epoch: int, run_end: int) -> int:
        """How many minutes from `minute_epoch` share its answer: all to `run_end` when the local
        clock runs evenly (one date, one UTC offset) up to it, else just this one."""
        last = run_end - 60
        if last <= minute_epoch:
            return 1
        first, final = datetime.fromtimestamp(minute_epoch, self.zone), datetime.fromtimestamp(last, self.zone)
        if first.date() != final.date() or first.utcoffset() != final.utcoffset():
            return 1
        return (run_end - minute_epoch) // 60

    def band_name_at(self, epoch: int) -> str:
        return self.band_names[self.at(epoch)[0]]

    def _compute(self, minute_epoch: int) -> tuple[int, int, str]:
        local = datetime.fromtimestamp(minute_epoch, self.zone)
        day = local.date()
        period = f"{day.year:04d}-{day.month:02d}"
        if day in self.holidays and self.holiday_band is not None:
            band, end_minute = self.holiday_band, MINUTES_PER_DAY
        else:
            minute = local.hour * 60 + local.minute
            for end_minute, band in self._runs[day.weekday()]:
                if end_minute > minute:
                    break
        return band, self._epoch_of(day, end_minute, minute_epoch), period

    def _epoch_of(self, day: date, minute_of_day: int, after: int) -> int:
        """The epoch of local wall-clock `day` + `minute_of_day`, the first such instant after `after`."""
        wall = datetime.combine(day, time()) + timedelta(minutes=minute_of_day)
        for fold in (0, 1):
            # fold picks the first or second 01:30 on the autumn change day; in the spring gap
            # zoneinfo maps the missing wall time past the gap, which is still a valid run end.
            epoch = int(wall.replace(tzinfo=self.zone, fold=fold).timestamp())
            if epoch > after:
                return epoch
        return after + 60

    def split(self, start: int, seconds: int) -> list[tuple[int, int]]:
        """The seconds of [start, start+seconds) per band run, in time order: [(band, seconds)]."""
        pieces = []
        moment, left = start, seconds
        while left > 0:
            band, run_end, _ = self.at(moment)
            piece = min(left, run_end - moment)
            if pieces and pieces[-1][0] == band:
                pieces[-1] = (band, pieces[-1][1] + piece)
            else:
                pieces.append((band, piece))
            moment += piece
            left -= piece
        return pieces


def period_bounds(period: str, time_zone: str) -> tuple[int, int]:
    """[start, end) epoch seconds of billing month "YYYY-MM" in the operator's zone."""
    year, month = int(period[:4]), int(period[5:7])
    zone = ZoneInfo(time_zone)
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return int(start.timestamp()), int(end.timestamp())
