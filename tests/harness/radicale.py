"""A real CalDAV server for tests: Radicale in a child process, on a loopback port, with one
user (plain htpasswd) and ``delay = 0`` (its default adds ~1 s to every unauthenticated probe)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

USER = "alice"
PASSWORD = "wonderland"


@dataclass(frozen=True)
class Radicale:
    base: str

    @property
    def auth(self) -> tuple[str, str]:
        return (USER, PASSWORD)

    def collection(self, name: str) -> str:
        return f"{self.base}/{USER}/{name}/"

    def make_calendar(self, name: str) -> str:
        url = self.collection(name)
        body = (
            '<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
            f"<D:displayname>{name}</D:displayname></D:prop></D:set></C:mkcalendar>"
        )
        response = httpx.request("MKCALENDAR", url, content=body, auth=self.auth)
        assert response.status_code == 201, response.text
        return url

    def put(self, calendar_url: str, uid: str, text: str) -> None:
        response = httpx.put(
            f"{calendar_url}{uid}.ics",
            content=text.encode(),
            headers={"Content-Type": "text/calendar"},
            auth=self.auth,
        )
        assert response.status_code in (201, 204), response.text

    def delete(self, calendar_url: str, uid: str) -> None:
        response = httpx.delete(f"{calendar_url}{uid}.ics", auth=self.auth)
        assert response.status_code in (200, 204), response.text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def radicale(tmp: Path) -> Iterator[Radicale]:
    port = _free_port()
    (tmp / "users").write_text(f"{USER}:{PASSWORD}\n")
    (tmp / "config").write_text(
        "[server]\n"
        f"hosts = 127.0.0.1:{port}\n"
        "[auth]\n"
        "type = htpasswd\n"
        f"htpasswd_filename = {tmp / 'users'}\n"
        "htpasswd_encryption = plain\n"
        "delay = 0\n"
        "[rights]\n"
        "type = owner_only\n"
        "[storage]\n"
        f"filesystem_folder = {tmp / 'collections'}\n"
        "[logging]\n"
        "level = warning\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "radicale", "--config", str(tmp / "config")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        yield Radicale(base)
    finally:
        process.terminate()
        process.wait(10)
