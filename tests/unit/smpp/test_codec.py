"""SMPP codec: golden vectors, smpplib repairs, garbage handling, framing, round trips."""

from __future__ import annotations

import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from smpplib import smpp as smpplib_smpp

from engine.smpp import codec
from engine.smpp.codec import (
    MAX_PDU_LENGTH,
    CommandStatus,
    FramingError,
    Pdu,
    PduDecodeError,
    PduEncodeError,
    decode,
    encode,
    extract_pdus,
    response_to,
)
from engine.smpp.pdu_vectors import BY_NAME, VECTORS


# --------------------------------------------------------------------------- golden vectors

@pytest.mark.parametrize("name,wire,pdu", VECTORS, ids=[name for name, _, _ in VECTORS])
def test_golden_vector_encodes_byte_exact(name, wire, pdu):
    assert encode(pdu) == wire


@pytest.mark.parametrize("name,wire,pdu", VECTORS, ids=[name for name, _, _ in VECTORS])
def test_golden_vector_decodes_to_its_fields(name, wire, pdu):
    assert decode(wire) == pdu


def test_ussd_tlvs_decode_as_integers():
    pdu = decode(BY_NAME["deliver_sm USSD"][0])
    assert pdu.params["ussd_service_op"] == 1
    assert pdu.params["its_session_info"] >> 8 == 0x1E


def test_delivery_receipt_tlvs():
    pdu = decode(BY_NAME["deliver_sm delivery receipt"][0])
    assert pdu.params["esm_class"] & 0x04
    assert pdu.params["receipted_message_id"] == "msg-0001"
    assert pdu.params["message_state"] == 2


# --------------------------------------------------------------------------- smpplib repairs

def test_smpplib_parses_deliver_sm_with_ussd_tlvs_after_repair():
    # Without repair_smpplib() this raises KeyError 'ussd_service_op' (smpplib issue #104).
    wire = BY_NAME["deliver_sm USSD"][0]
    parsed = smpplib_smpp.parse_pdu(wire, allow_unknown_opt_params=True, sequence=0)
    assert parsed.ussd_service_op == 1
    assert parsed.its_session_info == 0x1E00
    assert parsed.sequence == 0x10


def test_smpplib_parses_tlvs_missing_from_its_tables_after_repair():
    # submit_sm_resp has no TLV table at all in smpplib 2.2.4; data_sm lacks ussd_service_op.
    resp = encode(Pdu("submit_sm_resp", 4, 0, {"message_id": "x", "additional_status_info_text": "ok"}))
    assert smpplib_smpp.parse_pdu(resp, sequence=0).additional_status_info_text == b"ok"
    data_sm = encode(Pdu("data_sm", 5, 0, {"source_addr": "1", "ussd_service_op": 2}))
    assert smpplib_smpp.parse_pdu(data_sm, sequence=0).ussd_service_op == 2


def test_smpplib_submit_sm_source_addr_subunit_is_one_octet_after_repair():
    # smpplib 2.2.4 declares it 2 octets; SMPP 3.4 5.3.2.2 says 1.
    from smpplib import command
    assert command.SubmitSM.params["source_addr_subunit"].size == 1


def test_repair_is_idempotent():
    from smpplib import command
    codec.repair_smpplib()
    order = command.DeliverSM.params_order
    assert len(order) == len(set(order))


def test_to_smpplib_keeps_the_sequence_and_matches_our_encoding():
    # smpplib ignores make_pdu(sequence=...); to_smpplib sets it explicitly.
    wire, pdu = BY_NAME["submit_sm UDH + UCS2"]
    command_object = codec.to_smpplib(pdu)
    assert command_object.sequence == 3
    assert command_object.generate() == wire


@pytest.mark.parametrize("name", ["deliver_sm USSD", "deliver_sm delivery receipt",
                                  "submit_sm UDH + UCS2", "bind_transceiver"])
def test_our_decode_agrees_with_repaired_smpplib(name):
    wire, _ = BY_NAME[name]
    ours = decode(wire)
    theirs = smpplib_smpp.parse_pdu(wire, sequence=0)
    for field_name, value in ours.params.items():
        their_value = getattr(theirs, field_name)
        if isinstance(value, str):
            their_value = their_value.decode("latin-1")
        assert their_value == value, field_name


# --------------------------------------------------------------------------- decode errors

def _header(length, command_id, status=0, sequence=1):
    return struct.pack(">IIII", length, command_id, status, sequence)


def test_unknown_command_id_is_rinvcmdid_with_its_sequence():
    with pytest.raises(PduDecodeError) as error:
        decode(_header(16, 0x00000099, sequence=77))
    assert error.value.status == CommandStatus.ESME_RINVCMDID
    assert error.value.sequence == 77
    assert error.value.command_id == 0x99


def test_short_data_is_rinvcmdlen():
    with pytest.raises(PduDecodeError) as error:
        decode(b"\x00\x00\x00")
    assert error.value.status == CommandStatus.ESME_RINVCMDLEN
    assert error.value.sequence is None


def test_length_header_disagreeing_with_data_is_rinvcmdlen():
    with pytest.raises(PduDecodeError) as error:
        decode(_header(20, 0x15))
    assert error.value.status == CommandStatus.ESME_RINVCMDLEN


def test_truncated_submit_sm_body_is_rinvcmdlen():
    wire = BY_NAME["submit_sm UDH + UCS2"][0]
    cut = wire[:20]
    cut = struct.pack(">I", len(cut)) + cut[4:]
    with pytest.raises(PduDecodeError) as error:
        decode(cut)
    assert error.value.status in (CommandStatus.ESME_RINVCMDLEN, CommandStatus.ESME_RINVSRCADR)
    assert error.value.sequence == 3


def test_source_addr_longer_than_its_field_is_rinvsrcadr():
    body = b"\x00" + b"\x01\x01" + b"1" * 30 + b"\x00" + b"\x00" * 30
    with pytest.raises(PduDecodeError) as error:
        decode(_header(16 + len(body), 0x04) + body)
    assert error.value.status == CommandStatus.ESME_RINVSRCADR


def test_sm_length_past_the_end_is_rinvmsglen():
    wire = bytearray(BY_NAME["submit_sm UDH + UCS2"][0])
    wire[-11] = 0xFF  # the sm_length octet
    with pytest.raises(PduDecodeError) as error:
        decode(bytes(wire))
    assert error.value.status == CommandStatus.ESME_RINVMSGLEN


def test_tlv_running_past_the_end_is_rinvoptparstream():
    wire = bytearray(BY_NAME["deliver_sm USSD"][0])
    wire[-4:-2] = b"\x00\x09"  # its_session_info claims 9 octets
    with pytest.raises(PduDecodeError) as error:
        decode(bytes(wire))
    assert error.value.status == CommandStatus.ESME_RINVOPTPARSTREAM


def test_integer_tlv_with_wrong_length_is_rinvparlen():
    body = b"\x00" * 16 + b"\x00" + b"\x05\x01\x00\x02\x00\x01"
    wire = _header(16 + len(body), 0x05) + body
    with pytest.raises(PduDecodeError) as error:
        decode(wire)
    assert error.value.status == CommandStatus.ESME_RINVPARLEN


def test_unknown_vendor_tlv_is_kept_and_written_back():
    wire, pdu = BY_NAME["deliver_sm USSD"]
    vendor = b"\x14\x00\x00\x03abc"
    extended = struct.pack(">I", len(wire) + len(vendor)) + wire[4:] + vendor
    decoded = decode(extended)
    assert decoded.params["unknown_tlvs"] == ((0x1400, b"abc"),)
    assert encode(decoded) == extended


def test_known_command_without_body_layout_keeps_the_raw_body():
    body = b"\x00\x05\x00TPO\x00\x02"
    pdu = decode(_header(16 + len(body), 0x21, sequence=9) + body)
    assert pdu.command == "submit_multi"
    assert pdu.params == {"body": body}
    answer = response_to(pdu, status=CommandStatus.ESME_RINVCMDID)
    assert (answer.command, answer.sequence) == ("submit_multi_resp", 9)


def test_response_to_a_request_without_response_is_generic_nack():
    answer = response_to(Pdu("outbind", 4, 0, {}))
    assert (answer.command, answer.sequence, answer.status) == ("generic_nack", 4, 3)


def test_error_response_is_header_only_and_decodes_with_defaults():
    wire = encode(response_to(Pdu("submit_sm", 8, 0, {}), status=CommandStatus.ESME_RTHROTTLED))
    assert len(wire) == 16
    assert decode(wire).params == {"message_id": ""}


# --------------------------------------------------------------------------- encode errors

@pytest.mark.parametrize("params,message", [
    ({"no_such_field": 1}, "unknown parameter 'no_such_field'"),
    ({"short_message": b"x" * 255}, "at most 254"),
    ({"short_message": "text"}, "must be bytes"),
    ({"source_addr": "\u20ac"}, "not a latin-1 str"),
    ({"destination_addr": "1" * 21}, "longer than 20"),
    ({"esm_class": 256}, "not an integer 0..255"),
    ({"sar_msg_ref_num": 70000}, "not an integer of 2 octet"),
    ({"short_message": b"x", "message_payload": b"y"}, "exclusive"),
])
def test_encode_rejects_impossible_values_clearly(params, message):
    with pytest.raises(PduEncodeError, match=message):
        encode(Pdu("submit_sm", 1, 0, params))


def test_encode_rejects_unknown_command():
    with pytest.raises(PduEncodeError, match="unknown SMPP command 'submit_sms'"):
        encode(Pdu("submit_sms", 1, 0, {}))


def test_message_payload_and_dest_port_alias():
    pdu = Pdu("submit_sm", 2, 0, {"message_payload": b"x" * 500, "dest_port": 2948})
    decoded = decode(encode(pdu))
    assert decoded.params["message_payload"] == b"x" * 500
    assert decoded.params["destination_port"] == 2948
    assert decoded.params["short_message"] == b""


# --------------------------------------------------------------------------- framing

def test_extract_pdus_leaves_a_partial_pdu_in_the_buffer():
    one = BY_NAME["enquire_link"][0]
    two = BY_NAME["submit_sm UDH + UCS2"][0]
    buffer = bytearray(one + two[:10])
    assert extract_pdus(buffer) == [one]
    assert buffer == bytearray(two[:10])
    buffer += two[10:]
    assert extract_pdus(buffer) == [two]
    assert buffer == bytearray()


def test_extract_pdus_byte_by_byte():
    stream = b"".join(wire for _, wire, _ in VECTORS)
    buffer = bytearray()
    found = []
    for byte in stream:
        buffer.append(byte)
        found.extend(extract_pdus(buffer))
    assert found == [wire for _, wire, _ in VECTORS]


@pytest.mark.parametrize("length", [0, 15, MAX_PDU_LENGTH + 1, 0xFFFFFFFF])
def test_insane_length_is_a_framing_error_and_keeps_earlier_pdus(length):
    good = BY_NAME["enquire_link"][0]
    buffer = bytearray(good + _header(length, 0x15, sequence=5))
    with pytest.raises(FramingError) as error:
        extract_pdus(buffer)
    assert error.value.pdus == [good]
    assert error.value.status == CommandStatus.ESME_RINVCMDLEN
    assert error.value.sequence == 5


# --------------------------------------------------------------------------- properties

c_string = lambda limit: st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=limit - 1)  # noqa: E731
octet = st.integers(0, 255)

short_message_pdus = st.builds(
    lambda command, sequence, fields, tlvs: Pdu(command, sequence, 0, {**fields, **tlvs}),
    st.sampled_from(["submit_sm", "deliver_sm"]),
    st.integers(1, 0x7FFFFFFF),
    st.fixed_dictionaries({
        "service_type": c_string(6), "source_addr_ton": octet, "source_addr_npi": octet,
        "source_addr": c_string(21), "dest_addr_ton": octet, "dest_addr_npi": octet,
        "destination_addr": c_string(21), "esm_class": octet, "protocol_id": octet,
        "priority_flag": octet, "schedule_delivery_time": c_string(17),
        "validity_period": c_string(17), "registered_delivery": octet,
        "replace_if_present_flag": octet, "data_coding": octet, "sm_default_msg_id": octet,
        "short_message": st.binary(max_size=254),
    }),
    st.fixed_dictionaries({}, optional={
        "user_message_reference": st.integers(0, 0xFFFF),
        "sar_msg_ref_num": st.integers(0, 0xFFFF),
        "sar_total_segments": octet,
        "sar_segment_seqnum": octet,
        "ussd_service_op": octet,
        "its_session_info": st.integers(0, 0xFFFF),
        "receipted_message_id": c_string(65),
        "message_state": octet,
        "network_error_code": st.binary(min_size=3, max_size=3),
        "source_port": st.integers(0, 0xFFFF),
        "destination_port": st.integers(0, 0xFFFF),
        "more_messages_to_send": octet,
        "alert_on_message_delivery": st.just(True),
    }),
)


@settings(max_examples=300, deadline=None)
@given(short_message_pdus)
def test_submit_and_deliver_sm_round_trip(pdu):
    assert decode(encode(pdu)) == pdu


valid_wires = st.sampled_from([wire for _, wire, _ in VECTORS])


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_only_ever_raise_our_decode_error(data):
    try:
        decode(data)
    except PduDecodeError:
        pass


@settings(max_examples=1000, deadline=None)
@given(valid_wires, st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=6),
       st.integers(0, 100))
def test_mutated_pdus_only_ever_raise_our_decode_error(wire, mutations, cut):
    data = bytearray(wire)
    for position, value in mutations:
        if position < len(data):
            data[position] = value
    if cut:
        data = data[:max(len(data) - cut, 0)]
        if len(data) >= 4:
            data[0:4] = struct.pack(">I", len(data))  # keep framing plausible to reach the body
    try:
        pdu = decode(bytes(data))
    except PduDecodeError:
        return
    try:
        again = encode(pdu)
    except PduEncodeError:
        return  # decode is lenient (e.g. an over-long C-string TLV); encode is strict
    if pdu.status == 0 or not pdu.command.endswith("_resp"):
        assert decode(again) == pdu


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_streams_only_ever_raise_framing_error(data):
    buffer = bytearray(data)
    try:
        extract_pdus(buffer)
    except FramingError:
        pass


# --------------------------------------------------------------------------- speed

def test_submit_sm_encode_decode_well_above_ten_thousand_per_second():
    pdu = BY_NAME["submit_sm UDH + UCS2"][1]
    count = 5000
    started = time.perf_counter()
    for _ in range(count):
        decode(encode(pdu))
    rate = count / (time.perf_counter() - started)
    assert rate > 10_000, f"{rate:.0f} submit_sm encode+decode pairs per second"
