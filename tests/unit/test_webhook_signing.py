"""Standard Webhooks signing, checked with the reference library."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from meetbot.control.webhooks.signing import is_valid_secret, new_secret, sign, sign_all

BODY = '{"type":"status_update","id":"ev_1","data":{"name":"Zoë ✓"}}'.encode()


def test_new_secrets_are_whsec_base64_of_random_bytes() -> None:
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
        assert is_valid_secret(secret)
    assert len(base64.b64decode(new_secret(24).removeprefix("whsec_"))) == 24


@pytest.mark.parametrize("nbytes", [0, 16, 23, 65])
def test_secret_size_is_bounded(nbytes: int) -> None:
    with pytest.raises(ValueError, match="24 to 64"):
        new_secret(nbytes)


@pytest.mark.parametrize("secret", ["", "whsec_", "abc", "whsec_!!!!", "whsec_" + "QUJD" * 2])
def test_invalid_secrets(secret: str) -> None:
    assert not is_valid_secret(secret)


def test_signature_verifies_with_the_reference_library() -> None:
    secret = new_secret()
    now = datetime.now(UTC)
    headers = sign(secret, "ev_1", now, BODY)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "ev_1"
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY, headers)["data"]["name"] == "Zoë ✓"


def test_naive_times_are_utc() -> None:
    secret = new_secret()
    aware = datetime.now(UTC)
    assert sign(secret, "m", aware.replace(tzinfo=None), BODY) == sign(secret, "m", aware, BODY)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b.replace(b"ev_1", b"ev_2")),
        lambda h, b: ({**h, "webhook-id": "other"}, b),
        lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}, b),
    ],
)
def test_tampering_is_detected(tamper: object) -> None:
    secret = new_secret()
    headers, body = tamper(sign(secret, "ev_1", datetime.now(UTC), BODY), BODY)  # type: ignore[operator]
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)


def test_other_secret_or_stale_timestamp_fails() -> None:
    secret = new_secret()
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, sign(secret, "m", datetime.now(UTC), BODY))
    old = datetime.now(UTC) - timedelta(minutes=10)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, sign(secret, "m", old, BODY))


def test_rotation_signs_with_both_secrets() -> None:
    new, old = new_secret(), new_secret()
    headers = sign_all((new, old), "ev_1", datetime.now(UTC), BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(BODY, headers)
    Webhook(old).verify(BODY, headers)
    with pytest.raises(ValueError, match="at least one"):
        sign_all((), "m", datetime.now(UTC), BODY)
