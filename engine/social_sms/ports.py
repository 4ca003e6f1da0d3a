"""What the social rules need from the outside world, and nothing more.

The rules are pure functions over these ports. `SocialRepository` is the store (in memory for unit
tests, SQLAlchemy in the engine); `Outbox` takes fan-out in bulk; `Provisioning` and `Billing` are
the host-network and rating subsystems. Records are frozen dataclasses: an update is "save a new
value", which keeps the Protocol small and the SQL mirror obvious.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Iterator, Literal, NamedTuple, Protocol

SubscriberKind = Literal["line", "social"]  # line: one of our lines, billed; social: another network
# The database's vocabulary (engine/store/schema.py), so the SQL repository maps nothing.
SubscriberStatus = Literal["activating", "active", "suspended", "terminated"]
MessageClass = Literal["reply", "fanout", "dm", "notice"]


@dataclass(frozen=True)
class Subscriber:
    msisdn: str  # E.164
    kind: SubscriberKind
    status: SubscriberStatus
    language: str
    time_zone: str
    joined_at: datetime
    handle: str | None = None
    cause: str | None = None
    plan: str | None = None  # only for kind == "line"
    opted_out: bool = False  # STOP: no fan-out, DM or non-essential notice until START/JOIN
    notifications_on: bool = True  # OFF: no fan-out or DM; replies to own commands still come


def cause_key(code: str) -> str:
    """Follows point at a subscriber's MSISDN or at a cause; a cause's key cannot be an E.164 number."""
    return f"cause:{code}"


@dataclass(frozen=True)
class Follow:
    follower: str  # MSISDN
    followee: str  # MSISDN, or cause_key(code)
    notify: bool
    created_at: datetime


class Profile(NamedTuple):
    """A subscriber found by handle, with the counts WHOIS shows."""

    subscriber: Subscriber
    followers: int
    following: int


class Recipient(NamedTuple):
    """One follower to notify; what fan-out needs to pick the language and the quiet hours."""

    msisdn: str
    language: str
    time_zone: str


@dataclass(frozen=True)
class Post:
    author: str  # MSISDN, or cause_key(code) for a cause's post
    text: str
    created_at: datetime


@dataclass(frozen=True)
class PendingGive:
    """A GIVE waiting for YES; at most one per subscriber, the newest replaces the older."""

    amount_minor: int
    cause: str
    expires_at: datetime


@dataclass(frozen=True)
class Gift:
    msisdn: str
    period: str  # YYYY-MM in the operator's time zone: the bill it is charged on
    amount_minor: int
    cause: str
    created_at: datetime


class ThrottleState(NamedTuple):
    """A token bucket, in thousandths of a token so the arithmetic stays in integers."""

    milli_tokens: int
    updated_at: datetime


def require_page_size(limit: int) -> None:
    """A page of a listing has room for at least one row: an empty page then means an empty listing,
    which is how the SQL repository's page tells a count of 0 (the count comes in each row)."""
    if limit < 1:
        raise ValueError(f"a page of {limit} rows (expected at least 1)")


# Names of the counted actions (per-sender limits).
ACTION_POST = "post"
ACTION_FOLLOW = "follow"
ACTION_DM = "dm"

# The per-sender limits count actions over at most this long (follows and DMs per day): an older
# counted action counts for nothing, and housekeeping deletes it.
ACTION_LIMIT_WINDOW = timedelta(days=1)


class SocialRepository(Protocol):
    # Subscribers
    def get_subscriber(self, msisdn: str) -> Subscriber | None: ...
    def find_by_handle(self, handle: str) -> Subscriber | None: ...
    def profile(self, handle: str) -> Profile | None:
        """find_by_handle, with how many follow that subscriber and how many it follows."""

    def save_subscriber(self, subscriber: Subscriber) -> None:
        """Insert or replace by MSISDN. The handle is changed only through claim_handle."""

    def claim_handle(self, msisdn: str, handle: str) -> bool:
        """Set the subscriber's handle unless another number holds it; atomic (a unique index)."""

    # Follows
    def get_follow(self, follower: str, followee: str) -> Follow | None: ...
    def save_follow(self, follow: Follow) -> None: ...
    def delete_follow(self, follower: str, followee: str) -> bool: ...
    def following_page(self, follower: str, limit: int) -> tuple[int, list[Follow]]:
        """How many follows a subscriber has, and the newest `limit` (at least 1) of them."""

    def followers_page(self, followee: str, limit: int) -> tuple[int, list[str]]:
        """How many followers a subscriber or cause has, and the newest `limit` (at least 1) of their MSISDNs."""

    def notified_followers(self, followee: str) -> Iterator[Recipient]:
        """Followers to notify: follow.notify, subscriber.notifications_on, not opted out.

        A stream, not a list: a cause may have 100,000 followers. The SQL version is one query with
        a join, read in chunks."""

    # Posts
    def add_post(self, post: Post) -> None: ...
    def recent_posts(self, author: str, since: datetime) -> list[Post]:
        """Posts strictly after `since`: the duplicate check and the posts-per-hour limit.

        Windows are half-open, (now - window, now], so a limit "per hour" frees up exactly one
        hour after the action that used it."""

    # Per-sender limits
    def record_action(self, msisdn: str, action: str, at: datetime) -> None: ...
    def count_actions(self, msisdn: str, action: str, since: datetime) -> int:
        """Actions strictly after `since` (see recent_posts)."""

    # Flood control
    def get_throttle(self, msisdn: str) -> ThrottleState | None: ...
    def save_throttle(self, msisdn: str, state: ThrottleState) -> None: ...

    # Gifts
    def get_pending_give(self, msisdn: str) -> PendingGive | None: ...
    def set_pending_give(self, msisdn: str, pending: PendingGive | None) -> None: ...
    def add_gift(self, gift: Gift) -> None: ...
    def gifts_in_period(self, msisdn: str, period: str) -> list[Gift]: ...


class Outbox(Protocol):
    def enqueue_many(
        self,
        recipients: Iterable[str],
        text: str,
        message_class: MessageClass,
        not_before: datetime | None,
        sender: str,
    ) -> int:
        """Store one MT per recipient (same text) in one bulk insert; return how many.

        `not_before` (UTC) holds messages for quiet hours; the sender releases messages in
        (not_before or created, sequence) order, so held posts go out in the order they were made."""

    def withdraw(self, recipient: str, reason: str) -> int:
        """Take back the posts and direct messages (fan-out and dm) that wait for `recipient` and
        have not been handed to the SMSC yet (held for quiet hours, or queued behind a large
        fan-out); return how many."""


class Provisioning(Protocol):
    def request_activation(self, msisdn: str, plan: str) -> None:
        """Ask the host network to activate the line (a provisioning file row, in the engine)."""


@dataclass(frozen=True)
class BillPreview:
    """Usage and charges of the open period so far, from rating. Money in integer minor units."""

    period: str  # YYYY-MM
    charges_minor: int  # plan + usage, before gifts; the cause's share is a share of this
    voice_seconds: int
    sms_count: int
    data_bytes: int


class Billing(Protocol):
    def preview(self, msisdn: str, now: datetime) -> BillPreview: ...
