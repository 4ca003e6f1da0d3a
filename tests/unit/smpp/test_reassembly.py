"""Reassembling concatenated MO: UDH (8- and 16-bit references) and SAR, order, duplicates, timeouts."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.smpp.reassembly import (
    ConcatenationInfo,
    IncomingPart,
    InformationElement,
    MalformedUdh,
    Reassembler,
    concatenation_info,
    parse_udh,
    strip_udh,
)
from engine.smpp.segmentation import split_message

PHONE = "+447700900123"
UDHI = 0x40


def udh_part(reference, total, sequence, body, data_coding=0x00, source=PHONE):
    header = bytes([0x05, 0x00, 0x03, reference, total, sequence])
    return IncomingPart(source, header + body, data_coding, UDHI)


def sar_part(reference, total, sequence, body, data_coding=0x00, source=PHONE):
    tlvs = {"sar_msg_ref_num": reference, "sar_total_segments": total, "sar_segment_seqnum": sequence}
    return IncomingPart(source, body, data_coding, 0, tlvs)


# --- UDH ------------------------------------------------------------------------------------


def test_parse_udh_skips_other_information_elements():
    # Application port addressing (IEI 05, 4 octets) before the concatenation IE.
    user_data = bytes.fromhex("0b" "05040b8423f0" "0003aa0301") + b"text"
    elements, body = parse_udh(user_data)
    assert elements == (
        InformationElement(0x05, bytes.fromhex("0b8423f0")),
        InformationElement(0x00, bytes.fromhex("aa0301")),
    )
    assert body == b"text"
    assert concatenation_info(IncomingPart(PHONE, user_data, 0, UDHI)) == ConcatenationInfo(0xAA, 3, 1)


def test_16_bit_reference():
    part = IncomingPart(PHONE, bytes.fromhex("06080412340201") + b"x", 0, UDHI)
    assert concatenation_info(part) == ConcatenationInfo(0x1234, 2, 1)


@pytest.mark.parametrize(
    ("user_data", "message"),
    [
        (b"", "empty"),
        (bytes.fromhex("0500030102"), "overruns the 5-octet message"),
        (bytes.fromhex("03000501") + b"abc", "overruns the 3-octet UDH"),
        (bytes.fromhex("0100") + b"abc", "inside an IE header"),
    ],
)
def test_malformed_udh_is_a_specific_error(user_data, message):
    with pytest.raises(MalformedUdh, match=message):
        parse_udh(user_data)


def test_strip_udh_only_when_udhi_is_set():
    short_message = bytes.fromhex("050003010101") + b"hi"
    assert strip_udh(short_message, UDHI) == b"hi"
    assert strip_udh(short_message, 0x00) == short_message


@pytest.mark.parametrize(("total", "sequence"), [(0, 0), (2, 0), (2, 3)])
def test_invalid_concatenation_ie_is_ignored_per_23_040(total, sequence):
    part = udh_part(1, total, sequence, b"whole")
    assert concatenation_info(part) is None
    message = Reassembler(60).add(part, now=0)
    assert message is not None and message.text == "whole" and message.complete


# --- reassembly -----------------------------------------------------------------------------


def test_a_plain_message_comes_straight_back():
    message = Reassembler(60).add(IncomingPart(PHONE, b"\x00 home", 0x00), now=5)
    assert message.text == "@ home"
    assert (message.complete, message.should_process, message.total_parts) == (True, True, 1)
    assert message.reference is None


def test_a_one_part_concatenated_message_comes_straight_back():
    reassembler = Reassembler(60)
    assert reassembler.add(udh_part(9, 1, 1, b"solo"), now=0).text == "solo"
    assert reassembler.pending_count == 0


def test_parts_out_of_order_with_duplicates():
    reassembler = Reassembler(60)
    assert reassembler.add(udh_part(7, 3, 3, b"three"), now=0) is None
    assert reassembler.add(udh_part(7, 3, 1, b"one "), now=1) is None
    assert reassembler.add(udh_part(7, 3, 3, b"THREE"), now=2) is None  # duplicate: first copy wins
    message = reassembler.add(udh_part(7, 3, 2, b"two "), now=3)
    assert message.text == "one two three"
    assert message.received_sequences == (1, 2, 3)
    assert [p.short_message[-3:] for p in message.parts] == [b"ne ", b"wo ", b"ree"]
    assert (message.reference, message.first_part_at, message.complete) == (7, 0, True)
    assert reassembler.duplicates_ignored == 1
    assert reassembler.pending_count == 0


def test_a_retransmitted_part_after_completion_is_ignored():
    reassembler = Reassembler(60)
    reassembler.add(udh_part(7, 2, 1, b"one "), now=0)
    assert reassembler.add(udh_part(7, 2, 2, b"two"), now=1).text == "one two"
    assert reassembler.add(udh_part(7, 2, 2, b"two"), now=2) is None
    assert reassembler.pending_count == 0
    assert reassembler.expire(now=1000) == []


def test_a_new_message_reusing_the_reference_is_not_a_duplicate():
    reassembler = Reassembler(60)
    reassembler.add(udh_part(7, 2, 1, b"one "), now=0)
    reassembler.add(udh_part(7, 2, 2, b"two"), now=1)
    assert reassembler.add(udh_part(7, 2, 1, b"uno "), now=2) is None
    assert reassembler.add(udh_part(7, 2, 2, b"dos"), now=3).text == "uno dos"


def test_senders_and_references_are_kept_apart():
    reassembler = Reassembler(60)
    reassembler.add(udh_part(7, 2, 1, b"A1 ", source="+1"), now=0)
    reassembler.add(udh_part(7, 2, 1, b"B1 ", source="+2"), now=0)
    reassembler.add(udh_part(8, 2, 1, b"C1 ", source="+1"), now=0)
    assert reassembler.add(udh_part(7, 2, 2, b"B2", source="+2"), now=1).text == "B1 B2"
    assert reassembler.add(udh_part(7, 2, 2, b"A2", source="+1"), now=1).text == "A1 A2"
    assert reassembler.pending_count == 1


def test_gsm_escape_split_across_parts_is_decoded_after_joining():
    reassembler = Reassembler(60)
    reassembler.add(udh_part(1, 2, 1, b"cost 5\x1b"), now=0)
    assert reassembler.add(udh_part(1, 2, 2, b"e each"), now=0).text == "cost 5€ each"


def test_ucs2_parts():
    reassembler = Reassembler(60)
    reassembler.add(udh_part(1, 2, 2, "вет 😀".encode("utf-16-be"), 0x08), now=0)
    assert reassembler.add(udh_part(1, 2, 1, "При".encode("utf-16-be"), 0x08), now=0).text == "Привет 😀"


def test_parts_disagreeing_on_data_coding_decode_run_by_run():
    reassembler = Reassembler(60)
    reassembler.add(udh_part(1, 2, 1, b"caf", 0x00), now=0)
    assert reassembler.add(udh_part(1, 2, 2, "é!".encode("utf-16-be"), 0x08), now=0).text == "café!"


def test_sar_tlvs():
    reassembler = Reassembler(60)
    assert reassembler.add(sar_part(0x0102, 2, 2, b"world"), now=0) is None
    message = reassembler.add(sar_part(0x0102, 2, 1, b"hello "), now=0)
    assert (message.text, message.reference) == ("hello world", 0x0102)


def test_udh_in_message_payload():
    part = IncomingPart(PHONE, b"", 0, UDHI, {"message_payload": bytes.fromhex("050003050101") + b"hi"})
    assert Reassembler(60).add(part, now=0).text == "hi"


def test_handles_come_back_with_the_message():
    reassembler = Reassembler(60)
    first = udh_part(1, 2, 1, b"a")
    reassembler.add(IncomingPart(first.source_addr, first.short_message, 0, UDHI, handle=11), now=0)
    second = udh_part(1, 2, 2, b"b")
    message = reassembler.add(IncomingPart(second.source_addr, second.short_message, 0, UDHI, handle=12), now=0)
    assert [p.handle for p in message.parts] == [11, 12]


def test_malformed_udh_changes_nothing():
    reassembler = Reassembler(60)
    with pytest.raises(MalformedUdh):
        reassembler.add(IncomingPart(PHONE, bytes.fromhex("0700030102"), 0, UDHI), now=0)
    assert reassembler.pending_count == 0


# --- timeouts -------------------------------------------------------------------------------


def test_timeout_with_process_hands_over_what_arrived():
    reassembler = Reassembler(30, on_timeout="process")
    reassembler.add(udh_part(4, 3, 1, b"FOLLOW "), now=100)
    reassembler.add(udh_part(4, 3, 3, b"+447700900456"), now=110)
    assert reassembler.next_expiry() == 130
    assert reassembler.expire(now=129.9) == []
    (message,) = reassembler.expire(now=130)
    assert message.text == "FOLLOW …+447700900456"
    assert (message.complete, message.should_process) == (False, True)
    assert message.received_sequences == (1, 3)
    assert message.missing_sequences == (2,)
    assert reassembler.pending_count == 0
    assert reassembler.next_expiry() is None


def test_a_straggler_after_timeout_is_ignored():
    reassembler = Reassembler(30)
    reassembler.add(udh_part(4, 2, 1, b"first"), now=0)
    assert len(reassembler.expire(now=30)) == 1
    assert reassembler.add(udh_part(4, 2, 2, b"late"), now=31) is None
    assert reassembler.stragglers_ignored == 1
    assert reassembler.expire(now=1000) == []


def test_timeout_with_discard_reports_but_does_not_process():
    reassembler = Reassembler(30, on_timeout="discard")
    reassembler.add(udh_part(4, 2, 2, b"second half"), now=0)
    (message,) = reassembler.expire(now=31)
    assert (message.complete, message.should_process, message.text) == (False, False, "second half")


def test_an_escape_before_a_gap_does_not_bind_across_it():
    reassembler = Reassembler(30, gap_marker="[?]")
    reassembler.add(udh_part(4, 3, 1, b"a\x1b"), now=0)
    reassembler.add(udh_part(4, 3, 3, b"e"), now=0)
    (message,) = reassembler.expire(now=30)
    assert message.text == "a[?]e"


def test_expired_messages_come_oldest_first():
    reassembler = Reassembler(10)
    reassembler.add(udh_part(2, 2, 1, b"later"), now=5)
    reassembler.add(udh_part(1, 2, 1, b"earlier"), now=1)
    assert [m.text for m in reassembler.expire(now=100)] == ["earlier", "later"]


@pytest.mark.parametrize(("kwargs", "message"), [({"timeout_seconds": 0}, "positive"),
                                                 ({"timeout_seconds": 5, "on_timeout": "keep"}, "on_timeout")])
def test_bad_configuration_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Reassembler(**kwargs)


# --- property: whatever segmentation sends, reassembly gives back ----------------------------


@given(
    st.text(max_size=60) | st.text(min_size=100, max_size=500),
    st.sampled_from(["udh", "sar"]),
    st.sampled_from([8, 16]),
    st.sampled_from(["gsm", "ucs2"]),
    st.randoms(use_true_random=False),
)
def test_split_shuffle_duplicate_reassemble_is_the_text(text, mode, reference_bits, prefer, rng: random.Random):
    message = split_message(text, reference=77, mode=mode, reference_bits=reference_bits, prefer=prefer)
    incoming = [
        IncomingPart(PHONE, part.short_message, message.data_coding, part.esm_class_flags, part.tlvs)
        for part in message.parts
    ]
    # Retransmissions only make sense for concatenated parts; a plain message has no reference.
    duplicates = rng.sample(incoming, k=min(len(incoming), 2)) if len(incoming) > 1 else []
    deliveries = incoming + duplicates
    rng.shuffle(deliveries)
    reassembler = Reassembler(60)
    results = [reassembler.add(part, now=i) for i, part in enumerate(deliveries)]
    completed = [r for r in results if r is not None]
    assert len(completed) == 1
    assert completed[0].text == text
    assert completed[0].complete
    assert reassembler.pending_count == 0
