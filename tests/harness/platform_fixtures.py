"""Local stand-ins for Google Meet, Teams, Zoom, Webex and the Google/Microsoft sign-in pages.

A threaded HTTP server on 127.0.0.1 (free port) serves the small HTML+JS pages of
``tests/fixtures/platforms/`` under URL shapes that mimic the real ones, each under a path
prefix named after the real host (``/meet.google.com/abc-defg-hij``,
``/teams.microsoft.com/l/meetup-join/...``, ``/app.zoom.us/wc/join/<id>``,
``/acme.webex.com/meet/<name>`` (its web client in an iframe under ``/acme.webex.com/webappng/``),
``/accounts.google.com/...``, ``/login.microsoftonline.com/...``). :attr:`origins` is the
test-only :class:`~meetbot.runner.platforms.rules.Origins` that points an adapter at them.

Each meeting's state lives HERE, not in the page, so it survives navigations: the page polls
``GET /control/state?key=…`` and reports what the bot did with ``POST /control/event``; a test
drives transitions with :meth:`FixtureMeeting.set` (admit, deny, remove, end, people, speaking,
captions) and reads what the bot did in :attr:`FixtureMeeting.state`.
"""

from __future__ import annotations

import copy
import json
import mimetypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, quote, unquote, urlsplit

from meetbot.runner.platforms.rules import Origins

REAL_HOSTS: Final = (
    "meet.google.com",
    "accounts.google.com",
    "teams.microsoft.com",
    "teams.live.com",
    "login.microsoftonline.com",
    "app.zoom.us",
    "acme.webex.com",
)
DEFAULT_ROOT: Final = Path(__file__).resolve().parents[1] / "fixtures" / "platforms"

PAGES: Final = {
    "meet.google.com": "google_meet",
    "accounts.google.com": "google_signin",
    "teams.microsoft.com": "teams",
    "teams.live.com": "teams",
    "login.microsoftonline.com": "microsoft_signin",
    "app.zoom.us": "zoom",
    "acme.webex.com": "webex",
}

DEFAULT_STATE: Final[dict[str, Any]] = {
    # the meeting (set by tests)
    "scenario": "normal",  # normal | not_found | blocked | knocking_disabled | captcha | unknown
    "auth_required": False,  # sign-in wall / anonymous join disabled / authorised users only
    "host_started": True,
    "host_elsewhere": False,  # Zoom: the host is in another meeting (while not started)
    "lobby": True,
    "admission": "pending",  # pending | admitted | denied | no_response
    "call": "active",  # active | removed | ended
    "participants": [],  # [{"id", "name", "speaking"}]
    "captions": [],  # [{"speaker", "text"}]
    "dialogs": {"got_it": True, "cookies": True, "media": True, "consent": True},
    "passcode": None,  # Zoom
    "tokens": [],  # Zoom ZAK / OBF tokens this meeting accepts
    # a misbehaving people-panel button in the call: {"after": s, "disabled_for": s,
    # "deaf_clicks": n} (rendered late, disabled a while, first clicks ignored)
    "people_button": {},
    # how the page's markup is mutated (harness.mutations): names, reworded texts, chat lines
    "mutations": [],
    "wording": {},
    "chatter": [],
    # the call's chat, oldest first: [{"id", "sender", "text", "self"}] (post_chat, chat_send)
    "chat": [],
    # what the bot did (set by the page)
    "knocked": False,
    "name": None,
    "mic": None,
    "camera": None,
    "signed_in_as": None,
    "captions_on": False,
    "people_open": False,
    "audio_joined": False,
    "left": False,
    "dismissed": [],
    # taking part (issue 16), in the call: the panel opened, the messages the bot sent, its
    # microphone carrying sound while on (heard) or while off (leaked), the middle pixel of its
    # own video while its camera is on, the microphone's states in order
    "chat_open": False,
    "chat_sent": [],
    "voice_heard": False,
    "voice_while_muted": False,
    "mic_changes": [],
    "camera_pixel": None,
    "media_error": None,
}


class FixtureMeeting:
    def __init__(self, server: PlatformFixtures, key: str, url: str) -> None:
        self._server = server
        self.key = key
        self.url = url
        """The REAL meeting URL (the adapter rewrites it through ``origins``)."""

    @property
    def state(self) -> dict[str, Any]:
        return self._server.state(self.key)

    def set(self, **changes: Any) -> None:
        self._server.update(self.key, changes)

    @property
    def events(self) -> list[dict[str, Any]]:
        return self._server.events(self.key)

    def post_chat(self, sender: str, text: str) -> None:
        """A participant's chat message to everyone."""
        self._server.post_chat(self.key, sender, text)


class PlatformFixtures:
    def __init__(self, root: Path = DEFAULT_ROOT) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._meetings: dict[str, dict[str, Any]] = {}
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._accounts: dict[tuple[str, str], str] = {}
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @classmethod
    @contextmanager
    def running(cls, root: Path = DEFAULT_ROOT) -> Iterator[PlatformFixtures]:
        server = cls(root)
        server._thread.start()
        try:
            yield server
        finally:
            server._http.shutdown()
            server._http.server_close()
            server._thread.join(5)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def origins(self) -> Origins:
        return Origins({f"https://{host}": f"{self.base}/{host}" for host in REAL_HOSTS})

    # -- test API ------------------------------------------------------------------------------

    def meeting(self, platform: str, meeting_id: str, **state: Any) -> FixtureMeeting:
        """Register a meeting (``platform`` = google_meet | teams | teams_live | zoom | webex)."""
        urls = {
            "google_meet": f"https://meet.google.com/{meeting_id}",
            "teams": f"https://teams.microsoft.com/l/meetup-join/{quote(meeting_id, safe='')}/0",
            "teams_live": f"https://teams.live.com/meet/{meeting_id}",
            "zoom": f"https://app.zoom.us/wc/join/{meeting_id}",
            "webex": f"https://acme.webex.com/meet/{meeting_id}",
        }
        key = f"{'teams' if platform == 'teams_live' else platform}:{meeting_id}"
        with self._lock:
            self._meetings[key] = {**copy.deepcopy(DEFAULT_STATE), **copy.deepcopy(state)}
            self._events[key] = []
        return FixtureMeeting(self, key, urls[platform])

    def add_account(self, kind: str, email: str, password: str) -> None:
        """An account the ``google`` or ``microsoft`` sign-in fixture accepts."""
        with self._lock:
            self._accounts[(kind, email.lower())] = password

    def state(self, key: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._meeting(key))

    def update(self, key: str, changes: dict[str, Any]) -> None:
        with self._lock:
            self._meeting(key).update(copy.deepcopy(changes))

    def events(self, key: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._events.get(key, []))

    def post_chat(self, key: str, sender: str, text: str, *, own: bool = False) -> None:
        with self._lock:
            chat = self._meeting(key)["chat"]
            chat.append({"id": f"msg-{len(chat) + 1}", "sender": sender, "text": text, "self": own})

    # -- server side ---------------------------------------------------------------------------

    def _meeting(self, key: str) -> dict[str, Any]:
        if key not in self._meetings:  # an unregistered meeting is an ordinary one
            self._meetings[key] = copy.deepcopy(DEFAULT_STATE)
            self._events[key] = []
        return self._meetings[key]

    def _event(self, key: str, event: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            meeting = self._meeting(key)
            self._events[key].append(event)
            kind = event.get("type")
            meeting.update(event.get("set") or {})
            if kind == "knock":
                meeting["knocked"] = True
                if meeting["host_started"] and not meeting["lobby"]:
                    meeting["admission"] = "admitted"
            elif kind == "dismiss":
                meeting["dismissed"].append(event.get("dialog"))
            elif kind == "chat_send":
                text = str(event.get("text", ""))
                meeting["chat_sent"].append(text)
                chat = meeting["chat"]
                chat.append({"id": f"msg-{len(chat) + 1}", "sender": meeting["name"] or "",
                             "text": text, "self": True})  # fmt: skip
            elif kind == "mic":
                meeting["mic_changes"].append(bool(event["set"]["mic"]))
            return copy.deepcopy(meeting)

    def _sign_in(self, body: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        kind, email = str(body.get("kind")), str(body.get("email", "")).lower()
        with self._lock:
            password = self._accounts.get((kind, email))
        if password is None:
            return {"ok": False, "error": "unknown_account"}, None
        if "password" not in body:
            return {"ok": True}, None
        if body["password"] != password:
            return {"ok": False, "error": "wrong_password"}, None
        return {"ok": True}, f"fx_{kind}={quote(email)}; Path=/; SameSite=Lax"

    def page_for(self, path: str) -> tuple[Path, str] | None:
        """The page file and the meeting key for a request path (``None``: not a page)."""
        host, _, rest = path.lstrip("/").partition("/")
        folder = PAGES.get(host)
        if folder is None:
            return None
        parts = [unquote(p) for p in rest.split("/") if p]
        key, page = "", "index.html"
        if host == "meet.google.com" and len(parts) == 1:
            key = f"google_meet:{parts[0]}"
        elif host.startswith("teams.") and parts[:2] == ["l", "meetup-join"] and len(parts) > 2:
            key = f"teams:{parts[2]}"
        elif host.startswith("teams.") and len(parts) == 2 and parts[0] == "meet":
            key = f"teams:{parts[1]}"
        elif host == "app.zoom.us" and parts[:2] == ["wc", "join"] and len(parts) == 3:
            key = f"zoom:{parts[2]}"
        elif host == "acme.webex.com" and parts[:1] == ["meet"] and len(parts) == 2:
            key = f"webex:{parts[1]}"
        elif host == "acme.webex.com" and parts[:1] == ["webappng"] and len(parts) == 5:
            key, page = f"webex:{parts[4]}", "client.html"  # /webappng/sites/acme/meeting/<n>
        elif folder.endswith("_signin"):
            key = ""
        else:
            return None
        return self.root / folder / page, key


_FIXTURE_JS: Final = '<script src="/static/common/fixture.js"></script>'
_MUTATE_JS: Final = '<script src="/static/common/mutate.js"></script>'


def _handler(server: PlatformFixtures) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(
            self, status: int, body: bytes, kind: str, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, data: Any, headers: dict[str, str] | None = None) -> None:
            self._send(200, json.dumps(data).encode(), "application/json", headers)

        def _not_found(self) -> None:
            body = b"<!doctype html><title>Not Found</title><h1>404. That's an error.</h1>"
            self._send(HTTPStatus.NOT_FOUND, body, "text/html; charset=utf-8")

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/control/state":
                key = parse_qs(url.query).get("key", [""])[0]
                self._json(server.state(key))
                return
            if url.path.startswith("/static/"):
                file = (server.root / url.path.removeprefix("/static/")).resolve()
                if server.root.resolve() in file.parents and file.is_file():
                    kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
                    self._send(200, file.read_bytes(), f"{kind}; charset=utf-8")
                    return
            page = server.page_for(url.path)
            if page is None:
                self._not_found()
                return
            file, key = page
            state = server.state(key) if key else DEFAULT_STATE
            fixture = json.dumps({
                "key": key, "host": url.path.lstrip("/").split("/")[0],
                **{k: state[k] for k in ("mutations", "wording", "chatter")},
            })  # fmt: skip
            html = file.read_text(encoding="utf-8").replace("__FIXTURE_JSON__", fixture)
            if state["mutations"]:
                html = html.replace(_FIXTURE_JS, _FIXTURE_JS + _MUTATE_JS)
            self._send(200, html.encode(), "text/html; charset=utf-8")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                body = None
            if not isinstance(body, dict):
                self._send(400, b"bad json", "text/plain")
                return
            path = urlsplit(self.path).path
            if path == "/control/event":
                self._json(server._event(str(body.get("key", "")), body))
            elif path == "/control/signin":
                answer, cookie = server._sign_in(body)
                self._json(answer, {"Set-Cookie": cookie} if cookie else None)
            else:
                self._not_found()

    return Handler
