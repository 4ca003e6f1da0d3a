"""Pure pacing helpers for an SMPP bind: reconnect backoff and a throughput token bucket.

Both take time as an argument (`now`, seconds on any monotonic clock) and
never read a clock or sleep, so the Twisted adapter drives them with
`reactor.seconds()` and tests with plain numbers.
"""

from __future__ import annotations

import random as _random
from typing import Callable

__all__ = ["ReconnectBackoff", "TokenBucket"]


class ReconnectBackoff:
    """Exponential backoff with jitter between reconnect attempts.

    The ceiling doubles per failed attempt from `min_seconds` up to
    `max_seconds`; each delay is drawn from the upper half of the ceiling
    ("equal jitter") so that many engine processes restarted together do not
    reconnect in lockstep, yet no delay collapses towards zero. `reset()`
    after a successful bind.
    """

    def __init__(self, min_seconds: float, max_seconds: float,
                 random: Callable[[], float] = _random.random, multiplier: float = 2.0) -> None:
        if not 0 < min_seconds <= max_seconds:
            raise ValueError(f"backoff needs 0 < min_seconds <= max_seconds, got {min_seconds}, {max_seconds}")
        if multiplier < 1:
            raise ValueError(f"backoff multiplier must be >= 1, got {multiplier}")
        self.min_seconds = min_seconds
        self.max_seconds = max_seconds
        self.multiplier = multiplier
        self._random = random
        self.attempts = 0

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt; counts the attempt."""
        ceiling = min(self.max_seconds, self.min_seconds * self.multiplier ** self.attempts)
        self.attempts += 1
        delay = ceiling / 2 + self._random() * ceiling / 2
        return max(self.min_seconds, min(self.max_seconds, delay))

    def reset(self) -> None:
        self.attempts = 0


class TokenBucket:
    """At most `rate_per_second` operations on average, bursts up to `burst`.

    Starts full. Time going backwards (a clock adjustment) is treated as no
    time passing rather than refunding or charging tokens.
    """

    def __init__(self, rate_per_second: float, burst: int, now: float) -> None:
        if rate_per_second <= 0:
            raise ValueError(f"rate_per_second must be positive, got {rate_per_second}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.rate_per_second = rate_per_second
        self.burst = burst
        self._tokens = float(burst)
        self._updated = now

    def _refill(self, now: float) -> None:
        elapsed = now - self._updated
        if elapsed > 0:
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate_per_second)
            self._updated = now

    def available(self, now: float) -> int:
        self._refill(now)
        return int(self._tokens)

    def try_take(self, now: float, count: int = 1) -> bool:
        """Take `count` tokens if all are available; otherwise take none."""
        self._refill(now)
        if self._tokens >= count:
            self._tokens -= count
            return True
        return False

    def seconds_until_available(self, now: float, count: int = 1) -> float:
        """0 when `count` tokens can be taken now, else how long until they can."""
        if count > self.burst:
            raise ValueError(f"{count} tokens can never be available at once (burst is {self.burst})")
        self._refill(now)
        missing = count - self._tokens
        return 0.0 if missing <= 0 else missing / self.rate_per_second
