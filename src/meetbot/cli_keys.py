"""``meetbot keys``: create, list and revoke API keys on the server's store.

A key is printed once, by ``create``, as the last line of its output; after that a key is named
by its id (``list`` shows them; ``revoke`` takes one). Every running server refuses a revoked
key within 5 seconds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from meetbot.config import Settings
from meetbot.contract.models import ApiKey
from meetbot.control.ports import Store
from meetbot.errors import MeetbotError
from meetbot.timefmt import iso

keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (default ./data)")]
T = TypeVar("T")


def _run(data_dir: Path | None, work: Callable[[Store], Awaitable[T]]) -> T:
    """``work`` on the store of the settings (flags over ``MEETBOT_*``); errors exit 1."""
    settings = Settings() if data_dir is None else Settings(data_dir=data_dir)

    async def run() -> T:
        from meetbot.control.store import open_store
        from meetbot.data_dir import prepare

        prepare(settings.data_dir)
        store = await open_store(settings.effective_database_url)
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except MeetbotError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc


def key_view(key: ApiKey) -> dict[str, str | None]:
    return {
        "id": key.id,
        "name": key.name,
        "workspace": key.workspace_id,
        "created_at": iso(key.created_at),
        "revoked_at": iso(key.revoked_at) if key.revoked_at else None,
    }


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="A name for the key")],
    data_dir: DataDir = None,
    workspace: Annotated[
        str | None, typer.Option("--workspace", help="Workspace id (default: a new one)")
    ] = None,
) -> None:
    """Create an API key; it is printed once, as the last line (its id and workspace above)."""
    from meetbot.clock import SystemClock
    from meetbot.control.service.keys import issue_key

    issued = _run(
        data_dir,
        lambda store: issue_key(store, SystemClock(), name=name, workspace_id=workspace),
    )
    typer.echo(f"workspace: {issued.workspace_id}")
    typer.echo(f"id: {issued.id}")
    typer.echo(issued.key)


@keys_app.command("list")
def keys_list(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list of the keys")] = False,
) -> None:
    """Every key of every workspace (ids, never the keys), oldest first."""
    from meetbot.control.service.keys import list_keys

    keys = [key_view(k) for k in _run(data_dir, list_keys)]
    if as_json:
        typer.echo(json.dumps(keys, indent=2))
        return
    typer.echo(f"{'ID':36}  {'WORKSPACE':36}  {'CREATED':24}  {'REVOKED':24}  NAME")
    for key in keys:
        typer.echo(
            f"{key['id']:36}  {key['workspace']:36}  {key['created_at']:24}  "
            f"{key['revoked_at'] or '-':24}  {key['name']}"
        )


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID", help="The key's id (keys list)")],
    data_dir: DataDir = None,
) -> None:
    """Revoke a key by its id: every running server refuses it within 5 seconds."""
    from meetbot.clock import SystemClock
    from meetbot.control.service.keys import revoke_key

    key = _run(data_dir, lambda store: revoke_key(store, SystemClock(), key_id))
    assert key.revoked_at is not None
    typer.echo(f"revoked {key.id} ({key.name}) at {iso(key.revoked_at)}")
