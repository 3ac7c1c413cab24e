"""Serve Janus's demo pages (the "meeting client") inside a lab namespace.

The Debian demo ``settings.js`` leaves ``token``/``apisecret`` undefined (the Start button then
does nothing) and has no ICE servers; the copy we serve defines them, with no STUN, and points
``server`` at the lab's Janus REST URL. ``/usr/share/janus/demos`` links ``javascript/``, so the
copy dereferences symlinks.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

from meetbot.lab.netns import Netns

DEMOS: Final = Path("/usr/share/janus/demos")
PORT: Final = 8000

SETTINGS_JS: Final = """// meetbot lab: written by meetbot.lab.web
var server = "{janus_url}";
var iceServers = [];
var token = null;
var apisecret = null;
"""


def copy_demos(dest: Path, janus_url: str) -> Path:
    """Copy the demo pages to ``dest`` (symlinks followed) with a working ``settings.js``."""
    shutil.copytree(DEMOS, dest, symlinks=False)
    (dest / "settings.js").write_text(SETTINGS_JS.format(janus_url=janus_url))
    return dest


class DemoSite:
    """A static HTTP server (``python -m http.server``) in the namespace on ``127.0.0.1:PORT``."""

    def __init__(self, root: Path, process: subprocess.Popen[bytes], log: Path, port: int) -> None:
        self.root = root
        self.process = process
        self.log = log
        self.port = port

    @classmethod
    def start(
        cls, netns: Netns, workdir: Path, janus_url: str, *, port: int = PORT, timeout: float = 10.0
    ) -> DemoSite:
        root = copy_demos(workdir / "demos", janus_url)
        log = workdir / "web.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*netns.exec_prefix, sys.executable, "-u", "-m", "http.server", str(port),
                 "--bind", "127.0.0.1", "--directory", str(root)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        site = cls(root, process, log, port)
        try:
            site._wait_ready(timeout)
        except BaseException:
            site.stop()
            raise
        return site

    def _wait_ready(self, timeout: float) -> None:
        # http.server prints "Serving HTTP on ..." once its socket is bound and listening.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b"Serving HTTP" in self.log.read_bytes():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        text = self.log.read_text(errors="replace")
        raise RuntimeError(f"demo web server did not start (rc={self.process.poll()}): {text}")

    @property
    def base_url(self) -> str:
        """As reachable from inside the namespace."""
        return f"http://127.0.0.1:{self.port}"

    def room_url(self, room: int, *, multi: bool = False, subscriber: bool = False) -> str:
        """``videoroomtest.html`` (a PeerConnection per remote feed) or ``mvideoroomtest.html``
        (one PeerConnection, many tracks); ``subscriber`` joins without publishing."""
        page = "mvideoroomtest.html" if multi else "videoroomtest.html"
        query = f"room={room}" + ("&subscriber-mode=yes" if subscriber else "")
        return f"{self.base_url}/{page}?{query}"

    def stop(self, timeout: float = 3.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
