"""In-memory implementations of the social ports, for unit tests and the demo.

Dictionaries keyed the way the SQL tables are indexed, so each method mirrors one statement of the
SQLAlchemy repository. Not thread-safe; the engine never uses it with more than one caller.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Iterable, Iterator

from engine.social_sms.ports import (
    BillPreview,
    Follow,
    Gift,
    MessageClass,
    PendingGive,
    Post,
    Profile,
    Recipient,
    Subscriber,
    ThrottleState,
    require_page_size,
)


class MemoryRepository:
    def __init__(self) -> None:
        self.subscribers: dict[str, Subscriber] = {}
        self.handles: dict[str, str] = {}  # handle -> MSISDN (the unique index)
        self.follows: dict[tuple[str, str], Follow] = {}
        self.followers_of: dict[str, dict[str, None]] = defaultdict(dict)  # insertion-ordered set
        self.posts: list[Post] = []
        self.actions: dict[tuple[str, str], list[datetime]] = defaultdict(list)
        self.throttles: dict[str, ThrottleState] = {}
        self.pending_gives: dict[str, PendingGive] = {}
        self.gifts: list[Gift] = []

    # Subscribers
    def get_subscriber(self, msisdn: str) -> Subscriber | None:
        return self.subscribers.get(msisdn)

    def find_by_handle(self, handle: str) -> Subscriber | None:
        msisdn = self.handles.get(handle)
        return self.subscribers.get(msisdn) if msisdn else None

    def profile(self, handle: str) -> Profile | None:
        found = self.find_by_handle(handle)
        if found is None:
            return None
        return Profile(found, len(self.followers_of.get(found.msisdn, {})),
                       sum(1 for who, _ in self.follows if who == found.msisdn))

    def save_subscriber(self, subscriber: Subscriber) -> None:
        previous = self.subscribers.get(subscriber.msisdn)
        handle = previous.handle if previous else None
        self.subscribers[subscriber.msisdn] = replace(subscriber, handle=handle)

    def claim_handle(self, msisdn: str, handle: str) -> bool:
        holder = self.handles.get(handle)
        if holder not in (None, msisdn):
            return False
        subscriber = self.subscribers[msisdn]
        if subscriber.handle:
            self.handles.pop(subscriber.handle, None)
        self.handles[handle] = msisdn
        self.subscribers[msisdn] = replace(subscriber, handle=handle)
        return True

    # Follows
    def get_follow(self, follower: str, followee: str) -> Follow | None:
        return self.follows.get((follower, followee))

    def save_follow(self, follow: Follow) -> None:
        self.follows[(follow.follower, follow.followee)] = follow
        self.followers_of[follow.followee][follow.follower] = None

    def delete_follow(self, follower: str, followee: str) -> bool:
        if self.follows.pop((follower, followee), None) is None:
            return False
        self.followers_of[followee].pop(follower, None)
        return True

    def following_page(self, follower: str, limit: int) -> tuple[int, list[Follow]]:
        require_page_size(limit)
        mine = [f for (who, _), f in self.follows.items() if who == follower]
        return len(mine), list(reversed(mine))[:limit]

    def followers_page(self, followee: str, limit: int) -> tuple[int, list[str]]:
        require_page_size(limit)
        theirs = self.followers_of.get(followee, {})
        return len(theirs), list(reversed(theirs))[:limit]

    def notified_followers(self, followee: str) -> Iterator[Recipient]:
        for msisdn in list(self.followers_of.get(followee, {})):
            follow = self.follows[(msisdn, followee)]
            subscriber = self.subscribers.get(msisdn)
            if (subscriber and follow.notify and subscriber.notifications_on and not subscriber.opted_out
                    and subscriber.status != "terminated"):
                yield Recipient(msisdn, subscriber.language, subscriber.time_zone)

    # Posts
    def add_post(self, post: Post) -> None:
        self.posts.append(post)

    def recent_posts(self, author: str, since: datetime) -> list[Post]:
        return [p for p in self.posts if p.author == author and p.created_at > since]

    # Per-sender limits
    def record_action(self, msisdn: str, action: str, at: datetime) -> None:
        self.actions[(msisdn, action)].append(at)

    def count_actions(self, msisdn: str, action: str, since: datetime) -> int:
        return sum(1 for at in self.actions.get((msisdn, action), ()) if at > since)

    # Flood control
    def get_throttle(self, msisdn: str) -> ThrottleState | None:
        return self.throttles.get(msisdn)

    def save_throttle(self, msisdn: str, state: ThrottleState) -> None:
        self.throttles[msisdn] = state

    # Gifts
    def get_pending_give(self, msisdn: str) -> PendingGive | None:
        return self.pending_gives.get(msisdn)

    def set_pending_give(self, msisdn: str, pending: PendingGive | None) -> None:
        if pending is None:
            self.pending_gives.pop(msisdn, None)
        else:
            self.pending_gives[msisdn] = pending

    def add_gift(self, gift: Gift) -> None:
        self.gifts.append(gift)

    def gifts_in_period(self, msisdn: str, period: str) -> list[Gift]:
        return [g for g in self.gifts if g.msisdn == msisdn and g.period == period]


@dataclass(frozen=True)
class Enqueued:
    recipients: tuple[str, ...]
    text: str
    message_class: MessageClass
    not_before: datetime | None
    sender: str


@dataclass
class MemoryOutbox:
    batches: list[Enqueued] = field(default_factory=list)
    withdrawn: list[tuple[str, str, str]] = field(default_factory=list)  # (recipient, text, reason)

    def enqueue_many(
        self, recipients: Iterable[str], text: str, message_class: MessageClass, not_before: datetime | None, sender: str
    ) -> int:
        batch = Enqueued(tuple(recipients), text, message_class, not_before, sender)
        self.batches.append(batch)
        return len(batch.recipients)

    def to(self, msisdn: str) -> list[Enqueued]:
        return [batch for batch in self.batches if msisdn in batch.recipients]

    def withdraw(self, recipient: str, reason: str) -> int:
        """Nothing here is ever sent, so everything enqueued for `recipient` is still waiting."""
        taken = 0
        for index, batch in enumerate(self.batches):
            if batch.message_class in ("fanout", "dm") and recipient in batch.recipients:
                self.batches[index] = replace(batch, recipients=tuple(r for r in batch.recipients if r != recipient))
                self.withdrawn.append((recipient, batch.text, reason))
                taken += 1
        return taken


@dataclass
class MemoryProvisioning:
    requests: list[tuple[str, str]] = field(default_factory=list)

    def request_activation(self, msisdn: str, plan: str) -> None:
        self.requests.append((msisdn, plan))


@dataclass
class FixedBilling:
    """Returns the preview set for a number, or an empty one for the period."""

    previews: dict[str, BillPreview] = field(default_factory=dict)
    period: str = "2026-01"

    def preview(self, msisdn: str, now: datetime) -> BillPreview:
        return self.previews.get(msisdn) or BillPreview(self.period, 0, 0, 0, 0)
