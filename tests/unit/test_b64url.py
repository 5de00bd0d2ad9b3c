"""Strict unpadded base64url: exactly one accepted spelling per byte string."""

import pytest

from pg_session_jwt import b64url


@pytest.mark.parametrize(
    "data, text",
    [(b"", ""), (b"f", "Zg"), (b"fo", "Zm8"), (b"foo", "Zm9v"), (b"\xfb\xff", "-_8"), (b"\xff\xfe\xfd", "__79")],
)
def test_round_trip_known_vectors(data, text):
    assert b64url.encode(data) == text
    assert b64url.decode(text) == data


def test_empty_string_is_empty_bytes():
    assert b64url.decode("") == b""


@pytest.mark.parametrize("text", ["Zg==", "Zg=", "Zm8=", "Zm9v===="])
def test_padding_refused(text):
    with pytest.raises(ValueError, match="outside the alphabet"):
        b64url.decode(text)


@pytest.mark.parametrize(
    "text",
    ["+_8A", "-/8A", "Zm9=", "Zm 9v", "Zm9v\n", " Zm9v", "Zm.9", "Zm9é", "Zm9\u0661", "\uff3amo", "Zm\x009v"],
)
def test_characters_outside_the_alphabet_refused(text):
    with pytest.raises(ValueError, match="outside the alphabet"):
        b64url.decode(text)


@pytest.mark.parametrize("text", ["Z", "Zm9vY", "Zm9vYmFyZ"])
def test_length_one_mod_four_refused(text):
    with pytest.raises(ValueError, match="impossible length"):
        b64url.decode(text)


@pytest.mark.parametrize("text", ["Zh", "Zm9", "Zm-", "_-9", "AB", "AAB"])
def test_non_zero_trailing_bits_refused(text):
    with pytest.raises(ValueError, match="trailing bits"):
        b64url.decode(text)


def test_zero_trailing_bits_accepted():
    assert b64url.decode("AA") == b"\x00"
    assert b64url.decode("AAA") == b"\x00\x00"
