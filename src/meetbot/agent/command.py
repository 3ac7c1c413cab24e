"""``meetbot agent``: build the agent from its flags and run it until SIGTERM (then drain).

Exit codes: 0 drained, 2 bad flags, 3 the token is revoked or unknown (401).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import signal
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from meetbot import redaction
from meetbot.config import Settings

if TYPE_CHECKING:  # imported when the agent runs: every other `meetbot` command starts without
    from meetbot.agent.agent import AgentOptions
    from meetbot.agent.hosts import RunnerHost


class SimulationSettings(BaseSettings):
    """The ``MEETBOT_*`` settings only ``meetbot agent --simulate`` reads."""

    model_config = SettingsConfigDict(env_prefix="MEETBOT_", frozen=True, extra="ignore")

    simulated_call_seconds: float = Field(60.0, ge=0)
    """How long a simulated meeting lasts after the bot is admitted."""


def agent_command(
    server: Annotated[
        str, typer.Option("--server", help="Control-plane URL(s), comma-separated (failover)")
    ],
    token: Annotated[
        str,
        typer.Option("--token", envvar="MEETBOT_AGENT_TOKEN", help="Agent token (agents create)"),
    ],
    slots: Annotated[int, typer.Option("--slots", min=1, help="Bots this host runs at most")] = 8,
    warm: Annotated[int, typer.Option("--warm", min=0, help="Warm browsers kept ready")] = 2,
    name: Annotated[str | None, typer.Option("--name", help="Default: the host name")] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data directory (default ./data)")
    ] = None,
    simulate: Annotated[
        bool, typer.Option("--simulate", help="Simulated meetings in this process, no Chromium")
    ] = False,
    drain_timeout: Annotated[
        float,
        typer.Option("--drain-timeout", min=0, help="Seconds running bots get after SIGTERM"),
    ] = 600.0,
) -> None:
    """Run a runner host of the fleet: warm browsers and bots, handed out by the control plane."""
    from meetbot.agent.agent import AgentOptions

    servers = [s.strip() for s in server.split(",") if s.strip()]
    if not servers:
        raise typer.BadParameter("at least one URL", param_hint="--server")
    settings = Settings() if data_dir is None else Settings(data_dir=data_dir)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s agent[%(process)d] %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per heartbeat otherwise
    redaction.install()
    options = AgentOptions(
        name=name or socket.gethostname(), slots=slots, warm=min(warm, slots),
        drain_timeout=drain_timeout, version=_version(),
    )  # fmt: skip
    _more_files()

    def host() -> RunnerHost:
        if simulate:
            from meetbot.agent.simulated import SimulatedHost

            call = SimulationSettings().simulated_call_seconds
            return SimulatedHost(
                servers=servers, slots=slots, warm=options.warm, call_seconds=call,
                warm_lead=settings.warm_lead,
            )  # fmt: skip
        from meetbot.agent.processes import ProcessHost

        return ProcessHost(data_dir=settings.data_dir, servers=servers, slots=slots,
                           warm=options.warm)  # fmt: skip

    raise typer.Exit(_run(lambda: run_agent(servers, token, options, host)))


async def run_agent(
    servers: list[str], token: str, options: AgentOptions, host: Callable[[], RunnerHost]
) -> int:
    """Run until SIGTERM/SIGINT, then drain; returns the exit code."""
    import httpx

    from meetbot.agent.agent import Agent
    from meetbot.agent.control_client import ControlClient

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    limits = httpx.Limits(max_connections=20, max_keepalive_connections=10)
    async with httpx.AsyncClient(trust_env=False, limits=limits) as client:
        agent = Agent(ControlClient(client, servers, token), host(), options)
        return await agent.run(stop)


def _run(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # pragma: no cover
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())


def _more_files() -> None:
    """Hundreds of simulated bots each hold connections: raise the soft open-files limit."""
    with contextlib.suppress(ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("meetbot")
    except PackageNotFoundError:  # pragma: no cover
        return os.environ.get("MEETBOT_VERSION", "")
