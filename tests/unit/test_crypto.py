"""SecretBox: AES-256-GCM under an HKDF key, bound to a context, tamper-evident."""

from __future__ import annotations

import base64

import pytest

from meetbot.crypto import SecretBox, SecretBoxError

SECRET = bytes(range(32))
BOX = SecretBox(SECRET)


def test_round_trip_and_format() -> None:
    token = BOX.seal(b"hunter2", "bot:1")
    assert token.startswith("v1.")
    assert "=" not in token
    assert b"hunter2" not in base64.urlsafe_b64decode(token[3:] + "==")
    assert BOX.open(token, "bot:1") == b"hunter2"
    assert BOX.open_json(BOX.seal_json({"a": {"b": "c"}}, "x"), "x") == {"a": {"b": "c"}}


def test_nonces_are_fresh() -> None:
    assert BOX.seal(b"same", "ctx") != BOX.seal(b"same", "ctx")


def test_a_ciphertext_does_not_open_in_another_context() -> None:
    token = BOX.seal(b"secret", "workspace:a")
    with pytest.raises(SecretBoxError, match="workspace:b"):
        BOX.open(token, "workspace:b")


def test_another_server_secret_cannot_open_it() -> None:
    token = BOX.seal(b"secret", "bot:1")
    with pytest.raises(SecretBoxError, match="does not authenticate"):
        SecretBox(bytes(32)).open(token, "bot:1")


def _flip(token: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token[3:] + "=" * (-len(token[3:]) % 4)))
    raw[index] ^= 1
    return "v1." + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


@pytest.mark.parametrize("index", [0, 11, 12, -1])  # nonce, first ciphertext byte, tag
def test_any_flipped_bit_is_refused(index: int) -> None:
    token = BOX.seal(b"secret value", "bot:1")
    with pytest.raises(SecretBoxError):
        BOX.open(_flip(token, index), "bot:1")


@pytest.mark.parametrize(
    ("token", "match"),
    [
        ("v2.AAAA", "not a v1"),
        ("no-dot", "not a v1"),
        ("v1.!!!!", "base64url"),
        ("v1.AAAA", "truncated"),
    ],
)
def test_malformed_tokens_are_refused(token: str, match: str) -> None:
    with pytest.raises(SecretBoxError, match=match):
        BOX.open(token, "bot:1")


def test_json_must_be_an_object() -> None:
    with pytest.raises(SecretBoxError, match="JSON object"):
        BOX.open_json(BOX.seal(b"[1]", "c"), "c")
    with pytest.raises(SecretBoxError, match="JSON"):
        BOX.open_json(BOX.seal(b"{", "c"), "c")


def test_short_secrets_and_repr() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SecretBox(b"short")
    assert "key hidden" in repr(BOX)
