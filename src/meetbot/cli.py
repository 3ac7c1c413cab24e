"""The ``meetbot`` command: serve, migrate, deliver, runner, agent(s), keys, bots, demo, doctor."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from meetbot import data_dir as data_dir_module
from meetbot import logs, redaction
from meetbot.agent.command import agent_command
from meetbot.cli_agents import agents_app
from meetbot.cli_bots import bots_app
from meetbot.cli_keys import keys_app
from meetbot.config import Settings

app = typer.Typer(help="meetbot: a self-hostable meeting-bot API.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(bots_app, name="bots")
app.add_typer(agents_app, name="agents")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (default ./data)")]


def settings_from(**flags: Any) -> Settings:
    """Flags override ``MEETBOT_*`` environment variables, which override defaults."""
    return Settings(**{k: v for k, v in flags.items() if v is not None})


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000)")] = None,
    data_dir: DataDir = None,
) -> None:
    """Serve the API, scheduler, warm pool and workers on embedded defaults."""
    settings = settings_from(host=host, port=port, data_dir=data_dir)
    logs.setup(settings.log_level, settings.log_format)  # passcodes redacted; text or json
    if settings.launcher == "local":  # runners would refuse to start: say so at once
        from meetbot.runner.sandbox import SandboxUnavailable, for_this_process

        try:
            sandbox = for_this_process(
                settings.chromium_user, allow_unsandboxed=settings.chromium_no_sandbox
            )
        except SandboxUnavailable as exc:
            typer.echo(f"meetbot serve: {exc}", err=True)
            raise typer.Exit(2) from exc
        logging.getLogger("meetbot.serve").log(
            logging.INFO if sandbox.sandboxed else logging.WARNING,
            "the bots' Chromium runs %s",
            sandbox.describe(),
        )
    with asyncio.Runner(loop_factory=fast_loop_factory()) as runner:
        runner.run(_serve(settings))


def fast_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (``uvicorn[standard]`` brings it), else asyncio's.

    ``asyncio.run`` would always take asyncio's: uvicorn picks uvloop only when it runs the loop.
    """
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        return None
    return uvloop.new_event_loop


# On SIGTERM, requests still in flight get this long before they are cancelled and the
# application shuts down (launcher, store). Without a bound, one runner's 20 s long poll for
# commands (still waited out after the runner exited) or one stalled upload holds the stop, and a
# supervisor's SIGKILL (Docker's comes after 10 s) then skips the shutdown altogether.
GRACEFUL_SHUTDOWN_S = 5


async def _serve(settings: Settings) -> None:
    # The webhook delivery child first: its imports overlap ours; it opens the store once
    # build() made it (DeliveryProcess.start releases it).
    child = None
    if settings.delivery == "process":
        from meetbot.control.webhooks.process import DeliveryProcess

        child = DeliveryProcess(settings.data_dir.resolve(), held=True)
        await child.spawn()  # its process exists: our imports below block this loop
    try:
        import uvicorn

        from meetbot.control.server import build

        plane = await build(settings, delivery=child)
    except BaseException:
        if child is not None:
            await child.close()
        raise
    if plane.first_key:
        typer.echo("Created the first API key (shown only once; keep it):")
        typer.echo(f"  {plane.first_key}")
    json_logs = settings.log_format == "json"
    config = uvicorn.Config(
        plane.app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # JSON: uvicorn's lines go to the root handler (logs.setup), one format for all lines;
        # text: uvicorn's own lines, as before ("INFO:     Application startup complete.").
        log_config=None if json_logs else uvicorn.config.LOGGING_CONFIG,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    if not json_logs:
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # configured by Config
            redaction.install(logging.getLogger(name))
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(), name="uvicorn")
    # Said only once the socket accepts and the lifespan (launcher, workers) has started.
    # uvicorn offers a flag, not an event, for "started"
    while not server.started and not serving.done():  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    if server.started:
        bound_host, bound_port = server.servers[0].sockets[0].getsockname()[:2]
        typer.echo(
            f"meetbot listening on http://{_url_host(bound_host)}:{bound_port} (docs at /docs)"
        )
    await serving


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Apply the database migrations (``MEETBOT_DATABASE_URL``) and exit: the Kubernetes Job
    that runs before a rollout (``meetbot serve`` applies them too)."""
    settings = settings_from(data_dir=data_dir)
    logs.setup(settings.log_level, settings.log_format)
    if settings.database_url is None:
        data_dir_module.prepare(settings.data_dir)
    version = asyncio.run(_migrate(settings.effective_database_url))
    typer.echo(f"database at schema version {version}")


async def _migrate(url: str) -> int:
    from meetbot.control.store import open_store
    from meetbot.control.store.migrations import MIGRATIONS

    store = await open_store(url)
    await store.close()
    return len(MIGRATIONS)


@app.command()
def deliver(
    data_dir: DataDir = None,
    ready_fd: Annotated[
        int | None, typer.Option("--ready-fd", help="Write a byte here once delivering")
    ] = None,
    wait_go: Annotated[
        bool, typer.Option("--wait-go", help="Wait for a byte on stdin before opening the store")
    ] = False,
) -> None:
    """Deliver webhooks (started by ``meetbot serve`` with MEETBOT_DELIVERY=process; stops when
    its stdin closes)."""
    settings = settings_from(data_dir=data_dir)
    logs.setup(settings.log_level, settings.log_format)
    from meetbot.control.webhooks.process import run_child

    with asyncio.Runner(loop_factory=fast_loop_factory()) as runner:
        runner.run(run_child(settings, ready_fd, wait_go=wait_go))


app.command(name="agent")(agent_command)


@app.command()
def runner() -> None:
    """Run one bot (reads its assignment on stdin; started by a launcher)."""
    from meetbot.runner.__main__ import main as runner_main

    raise typer.Exit(runner_main())


@app.command()
def demo(
    model: Annotated[str, typer.Option(help="Transcription model")] = "whisper-tiny.en",
) -> None:
    """A bot at work, offline: a local Janus room, a speaking participant, live statuses."""
    from meetbot.demo import run_demo

    raise typer.Exit(run_demo(model=model))


@app.command()
def doctor(
    url: Annotated[str, typer.Argument(help="A real meeting URL (Meet, Teams, Zoom, Janus)")],
    bot_name: Annotated[str, typer.Option(help="Name shown in the meeting")] = "meetbot doctor",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for admission")] = 180.0,
    stay: Annotated[float, typer.Option(help="Seconds to stay once admitted")] = 15.0,
    out_dir: Annotated[Path, typer.Option(help="Where screenshots and HTML go")] = Path(
        "meetbot-doctor"
    ),
    headed: Annotated[bool, typer.Option(help="Show the browser (needs a display)")] = False,
) -> None:
    """One live bot against a real meeting: prints each step; artifacts on failure."""
    from meetbot.doctor import run_doctor

    settings = settings_from()
    raise typer.Exit(
        run_doctor(
            url,
            bot_name,
            timeout,
            out_dir,
            stay=stay,
            chromium_path=settings.chromium_path,
            headless=not headed,
            chromium_user=settings.chromium_user,
            chromium_no_sandbox=settings.chromium_no_sandbox,
        )
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
