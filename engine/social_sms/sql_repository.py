"""The `SocialRepository` port on SQLAlchemy Core, for one transaction.

A repository is made per unit of work (one MO message, one CLI command) on the connection of that
transaction, so every change a rule makes commits or rolls back together with the message being
marked handled and the MTs it queued. `now` is the time of that unit of work: the port's methods
take no clock, and `subscribers.updated_at` must still be stamped.

Design choices:

- **Rows point at subscribers by id.** The port speaks MSISDNs; the tables hold `subscribers.id`,
  so a number change (a host lifecycle event) carries a person's follows, posts and gifts along.
  Reads turn an MSISDN into an id with a scalar subquery inside the same statement; writes look the
  id up first so an unknown number is a clear `UnknownSubscriber`, not a foreign-key error.
- **A followee or author is a subscriber or a cause** (`followee_id` xor `followee_cause`), the SQL
  form of the port's `cause_key(code)`; a cause's follows are then checked by the `causes` foreign
  key like a subscriber's.
- **`save_subscriber` writes only what changed** since this repository read the row. The rules
  read a subscriber, `replace` a field and save it back; writing every column would put back a
  status the host's acknowledgement changed meanwhile in another transaction.
- **`notified_followers` is one query** joining follows to subscribers on the covering fan-out
  index: a plain one for an audience that fits one chunk, else a streaming one (`yield_per`, a
  server-side cursor on PostgreSQL), so a cause with 100,000 followers never becomes a list in memory.
- **One statement per read a rule makes, and no second read of a row** (on PostgreSQL each
  statement is a round trip to the server, benchmarks/mo_commands.py): every subscriber read also
  gives the row's id, which the writes then need; a listing's rows carry the listed subscribers, so
  the rule's look-up of each one is answered from what this unit of work already read; a count
  comes with the page it heads.
- **`claim_handle` relies on the unique index**, inside a SAVEPOINT, so two numbers claiming one
  handle at once cannot both win and the loser's transaction is not poisoned on PostgreSQL.
"""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import datetime
from typing import Iterator

from sqlalchemy import Connection, Integer, bindparam, case, delete, func, literal, select, update
from sqlalchemy.exc import IntegrityError

from engine.social_sms.ports import (Follow, Gift, PendingGive, Post, Profile, Recipient, Subscriber, ThrottleState,
                                     require_page_size)
from engine.social_sms.timing import require_utc
from engine.store.prepared import Prepared
from engine.store.upsert import upsert_statement
from engine.store.schema import (
    follows,
    gifts,
    pending_gives,
    posts,
    sms_throttles,
    social_actions,
    subscribers,
)

CAUSE_PREFIX = "cause:"
STREAM_CHUNK = 5000  # rows per fetch of the fan-out stream: bounded memory, few round trips


class UnknownSubscriber(LookupError):
    """A write named a number that has no subscriber row (the rules join before anything else)."""

    def __init__(self, msisdn: str):
        super().__init__(f"no subscriber {msisdn} (expected a number that has joined)")
        self.msisdn = msisdn


def _split_key(key: str) -> tuple[str | None, str | None]:
    """A followee/author key as (MSISDN, cause code): exactly one is set."""
    if key.startswith(CAUSE_PREFIX):
        code = key.removeprefix(CAUSE_PREFIX)
        if not code:
            raise ValueError(f"{key!r} names no cause (expected 'cause:CODE')")
        return None, code
    return key, None


# Columns the port's Subscriber maps to, by field name. `handle` changes only through claim_handle;
# `joined_at` is set once, at insert.
_SUBSCRIBER_COLUMNS = {
    "kind": "kind",
    "status": "status",
    "language": "language",
    "time_zone": "time_zone",
    "cause": "cause_code",
    "plan": "plan_code",
    "opted_out": "opted_out",
    "notifications_on": "notifications_on",
}
_UPDATABLE = tuple(_SUBSCRIBER_COLUMNS)
assert set(_UPDATABLE) | {"msisdn", "handle", "joined_at"} == {f.name for f in fields(Subscriber)}, (
    "Subscriber gained a field: map it to a column here"
)


# The statements every SMS runs, built once and run on the driver's cursor (engine/store/prepared.py):
# SQLAlchemy's per-execute bookkeeping cost several times what SQLite took to run them
# (benchmarks/mo_commands.py). Values go in as bound parameters; rows come back as plain tuples.
_s = subscribers.c


def _subscriber_columns(table) -> list:
    """What `_subscriber_from` takes, of `subscribers` or an alias of it."""
    c = table.c
    return [c.msisdn, c.kind, c.status, c.language, c.time_zone, c.created_at, c.handle, c.cause_code, c.plan_code,
            c.opted_out, c.notifications_on, c.id]


_SUBSCRIBER_COLUMNS_SELECT = select(*_subscriber_columns(subscribers))
_SUBSCRIBER_BY_MSISDN = Prepared(_SUBSCRIBER_COLUMNS_SELECT.where(_s.msisdn == bindparam("msisdn")))
_SUBSCRIBER_BY_HANDLE = Prepared(_SUBSCRIBER_COLUMNS_SELECT.where(_s.handle == bindparam("handle")))
_ID_BY_MSISDN = Prepared(select(_s.id).where(_s.msisdn == bindparam("msisdn")))
# The flood check comes first for every SMS and the rules read the sender next, so one statement
# reads both: the number's bucket and its subscriber row, either of which may be missing.
_NUMBER = select(bindparam("msisdn", type_=_s.msisdn.type).label("msisdn")).subquery("number")
_THROTTLE_AND_SUBSCRIBER = Prepared(
    select(sms_throttles.c.milli_tokens, sms_throttles.c.updated_at, *_SUBSCRIBER_COLUMNS_SELECT.selected_columns)
    .select_from(_NUMBER.outerjoin(sms_throttles, sms_throttles.c.msisdn == _NUMBER.c.msisdn)
                 .outerjoin(subscribers, _s.msisdn == _NUMBER.c.msisdn)))


_THROTTLE_COLUMNS = ("msisdn", "milli_tokens", "updated_at")
_THROTTLE_UPSERT = {name: Prepared(upsert_statement(sms_throttles, name, _THROTTLE_COLUMNS, ["msisdn"]),
                                   keys=_THROTTLE_COLUMNS) for name in ("sqlite", "postgresql")}
_BUCKETS_OF = Prepared(select(sms_throttles.c.msisdn, sms_throttles.c.milli_tokens, sms_throttles.c.updated_at)
                       .where(sms_throttles.c.msisdn.in_(bindparam("msisdns", expanding=True))))
_SUBSCRIBERS_OF = Prepared(_SUBSCRIBER_COLUMNS_SELECT.where(_s.msisdn.in_(bindparam("msisdns", expanding=True))))


class BatchSenders:
    """The flood buckets and subscriber rows of an MO batch's senders, read in two statements when
    the batch starts, and the buckets the batch spent written back in one executemany when it ends
    (`write`), in the batch's transaction. Every SMS reads its sender's bucket and row and writes the
    bucket: per message, those two statements were a tenth of the engine's CPU per command at 2,000
    commands a second (benchmarks/RESULTS.md, stop 15).

    A sender's row is handed to the first of its messages only, and dropped if this batch writes it:
    a later message of the same sender reads it afresh, after what the earlier one changed. Its
    bucket is the batch's own from the first message on, so the second message spends what the first
    left. Buckets are not locked, as in `SqlSocialRepository.get_throttle`."""

    def __init__(self, connection: Connection, msisdns):
        wanted = sorted(set(msisdns))
        self._buckets: dict[str, ThrottleState | None] = dict.fromkeys(wanted)
        self._rows: dict[str, tuple] = {}
        self._spent: dict[str, ThrottleState] = {}
        if wanted:
            for msisdn, milli_tokens, updated_at in _BUCKETS_OF.rows(connection, {"msisdns": wanted}):
                self._buckets[msisdn] = ThrottleState(milli_tokens, updated_at)
            self._rows = {row[0]: row for row in _SUBSCRIBERS_OF.rows(connection, {"msisdns": wanted})}

    def covers(self, msisdn: str) -> bool:
        return msisdn in self._buckets

    def bucket(self, msisdn: str) -> ThrottleState | None:
        return self._buckets[msisdn]

    def first_row(self, msisdn: str) -> tuple | None:
        """The sender's subscriber row as the batch found it, once; None if it has none or was taken."""
        return self._rows.pop(msisdn, None)

    def forget(self, msisdn: str) -> None:
        self._rows.pop(msisdn, None)

    def spend(self, msisdn: str, state: ThrottleState) -> None:
        self._buckets[msisdn] = state
        self._spent[msisdn] = state

    def write(self, connection: Connection) -> None:
        """The buckets spent, by number: two nodes' batches upsert shared numbers in one order."""
        _THROTTLE_UPSERT[connection.dialect.name].run_many(connection, [
            {"msisdn": msisdn, "milli_tokens": state.milli_tokens, "updated_at": state.updated_at}
            for msisdn, state in sorted(self._spent.items())])


def _key_params(key: str) -> tuple[bool, dict]:
    """Whether a followee or author key is a cause, and its parameter for the pre-built
    statements: the cause bound as `code`, or the number as `followee` (`_followee_is`)."""
    msisdn, code = _split_key(key)
    return (True, {"code": code}) if code is not None else (False, {"followee": msisdn})


def _id_param(name: str):
    """The subscriber id of the number bound as `name`, as a scalar subquery for use inside one statement."""
    return select(_s.id).where(_s.msisdn == bindparam(name)).scalar_subquery()


def _followee_is(by_cause: bool):
    """The followee of a follow: the cause bound as `code`, or the number bound as `followee`."""
    return follows.c.followee_cause == bindparam("code") if by_cause else follows.c.followee_id == _id_param("followee")


_FOLLOW_ROW = {by_cause: Prepared(select(follows.c.notify, follows.c.created_at).where(
    follows.c.follower_id == _id_param("follower"), _followee_is(by_cause))) for by_cause in (False, True)}
_FOLLOWEE = subscribers.alias("followee")
# A page is the newest `limit` follows with the count of all of them in each row (an empty page:
# no follows at all), and the listed subscriber's row, which the rule looks up for its handle.
_FOLLOWING_PAGE = Prepared(
    select(select(func.count()).select_from(follows).where(follows.c.follower_id == _id_param("follower"))
           .correlate(None).scalar_subquery(),
           case((follows.c.followee_cause.is_not(None), literal(CAUSE_PREFIX) + follows.c.followee_cause),
                else_=_FOLLOWEE.c.msisdn).label("followee"), follows.c.notify, follows.c.created_at,
           *_subscriber_columns(_FOLLOWEE))
    .select_from(follows.outerjoin(_FOLLOWEE, _FOLLOWEE.c.id == follows.c.followee_id))
    .where(follows.c.follower_id == _id_param("follower"))
    .order_by(follows.c.id.desc())
    .limit(bindparam("limit", type_=Integer))
)
_FOLLOWERS_PAGE = {by_cause: Prepared(
    select(select(func.count()).select_from(follows).where(_followee_is(by_cause)).correlate(None).scalar_subquery(),
           *_subscriber_columns(subscribers))
    .select_from(follows.join(subscribers, _s.id == follows.c.follower_id))
    .where(_followee_is(by_cause))
    .order_by(follows.c.id.desc())
    .limit(bindparam("limit", type_=Integer))) for by_cause in (False, True)}
_PROFILE_BY_HANDLE = Prepared(
    select(*_subscriber_columns(subscribers),
           select(func.count()).select_from(follows).where(follows.c.followee_id == _s.id).scalar_subquery(),
           select(func.count()).select_from(follows).where(follows.c.follower_id == _s.id).scalar_subquery())
    .where(_s.handle == bindparam("handle")))
_COUNT_ACTIONS = Prepared(select(func.count()).select_from(social_actions).where(
    social_actions.c.subscriber_id == _id_param("msisdn"), social_actions.c.action == bindparam("action"),
    social_actions.c.at > bindparam("since")))
_GIFTS_IN_PERIOD = Prepared(select(gifts.c.amount_minor, gifts.c.cause_code, gifts.c.created_at)
                            .where(gifts.c.subscriber_id == _id_param("msisdn"), gifts.c.period == bindparam("period"))
                            .order_by(gifts.c.id))
_INSERT_ACTION = Prepared(social_actions.insert(), keys=("subscriber_id", "action", "at"))
# One statement whether the follow is new (FOLLOW) or not (ON/OFF for one follow); the conflict is
# on the unique index of the followee's kind, and the row keeps its id, so its place in the order.
_FOLLOW_COLUMNS = ("follower_id", "followee_id", "followee_cause", "notify", "created_at")
_UPSERT_FOLLOW = {(name, by_cause): Prepared(
    upsert_statement(follows, name, ("notify", "created_at"),
                     ["follower_id", "followee_cause" if by_cause else "followee_id"]), keys=_FOLLOW_COLUMNS)
    for name in ("sqlite", "postgresql") for by_cause in (False, True)}
_DELETE_FOLLOW = {by_cause: Prepared(delete(follows).where(follows.c.follower_id == _id_param("follower"),
                                                           _followee_is(by_cause))) for by_cause in (False, True)}
_NOTIFIED = {by_cause: (
    select(_s.msisdn, _s.language, func.coalesce(_s.time_zone, bindparam("zone")))
    .select_from(follows.join(subscribers, _s.id == follows.c.follower_id))
    .where(_followee_is(by_cause), follows.c.notify.is_(True), _s.notifications_on.is_(True), _s.opted_out.is_(False),
           _s.status != "terminated"))  # as `actions.deliverable` says
    for by_cause in (False, True)}
# A chunk and one more, to tell an audience that fits one chunk from one that must be streamed.
_NOTIFIED_FIRST_CHUNK = {by_cause: Prepared(statement.limit(bindparam("limit", type_=Integer)))
                         for by_cause, statement in _NOTIFIED.items()}
# Streamed (Core, `yield_per`), so built once but run by SQLAlchemy: see notified_followers.
_NOTIFIED_STREAM = {by_cause: statement.execution_options(yield_per=STREAM_CHUNK)
                    for by_cause, statement in _NOTIFIED.items()}
_INSERT_POST = Prepared(posts.insert(), keys=("author_id", "author_cause", "text", "created_at"))
_RECENT_POSTS = {by_cause: Prepared(
    select(posts.c.text, posts.c.created_at)
    .where(posts.c.author_cause == bindparam("code") if by_cause else posts.c.author_id == _id_param("followee"),
           posts.c.created_at > bindparam("since"))
    .order_by(posts.c.created_at, posts.c.id)) for by_cause in (False, True)}


class SqlSocialRepository:
    def __init__(self, connection: Connection, now: datetime, default_time_zone: str,
                 senders: BatchSenders | None = None):
        """`default_time_zone` stands in for subscribers whose zone is not stored (a line the host
        started without a JOIN): quiet hours then follow the operator's clock. `senders`: the MO
        batch this unit of work belongs to, whose buckets and rows it reads and spends."""
        self.connection = connection
        self._senders = senders
        self.now = require_utc(now)
        self.default_time_zone = default_time_zone
        self._read: dict[str, Subscriber] = {}  # as last read or written by this repository
        # As read from the table and not written since by this repository: a second read of the
        # same number in this unit of work (the front door, then the action) is answered from here.
        self._fresh: dict[str, Subscriber] = {}
        self._ids: dict[str, int] = {}  # subscriber ids looked up in this unit of work

    # ------------------------------------------------------------------ subscribers

    def _subscriber_from(self, row) -> Subscriber:
        msisdn, kind, status, language, time_zone, created_at, handle, cause_code, plan_code, opted_out, notify, id_ = row
        subscriber = Subscriber(
            msisdn=msisdn, kind=kind, status=status, language=language,
            time_zone=time_zone or self.default_time_zone, joined_at=created_at, handle=handle,
            cause=cause_code, plan=plan_code, opted_out=bool(opted_out), notifications_on=bool(notify),
        )
        self._read[subscriber.msisdn] = subscriber
        self._fresh[subscriber.msisdn] = subscriber
        self._ids[subscriber.msisdn] = id_
        return subscriber

    def _keep(self, row) -> None:
        """A subscriber row read along with something else (a bucket, a listing), kept for the
        rule's look-up of that number, unless this unit of work already read or wrote it."""
        if row[0] is not None and row[0] not in self._read:
            self._subscriber_from(row)

    def get_subscriber(self, msisdn: str) -> Subscriber | None:
        fresh = self._fresh.get(msisdn)
        if fresh is not None:
            return fresh
        row = _SUBSCRIBER_BY_MSISDN.first(self.connection, {"msisdn": msisdn})
        return self._subscriber_from(row) if row else None

    def find_by_handle(self, handle: str) -> Subscriber | None:
        row = _SUBSCRIBER_BY_HANDLE.first(self.connection, {"handle": handle})
        return self._subscriber_from(row) if row else None

    def profile(self, handle: str) -> Profile | None:
        row = _PROFILE_BY_HANDLE.first(self.connection, {"handle": handle})
        if row is None:
            return None
        *subscriber, followers, following = row
        return Profile(self._subscriber_from(subscriber), followers, following)

    def save_subscriber(self, subscriber: Subscriber) -> None:
        """Insert, or update the fields that differ from what this repository last read."""
        self._fresh.pop(subscriber.msisdn, None)
        if self._senders is not None:
            self._senders.forget(subscriber.msisdn)
        known = self._read.get(subscriber.msisdn) or self.get_subscriber(subscriber.msisdn)
        if known is None:
            values = {column: getattr(subscriber, name) for name, column in _SUBSCRIBER_COLUMNS.items()}
            self.connection.execute(subscribers.insert().values(
                msisdn=subscriber.msisdn, created_at=subscriber.joined_at, updated_at=self.now, **values))
            self._read[subscriber.msisdn] = replace(subscriber, handle=None)
            return
        changed = {column: getattr(subscriber, name) for name, column in _SUBSCRIBER_COLUMNS.items()
                   if getattr(subscriber, name) != getattr(known, name)}
        if changed:
            self.connection.execute(
                update(subscribers).where(subscribers.c.msisdn == subscriber.msisdn).values(updated_at=self.now, **changed))
        self._read[subscriber.msisdn] = replace(subscriber, handle=known.handle, joined_at=known.joined_at)

    def claim_handle(self, msisdn: str, handle: str) -> bool:
        self._fresh.pop(msisdn, None)
        if self._senders is not None:
            self._senders.forget(msisdn)
        holder = self.connection.execute(select(subscribers.c.msisdn).where(subscribers.c.handle == handle)).scalar()
        if holder == msisdn:
            return True
        if holder is not None:
            return False
        try:
            with self.connection.begin_nested():
                result = self.connection.execute(
                    update(subscribers).where(subscribers.c.msisdn == msisdn).values(handle=handle, updated_at=self.now))
        except IntegrityError:
            return False  # another transaction claimed it between our check and our update
        if result.rowcount == 0:
            raise UnknownSubscriber(msisdn)
        if msisdn in self._read:
            self._read[msisdn] = replace(self._read[msisdn], handle=handle)
        return True

    def _require_id(self, msisdn: str) -> int:
        found = self._ids.get(msisdn)
        if found is None:
            found = _ID_BY_MSISDN.scalar(self.connection, {"msisdn": msisdn})
            if found is None:
                raise UnknownSubscriber(msisdn)
            self._ids[msisdn] = found
        return found

    # ------------------------------------------------------------------ follows

    def get_follow(self, follower: str, followee: str) -> Follow | None:
        by_cause, params = _key_params(followee)
        row = _FOLLOW_ROW[by_cause].first(self.connection, {"follower": follower, **params})
        return Follow(follower, followee, bool(row[0]), row[1]) if row else None

    def save_follow(self, follow: Follow) -> None:
        """Insert, or replace the values of the existing follow, which keeps its place in the order."""
        follower_id = self._require_id(follow.follower)
        msisdn, code = _split_key(follow.followee)
        followee_id = self._require_id(msisdn) if msisdn is not None else None
        _UPSERT_FOLLOW[self.connection.dialect.name, code is not None].run(
            self.connection, {"follower_id": follower_id, "followee_id": followee_id, "followee_cause": code,
                              "notify": follow.notify, "created_at": follow.created_at})

    def delete_follow(self, follower: str, followee: str) -> bool:
        by_cause, params = _key_params(followee)
        return _DELETE_FOLLOW[by_cause].run(self.connection, {"follower": follower, **params}) > 0

    def following_page(self, follower: str, limit: int) -> tuple[int, list[Follow]]:
        require_page_size(limit)
        rows = _FOLLOWING_PAGE.rows(self.connection, {"follower": follower, "limit": limit})
        for row in rows:
            self._keep(row[4:])
        return (rows[0][0] if rows else 0), [Follow(follower, followee, bool(notify), created_at)
                                             for _count, followee, notify, created_at, *_subscriber in rows]

    def followers_page(self, followee: str, limit: int) -> tuple[int, list[str]]:
        require_page_size(limit)
        by_cause, params = _key_params(followee)
        rows = _FOLLOWERS_PAGE[by_cause].rows(self.connection, {**params, "limit": limit})
        for row in rows:
            self._keep(row[1:])
        return (rows[0][0] if rows else 0), [row[1] for row in rows]

    def notified_followers(self, followee: str) -> Iterator[Recipient]:
        by_cause, params = _key_params(followee)
        values = {"zone": self.default_time_zone, **params}
        # Most audiences fit one chunk: then one plain statement, where a server-side cursor costs
        # several round trips (declare, fetch, fetch the end, close).
        rows = _NOTIFIED_FIRST_CHUNK[by_cause].rows(self.connection, {**values, "limit": STREAM_CHUNK + 1})
        if len(rows) <= STREAM_CHUNK:
            for msisdn, language, time_zone in rows:
                yield Recipient(msisdn, language, time_zone)
            return
        # A larger one is streamed from the start, so that every recipient comes from one statement
        # (one snapshot), as with a smaller one; the first chunk read above is not used.
        # yield_per is on the statement, not the connection: Connection.execution_options changes the
        # connection in place, and the outbox's executemany on the same connection cannot use a
        # server cursor.
        result = self.connection.execute(_NOTIFIED_STREAM[by_cause], values)
        try:
            for msisdn, language, time_zone in result:
                yield Recipient(msisdn, language, time_zone)
        finally:
            result.close()  # a consumer that stops early must not leave the server-side cursor open

    # ------------------------------------------------------------------ posts

    def add_post(self, post: Post) -> None:
        msisdn, code = _split_key(post.author)
        author_id = self._require_id(msisdn) if msisdn is not None else None
        _INSERT_POST.run(self.connection, {"author_id": author_id, "author_cause": code, "text": post.text,
                                           "created_at": post.created_at})

    def recent_posts(self, author: str, since: datetime) -> list[Post]:
        by_cause, params = _key_params(author)
        rows = _RECENT_POSTS[by_cause].rows(self.connection, {"since": since, **params})
        return [Post(author, text, created_at) for text, created_at in rows]

    # ------------------------------------------------------------------ per-sender limits

    def record_action(self, msisdn: str, action: str, at: datetime) -> None:
        _INSERT_ACTION.run(self.connection, {"subscriber_id": self._require_id(msisdn), "action": action, "at": at})

    def count_actions(self, msisdn: str, action: str, since: datetime) -> int:
        return _COUNT_ACTIONS.scalar(self.connection, {"msisdn": msisdn, "action": action, "since": since})

    # ------------------------------------------------------------------ flood control

    def get_throttle(self, msisdn: str) -> ThrottleState | None:
        # Not locked: MO batches of two nodes would deadlock on each other's rows. Two nodes taking
        # the same number's messages at the same instant may each spend from the same tokens, so
        # the flood limit errs by a message or two on the lenient side, never the strict one.
        senders = self._senders
        if senders is not None and senders.covers(msisdn):
            row = senders.first_row(msisdn)
            if row is not None:
                self._keep(row)
            return senders.bucket(msisdn)
        milli_tokens, updated_at, *subscriber = _THROTTLE_AND_SUBSCRIBER.first(self.connection, {"msisdn": msisdn})
        self._keep(subscriber)  # the rules' next read of the sender is answered from it
        return ThrottleState(milli_tokens, updated_at) if milli_tokens is not None else None

    def save_throttle(self, msisdn: str, state: ThrottleState) -> None:
        # An upsert: two nodes taking a new number's first messages at once must both succeed.
        if self._senders is not None and self._senders.covers(msisdn):
            self._senders.spend(msisdn, state)
            return
        _THROTTLE_UPSERT[self.connection.dialect.name].run(
            self.connection, {"msisdn": msisdn, "milli_tokens": state.milli_tokens, "updated_at": state.updated_at})

    # ------------------------------------------------------------------ gifts

    def get_pending_give(self, msisdn: str) -> PendingGive | None:
        row = self.connection.execute(
            select(pending_gives.c.amount_minor, pending_gives.c.cause_code, pending_gives.c.expires_at)
            .where(pending_gives.c.subscriber_id == _id_param("msisdn")), {"msisdn": msisdn}
        ).first()
        return PendingGive(row.amount_minor, row.cause_code, row.expires_at) if row else None

    def set_pending_give(self, msisdn: str, pending: PendingGive | None) -> None:
        if pending is None:
            self.connection.execute(delete(pending_gives).where(pending_gives.c.subscriber_id == _id_param("msisdn")),
                                    {"msisdn": msisdn})
            return
        subscriber_id = self._require_id(msisdn)
        values = {"amount_minor": pending.amount_minor, "cause_code": pending.cause, "expires_at": pending.expires_at}
        result = self.connection.execute(
            update(pending_gives).where(pending_gives.c.subscriber_id == subscriber_id).values(**values))
        if result.rowcount == 0:
            self.connection.execute(pending_gives.insert().values(subscriber_id=subscriber_id, **values))

    def add_gift(self, gift: Gift) -> None:
        self.connection.execute(gifts.insert().values(
            subscriber_id=self._require_id(gift.msisdn), period=gift.period, amount_minor=gift.amount_minor,
            cause_code=gift.cause, created_at=gift.created_at))

    def gifts_in_period(self, msisdn: str, period: str) -> list[Gift]:
        rows = _GIFTS_IN_PERIOD.rows(self.connection, {"msisdn": msisdn, "period": period})
        return [Gift(msisdn, period, amount_minor, cause, created_at) for amount_minor, cause, created_at in rows]
