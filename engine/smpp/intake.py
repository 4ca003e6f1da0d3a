"""What an incoming deliver_sm (or data_sm) is, decided from its fields alone: a delivery receipt,
a USSD step, one part of a concatenated SMS, or a whole SMS. Pure: no storage, no clock.

Redelivery: an SMSC that did not get our deliver_sm_resp sends the same message again, with a new
sequence number and usually no id of its own. `dedupe_key` recognises it by a digest of everything
the phone and the SMSC put in the message plus a time window (`window_seconds`, default 600). The
window is bucketed so the key can carry a unique constraint; a redelivery that straddles a bucket
boundary is caught by also checking the previous bucket's key (`previous_key`). A person may send
the same text twice on purpose (BILL, YES): once this process has answered the first on a live
link, the SMSC has no reason to redeliver it, so the inbox stores the second as a new message
(`Inbox.note_acknowledged`); after a crash or a dropped link the doubt goes the safe way.
"""

from __future__ import annotations

import hashlib
from typing import Mapping, NamedTuple

from engine.smpp.encoding import decode_short_message
from engine.smpp.reassembly import IncomingPart, MalformedUdh, concatenation_info, strip_udh
from engine.smpp.receipts import DeliveryReceipt, is_delivery_receipt, parse_receipt

DEFAULT_DEDUPE_WINDOW_SECONDS = 600


class ReceiptArrived(NamedTuple):
    receipt: DeliveryReceipt


class SmsArrived(NamedTuple):
    source: str
    destination: str
    text: str
    data_coding: int
    digest: str


class PartArrived(NamedTuple):
    source: str
    destination: str
    reference: int
    total: int
    number: int
    body: bytes  # the part's user data without its UDH
    data_coding: int
    digest: str


class UssdArrived(NamedTuple):
    source: str
    destination: str
    text: str
    service_op: int
    its_session_info: int | None
    user_message_reference: int | None
    digest: str


class Unreadable(NamedTuple):
    reason: str


def international(address: str, ton: int) -> str:
    """SMPP addresses come without '+'; international (TON 1) and long all-digit numbers get it back."""
    address = address.strip()
    if address.startswith("+"):
        return address
    if ton == 1 or (address.isdigit() and len(address) > 8):
        return "+" + address
    return address


def classify(params: Mapping) -> ReceiptArrived | SmsArrived | PartArrived | UssdArrived | Unreadable:
    esm_class = int(params.get("esm_class", 0))
    data_coding = int(params.get("data_coding", 0))
    body = params.get("message_payload") or params.get("short_message") or b""
    source = international(params.get("source_addr", ""), int(params.get("source_addr_ton", 0)))
    destination = international(params.get("destination_addr", ""), int(params.get("dest_addr_ton", 0)))
    if not source:
        return Unreadable("no source_addr")
    if is_delivery_receipt(esm_class):
        try:
            return ReceiptArrived(parse_receipt(body, params, data_coding=data_coding))
        except ValueError as error:
            return Unreadable(f"delivery receipt without a message id: {error}")
    digest = digest_of(params)
    service_op = params.get("ussd_service_op")
    if service_op is not None:
        return UssdArrived(
            source, destination, decode_short_message(body, data_coding).strip(), int(service_op),
            params.get("its_session_info"), params.get("user_message_reference"), digest,
        )
    try:
        info = concatenation_info(IncomingPart(source, body, data_coding, esm_class, params))
        user_data = strip_udh(body, esm_class)
    except MalformedUdh as error:
        return Unreadable(f"malformed user data header: {error}")
    if info is not None and info.total > 1:
        return PartArrived(source, destination, info.reference, info.total, info.sequence, user_data, data_coding, digest)
    return SmsArrived(source, destination, decode_short_message(user_data, data_coding), data_coding, digest)


_DIGESTED = (
    "source_addr", "destination_addr", "esm_class", "data_coding", "short_message", "message_payload",
    "sar_msg_ref_num", "sar_total_segments", "sar_segment_seqnum", "ussd_service_op", "its_session_info",
    "user_message_reference",
)


def digest_of(params: Mapping) -> str:
    """A digest of everything the phone and the SMSC put in the message (not its sequence)."""
    digest = hashlib.sha256()
    for name in _DIGESTED:
        value = params.get(name)
        if value is None:
            digest.update(b"\x00-")
            continue
        digest.update(value if isinstance(value, bytes) else str(value).encode())
        digest.update(b"\x00")
    return digest.hexdigest()[:48]


def dedupe_key(digest: str, epoch_seconds: float, window_seconds: int = DEFAULT_DEDUPE_WINDOW_SECONDS) -> str:
    return f"{digest}:{int(epoch_seconds // window_seconds)}"


def previous_key(digest: str, epoch_seconds: float, window_seconds: int = DEFAULT_DEDUPE_WINDOW_SECONDS) -> str:
    return f"{digest}:{int(epoch_seconds // window_seconds) - 1}"
