"""``meetbot agents``: create, list and revoke the agent tokens of a fleet (runner hosts).

Like ``meetbot keys``: on the store of ``--data-dir`` / ``MEETBOT_DATABASE_URL``; a token is
printed once, by ``create``, as the last line of its output, and stored hashed; an agent is
named by its id afterwards. A revoked agent gets 401 and no bots.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from meetbot.cli_keys import DataDir, _run
from meetbot.config import Settings
from meetbot.timefmt import iso

agents_app = typer.Typer(help="Manage fleet agents (runner hosts).", no_args_is_help=True)


def agent_view(view: Any) -> dict[str, Any]:
    """An agent as ``list`` shows it: ``id``, ``name``, ``slots``, ``busy``, ``warm_idle``,
    ``last_seen``, ``state`` (live, draining, lost, revoked) and ``bots``."""
    agent = view.agent
    return {
        "id": agent.id,
        "name": agent.name,
        "slots": agent.slots,
        "busy": agent.busy,
        "warm_idle": agent.warm_idle,
        "last_seen": iso(agent.last_seen_at) if agent.last_seen_at else None,
        "state": view.state,
        "bots": list(agent.bots),
    }


@agents_app.command("create")
def agents_create(
    name: Annotated[str, typer.Option("--name", help="A name for the agent")],
    data_dir: DataDir = None,
) -> None:
    """Create an agent token; it is printed once, as the last line (the agent's id above)."""
    from meetbot.clock import SystemClock
    from meetbot.control.service.agents import create_agent

    issued = _run(data_dir, lambda store: create_agent(store, SystemClock(), name=name))
    typer.echo(f"id: {issued.id}")
    typer.echo(issued.token)


@agents_app.command("list")
def agents_list(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list of the agents")] = False,
) -> None:
    """Every agent (ids, never tokens), oldest first, with its state and bots."""
    from meetbot.clock import SystemClock
    from meetbot.control.service.agents import list_agents

    settings = Settings() if data_dir is None else Settings(data_dir=data_dir)
    views = _run(data_dir, lambda store: list_agents(store, SystemClock(), settings.agent_timeout))
    agents = [agent_view(v) for v in views]
    if as_json:
        typer.echo(json.dumps(agents, indent=2))
        return
    typer.echo(
        f"{'ID':36}  {'STATE':8}  {'SLOTS':>5}  {'BUSY':>4}  {'WARM':>4}  {'LAST SEEN':32}  NAME"
    )
    for a in agents:
        typer.echo(
            f"{a['id']:36}  {a['state']:8}  {a['slots']:>5}  {a['busy']:>4}  "
            f"{a['warm_idle']:>4}  {a['last_seen'] or '-':32}  {a['name']}"
        )


@agents_app.command("revoke")
def agents_revoke(
    agent_id: Annotated[str, typer.Argument(metavar="AGENT_ID", help="The agent's id")],
    data_dir: DataDir = None,
) -> None:
    """Revoke an agent by its id: it gets 401 and no bots from then on."""
    from meetbot.clock import SystemClock
    from meetbot.control.service.agents import revoke_agent

    agent = _run(data_dir, lambda store: revoke_agent(store, SystemClock(), agent_id))
    assert agent.revoked_at is not None
    typer.echo(f"revoked {agent.id} ({agent.name}) at {iso(agent.revoked_at)}")
