"""The meeting host: room administration over Janus's REST API.

Janus's HTTP transport listens only inside the lab's namespace (127.0.0.1:8088). The host
reaches it from the host namespace through a Unix socket that a small forwarder, started inside
the namespace, bridges to that port (:mod:`meetbot.lab.forward`): filesystem Unix sockets are not
scoped by network namespaces. Inside the namespace, give the plain URL and no socket.

(Janus's own Unix-socket transport, ``pfunix``, would need no forwarder, but in Janus 1.1.2 its
thread starts before the plugin marks itself initialised and, when it wins that race, it exits at
once and unlinks its socket; under load that happened in one of our first three starts.)

Each call uses a fresh Janus session (``create`` → ``attach janus.plugin.videoroom`` →
``message`` → ``destroy``): nothing to keep alive, no session timeout to race, thread-safe.
A call costs a few milliseconds.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx

PLUGIN: Final = "janus.plugin.videoroom"
TEXTROOM: Final = "janus.plugin.textroom"
_transactions = itertools.count(1)

JsonObject = dict[str, Any]


class JanusError(RuntimeError):
    """Janus or the VideoRoom plugin refused a request (``code`` as Janus numbers it)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"janus error {code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RoomParticipant:
    """One entry of ``listparticipants``."""

    id: int
    display: str | None
    publisher: bool
    talking: bool | None = None


class JanusHost:
    """Room administration for a lab's Janus; see the module docstring for the transport.

    Every room the host creates gets the host's ``room_secret``, so the host alone may destroy
    it, kick, or edit its ACL.
    """

    def __init__(
        self,
        url: str,
        *,
        uds: Path | None = None,
        admin_key: str | None = None,
        room_secret: str = "host",
        timeout: float = 10.0,
    ) -> None:
        """``url``: Janus REST base (``http://127.0.0.1:8088/janus``); ``uds``: reach it through
        this Unix socket instead of TCP (the host name in ``url`` is then ignored)."""
        self.url = url.rstrip("/")
        self.uds = uds
        self.admin_key = admin_key
        self.room_secret = room_secret
        self.timeout = timeout

    def _client(self) -> httpx.Client:
        transport = httpx.HTTPTransport(uds=str(self.uds)) if self.uds is not None else None
        return httpx.Client(transport=transport, timeout=self.timeout)

    @staticmethod
    def _post(client: httpx.Client, url: str, message: JsonObject) -> JsonObject:
        transaction = f"mb{next(_transactions)}"
        response = client.post(url, json={**message, "transaction": transaction})
        response.raise_for_status()
        reply: JsonObject = response.json()
        if reply.get("janus") == "error":
            error = reply.get("error", {})
            raise JanusError(int(error.get("code", 0)), str(error.get("reason", reply)))
        return reply

    def info(self) -> JsonObject:
        """Janus's ``info`` answer (version, loaded plugins and transports)."""
        with self._client() as client:
            response = client.get(f"{self.url}/info")
            response.raise_for_status()
            info: JsonObject = response.json()
            return info

    def request(self, body: Mapping[str, Any], plugin: str = PLUGIN) -> JsonObject:
        """Send one synchronous VideoRoom (or ``plugin``) request; return its data or raise."""
        with self._client() as client:
            session = self._post(client, self.url, {"janus": "create"})["data"]["id"]
            try:
                attached = self._post(
                    client, f"{self.url}/{session}", {"janus": "attach", "plugin": plugin}
                )
                reply = self._post(
                    client,
                    f"{self.url}/{session}/{attached['data']['id']}",
                    {"janus": "message", "body": dict(body)},
                )
            finally:
                self._post(client, f"{self.url}/{session}", {"janus": "destroy"})
        data: JsonObject = reply.get("plugindata", {}).get("data", {})
        if "error_code" in data:
            raise JanusError(int(data["error_code"]), str(data.get("error", "")))
        return data

    def create_room(
        self,
        room: int,
        *,
        allowed: Sequence[str] | None = None,
        description: str | None = None,
        notify_joining: bool = True,
        audiolevel_event: bool = True,
        audio_active_packets: int = 25,
        audio_level_average: int = 50,
        publishers: int = 16,
        **options: Any,
    ) -> None:
        """Create ``room``. ``allowed`` (tokens) turns the ACL on from the start.

        ``talking`` is judged over ``audio_active_packets`` packets (20 ms each) against
        ``audio_level_average`` (0 loudest … 127 silent). Janus's defaults (100, 25) flag
        espeak-ng speech only after seconds, if at all; these flag it within about a second.
        Other ``options`` go to Janus as they are (e.g. ``bitrate=64000``).
        """
        body: JsonObject = {
            "request": "create",
            "room": room,
            "secret": self.room_secret,
            "description": description or f"meetbot lab room {room}",
            "publishers": publishers,
            "notify_joining": notify_joining,
            "audiolevel_event": audiolevel_event,
            "audio_active_packets": audio_active_packets,
            "audio_level_average": audio_level_average,
            **options,
        }
        if self.admin_key is not None:
            body["admin_key"] = self.admin_key
        if allowed is not None:
            body["allowed"] = list(allowed)
        self.request(body)
        self.create_chat(room)

    def create_chat(self, room: int) -> None:
        """The room's chat: a TextRoom with the same number (the pages' chat script joins it)."""
        body: JsonObject = {"request": "create", "room": room, "secret": self.room_secret}
        if self.admin_key is not None:
            body["admin_key"] = self.admin_key
        with contextlib.suppress(JanusError):  # a Janus without the TextRoom: rooms, no chat
            self.request(body, plugin=TEXTROOM)

    def exists(self, room: int) -> bool:
        return bool(self.request({"request": "exists", "room": room})["exists"])

    def destroy(self, room: int) -> None:
        """Destroy the room: everyone in it gets ``{"videoroom": "destroyed"}``."""
        self.request({"request": "destroy", "room": room, "secret": self.room_secret})

    def list_participants(self, room: int) -> list[RoomParticipant]:
        data = self.request({"request": "listparticipants", "room": room})
        return [
            RoomParticipant(
                id=int(p["id"]),
                display=p.get("display"),
                publisher=bool(p.get("publisher", False)),
                talking=p.get("talking"),
            )
            for p in data.get("participants", [])
        ]

    def kick(self, room: int, participant_id: int) -> None:
        """Remove a participant (it receives ``{"leaving": "ok", "reason": "kicked"}``)."""
        self.request(
            {"request": "kick", "room": room, "id": participant_id, "secret": self.room_secret}
        )

    def set_acl(
        self,
        room: int,
        enabled: bool | None = None,
        tokens: Sequence[str] = (),
        *,
        remove: Sequence[str] = (),
    ) -> list[str]:
        """Edit the room's token ACL (the VideoRoom ``allowed`` request); return the list.

        ``enabled`` True/False turns checking on/off (None leaves it); ``tokens`` are added,
        ``remove`` removed. While on, a join without an allowed token fails with error 433.
        """
        allowed: list[str] = []
        steps: list[tuple[str, Sequence[str]]] = []
        if tokens:
            steps.append(("add", tokens))
        if remove:
            steps.append(("remove", remove))
        if enabled is not None:
            steps.append(("enable" if enabled else "disable", ()))
        for action, values in steps:
            body: JsonObject = {
                "request": "allowed",
                "room": room,
                "secret": self.room_secret,
                "action": action,
            }
            if values:
                body["allowed"] = list(values)
            allowed = list(self.request(body).get("allowed", allowed))
        return allowed
