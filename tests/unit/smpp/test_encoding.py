"""Alphabet choice, encoding and decoding of SMS text, with byte-exact examples worked by hand."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.smpp.encoding import (
    DATA_CODING_SMSC_DEFAULT,
    DATA_CODING_UCS2,
    GSM_ALPHABET,
    GSM_EXTENSION_CHARACTERS,
    EncodedText,
    UnencodableText,
    UnsupportedDataCoding,
    decode_short_message,
    encode_characters,
    encode_text,
    encode_whole,
    fits_ussd_page,
    is_gsm_text,
    ussd_units,
)

gsm_text = st.text(alphabet=sorted(GSM_ALPHABET))


# --- encoding -------------------------------------------------------------------------------


def test_hello_euro_is_gsm_with_the_euro_escaped():
    assert encode_text("Hello €") == EncodedText(
        data_coding=0x00,
        payload=bytes.fromhex("48656c6c6f20" "1b65"),
        units=8,
    )


def test_at_sign_is_septet_zero():
    assert encode_text("@") == EncodedText(0x00, b"\x00", 1)


@pytest.mark.parametrize(
    ("char", "septets"),
    [("€", "1b65"), ("[", "1b3c"), ("]", "1b3e"), ("{", "1b28"), ("}", "1b29"),
     ("\\", "1b2f"), ("~", "1b3d"), ("^", "1b14"), ("|", "1b40"), ("\x0c", "1b0a")],
)
def test_extension_characters_cost_two_septets(char, septets):
    encoded = encode_text(char)
    assert (encoded.data_coding, encoded.payload.hex(), encoded.units) == (0x00, septets, 2)


def test_gsm_specials_map_to_their_table_positions():
    # £ $ ¥ è é ù ì ò Ç LF Ø ø CR Å å Δ _ ... from the 23.038 basic table.
    assert encode_text("£$¥èéùìòÇ\nØø\rÅåΔ_ÄÖÑÜ§¿äöñüà").payload.hex() == (
        "0102030405060708090a0b0c0d0e0f1011" "5b5c5d5e5f60" "7b7c7d7e7f"
    )


@pytest.mark.parametrize("text", ["ç", "`", "Привет", "naïve", "\x1b", "😀"])
def test_text_outside_the_gsm_alphabet_goes_ucs2(text):
    encoded = encode_text(text)
    assert encoded.data_coding == DATA_CODING_UCS2
    assert encoded.payload == text.encode("utf-16-be")


def test_escape_control_character_is_not_sent_raw_as_gsm():
    # Sent as GSM 0x1B it would swallow the next character on the handset.
    assert not is_gsm_text("a\x1bb")


def test_emoji_is_a_surrogate_pair_of_two_units():
    assert encode_text("Hi 😀") == EncodedText(0x08, bytes.fromhex("0048" "0069" "0020" "d83dde00"), 5)


def test_prefer_ucs2_forces_ucs2_even_for_plain_text():
    assert encode_text("Hi@", prefer="ucs2") == EncodedText(0x08, bytes.fromhex("004800690040"), 3)


def test_unknown_preference_is_refused():
    with pytest.raises(ValueError, match="'gsm' or 'ucs2'"):
        encode_text("x", prefer="latin1")  # type: ignore[arg-type]


def test_lone_surrogate_cannot_be_sent():
    with pytest.raises(UnencodableText, match="lone surrogate"):
        encode_text("a\ud800b")


def test_empty_text_is_empty_gsm():
    assert encode_text("") == EncodedText(0x00, b"", 0)


# --- decoding -------------------------------------------------------------------------------


def test_at_sign_survives_decoding_in_gsm_and_ucs2():
    assert decode_short_message(b"\x00", 0x00) == "@"
    assert decode_short_message(bytes.fromhex("0040d83dde00"), 0x08) == "@😀"
    assert decode_short_message(b"a\x00b", 0x00) == "a@b"


def test_gsm_decoding_of_escapes():
    assert decode_short_message(bytes.fromhex("48656c6c6f201b65"), 0x00) == "Hello €"


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        (b"\x1bA", "A"),  # escape before a code without extension character: the basic one
        (b"a\x1b\x1bb", "a b"),  # ESC ESC is reserved and shown as a space
        (b"ab\x1b", "ab"),  # dangling escape at the end carries nothing
        (b"a\x80b", "a\ufffdb"),  # not a septet
        (b"\x1b\xff", "\ufffd"),
    ],
)
def test_gsm_decoding_is_lenient_per_23_038(payload, text):
    assert decode_short_message(payload, 0x00) == text


@pytest.mark.parametrize(
    ("payload", "data_coding", "text"),
    [
        (b"Hello", 0x01, "Hello"),
        (b"caf\xe9", 0x03, "café"),
        (b"\x00A\x00", 0x08, "A\ufffd"),  # dangling odd octet
        (b"\xd8\x3d", 0x08, "\ufffd"),  # half an emoji
        (bytes.fromhex("0102ff"), 0x04, "[binary:0102ff]"),
        (bytes.fromhex("0102ff"), 0x02, "[binary:0102ff]"),
        (bytes.fromhex("0102"), 0xF5, "[binary:0102]"),  # GSM DCS class 1, 8-bit data
        (b"\x00Hi", 0xF1, "@Hi"),  # GSM DCS class 1, default alphabet
        (b"\x00Hi", 0x10, "@Hi"),  # flash SMS, default alphabet
        ("Ж".encode("utf-16-be"), 0x18, "Ж"),  # flash SMS, UCS-2
        ("Жx".encode("iso8859-5"), 0x06, "Жx"),
    ],
)
def test_decoding_per_data_coding(payload, data_coding, text):
    assert decode_short_message(payload, data_coding) == text


def test_smsc_default_alphabet_can_be_latin1_or_ascii():
    assert decode_short_message(b"caf\xe9 @", 0x00, smsc_default_alphabet="latin1") == "café @"
    assert decode_short_message(b"a_b", 0x00, smsc_default_alphabet="ascii") == "a_b"
    assert decode_short_message(b"a\x11b", 0x00) == "a_b"


@pytest.mark.parametrize("data_coding", [0x05, 0x09, 0x0D, 0x20, 0x2C, 0x80])
def test_unreadable_data_coding_is_a_specific_error(data_coding):
    with pytest.raises(UnsupportedDataCoding, match=f"0x{data_coding:02X}"):
        decode_short_message(b"x", data_coding)


# --- USSD pages -----------------------------------------------------------------------------


def test_ussd_page_is_182_gsm_septets():
    assert fits_ussd_page("a" * 182)
    assert not fits_ussd_page("a" * 183)
    assert not fits_ussd_page("a" * 181 + "€")  # 183 septets
    assert ussd_units("a" * 180 + "€") == (0x00, 182)


def test_ussd_page_is_80_units_in_ucs2():
    assert fits_ussd_page("Ж" * 80)
    assert not fits_ussd_page("Ж" * 81)
    assert not fits_ussd_page("Ж" * 79 + "😀")  # the emoji is two units
    assert not fits_ussd_page("a" * 100, prefer="ucs2")


# --- properties -----------------------------------------------------------------------------


@given(gsm_text)
def test_gsm_text_round_trips_and_matches_the_gsm0338_codec(text):
    encoded = encode_text(text)
    assert encoded.data_coding == DATA_CODING_SMSC_DEFAULT
    assert encoded.payload == text.encode("gsm03.38")
    assert encoded.units == len(text) + sum(char in GSM_EXTENSION_CHARACTERS for char in text)
    assert decode_short_message(encoded.payload, encoded.data_coding) == text


@given(st.text())
def test_any_text_round_trips(text):
    encoded = encode_text(text)
    assert decode_short_message(encoded.payload, encoded.data_coding) == text
    if encoded.data_coding == DATA_CODING_UCS2:
        assert encoded.units * 2 == len(encoded.payload)


@given(st.text())
def test_forced_ucs2_round_trips(text):
    encoded = encode_text(text, prefer="ucs2")
    assert encoded.data_coding == DATA_CODING_UCS2
    assert decode_short_message(encoded.payload, DATA_CODING_UCS2) == text


@given(st.binary())
def test_decoding_never_raises_for_known_alphabets(payload):
    for data_coding in (0x00, 0x01, 0x03, 0x04, 0x08, 0xF0):
        assert isinstance(decode_short_message(payload, data_coding), str)


# --- the whole-text encoder against the per-character one (segmentation cuts between those) ----


@given(st.text(alphabet=sorted(GSM_ALPHABET)))
def test_whole_gsm_text_encodes_as_its_characters_do(text):
    assert encode_whole(text, DATA_CODING_SMSC_DEFAULT) == b"".join(encode_characters(text, DATA_CODING_SMSC_DEFAULT))


@given(st.text())
def test_whole_text_in_ucs2_encodes_as_its_characters_do(text):
    try:
        expected = b"".join(encode_characters(text, DATA_CODING_UCS2))
    except UnencodableText as error:
        with pytest.raises(UnencodableText, match=str(error)[:20]):
            encode_whole(text, DATA_CODING_UCS2)
    else:
        assert encode_whole(text, DATA_CODING_UCS2) == expected


def test_every_gsm_character_and_nothing_else_is_gsm_text():
    assert all(encode_whole(char, DATA_CODING_SMSC_DEFAULT) for char in GSM_ALPHABET)
    assert encode_whole("[€]", DATA_CODING_SMSC_DEFAULT) == bytes([0x1B, 0x3C, 0x1B, 0x65, 0x1B, 0x3E])
    assert not is_gsm_text("caf\u00e3")  # latin-1, but not GSM: must not slip through as latin-1
    with pytest.raises(UnencodableText, match="'\u00e3' is not in the GSM 03.38 alphabet"):
        encode_whole("caf\u00e3", DATA_CODING_SMSC_DEFAULT)
    with pytest.raises(UnencodableText, match="lone surrogate"):
        encode_whole("a\ud800b", DATA_CODING_UCS2)
