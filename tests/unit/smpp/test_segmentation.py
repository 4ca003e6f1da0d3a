"""Splitting MT text into submit_sm parts, counted in encoded units, with hand-worked bytes."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.smpp.encoding import GSM_ALPHABET, decode_short_message
from engine.smpp.reassembly import parse_udh
from engine.smpp.segmentation import (
    ESM_CLASS_UDHI,
    MessageTooLong,
    Part,
    SegmentedMessage,
    TooManyParts,
    count_sms_parts,
    split_message,
)

# Half the examples are long enough to need several parts.
gsm_text = st.text(alphabet=sorted(GSM_ALPHABET), max_size=200) | st.text(
    alphabet=sorted(GSM_ALPHABET), min_size=150, max_size=800
)
any_text = st.text(max_size=100) | st.text(min_size=60, max_size=400)


def bodies(message: SegmentedMessage) -> list[bytes]:
    return [parse_udh(p.short_message)[1] if p.esm_class_flags & ESM_CLASS_UDHI else p.short_message
            for p in message.parts]


def test_160_gsm_characters_fit_one_plain_part():
    message = split_message("a" * 160, reference=1)
    assert message == SegmentedMessage(0x00, (Part(b"a" * 160, 0, {}),))


def test_161_gsm_characters_make_two_parts_of_153_and_8():
    message = split_message("a" * 161, reference=0x2A)
    assert message.data_coding == 0x00
    first, second = message.parts
    assert first.short_message == bytes.fromhex("0500032a0201") + b"a" * 153
    assert second.short_message == bytes.fromhex("0500032a0202") + b"a" * 8
    assert first.esm_class_flags == second.esm_class_flags == ESM_CLASS_UDHI
    assert first.tlvs == second.tlvs == {}


def test_16_bit_reference_uses_iei_08_and_152_septet_parts():
    message = split_message("a" * 161, reference=0x1234, reference_bits=16)
    first, second = message.parts
    assert first.short_message == bytes.fromhex("060804123402" "01") + b"a" * 152
    assert second.short_message == bytes.fromhex("060804123402" "02") + b"a" * 9


def test_escape_pair_at_the_153rd_septet_moves_whole_to_the_next_part():
    # 152 'a' then '€' (1B 65) would put the escape at septet 153 and its code at 154.
    message = split_message("a" * 152 + "€" + "b" * 10, reference=9)
    first, second = message.parts
    assert first.short_message == bytes.fromhex("050003090201") + b"a" * 152
    assert second.short_message == bytes.fromhex("050003090202") + b"\x1be" + b"b" * 10


def test_escape_pair_ending_exactly_at_153_stays():
    message = split_message("a" * 151 + "€" + "b" * 10, reference=9)
    assert bodies(message) == [b"a" * 151 + b"\x1be", b"b" * 10]


def test_extension_characters_count_double_for_the_single_part_limit():
    assert count_sms_parts("€" * 80) == 1  # 160 septets
    assert count_sms_parts("€" * 81) == 2  # 162 septets: 76 pairs (152) + 5 pairs


def test_ucs2_single_part_is_70_units():
    assert split_message("Ж" * 70, reference=1).parts == (Part("Ж".encode("utf-16-be") * 70),)


def test_ucs2_71_units_make_67_plus_4():
    message = split_message("Ж" * 71, reference=5)
    assert message.data_coding == 0x08
    first, second = message.parts
    assert first.short_message == bytes.fromhex("050003050201") + "Ж".encode("utf-16-be") * 67
    assert second.short_message == bytes.fromhex("050003050202") + "Ж".encode("utf-16-be") * 4


def test_emoji_at_the_ucs2_67_unit_boundary_is_not_split():
    # 66 units then an emoji (units 67 and 68): the pair goes to part 2 whole.
    message = split_message("Ж" * 66 + "😀" + "Ж" * 5, reference=3)
    first, second = message.parts
    assert first.short_message == bytes.fromhex("050003030201") + "Ж".encode("utf-16-be") * 66
    assert second.short_message == bytes.fromhex("050003030202") + bytes.fromhex("d83dde00") + (
        "Ж".encode("utf-16-be") * 5
    )


def test_ucs2_with_16_bit_reference_uses_66_unit_parts():
    message = split_message("Ж" * 71, reference=5, reference_bits=16)
    assert [len(b) // 2 for b in bodies(message)] == [66, 5]


def test_sar_mode_sends_tlvs_and_no_udh():
    message = split_message("a" * 161, reference=700, mode="sar", reference_bits=16)
    assert message.parts == (
        Part(b"a" * 152, 0, {"sar_msg_ref_num": 700, "sar_total_segments": 2, "sar_segment_seqnum": 1}),
        Part(b"a" * 9, 0, {"sar_msg_ref_num": 700, "sar_total_segments": 2, "sar_segment_seqnum": 2}),
    )


def test_sar_mode_with_8_bit_reference_uses_153():
    message = split_message("a" * 161, reference=7, mode="sar")
    assert [len(p.short_message) for p in message.parts] == [153, 8]


def test_payload_mode_sends_one_submit_with_message_payload():
    message = split_message("Ж" * 100, reference=1, mode="payload")
    assert message == SegmentedMessage(
        0x08, (Part(b"", 0, {"message_payload": "Ж".encode("utf-16-be") * 100}),)
    )


def test_payload_mode_sends_a_short_text_as_a_plain_part():
    assert split_message("hi", reference=1, mode="payload").parts == (Part(b"hi"),)


def test_255_parts_is_the_limit():
    assert len(split_message("a" * (153 * 255), reference=1).parts) == 255
    with pytest.raises(TooManyParts, match="256 SMS parts; at most 255") as caught:
        split_message("a" * (153 * 255 + 1), reference=1)
    assert caught.value.parts_needed == 256


def test_configured_part_limit():
    with pytest.raises(TooManyParts, match="at most 3"):
        split_message("a" * (153 * 3 + 1), reference=1, max_parts=3)


def test_too_many_parts_is_a_message_too_long():
    assert issubclass(TooManyParts, MessageTooLong)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reference": 256}, "does not fit 8 bits"),
        ({"reference": -1}, "does not fit 8 bits"),
        ({"reference": 65536, "reference_bits": 16}, "does not fit 16 bits"),
        ({"reference": 1, "reference_bits": 12}, "8 or 16"),
        ({"reference": 1, "mode": "tlv"}, "'udh', 'sar' or 'payload'"),
        ({"reference": 1, "max_parts": 0}, "max_parts"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        split_message("hello", **kwargs)


def test_empty_text_is_one_empty_part():
    assert split_message("", reference=1).parts == (Part(b""),)


def test_count_sms_parts():
    assert count_sms_parts("") == 1
    assert count_sms_parts("a" * 306) == 2
    assert count_sms_parts("a" * 307) == 3
    assert count_sms_parts("Ж" * 134) == 2
    assert count_sms_parts("Ж" * 135) == 3
    assert count_sms_parts("a" * 100, prefer="ucs2") == 2


# --- properties -----------------------------------------------------------------------------


def assert_parts_within_limits(message: SegmentedMessage) -> None:
    for part, body in zip(message.parts, bodies(message)):
        udh_octets = len(part.short_message) - len(body)
        if message.data_coding == 0x00:
            # 160 septets, less the UDH rounded up to whole septets (fill bits).
            assert len(body) <= 160 - -(-udh_octets * 8 // 7)
        else:
            assert len(part.short_message) <= 140


def assert_no_pair_is_cut(message: SegmentedMessage) -> None:
    for body in bodies(message):
        if message.data_coding == 0x00:
            # An escape pair kept whole means no body ends in an unpaired escape.
            index = 0
            while index < len(body):
                index += 2 if body[index] == 0x1B else 1
            assert index == len(body)
        else:
            assert len(body) % 2 == 0
            assert not 0xD8 <= body[-2] <= 0xDB if body else True


@given(gsm_text, st.sampled_from(["udh", "sar"]), st.sampled_from([8, 16]))
def test_gsm_split_then_join_is_the_text(text, mode, reference_bits):
    message = split_message(text, reference=200, mode=mode, reference_bits=reference_bits)
    assert message.data_coding == 0x00
    assert decode_short_message(b"".join(bodies(message)), 0x00) == text
    assert_parts_within_limits(message)
    assert_no_pair_is_cut(message)
    assert len(message.parts) == count_sms_parts(text, reference_bits=reference_bits)


@given(any_text, st.sampled_from(["udh", "sar"]), st.sampled_from([8, 16]), st.sampled_from(["gsm", "ucs2"]))
def test_any_split_then_join_is_the_text(text, mode, reference_bits, prefer):
    message = split_message(text, reference=200, mode=mode, reference_bits=reference_bits, prefer=prefer)
    assert decode_short_message(b"".join(bodies(message)), message.data_coding) == text
    assert_parts_within_limits(message)
    assert_no_pair_is_cut(message)
    # Each part reads on its own too: nothing is cut mid-character.
    assert "".join(decode_short_message(b, message.data_coding) for b in bodies(message)) == text


@given(any_text)
def test_payload_mode_carries_the_whole_text(text):
    (part,) = split_message(text, reference=1, mode="payload").parts
    data_coding = split_message(text, reference=1).data_coding
    payload = part.tlvs.get("message_payload", part.short_message)
    assert decode_short_message(payload, data_coding) == text
