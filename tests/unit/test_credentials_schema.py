"""CredentialsIn: what is accepted, what it becomes, and that secrets stay out of reprs."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from meetbot.control.api.schemas import CreateBotIn, CredentialsIn
from meetbot.runner.platforms.credentials import Credentials

FULL = {
    "google": {"email": "bot@example.com", "password": "g-pass"},
    "microsoft": {"email": "bot@corp.example", "password": "m-pass"},
    "zoom": {"zak": "zak-token", "obf_token": "obf"},
    "deepgram_api_key": "dg-key",
    "openai_api_key": "sk-key",
}


def test_full_credentials_become_the_plain_mapping() -> None:
    creds = CredentialsIn.model_validate(FULL)
    assert creds.to_mapping() == FULL
    platform = {k: v for k, v in creds.to_mapping().items() if k in ("google", "microsoft", "zoom")}
    assert Credentials.from_mapping(platform).google is not None


def test_partial_credentials_leave_out_what_is_unset() -> None:
    creds = CredentialsIn.model_validate({"zoom": {"obf_token": "o"}, "openai_api_key": "k"})
    assert creds.to_mapping() == {"zoom": {"obf_token": "o"}, "openai_api_key": "k"}


def test_secrets_are_hidden_in_reprs() -> None:
    text = repr(CredentialsIn.model_validate(FULL))
    for secret in ("g-pass", "m-pass", "zak-token", "dg-key", "sk-key"):
        assert secret not in text


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"google": None},
        {"google": {"email": "a@b.c"}},
        {"google": {"email": "not-an-email", "password": "x"}},
        {"google": {"email": "a@b.c", "password": ""}},
        {"google": {"email": "a@b.c", "password": "x", "totp": "1"}},
        {"zoom": {}},
        {"deepgram_api_key": ""},
        {"deepgram_api_key": 42},
        {"slack": {"token": "x"}},
    ],
)
def test_invalid_credentials_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CredentialsIn.model_validate(body)


def test_create_body_takes_credentials() -> None:
    body = CreateBotIn.model_validate(
        {"meeting_url": "https://meet.google.com/abc-defg-hij", "credentials": FULL}
    )
    assert body.credentials is not None
    assert body.credentials.to_mapping()["google"]["password"] == "g-pass"
