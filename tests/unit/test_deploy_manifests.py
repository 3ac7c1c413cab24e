"""``deploy/kubernetes/`` and the ``Dockerfile`` cannot drift from the code: every manifest is
valid against the Kubernetes schemas (``kubernetes-validate``, strict: unknown fields fail),
every ``meetbot`` command and flag a container runs exists in the CLI, every ``MEETBOT_*``
variable is a setting (with a valid value), the probes' paths are routes, and the sizing rules
hold (drain timeout within the grace period, KEDA's bounds = MEETBOT_FLEET_MAX_SLOTS).

No cluster or container runtime runs here: this is all that is checked (docs/deploy-kubernetes.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import typer.main
import yaml
from pydantic import ValidationError

from meetbot import cli
from meetbot.config import Settings
from meetbot.control.api.app import create_app
from meetbot.control.service import Services
from meetbot.testing.fakes import FakeLauncher, FixedClock
from meetbot.testing.memory_store import MemoryStore

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.latest_version())
CUSTOM_RESOURCES = {("keda.sh/v1alpha1", "ScaledObject")}
"""Kinds without a bundled schema (a CRD: kubernetes-validate only warns); checked by hand."""

# Commands, settings and values the manifests may use before the code has them (none now: the
# fleet's `meetbot agent`, MEETBOT_LAUNCHER=fleet, MEETBOT_AGENT_TIMEOUT and
# MEETBOT_FLEET_MAX_SLOTS have landed). Once the code has one, the test below fails until its
# entry is deleted here: then the real CLI and settings are what the manifests are checked against.
PENDING_COMMANDS: dict[str, set[str]] = {}
PENDING_SETTINGS: set[str] = set()
PENDING_VALUES: set[tuple[str, str]] = set()


def documents() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(MANIFESTS.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            for doc in yaml.safe_load_all(path.read_text()):
                if doc:
                    yield path.name, doc


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in documents() if doc["kind"] == kind]


def named(kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in of_kind(kind) if d["metadata"]["name"] == name]
    return found


def containers() -> Iterator[dict[str, Any]]:
    for _, doc in documents():
        if doc["kind"] in ("Deployment", "Job"):
            yield from doc["spec"]["template"]["spec"]["containers"]


def cli_commands() -> dict[str, Any]:
    """``meetbot``'s subcommands (typer's click commands), by name."""
    return dict(typer.main.get_command(cli.app).commands)  # type: ignore[attr-defined]


def flags_of(args: list[str]) -> list[str]:
    return [a for a in args if a.startswith("--")]


def setting_fields() -> set[str]:
    return {f"MEETBOT_{name.upper()}" for name in Settings.model_fields}


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {p.name for p in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_kubernetes(version: str) -> None:
    checked = 0
    for name, doc in documents():
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_RESOURCES:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {doc['kind']} {doc['metadata']['name']}: {exc}")
        checked += 1
    assert checked >= 10


def test_the_scaled_object_targets_the_agents_on_slots_needed() -> None:
    (scaled,) = of_kind("ScaledObject")
    spec = scaled["spec"]
    assert set(spec) <= {
        "scaleTargetRef", "minReplicaCount", "maxReplicaCount", "pollingInterval",
        "cooldownPeriod", "advanced", "triggers", "idleReplicaCount", "fallback",
    }  # fmt: skip
    assert (
        spec["scaleTargetRef"]["name"] == named("Deployment", "meetbot-agent")["metadata"]["name"]
    )
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "prometheus"
    assert "meetbot_slots_needed" in trigger["metadata"]["query"]
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]


def test_every_command_and_flag_exists() -> None:
    commands = cli_commands()
    for container in containers():
        name, *rest = container["args"]
        if name in commands:
            known = {opt for p in commands[name].params for opt in p.opts}
        else:
            assert name in PENDING_COMMANDS, f"`meetbot {name}` is no command of meetbot"
            known = PENDING_COMMANDS[name]
        unknown = set(flags_of(rest)) - known
        assert not unknown, f"`meetbot {name}` has no {sorted(unknown)}"


def test_pending_entries_go_once_the_code_has_them() -> None:
    commands = cli_commands()
    landed = [c for c in PENDING_COMMANDS if c in commands]
    landed += sorted(PENDING_SETTINGS & setting_fields())
    for name, value in PENDING_VALUES:
        try:
            Settings(**{name.removeprefix("MEETBOT_").lower(): value})
            landed.append(f"{name}={value}")
        except ValidationError:
            pass
    assert not landed, f"delete these from PENDING_* in this test: {landed}"


def test_every_meetbot_variable_is_a_setting_with_a_valid_value() -> None:
    known = setting_fields() | PENDING_SETTINGS
    variables: dict[str, str] = {}
    for doc in of_kind("ConfigMap") + of_kind("Secret"):
        variables.update(doc.get("data") or {})
        variables.update(doc.get("stringData") or {})
    for container in containers():
        for env in container.get("env", []):
            variables[env["name"]] = env.get("value", "")
    ours = {k: v for k, v in variables.items() if k.startswith("MEETBOT_")}
    assert ours, "no MEETBOT_ variable found"
    unknown = set(ours) - known
    assert not unknown, f"not settings of meetbot: {sorted(unknown)}"
    config = named("ConfigMap", "meetbot-config")["data"]
    for name, value in config.items():
        if name in PENDING_SETTINGS or (name, value) in PENDING_VALUES:
            continue
        Settings(**{name.removeprefix("MEETBOT_").lower(): value})  # raises when invalid
    secrets = named("Secret", "meetbot-secrets")["stringData"]
    Settings(secret=secrets["MEETBOT_SECRET"])  # the placeholder has the real shape


async def test_probes_ask_routes_the_app_answers() -> None:
    settings = Settings(launcher="fake")
    services = Services(
        settings=settings, store=MemoryStore(), launcher=FakeLauncher(), clock=FixedClock()
    )
    probes = {
        c[probe]["httpGet"]["path"]
        for c in containers()
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
        if probe in c
    }
    assert {"/healthz", "/readyz"} <= probes
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://meetbot") as client:
        for path in [*sorted(probes), "/metrics"]:
            assert (await client.get(path)).status_code == 200, path


def agent_flag(flag: str) -> str:
    (agent,) = named("Deployment", "meetbot-agent")["spec"]["template"]["spec"]["containers"]
    args = agent["args"]
    return str(args[args.index(flag) + 1])


def test_agents_drain_within_their_grace_period_and_have_shared_memory() -> None:
    spec = named("Deployment", "meetbot-agent")["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] >= int(agent_flag("--drain-timeout")) + 30
    (shm,) = [v for v in spec["volumes"] if v["name"] == "dshm"]
    assert shm["emptyDir"]["medium"] == "Memory"
    (agent,) = spec["containers"]
    assert {"name": "dshm", "mountPath": "/dev/shm"} in agent["volumeMounts"]


def mebibytes(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return float(number) * (1024 if unit == "Gi" else 1)


def test_agents_are_sized_from_the_measured_bot_times_slots() -> None:
    (agent,) = named("Deployment", "meetbot-agent")["spec"]["template"]["spec"]["containers"]
    slots = int(agent_flag("--slots"))
    requests = agent["resources"]["requests"]
    assert mebibytes(requests["memory"]) >= slots * 313  # measured PSS per bot, MiB
    assert int(requests["cpu"].removesuffix("m")) >= slots * 112  # 11.2 % of a core per bot


def test_the_autoscaler_bounds_are_the_fleet_max_slots() -> None:
    (scaled,) = of_kind("ScaledObject")
    slots = int(agent_flag("--slots"))
    config = named("ConfigMap", "meetbot-config")["data"]
    assert int(config["MEETBOT_FLEET_MAX_SLOTS"]) == scaled["spec"]["maxReplicaCount"] * slots
    (trigger,) = scaled["spec"]["triggers"]
    assert int(trigger["metadata"]["threshold"]) == slots


def test_the_dockerfile_builds_the_image_the_manifests_run() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM debian:bookworm-slim$", text, re.M)
    install = re.search(r"apt-get install[^&]*", text)
    assert install is not None
    assert {"chromium", "ffmpeg", "espeak-ng"} <= set(install.group(0).split())
    assert re.search(r"^USER meetbot$", text, re.M)
    assert re.search(r'^ENTRYPOINT \[.*"meetbot"\]$', text, re.M)
    images = {c["image"].split(":")[0] for c in containers()}
    assert images == {"meetbot"}
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests"} <= set(ignored)
