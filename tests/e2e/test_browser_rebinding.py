"""DNS rebinding (issue 12 §1): a name that answers the runner with a public address and a
moment later with a loopback one must not take the bot's browser to the loopback server.

Real Chromium in its own network namespace with a real DNS server there (``127.0.0.1:53``, UDP
and TCP; Chromium's ``/etc/resolv.conf`` is ``/etc/netns/NAME/resolv.conf``). The server
answers ``rebind.test`` first with a "public" address (93.184.216.34, bound inside the
namespace, which has no route out) and then with 127.0.0.53, where a secret server records
every request. The runner's side (the guard) asks the same server, over TCP from inside the
namespace; it asks first. The meeting page (on the allowed host) fetches the name, opens a
WebSocket to it, and the page is then sent there: the secret server must record nothing.

Before the pinning proxy, Chromium asked the DNS server itself after the guard and was given
the secret address.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from meetbot.egress import HostAllowList
from meetbot.lab import NOBODY
from meetbot.lab.netns import Netns
from meetbot.runner.browser import ChromiumBrowser
from meetbot.runner.browser_sockets import NamespaceSockets
from meetbot.runner.egress import EgressGuard

CHROMIUM = "/usr/bin/chromium"
MEETING = "http://127.0.0.1:8000"
NAME = "rebind.test"
PUBLIC = "93.184.216.34"
SECRET = "127.0.0.53"

SERVERS = r'''
import http.server, socket, socketserver, struct, sys, threading
log = open(sys.argv[1], "a", buffering=1)
asked = []
PAGE = b"""<!doctype html><title>meeting</title><body><script>
window.results = {};
fetch("http://rebind.test:8002/data").then(r => r.text())
  .then(t => results.data = t, e => results.data = String(e));
const ws = new WebSocket("ws://rebind.test:8002/ws");
ws.onclose = (e) => results.ws = "closed"; ws.onerror = () => results.ws = "error";
</script>"""
def dns_answer(query):
    qid, flags = struct.unpack("!HH", query[:4])
    i = 12
    labels = []
    while query[i]:
        labels.append(query[i + 1:i + 1 + query[i]].decode().lower()); i += 1 + query[i]
    qtype = struct.unpack("!H", query[i + 1:i + 3])[0]
    question = query[12:i + 5]
    name = ".".join(labels)
    answers = b""
    if name == "rebind.test" and qtype == 1:
        asked.append(name)
        address = "93.184.216.34" if len(asked) == 1 else "127.0.0.53"
        log.write(f"dns A {name} -> {address}\n")
        answers = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 0, 4) + socket.inet_aton(address)
    count = 1 if answers else 0
    rcode = 0 if name == "rebind.test" else 3
    return struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, count, 0, 0) + question + answers
def dns_udp():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); sock.bind(("127.0.0.1", 53))
    while True:
        data, peer = sock.recvfrom(512); sock.sendto(dns_answer(data), peer)
class DnsTcp(socketserver.BaseRequestHandler):
    def handle(self):
        size = struct.unpack("!H", self.request.recv(2))[0]
        data = b""
        while len(data) < size: data += self.request.recv(size - len(data))
        reply = dns_answer(data); self.request.sendall(struct.pack("!H", len(reply)) + reply)
class Meeting(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE))); self.end_headers()
        self.wfile.write(PAGE)
    def log_message(self, *a): pass
class Public(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Length", "6"); self.end_headers(); self.wfile.write(b"public")
    def log_message(self, *a): pass
class Secret(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        log.write(f"secret {self.path}\n")
        self.send_response(200); self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Length", "6"); self.end_headers(); self.wfile.write(b"secret")
    def log_message(self, *a): pass
class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
class TcpServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
threading.Thread(target=dns_udp, daemon=True).start()
threading.Thread(target=TcpServer(("127.0.0.1", 53), DnsTcp).serve_forever, daemon=True).start()
for addr, handler in ((("127.0.0.1", 8000), Meeting), (("93.184.216.34", 8002), Public),
                      (("127.0.0.53", 8002), Secret)):
    threading.Thread(target=Server(addr, handler).serve_forever, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
'''


@pytest.fixture
def netns(lab_required: None, tmp_path: Path) -> Iterator[tuple[Netns, Path, int]]:
    with Netns.create() as ns:
        add = ["ip", "-n", ns.name, "addr", "add", f"{PUBLIC}/32", "dev", "lo"]
        subprocess.run(add, check=True)
        etc = Path("/etc/netns") / ns.name  # what `ip netns exec` mounts on /etc inside
        etc.mkdir(parents=True)
        (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions attempts:1\n")
        log = tmp_path / "servers.log"
        log.touch()
        script = tmp_path / "servers.py"
        script.write_text(SERVERS)
        servers = subprocess.Popen(
            [*ns.exec_prefix, sys.executable, str(script), str(log)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert servers.stdout is not None
            assert servers.stdout.readline().strip() == "ready"
            yield ns, log, servers.pid
        finally:
            servers.kill()
            servers.wait()
            shutil.rmtree(etc, ignore_errors=True)
            with contextlib.suppress(OSError):  # only when empty (other namespaces' stay)
                Path("/etc/netns").rmdir()


def dns_resolver(sockets: NamespaceSockets):  # type: ignore[no-untyped-def]
    """The runner's resolver: DNS over TCP to the namespace's server (A records only)."""

    async def resolve(host: str, port: int) -> list[str]:
        sock = await sockets.connect(ipaddress.ip_address("127.0.0.1"), 53)
        reader, writer = await asyncio.open_connection(sock=sock)
        name = b"".join(bytes([len(p)]) + p.encode() for p in host.split(".")) + b"\0"
        query = struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + name + struct.pack("!HH", 1, 1)
        writer.write(struct.pack("!H", len(query)) + query)
        size = struct.unpack("!H", await reader.readexactly(2))[0]
        reply = await reader.readexactly(size)
        writer.close()
        count = struct.unpack("!H", reply[6:8])[0]
        body = reply[12 + len(name) + 4 :]
        found = []
        for _ in range(count):  # each answer: pointer, type, class, ttl, length, address
            length = struct.unpack("!H", body[10:12])[0]
            found.append(str(ipaddress.ip_address(body[12 : 12 + length])))
            body = body[12 + length :]
        return found

    return resolve


async def test_a_name_that_rebinds_to_loopback_never_reaches_it(
    netns: tuple[Netns, Path, int], tmp_path: Path
) -> None:
    ns, log, servers_pid = netns
    sockets = NamespaceSockets(servers_pid)
    chromium = ns.wrap_executable(CHROMIUM, tmp_path / "chromium", run_as=(NOBODY, NOBODY))
    guard = EgressGuard(HostAllowList.parse("127.0.0.1:8000"), resolver=dns_resolver(sockets))
    browser = await ChromiumBrowser.launch(str(chromium), egress=guard)
    try:
        await browser.page.goto(f"{MEETING}/videoroomtest.html?room=1")
        deadline = time.monotonic() + 20
        results: dict[str, object] = {}
        while time.monotonic() < deadline and len(results) < 2:
            await asyncio.sleep(0.2)
            results = await browser.page.evaluate("window.results")
        assert results.get("data") == "public", (results, log.read_text())
        assert results.get("ws") in ("closed", "error"), results  # the public one is no WS
        response = await browser.page.goto(f"http://{NAME}:8002/navigated")
        assert response is not None
        assert await response.text() == "public"
        assert [b for b in guard.blocked if b.host == NAME] == []
    finally:
        await browser.close()
        sockets.close()
    text = log.read_text()
    assert text.startswith(f"dns A {NAME} -> {PUBLIC}\n"), text  # the guard asked first
    assert "secret" not in text, text
