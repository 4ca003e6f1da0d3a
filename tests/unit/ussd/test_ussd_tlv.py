"""ussd_service_op values and its_session_info: layout, round trips, the end bit, our reply's value."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.smpp import ussd_tlv
from engine.smpp.ussd_tlv import SessionInfo, reply_service_op, reply_session_info


def test_service_op_values_are_the_spec_values():
    assert [int(op) for op in ussd_tlv.UssdServiceOp] == [0, 1, 2, 3, 16, 17, 18, 19]
    assert (ussd_tlv.PSSD_INDICATION, ussd_tlv.PSSR_INDICATION, ussd_tlv.USSR_REQUEST, ussd_tlv.USSN_REQUEST) == (0, 1, 2, 3)
    assert (ussd_tlv.PSSD_RESPONSE, ussd_tlv.PSSR_RESPONSE, ussd_tlv.USSR_CONFIRM, ussd_tlv.USSN_CONFIRM) == (16, 17, 18, 19)
    assert (ussd_tlv.USSD_SERVICE_OP_TAG, ussd_tlv.ITS_SESSION_INFO_TAG) == (0x0501, 0x1383)


def test_layout_session_number_high_octet_sequence_and_end_bit_low_octet():
    # pdu_vectors.py: "1383 0002 1e00" is session 0x1e, sequence 0
    assert SessionInfo.decode(0x1E00) == SessionInfo(0x1E, 0, False)
    assert SessionInfo.decode(b"\x1e\x00") == SessionInfo(0x1E, 0, False)
    assert SessionInfo.decode(0x1E07) == SessionInfo(0x1E, 3, True)
    assert SessionInfo(0x1E, 3, True).encode() == 0x1E07
    assert SessionInfo(0x1E, 3, True).to_bytes() == b"\x1e\x07"
    assert SessionInfo(255, 127, True).encode() == 0xFFFF


@given(st.integers(0, 0xFFFF))
def test_decode_encode_round_trips(value):
    info = SessionInfo.decode(value)
    assert info.encode() == value
    assert SessionInfo.decode(info.to_bytes()) == info
    assert info.end == bool(value & 1)


@pytest.mark.parametrize("bad", [-1, 0x10000, b"\x01", b"\x01\x02\x03", "12", True])
def test_bad_values_are_refused(bad):
    with pytest.raises(ValueError):
        SessionInfo.decode(bad)


@pytest.mark.parametrize("number, sequence", [(256, 0), (0, 128), (-1, 0)])
def test_out_of_range_fields_are_refused(number, sequence):
    with pytest.raises(ValueError):
        SessionInfo(number, sequence)


def test_reply_keeps_the_session_number_and_increments_the_sequence():
    received = SessionInfo(0x42, 5).encode()
    assert SessionInfo.decode(reply_session_info(received, end=False)) == SessionInfo(0x42, 6, False)
    assert SessionInfo.decode(reply_session_info(received, end=True)) == SessionInfo(0x42, 6, True)


def test_reply_sequence_wraps_at_128_and_echo_keeps_it():
    assert SessionInfo.decode(reply_session_info(SessionInfo(9, 127), end=False)) == SessionInfo(9, 0, False)
    assert SessionInfo.decode(reply_session_info(SessionInfo(9, 4).encode(), end=True, sequence="echo")) == \
        SessionInfo(9, 4, True)


def test_reply_clears_an_end_bit_it_received_when_the_dialogue_goes_on():
    assert not SessionInfo.decode(reply_session_info(SessionInfo(9, 4, True), end=False)).end


def test_no_session_info_in_no_session_info_out():
    assert reply_session_info(None, end=True) is None


def test_reply_service_op():
    assert reply_service_op(1, continues=True) == 2
    assert reply_service_op(18, continues=False) == 17
    assert reply_service_op(None, continues=True) == 2
    assert reply_service_op(0, continues=True) == 16  # phase 1 cannot continue
