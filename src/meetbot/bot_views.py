"""How a bot looks in a terminal (Rich): the list, one bot, the live panel of ``bots watch``,
and the one-line forms of a status change and a transcript segment."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from meetbot.client.models import Bot, Segment, StatusChange

_ENDED_OK = {"finished"}


def _status_style(status: str, ended: bool) -> str:
    if not ended:
        return "cyan"
    return "green" if status in _ENDED_OK else "red"


def _status(bot: Bot) -> Text:
    text = Text(bot.status, style=_status_style(bot.status, bot.ended))
    detail = bot.sub_status or bot.stop_reason
    if detail:
        text.append(f" ({detail})", style="dim")
    return text


def bot_table(bots: Sequence[Bot]) -> Table:
    table = Table(title=f"{len(bots)} bots", title_justify="left")
    table.add_column("id", no_wrap=True, min_width=len("00000000-0000-0000-0000-000000000000"))
    for column in ("status", "platform", "name", "join at"):
        table.add_column(column, overflow="fold")
    for bot in bots:
        join_at = _minute(bot.join_at) if bot.join_at else f"now ({_minute(bot.created_at)})"
        table.add_row(bot.id, _status(bot), bot.platform, bot.bot_name, join_at)
    return table


def _minute(at: str) -> str:
    """``2026-01-01T10:00:00.000Z`` as ``2026-01-01 10:00`` (UTC)."""
    return at[:16].replace("T", " ")


def bot_panel(bot: Bot) -> Group:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column(overflow="fold")
    facts.add_row("status", _status(bot))
    for label, value in (
        ("meeting", bot.meeting_url),
        ("platform", bot.platform),
        ("name", bot.bot_name),
        ("join at", bot.join_at or "now"),
        ("transcription", bot.transcription_model),
        ("sub code", bot.sub_code),
        ("message", bot.message),
        ("metadata", ", ".join(f"{k}={v}" for k, v in bot.metadata.items()) or None),
    ):
        if value:
            facts.add_row(label, Text(value))
    timeline = Table(title="status changes", title_justify="left")
    for column in ("at", "status", "reason", "message"):
        timeline.add_column(column, overflow="fold")
    for change in bot.status_changes:
        reason = change.sub_status or change.stop_reason or change.sub_code or ""
        timeline.add_row(change.at, change.status, reason, change.message or "")
    return Group(Panel(facts, title=f"bot {bot.id}", title_align="left"), timeline)


def change_line(change: StatusChange) -> Text:
    text = Text(f"{change.at}  ", style="dim")
    text.append(change.status, style="bold")
    reason = change.sub_status or change.stop_reason or change.sub_code
    if reason:
        text.append(f" ({reason})")
    if change.message:
        text.append(f": {change.message}", style="dim")
    return text


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}:{secs:02d}"


def segment_line(segment: Segment) -> Text:
    text = Text(f"[{_clock(segment.start)}] ", style="dim")
    if segment.speaker:
        text.append(f"{segment.speaker}: ", style="bold magenta")
    text.append(segment.text)
    return text


def watch_view(bot: Bot, segments: int, elapsed: float) -> RenderableType:
    line = Text.assemble(
        ("watching ", "dim"),
        (bot.id, "bold"),
        ("  ", ""),
        _status(bot),
        (f"  {segments} segments  {_clock(elapsed)}", "dim"),
    )
    return Panel(line, expand=False)
