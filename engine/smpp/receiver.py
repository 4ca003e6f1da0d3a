"""Taking in what the SMSC delivers: store first, acknowledge after.

Every `deliver_sm` (and `data_sm`) of one read from the SMSC is classified (`intake.classify`) and
stored in one transaction (`flush`, at the link's `end_of_read`), in the reactor pass that read it;
only when it has committed are the PDUs acknowledged, each with its own sequence, and the answers
leave at once (`SmppLinkProtocol._write_at_once`): stored a pass later, behind the MO worker's
batch, they kept an SMSC with a full window waiting. If the store fails, they are answered with
ESME_RX_T_APPN (temporary application error) so the SMSC delivers them again later. The rules run
after the acknowledgement, in a transaction of the MO worker's (`on_messages`): an SMSC keeps only
a few deliver_sm unanswered per bind (10 is common), so an answer that waited for the rules would
cap the MO and receipt rate of a bind.

A receipt for a part this node submitted lately (`part_for_receipt`, the dispatcher's memory of
message ids) finishes that part in the same transaction, by primary key. Any other receipt (for a
part submitted long ago, by another node, under another spelling of its id, or one that outran its
own submit_sm_resp) is stored in `delivery_receipts` and matched from the database shortly after
(`RECEIPT_APPLY_DELAY`), once the dispatcher has written the submit answers it is holding. Matching
on arrival saves a receipt three statements and a transaction: at one receipt per reply, that was
a quarter of the engine's work per command (benchmarks/mo_commands.py --receipts).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Callable

from engine.smpp import intake
from engine.smpp.codec import CommandStatus
from engine.smpp.inbox import Inbox
from engine.smpp.outbox import Outbox
from engine.store.held import Transactions

log = logging.getLogger(__name__)

# Receipts are matched to their messages this long after the first of them is stored, all together:
# at one receipt per reply, matching each turn's few cost a write-behind flush, a transaction and a
# scan of the pending receipts per turn. A part's delivered state shows a twentieth of a second later;
# longer batches (0.2 s) matched hundreds of receipts at once and stalled replies (p99 88 ms).
RECEIPT_APPLY_DELAY = 0.05


class MoReceiver:
    def __init__(
        self, reactor, database: Transactions, inbox: Inbox, outbox: Outbox, *,
        before_receipts: Callable[[], None] = lambda: None,
        part_for_receipt: Callable[[str], int | None] = lambda message_id: None,
        on_messages: Callable[[list[int]], None] = lambda ids: None, metrics=None, utc_now: Callable[[], datetime] | None = None,
    ):
        self.reactor = reactor
        self.database = database
        self.inbox = inbox
        self.outbox = outbox
        self.before_receipts = before_receipts
        self.part_for_receipt = part_for_receipt
        self.on_messages = on_messages
        self.metrics = metrics
        self.utc_now = utc_now or (lambda: datetime.fromtimestamp(reactor.seconds(), timezone.utc))
        self.accepting = True
        self._pending: list[tuple] = []
        self._apply_call = None

    def message_received(self, link, event) -> None:
        if not self.accepting:
            # Shutting down: the SMSC keeps the message and delivers it again later.
            link.acknowledge(event.sequence, CommandStatus.ESME_RX_T_APPN)
            return
        self._pending.append((link, event))

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        now = self.utc_now()
        stored_ids: list[int] = []
        kinds: list[str] = []
        try:
            arrivals = [intake.classify(event.params) for _link, event in pending]
            messages: list[tuple] = []  # (arrival, bind name) of those that are messages, in order
            receipt_rows: list[tuple] = []  # to match later
            finished: list[tuple] = []  # matched now
            with self.database.begin() as connection:
                for (link, event), arrived in zip(pending, arrivals):
                    if isinstance(arrived, intake.ReceiptArrived):
                        receipt = arrived.receipt
                        final = receipt.final_state.value if receipt.final_state is not None else None
                        error = None if final in (None, "delivered") else f"stat {receipt.status_text or '?'} err {receipt.error_code}"
                        part_id = self.part_for_receipt(receipt.message_id) if final is not None else None
                        if part_id is not None:
                            finished.append((part_id, final, error, receipt.done_at or now))
                        else:
                            receipt_rows.append((receipt.message_id, final, error, receipt.done_at))
                    elif isinstance(arrived, intake.Unreadable):
                        log.warning("bind %s: unreadable message kept as failed: %s", link.name, arrived.reason)
                        self.inbox.store_unreadable(
                            connection, str(event.params.get("source_addr", "")), arrived.reason,
                            intake.digest_of(event.params), now,
                        )
                    else:
                        messages.append((arrived, link.name))
                self.outbox.finish_parts(connection, finished)
                self.outbox.store_receipts(connection, receipt_rows, now)
                for (arrived, _bind), message_id in zip(messages, self.inbox.store_all(connection, messages, now)):
                    if message_id is not None:
                        stored_ids.append(message_id)
                        kinds.append("ussd" if isinstance(arrived, intake.UssdArrived) else "sms")
        except Exception:
            log.exception("could not store %d incoming PDU(s); asking the SMSC to deliver them again", len(pending))
            for link, event in pending:
                link.acknowledge(event.sequence, CommandStatus.ESME_RX_T_APPN)
            return
        acknowledged = []
        for (link, event), arrived in zip(pending, arrivals):
            answered = link.acknowledge(event.sequence, CommandStatus.ESME_ROK)
            if answered and isinstance(arrived, intake.SmsArrived):
                acknowledged.append(arrived.digest)
        self.inbox.note_acknowledged(acknowledged, now.timestamp())
        if self.metrics is not None:
            for kind in set(kinds):
                self.metrics.mo_messages.labels(kind=kind).inc(kinds.count(kind))
        if receipt_rows and self._apply_call is None:
            self._apply_call = self.reactor.callLater(RECEIPT_APPLY_DELAY, self._apply_due)
        if stored_ids:
            self.on_messages(stored_ids)

    def link_lost(self, link) -> None:
        # Answers of the last moments may have died with the connection.
        self.inbox.forget_acknowledged_since(self.reactor.seconds() - 10)

    def stop(self) -> None:
        """Take no more MO, store what is waiting, and match the receipts stored so far now: not
        after the engine has stopped, from a timer that outlived it."""
        self.accepting = False
        self.flush()
        if self._apply_call is not None and self._apply_call.active():
            self._apply_call.cancel()
            self._apply_due()

    def _apply_due(self) -> None:
        self._apply_call = None
        try:
            self.apply_receipts()
        except Exception:  # stored, so the next pass (or the periodic job) matches them
            log.exception("could not match delivery receipts to their messages; will try again")

    def apply_receipts(self) -> int:
        self.before_receipts()
        with self.database.begin() as connection:
            finished = self.outbox.apply_receipts(connection, self.utc_now())
        return finished
