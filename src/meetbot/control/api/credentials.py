"""``/api/v1/credentials/``: the workspace's default credentials. Secrets go in, never out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from meetbot.control.api.deps import ServicesDep, WorkspaceId
from meetbot.control.api.representation import credential_flags
from meetbot.control.api.schemas import CredentialFlagsOut, CredentialsIn, ErrorOut
from meetbot.control.service import credentials

router = APIRouter(prefix="/api/v1/credentials", tags=["credentials"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Invalid request (`code` says which rule)"},
    401: {"model": ErrorOut, "description": "Missing or invalid API key"},
    409: {"model": ErrorOut, "description": "credentials_unreadable: stored ones do not decrypt"},
}


@router.put(
    "/",
    response_model=CredentialFlagsOut,
    responses=_ERRORS,
    summary="Replace the workspace's default credentials",
)
async def put_credentials(
    body: CredentialsIn, svc: ServicesDep, workspace_id: WorkspaceId
) -> Response:
    """Bots without their own credentials of a kind use these (vendor keys fall back further
    to the server's). Encrypted at rest; the answer says which kinds are set."""
    kinds = await credentials.put_workspace_credentials(svc, workspace_id, body.to_mapping())
    return JSONResponse(credential_flags(kinds))


@router.get(
    "/",
    response_model=CredentialFlagsOut,
    responses=_ERRORS,
    summary="Which default credentials the workspace has (no secrets)",
)
async def get_credentials(svc: ServicesDep, workspace_id: WorkspaceId) -> Response:
    kinds = await credentials.get_workspace_credentials(svc, workspace_id)
    return JSONResponse(credential_flags(kinds))


@router.delete(
    "/", status_code=204, responses=_ERRORS, summary="Remove the workspace's default credentials"
)
async def delete_credentials(svc: ServicesDep, workspace_id: WorkspaceId) -> Response:
    await credentials.delete_workspace_credentials(svc, workspace_id)
    return Response(status_code=204)
