"""Delivery receipts: TLVs first, then the Appendix B text as several SMSC vendors write it."""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.smpp import receipts
from engine.smpp.receipts import (
    DeliveryReceipt,
    FinalState,
    MalformedReceipt,
    MessageState,
    final_state_for,
    format_receipt_text,
    is_delivery_receipt,
    message_id_variants,
    parse_receipt,
    receipt_tlvs,
)

UTC = timezone.utc


def test_appendix_b_receipt():
    receipt = parse_receipt(
        b"id:0123456789 sub:001 dlvrd:001 submit date:2401311205 done date:2401311206 "
        b"stat:DELIVRD err:000 text:Hello world"
    )
    assert receipt == DeliveryReceipt(
        message_id="0123456789",
        message_state=MessageState.DELIVERED,
        final_state=FinalState.DELIVERED,
        error_code="000",
        done_at=datetime(2024, 1, 31, 12, 6, tzinfo=UTC),
        submitted_at=datetime(2024, 1, 31, 12, 5, tzinfo=UTC),
        status_text="DELIVRD",
        submitted_parts=1,
        delivered_parts=1,
        text="Hello world",
        network_error=None,
    )


def test_hex_id_capital_text_key_and_dates_with_seconds():
    # The shape Kannel-fronted and many aggregator SMSCs send.
    receipt = parse_receipt(
        b"id:c449ab9744f47b6af1879e49e75e4f40 sub:001 dlvrd:0 submit date:240131120512 "
        b"done date:240131120633 stat:UNDELIV err:001 Text:Hi there"
    )
    assert receipt.message_id == "c449ab9744f47b6af1879e49e75e4f40"
    assert receipt.final_state is FinalState.UNDELIVERABLE
    assert receipt.done_at == datetime(2024, 1, 31, 12, 6, 33, tzinfo=UTC)
    assert receipt.delivered_parts == 0
    assert receipt.error_code == "001"
    assert receipt.text == "Hi there"


def test_upper_case_keys_extra_spaces_and_no_text():
    receipt = parse_receipt(
        "ID: 44A7F  SUB:001  DLVRD:000  SUBMIT DATE:2402291159  DONE DATE:2403010001  STAT:EXPIRED  ERR:027"
    )
    assert receipt.message_id == "44A7F"
    assert receipt.final_state is FinalState.EXPIRED
    assert receipt.submitted_at == datetime(2024, 2, 29, 11, 59, tzinfo=UTC)
    assert receipt.done_at == datetime(2024, 3, 1, 0, 1, tzinfo=UTC)
    assert receipt.error_code == "027"
    assert receipt.text is None


def test_underscored_date_keys_and_missing_fields():
    receipt = parse_receipt(b"id:1234 submit_date:2401311205 done_date:2401311206 stat:rejectd err:0x0B")
    assert receipt.final_state is FinalState.REJECTED
    assert receipt.status_text == "rejectd"
    assert receipt.submitted_parts is None
    assert receipt.done_at == datetime(2024, 1, 31, 12, 6, tzinfo=UTC)
    assert receipt.error_code == "0x0B"


def test_only_id_and_stat():
    receipt = parse_receipt(b"id:77 stat:DELIVRD")
    assert (receipt.message_id, receipt.final_state, receipt.done_at) == ("77", FinalState.DELIVERED, None)


def test_empty_values_do_not_swallow_the_next_field():
    receipt = parse_receipt(b"id:9 sub: dlvrd: submit date: done date:2401311206 stat:DELIVRD err: text:")
    assert receipt.done_at == datetime(2024, 1, 31, 12, 6, tzinfo=UTC)
    assert receipt.submitted_at is None
    assert receipt.error_code is None
    assert receipt.final_state is FinalState.DELIVERED


def test_fields_in_the_original_text_are_not_read():
    receipt = parse_receipt(b"id:1 sub:001 dlvrd:001 stat:DELIVRD err:000 text:id:2 stat:UNDELIV")
    assert receipt.message_id == "1"
    assert receipt.final_state is FinalState.DELIVERED
    assert receipt.text == "id:2 stat:UNDELIV"


def test_tlvs_alone():
    receipt = parse_receipt(b"", {"receipted_message_id": b"abc123\x00", "message_state": 2})
    assert receipt.message_id == "abc123"
    assert receipt.final_state is FinalState.DELIVERED


def test_tlvs_win_over_the_text():
    receipt = parse_receipt(
        b"id:999 sub:001 dlvrd:000 stat:UNDELIV err:000",
        {"receipted_message_id": "AB12", "message_state": 2},
    )
    assert (receipt.message_id, receipt.message_state) == ("AB12", MessageState.DELIVERED)
    assert receipt.status_text == "UNDELIV"  # kept for the log


def test_out_of_range_message_state_falls_back_to_the_text():
    receipt = parse_receipt(b"id:5 stat:EXPIRED", {"message_state": 42})
    assert receipt.final_state is FinalState.EXPIRED


def test_receipt_text_in_message_payload():
    receipt = parse_receipt(b"", {"message_payload": b"id:5 stat:DELIVRD"})
    assert receipt.final_state is FinalState.DELIVERED


def test_receipt_text_in_ucs2():
    receipt = parse_receipt("id:5 stat:DELIVRD text:Привет".encode("utf-16-be"), data_coding=0x08)
    assert (receipt.message_id, receipt.text) == ("5", "Привет")


def test_network_error_code_tlv():
    receipt = parse_receipt(b"id:5 stat:UNDELIV", {"network_error_code": b"\x03\x00\x22"})
    assert receipt.network_error == (3, 0x22)


def test_no_id_anywhere_is_malformed():
    with pytest.raises(MalformedReceipt, match="no message id"):
        parse_receipt(b"sub:001 dlvrd:001 stat:DELIVRD")


@pytest.mark.parametrize(
    ("stat", "state", "final"),
    [
        ("DELIVRD", MessageState.DELIVERED, FinalState.DELIVERED),
        ("delivered", MessageState.DELIVERED, FinalState.DELIVERED),
        ("UNDELIV", MessageState.UNDELIVERABLE, FinalState.UNDELIVERABLE),
        ("FAILED", MessageState.UNDELIVERABLE, FinalState.UNDELIVERABLE),
        ("EXPIRED", MessageState.EXPIRED, FinalState.EXPIRED),
        ("REJECTD", MessageState.REJECTED, FinalState.REJECTED),
        ("DELETED", MessageState.DELETED, FinalState.UNDELIVERABLE),
        ("UNKNOWN", MessageState.UNKNOWN, FinalState.UNDELIVERABLE),
        ("ACCEPTD", MessageState.ACCEPTED, None),
        ("ENROUTE", MessageState.ENROUTE, None),
        ("BUFFRED", MessageState.ENROUTE, None),
        ("WHATEVER", None, None),
    ],
)
def test_stat_words(stat, state, final):
    receipt = parse_receipt(f"id:1 stat:{stat} err:000".encode())
    assert (receipt.message_state, receipt.final_state, receipt.status_text) == (state, final, stat)


def test_dates_are_read_in_the_smsc_zone_and_returned_in_utc():
    receipt = parse_receipt(b"id:1 done date:2407011200 stat:DELIVRD", smsc_timezone=ZoneInfo("Europe/London"))
    assert receipt.done_at == datetime(2024, 7, 1, 11, 0, tzinfo=UTC)
    assert receipt.done_at.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2401311206", datetime(2024, 1, 31, 12, 6, tzinfo=UTC)),
        ("240131120659", datetime(2024, 1, 31, 12, 6, 59, tzinfo=UTC)),
        ("20240131120659", datetime(2024, 1, 31, 12, 6, 59, tzinfo=UTC)),
        ("2413311206", None),  # month 13
        ("24013112", None),  # too short
        ("soon", None),
    ],
)
def test_date_forms(value, expected):
    assert parse_receipt(f"id:1 done date:{value} stat:DELIVRD".encode()).done_at == expected


def test_is_delivery_receipt():
    assert is_delivery_receipt(0x04)
    assert is_delivery_receipt(0x20)  # intermediate notification
    assert is_delivery_receipt(0x04 | 0x40)
    assert not is_delivery_receipt(0x00)
    assert not is_delivery_receipt(0x08)  # SME delivery acknowledgement
    assert not is_delivery_receipt(0x40)


def test_final_state_for():
    assert final_state_for(None) is None
    assert final_state_for(MessageState.ACCEPTED) is None
    assert final_state_for(MessageState.DELETED) is FinalState.UNDELIVERABLE


def test_message_id_variants():
    assert message_id_variants("4A3B2C") == ("4A3B2C", "4a3b2c", "4864812")
    assert message_id_variants("0123") == ("0123", "123", "7b", "7B", "291")
    assert message_id_variants(" x-1\x00") == ("x-1",)


def test_format_receipt_text_exactly():
    text = format_receipt_text(
        "abc",
        MessageState.DELIVERED,
        submitted_at=datetime(2024, 1, 31, 12, 5, 30, tzinfo=UTC),
        done_at=datetime(2024, 1, 31, 12, 6, tzinfo=UTC),
        original_text="Hello world, this is longer than twenty",
    )
    assert text == (
        "id:abc sub:001 dlvrd:001 submit date:2401311205 done date:2401311206 "
        "stat:DELIVRD err:000 text:Hello world, this is"
    )


def test_format_receipt_text_for_a_failure_in_another_zone():
    text = format_receipt_text(
        "7",
        MessageState.UNDELIVERABLE,
        submitted_at=datetime(2024, 7, 1, 11, 0),  # naive: UTC
        done_at=datetime(2024, 7, 1, 11, 1, tzinfo=UTC),
        error_code=34,
        timezone_for_dates=ZoneInfo("Europe/London"),
    )
    assert text == "id:7 sub:001 dlvrd:000 submit date:2407011200 done date:2407011201 stat:UNDELIV err:034 text:"


def test_receipt_tlvs():
    assert receipt_tlvs("abc", MessageState.EXPIRED, network_error=(3, 0x0122)) == {
        "receipted_message_id": "abc",
        "message_state": 3,
        "network_error_code": b"\x03\x01\x22",
    }


@pytest.mark.parametrize("state", list(MessageState))
def test_format_then_parse_round_trips(state):
    submitted = datetime(2024, 12, 31, 23, 59, tzinfo=UTC)
    done = datetime(2025, 1, 1, 0, 1, tzinfo=UTC)
    text = format_receipt_text("ff01", state, submitted_at=submitted, done_at=done, original_text="hi")
    receipt = parse_receipt(text.encode("ascii"), receipt_tlvs("ff01", state))
    assert (receipt.message_id, receipt.message_state) == ("ff01", state)
    assert receipt.final_state == final_state_for(state)
    assert (receipt.submitted_at, receipt.done_at, receipt.text) == (submitted, done, "hi")
    assert parse_receipt(text.encode("ascii")).message_state == state  # the text alone says the same


@given(
    st.text(alphabet="0123456789abcdefABCDEF-", min_size=1, max_size=20),
    st.sampled_from(list(MessageState)),
    st.text(max_size=40),
)
def test_any_formatted_receipt_parses_back(message_id, state, original):
    moment = datetime(2024, 5, 6, 7, 8, tzinfo=UTC)
    text = format_receipt_text(message_id, state, submitted_at=moment, done_at=moment, original_text=original)
    receipt = parse_receipt(text)
    assert (receipt.message_id, receipt.message_state, receipt.text) == (message_id, state, original[:20])


@given(st.binary(max_size=200))
def test_garbage_never_crashes_other_than_malformed(data):
    try:
        parse_receipt(data)
    except MalformedReceipt:
        pass


_VALUE = st.text(alphabet="0aF9 :\t_-idsubtexr", max_size=8)


@given(st.lists(_VALUE, min_size=7, max_size=7), st.one_of(st.none(), st.text(max_size=30)), st.booleans())
def test_the_appendix_b_shortcut_reads_what_the_general_reader_reads(values, original, upper):
    """`_text_fields` reads the exact Appendix B layout in one match and anything else field by
    field; on texts of that layout with awkward values (spaces, colons, field names inside them)
    the two must agree."""
    keys = ("id", "sub", "dlvrd", "submit date", "done date", "stat", "err")
    text = " ".join(f"{key}:{value}" for key, value in zip(keys, values))
    if original is not None:
        text += f" text:{original}"
    if upper:
        text = text.upper()
    assert receipts._text_fields(text) == receipts._general_text_fields(text)


def test_the_appendix_b_shortcut_is_taken_for_the_simulators_receipts():
    text = format_receipt_text("0a1b", MessageState.UNDELIVERABLE, submitted_at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
                               done_at=datetime(2026, 1, 2, 3, 5, tzinfo=UTC), error_code=1, original_text="a: b")
    assert receipts._APPENDIX_B.fullmatch(text) is not None
    assert receipts._text_fields(text) == {"id": "0a1b", "sub": "001", "dlvrd": "000", "submit date": "2601020304",
                                           "done date": "2601020305", "stat": "UNDELIV", "err": "001", "text": "a: b"}
