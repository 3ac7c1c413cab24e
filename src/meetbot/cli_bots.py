"""``meetbot bots``: send, list, show, watch, stop bots and fetch their transcripts and
recordings, all through the SDK (:mod:`meetbot.client`) against a server, local or remote
(``--server`` / ``MEETBOT_SERVER``, ``--api-key`` / ``MEETBOT_API_KEY``).

Errors exit 1 with the API's ``code`` and ``detail`` on stderr; a missing key or an unreachable
server exits 2.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

if TYPE_CHECKING:  # imported when a command runs: `meetbot serve` starts without them
    from rich.console import Console
    from rich.live import Live
    from rich.progress import Progress, TaskID

    from meetbot.client import Meetbot
    from meetbot.client.models import Bot, Segment

bots_app = typer.Typer(help="Send and follow bots through a meetbot server.", no_args_is_help=True)

ServerOpt = Annotated[
    str | None,
    typer.Option(
        "--server", envvar="MEETBOT_SERVER", help="The server's URL (http://127.0.0.1:8000)"
    ),
]
KeyOpt = Annotated[
    str | None, typer.Option("--api-key", envvar="MEETBOT_API_KEY", help="An API key of the server")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON")]


@cache
def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def out() -> Console:
    return _console()


def err() -> Console:
    return _console(stderr=True)


@contextmanager
def _client(server: str | None, api_key: str | None) -> Iterator[Meetbot]:
    """A client; API errors and connection failures become exit codes with one line."""
    import httpx

    from meetbot.client import ApiError, Meetbot, MeetbotClientError

    try:
        with Meetbot(server, api_key) as client:
            yield client
    except ApiError as exc:
        err().print(f"error: {exc.status} {exc.code}: {exc.detail}", markup=False)
        raise typer.Exit(1) from exc
    except MeetbotClientError as exc:
        err().print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from exc
    except httpx.TransportError as exc:
        err().print(f"error: cannot reach the server: {exc}", markup=False)
        raise typer.Exit(2) from exc


def _json(data: object) -> None:
    out().print_json(json.dumps(data))


@bots_app.command()
def create(
    meeting_url: Annotated[str, typer.Argument(help="The meeting's link")],
    name: Annotated[str | None, typer.Option("--name", help="Name shown in the meeting")] = None,
    join_at: Annotated[
        str | None, typer.Option("--join-at", help="ISO 8601 with a zone; later: scheduled")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the bot until it ends")] = False,
    as_json: JsonOpt = False,
    server: ServerOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Send a bot to a meeting (now, or at --join-at); prints its id."""
    with _client(server, api_key) as client:
        bot = client.bots.create(meeting_url, bot_name=name, join_at=join_at)
        if as_json and not wait:
            _json(bot.model_dump(mode="json", exclude_none=True))
            return
        out().print(f"{bot.id} {bot.status}", markup=False)
        if wait:
            _watch(client, bot.id, 1.0)


@bots_app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="Only bots in this status")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (newest first)")] = 50,
    as_json: JsonOpt = False,
    server: ServerOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """The workspace's bots, newest first."""
    with _client(server, api_key) as client:
        found: list[Bot] = []
        for bot in client.bots.list(status=status, page_size=min(limit, 200)):
            if len(found) == limit:
                break
            found.append(bot)
        if as_json:
            _json([b.model_dump(mode="json") for b in found])
        else:
            from meetbot.bot_views import bot_table

            out().print(bot_table(found))


@bots_app.command()
def show(
    bot_id: Annotated[str, typer.Argument(help="The bot's id")],
    as_json: JsonOpt = False,
    server: ServerOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """One bot: its values and every status change."""
    with _client(server, api_key) as client:
        bot = client.bots.get(bot_id)
        if as_json:
            _json(bot.model_dump(mode="json"))
        else:
            from meetbot.bot_views import bot_panel

            out().print(bot_panel(bot))


@bots_app.command()
def watch(
    bot_id: Annotated[str, typer.Argument(help="The bot's id")],
    interval: Annotated[
        float, typer.Option(help="Seconds between two looks when the stream is refused")
    ] = 1.0,
    server: ServerOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Follow a bot live (its real-time stream): its status and its transcript as it grows,
    until it ends."""
    with _client(server, api_key) as client:
        _watch(client, bot_id, interval)


def _watch(client: Meetbot, bot_id: str, interval: float) -> None:
    """Print each new status change and transcript segment; on a terminal, a live panel below
    them shows where the bot is now. Follows the bot's real-time stream (a look at the bot on
    each event that changes what is shown); polls every ``interval`` seconds instead when the
    server refuses the stream or it is lost. Returns once the bot ended."""
    from contextlib import nullcontext

    from rich.live import Live

    from meetbot.bot_views import change_line, segment_line, watch_view
    from meetbot.client import ApiError, StreamLost

    changes_seen = 0
    segments_seen = 0
    started = time.monotonic()

    def look(live: Live | None) -> Bot:
        nonlocal changes_seen, segments_seen
        bot = client.bots.get(bot_id)
        for change in bot.status_changes[changes_seen:]:
            out().print(change_line(change))
        changes_seen = len(bot.status_changes)
        segments = _segments(client, bot_id)
        for segment in segments[segments_seen:]:
            out().print(segment_line(segment))
        segments_seen = max(segments_seen, len(segments))
        if live is not None:
            live.update(watch_view(bot, segments_seen, time.monotonic() - started))
        return bot

    terminal = out().is_terminal
    shown = Live(console=out(), refresh_per_second=4, transient=True) if terminal else None
    with shown if shown is not None else nullcontext():
        if look(shown).ended:
            return
        try:
            for frame in client.stream(bot_id):
                if getattr(frame, "type", None) in WATCHED_EVENTS:
                    look(shown)
        except (ApiError, StreamLost) as exc:  # refused (an older server, a proxy) or lost
            err().print(
                f"the stream is unavailable ({exc}); polling instead", markup=False, soft_wrap=True
            )
        while not look(shown).ended:
            time.sleep(interval)


WATCHED_EVENTS = frozenset({"status_update", "transcript.data", "transcript.ready"})
"""The stream's events after which ``watch`` looks at the bot again."""


def _segments(client: Meetbot, bot_id: str) -> list[Segment]:
    from meetbot.client import NotReady

    try:
        return client.bots.transcript(bot_id).segments
    except NotReady:
        return []


@bots_app.command()
def leave(
    bot_id: Annotated[str, typer.Argument(help="The bot's id")],
    server: ServerOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Remove the bot from its call (or cancel it before it joins)."""
    with _client(server, api_key) as client:
        bot = client.bots.leave(bot_id)
        out().print(f"{bot.id} {bot.status}", markup=False)


@bots_app.command()
def transcript(
    bot_id: Annotated[str, typer.Argument(help="The bot's id")],
    fmt: Annotated[
        Literal["txt", "srt", "vtt", "json"], typer.Option("--format", help="txt, srt, vtt, json")
    ] = "txt",
    server: ServerOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """The transcript (so far, while the bot is in the call)."""
    with _client(server, api_key) as client:
        if fmt == "json":
            _json(client.bots.transcript(bot_id).model_dump(mode="json"))
        else:
            typer.echo(client.bots.transcript_text(bot_id, fmt), nl=False)


@bots_app.command()
def download(
    bot_id: Annotated[str, typer.Argument(help="The bot's id")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default <bot id>.<format>)")
    ] = None,
    video: Annotated[bool, typer.Option("--video", help="The MP4 instead of the audio")] = False,
    server: ServerOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Save the recording (or its video) with a progress bar."""
    with _client(server, api_key) as client:
        recording = client.bots.recording(bot_id)
        media = recording.video if video else recording
        if media is None:
            err().print("error: this bot recorded no video (recording.video was off)")
            raise typer.Exit(1)
        path = output or Path(f"{bot_id}.{media.format}")
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=err(), transient=False) as progress:
            task = progress.add_task(f"{media.format} ", total=media.size_bytes)
            done = client.download(media.url, path, _advance(progress, task))
        out().print(f"saved {path} ({done} bytes)", markup=False)


def _advance(progress: Progress, task: TaskID) -> Callable[[int, int | None], None]:
    def update(done: int, total: int | None) -> None:
        progress.update(task, completed=done, total=total)

    return update
