"""Golden SMPP 3.4 PDUs: byte-exact wire images written by hand from the spec layout.

Each vector is (name, wire bytes, Pdu). The hex is grouped as the spec lays a
PDU out - header (command_length, command_id, command_status, sequence_number),
then the mandatory body fields in order, then TLVs (tag, length, value) - so a
reviewer can check it against SMPP 3.4 sections 4 and 5 without running code.
The codec tests assert both directions; the SMSC simulator's tests may reuse them.
"""

from __future__ import annotations

from engine.smpp.codec import Pdu


def _hex(text: str) -> bytes:
    return bytes.fromhex("".join(line.split("#", 1)[0] for line in text.splitlines()))


_SUBMIT_DEFAULTS = dict(
    service_type="", source_addr_ton=0, source_addr_npi=0, source_addr="", dest_addr_ton=0,
    dest_addr_npi=0, destination_addr="", esm_class=0, protocol_id=0, priority_flag=0,
    schedule_delivery_time="", validity_period="", registered_delivery=0,
    replace_if_present_flag=0, data_coding=0, sm_default_msg_id=0, short_message=b"",
)


def _sm(**fields) -> dict:
    return {**_SUBMIT_DEFAULTS, **fields}


VECTORS: list[tuple[str, bytes, Pdu]] = [
    ("enquire_link", _hex("""
        00000010 00000015 00000000 00000001
    """), Pdu("enquire_link", 1, 0, {})),
    ("enquire_link_resp", _hex("""
        00000010 80000015 00000000 00000001
    """), Pdu("enquire_link_resp", 1, 0, {})),
    ("unbind", _hex("""
        00000010 00000006 00000000 00000002
    """), Pdu("unbind", 2, 0, {})),
    ("unbind_resp", _hex("""
        00000010 80000006 00000000 00000002
    """), Pdu("unbind_resp", 2, 0, {})),
    ("generic_nack RINVCMDID", _hex("""
        00000010 80000000 00000003 00000007
    """), Pdu("generic_nack", 7, 3, {})),
    ("bind_transceiver", _hex("""
        00000020 00000009 00000000 00000001
        74706f00            # system_id "tpo"
        73656372657400      # password "secret"
        00                  # system_type ""
        34                  # interface_version 3.4
        00 00               # addr_ton, addr_npi
        00                  # address_range ""
    """), Pdu("bind_transceiver", 1, 0, dict(
        system_id="tpo", password="secret", system_type="", interface_version=0x34,
        addr_ton=0, addr_npi=0, address_range=""))),
    ("bind_transmitter", _hex("""
        00000020 00000002 00000000 00000001
        74706f00 73656372657400 00 34 00 00 00
    """), Pdu("bind_transmitter", 1, 0, dict(
        system_id="tpo", password="secret", system_type="", interface_version=0x34,
        addr_ton=0, addr_npi=0, address_range=""))),
    ("bind_receiver", _hex("""
        00000020 00000001 00000000 00000001
        74706f00 73656372657400 00 34 00 00 00
    """), Pdu("bind_receiver", 1, 0, dict(
        system_id="tpo", password="secret", system_type="", interface_version=0x34,
        addr_ton=0, addr_npi=0, address_range=""))),
    ("bind_transceiver_resp", _hex("""
        0000001a 80000009 00000000 00000001
        534d534300          # system_id "SMSC"
        0210 0001 34        # TLV sc_interface_version 3.4
    """), Pdu("bind_transceiver_resp", 1, 0, dict(system_id="SMSC", sc_interface_version=0x34))),
    ("bind_transceiver_resp RINVPASWD (no body)", _hex("""
        00000010 80000009 0000000e 00000001
    """), Pdu("bind_transceiver_resp", 1, 0x0E, dict(system_id=""))),
    ("submit_sm UDH + UCS2", _hex("""
        0000003a 00000004 00000000 00000003
        00                              # service_type ""
        05 00 54504f00                  # source: alphanumeric, "TPO"
        01 01 34343737303039303031323300  # destination: international/ISDN "447700900123"
        40                              # esm_class: UDH indicator
        00 00                           # protocol_id, priority_flag
        00 00                           # schedule_delivery_time "", validity_period ""
        01 00                           # registered_delivery: final receipt, replace_if_present 0
        08 00                           # data_coding UCS2, sm_default_msg_id
        0a                              # sm_length 10
        050003 2a 02 01 0048 0069       # UDH concat ref 0x2a part 1/2, "Hi" in UCS2
    """), Pdu("submit_sm", 3, 0, _sm(
        source_addr_ton=5, source_addr="TPO", dest_addr_ton=1, dest_addr_npi=1,
        destination_addr="447700900123", esm_class=0x40, registered_delivery=1,
        data_coding=0x08, short_message=bytes.fromhex("0500032a020100480069")))),
    ("submit_sm_resp", _hex("""
        00000019 80000004 00000000 00000003
        6d73672d3030303100  # message_id "msg-0001"
    """), Pdu("submit_sm_resp", 3, 0, dict(message_id="msg-0001"))),
    ("submit_sm_resp RTHROTTLED (no body)", _hex("""
        00000010 80000004 00000058 00000003
    """), Pdu("submit_sm_resp", 3, 0x58, dict(message_id=""))),
    ("deliver_sm USSD", _hex("""
        00000046 00000005 00000000 00000010
        5553534400                      # service_type "USSD"
        01 01 34343737303039303031323300  # source "447700900123"
        00 00 2a3132332300              # destination "*123#"
        00 00 00 00 00 00 00 00 00      # esm_class .. sm_default_msg_id
        05 2a31323323                   # sm_length 5, "*123#"
        0501 0001 01                    # TLV ussd_service_op: PSSR indication
        1383 0002 1e00                  # TLV its_session_info: session 0x1e, sequence 0
    """), Pdu("deliver_sm", 0x10, 0, _sm(
        service_type="USSD", source_addr_ton=1, source_addr_npi=1, source_addr="447700900123",
        destination_addr="*123#", short_message=b"*123#", ussd_service_op=1,
        its_session_info=0x1E00))),
    ("deliver_sm delivery receipt", _hex("""
        0000005a 00000005 00000000 00000011
        00                              # service_type ""
        01 01 34343737303039303031323300  # source "447700900123"
        05 00 54504f00                  # destination "TPO"
        04                              # esm_class: SMSC delivery receipt
        00 00 00 00 00 00 00 00         # protocol_id .. sm_default_msg_id
        18 69643a6d73672d30303031 20 737461743a44454c49565244  # "id:msg-0001 stat:DELIVRD"
        001e 0009 6d73672d3030303100    # TLV receipted_message_id "msg-0001"
        0427 0001 02                    # TLV message_state DELIVERED
    """), Pdu("deliver_sm", 0x11, 0, _sm(
        source_addr_ton=1, source_addr_npi=1, source_addr="447700900123", dest_addr_ton=5,
        destination_addr="TPO", esm_class=0x04, short_message=b"id:msg-0001 stat:DELIVRD",
        receipted_message_id="msg-0001", message_state=2))),
    ("deliver_sm_resp", _hex("""
        00000011 80000005 00000000 00000010
        00                  # message_id "" (unused)
    """), Pdu("deliver_sm_resp", 0x10, 0, dict(message_id=""))),
    ("cancel_sm_resp", _hex("""
        00000010 80000008 00000000 00000009
    """), Pdu("cancel_sm_resp", 9, 0, {})),
]

BY_NAME: dict[str, tuple[bytes, Pdu]] = {name: (wire, pdu) for name, wire, pdu in VECTORS}
