"""``MEETBOT_SECRET``: replicas of one deployment share the server secret from a Secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from meetbot.config import Settings
from meetbot.secrets_file import SECRET_FILE, load_or_create_secret


def test_a_given_secret_is_used_and_no_file_is_made(tmp_path: Path) -> None:
    settings = Settings(secret="ab" * 32)
    assert load_or_create_secret(tmp_path, settings.given_secret) == bytes.fromhex("ab" * 32)
    assert not (tmp_path / SECRET_FILE).exists()


def test_without_one_the_data_dir_keeps_it(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path, Settings().given_secret)
    assert load_or_create_secret(tmp_path) == first
    assert len(first) == 32


@pytest.mark.parametrize("bad", ["ab" * 16, "zz" * 32, "ab" * 33])
def test_a_secret_that_is_not_64_hex_characters_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="64 hex characters"):
        Settings(secret=bad)
