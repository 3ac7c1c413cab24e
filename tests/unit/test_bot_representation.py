"""The API's bot is one model: its OpenAPI schema and the JSON the routes send agree."""

from __future__ import annotations

from meetbot.control.api.representation import BotOut, bot_view
from meetbot.testing.builders import make_bot


def test_the_json_of_a_bot_has_exactly_the_schema_fields() -> None:
    view = bot_view(make_bot(webhook_url="https://example.com/hook", webhook_secret="whsec_x"))
    schema = BotOut.model_json_schema()
    assert set(view) == set(schema["properties"]) - {"webhook_secret"}
    assert set(schema["required"]) <= set(view)
    BotOut.model_validate(view)  # what is sent validates against what is documented


def test_the_webhook_secret_is_shown_only_when_asked_for() -> None:
    bot = make_bot(webhook_url="https://example.com/hook", webhook_secret="whsec_x")
    assert "webhook_secret" not in bot_view(bot)
    assert bot_view(bot, include_secret=True)["webhook_secret"] == "whsec_x"


def test_status_changes_are_rendered_with_their_message() -> None:
    view = bot_view(make_bot())
    (first,) = view["status_changes"]
    assert set(first) == {"status", "sub_status", "stop_reason", "sub_code", "message", "at"}
    assert first["at"].endswith("Z")
