"""Property test of the whole public API from its own OpenAPI description: no input, however
odd, gets a server error; responses match the documented status codes and content types."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from meetbot.lab.serve import Server, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        "MEETBOT_LAUNCHER": "fake",
        "MEETBOT_ADHOC_POOL_SIZE": "1000",
        "MEETBOT_MAX_CONCURRENT_BOTS": "1000",
        "MEETBOT_WEBHOOK_ALLOW_PRIVATE": "1",
    }
    srv = start_server(Path(tmp_path_factory.mktemp("fuzz")) / "data", env)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def api_schema(server: Server) -> Any:
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_no_server_errors(api_schema: Any, server: Server) -> None:
    """Every operation, generated inputs (schemathesis strategies driven by hypothesis)."""
    headers = {"Authorization": f"Token {server.first_key()}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case: Any) -> None:
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS)

        check()


def test_no_key_is_401_everywhere(server: Server) -> None:
    import httpx

    spec = httpx.get(f"{server.url}/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method in ops:
            url = server.url + path.replace("{bot_id}", "x").replace("{endpoint_id}", "x")
            url = url.replace("{delivery_id}", "x")
            r = httpx.request(method.upper(), url)
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.json()["code"] == "unauthorized"
