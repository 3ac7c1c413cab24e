"""The bot's browser goes only to meetings (issue 12): real Chromium in its own network
namespace, where a meeting page on 127.0.0.1:8000 (the one allowed host) redirects to
127.0.0.1:8001 and fetches the metadata address 169.254.169.254 (also bound inside). Neither
target server may record a request.

The servers and Chromium live in the namespace (nothing there reaches the machine); the guard
runs in the test process, as in a runner.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from meetbot.clock import SystemClock
from meetbot.contract.assignment import Assignment
from meetbot.contract.reports import Failed
from meetbot.egress import HostAllowList
from meetbot.lab import NOBODY
from meetbot.lab.netns import Netns
from meetbot.runner.browser import ChromiumBrowser
from meetbot.runner.egress import EgressGuard
from meetbot.runner.platforms.registry import page_for
from meetbot.runner.session import EXIT_OK, Session
from meetbot.runner.session_ports import SessionConfig
from meetbot.testing.fakes_runner import FakeReports, MemoryStorage

CHROMIUM = "/usr/bin/chromium"
MEETING = "http://127.0.0.1:8000"

SERVERS = r'''
import http.server, socket, socketserver, sys, threading
log = open(sys.argv[1], "a", buffering=1)
PAGE = b"""<!doctype html><title>meeting</title><body>
<img src="http://[::ffff:127.0.0.1]:8001/img.png">
<script>
const targets = ["http://169.254.169.254/latest/meta-data/", "http://2852039166/x",
  "http://0xa9.0xfe.0xa9.0xfe/y", "http://127.0.0.1:8001/stolen", "http://0177.0.0.1:8001/z",
  "http://[::ffff:a9fe:a9fe]/v6"];
window.results = {};
for (const t of targets) fetch(t).then(r => results[t] = r.status, e => results[t] = String(e));
fetch("/own").then(r => r.text()).then(t => results.own = t, e => results.own = String(e));
const ws = new WebSocket("ws://127.0.0.1:8001/ws");
ws.onclose = (e) => results.ws = "closed " + e.code; ws.onopen = () => results.ws = "open";
const a = new RTCPeerConnection(), b = new RTCPeerConnection();
a.createDataChannel("x");
a.createOffer().then(o => a.setLocalDescription(o))
  .then(() => b.setRemoteDescription(a.localDescription))
  .then(() => b.createAnswer()).then(o => b.setLocalDescription(o))
  .then(() => a.setRemoteDescription(b.localDescription))
  .then(() => a.addIceCandidate({sdpMid: "0", candidate:
    "candidate:1 1 udp 2122260223 127.0.0.1 9999 typ host generation 0"}))
  .then(() => results.ice = "given", e => results.ice = String(e));
const job = "fetch('http://127.0.0.1:8001/from-worker').then(r => postMessage('reached'),"
  + " e => postMessage('refused'))";
const worker = new Worker(URL.createObjectURL(new Blob([job], {type: "text/javascript"})));
worker.onmessage = (e) => results.worker = e.data;
try {
  const shared = new SharedWorker(URL.createObjectURL(new Blob(["onconnect = (c) => { "
    + "const port = c.ports[0]; " + job.replaceAll("postMessage", "port.postMessage") + "; };"],
    {type: "text/javascript"})));
  shared.port.onmessage = (e) => results.shared = e.data;
} catch (e) { results.shared = "refused " + e.name; }
navigator.serviceWorker.register("/sw.js").then(() => results.sw = "registered",
  e => results.sw = "refused " + e);
</script>"""
WORKER = b"self.addEventListener('install', () => fetch('http://127.0.0.1:8001/from-worker'));"
class Meeting(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/redirect"):  # also /redirect/videoroomtest.html?room=1
            self.send_response(302); self.send_header("Location", "http://127.0.0.1:8001/internal")
            self.end_headers(); return
        body = b"own" if self.path == "/own" else WORKER if self.path == "/sw.js" else PAGE
        kind = "text/javascript" if self.path == "/sw.js" else "text/html"
        self.send_response(200); self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
class Target(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        log.write(f"{self.server.server_address[0]} {self.path}\n")
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a): pass
class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
def udp(port):  # ICE (STUN) packets: none may arrive
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); sock.bind(("127.0.0.1", port))
    while True:
        data, peer = sock.recvfrom(2048); log.write(f"udp {peer} {len(data)} bytes\n")
threading.Thread(target=udp, args=(9999,), daemon=True).start()
for addr, handler in ((("127.0.0.1", 8000), Meeting), (("127.0.0.1", 8001), Target),
                      (("169.254.169.254", 80), Target)):
    threading.Thread(target=Server(addr, handler).serve_forever, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
'''


@pytest.fixture
def netns(lab_required: None, tmp_path: Path) -> Iterator[tuple[Netns, Path]]:
    with Netns.create() as ns:
        subprocess.run(
            ["ip", "-n", ns.name, "addr", "add", "169.254.169.254/32", "dev", "lo"], check=True
        )
        requests = tmp_path / "target-requests.log"
        requests.touch()
        script = tmp_path / "servers.py"
        script.write_text(SERVERS)
        servers = subprocess.Popen(
            [*ns.exec_prefix, sys.executable, str(script), str(requests)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert servers.stdout is not None
            assert servers.stdout.readline().strip() == "ready"
            yield ns, requests
        finally:
            servers.kill()
            servers.wait()


async def test_the_meeting_page_cannot_reach_loopback_or_metadata(
    netns: tuple[Netns, Path], tmp_path: Path
) -> None:
    ns, requests = netns
    chromium = ns.wrap_executable(CHROMIUM, tmp_path / "chromium", run_as=(NOBODY, NOBODY))
    guard = EgressGuard(HostAllowList.parse("127.0.0.1:8000"))
    browser = await ChromiumBrowser.launch(str(chromium), egress=guard)
    try:
        await browser.page.goto(f"{MEETING}/videoroomtest.html?room=1")
        deadline = time.monotonic() + 20
        results: dict[str, object] = {}
        while time.monotonic() < deadline and len(results) < 12:
            await asyncio.sleep(0.2)
            results = await browser.page.evaluate("window.results")
        assert results.get("own") == "own", results  # the allowed host is reachable
        assert results.get("ws") == "closed 1008", results
        assert str(results.get("sw")).startswith("refused"), results  # no service workers
        assert results.get("ice") == "given", results  # dropped silently: no STUN to it
        assert results.get("worker") == "refused", results  # a dedicated worker is guarded
        assert results.get("shared") == "refused SecurityError", results  # no shared workers
        assert all("Failed to fetch" in str(v) for k, v in results.items() if "/" in k), results
        assert guard.blocked_navigation is None  # subresources only, so far

        with pytest.raises(Exception, match="ERR_BLOCKED_BY_CLIENT"):
            await browser.page.goto(f"{MEETING}/redirect")
        assert guard.blocked_navigation is not None
        assert guard.blocked_navigation.url == "http://127.0.0.1:8001/internal"
        assert guard.blocked_navigation.reason == "loopback"
        await asyncio.sleep(3.0)  # anything late (ICE checks too) would have arrived by now
    finally:
        await browser.close()
    blocked = {b.url: b.reason for b in guard.blocked}
    assert blocked["http://169.254.169.254/latest/meta-data/"] == "metadata"
    assert blocked["http://169.254.169.254/x"] == "metadata"  # Chromium wrote it canonically
    assert blocked["http://[::ffff:a9fe:a9fe]/v6"] == "metadata"
    assert blocked["http://[::ffff:7f00:1]:8001/img.png"] == "loopback"
    assert blocked["ws://127.0.0.1:8001/ws"] == "loopback"
    assert requests.read_text() == "", json.dumps(blocked, indent=1)


async def test_a_meeting_that_redirects_to_loopback_fails_the_bot_without_artifacts(
    netns: tuple[Netns, Path], tmp_path: Path
) -> None:
    """The runner's whole session, real Chromium: ``failed``/``meeting_url_blocked``, and no
    screenshot or HTML of the page it was sent to."""
    ns, requests = netns
    chromium = ns.wrap_executable(CHROMIUM, tmp_path / "chromium", run_as=(NOBODY, NOBODY))
    assignment = Assignment(
        bot_id="bot1",
        meeting_url=f"{MEETING}/redirect/videoroomtest.html?room=1",
        platform="janus",
        bot_name="Notes",
        stop_options={},
        join_at=None,
        token="t",
        control_url="http://127.0.0.1:1",
        egress_allowed_hosts=("127.0.0.1:8000",),
    )
    guard = EgressGuard(HostAllowList.parse(assignment.egress_allowed_hosts))
    browser = await ChromiumBrowser.launch(str(chromium), egress=guard)
    reports, storage = FakeReports(), MemoryStorage()

    async def launch() -> ChromiumBrowser:
        raise AssertionError("the browser is warm")

    session = Session(
        assignment,
        page_for("janus", humanize=False),
        reports,
        storage,
        SystemClock(),
        launch=launch,
        browser=browser,
        config=SessionConfig(drain_timeout=1.0, leave_timeout=2.0),
    )
    assert await asyncio.wait_for(session.run(), 60) == EXIT_OK
    assert reports.types == ["joining", "failed"]
    failed = reports.of("failed")[0]
    assert isinstance(failed, Failed)
    assert failed.sub_code == "meeting_url_blocked"
    assert "127.0.0.1" in (failed.detail or "")
    assert storage.objects == {}
    assert requests.read_text() == ""
