"""`meetbot serve`: time from start to the first answered request, and when it says it listens.

Starts ``meetbot serve`` (fake launcher: no browsers; the webhook delivery child as in
production) ``--runs`` times on a fresh data dir (migrations, first key) and as many times again
on the same dir (a restart). From the moment the process is spawned it polls ``GET /health``
(``/healthz``'s twin, which older servers have too) every 5 ms, and prints per kind of start the
median / min / max of: spawn → "listening on" line, spawn → first answered request, line →
first answer (the poller's own delay included), and how many requests sent after the line
appeared were refused, the connection not accepted (must be 0: a client may trust the line),
and the CPU seconds (user + system) the server and its children (the webhook delivery child)
had spent when the first answer came: the work of a start, which the load of a shared machine
inflates far less than it inflates wall-clock times.

    .venv/bin/python bench/serve_start.py [--runs 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

from meetbot.lab.serve import MEETBOT, free_port


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) of the process and of its children, now."""
    process = psutil.Process(pid)
    own = sum(process.cpu_times()[:2])
    children = 0.0
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            children += sum(child.cpu_times()[:2])
    return own, children


def one_start(data_dir: Path) -> tuple[float, float, int, tuple[float, float]]:
    """Seconds from spawn to the listening line and to the first 200 of /health, how many
    requests sent after the line appeared were refused, and the CPU seconds of the server and
    of its children at that first answer."""
    port = free_port()
    env = {**os.environ, "MEETBOT_LAUNCHER": "fake"}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*MEETBOT, "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    line_at: list[float] = []

    def read_lines() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "listening on" in line and not line_at:
                line_at.append(time.perf_counter() - started)

    reader = threading.Thread(target=read_lines, daemon=True)
    reader.start()
    answered = None
    cpu = (0.0, 0.0)
    refused: list[float] = []
    try:
        with httpx.Client(timeout=1) as client:
            while answered is None and time.perf_counter() - started < 60:
                sent = time.perf_counter() - started
                try:
                    if client.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                        answered = time.perf_counter() - started
                        cpu = cpu_seconds(proc.pid)
                except httpx.ConnectError:  # nothing accepts on the port (yet)
                    refused.append(sent)
                    time.sleep(0.005)
                except httpx.HTTPError:  # accepted, but slower than the timeout: ask again
                    time.sleep(0.005)
        deadline = time.perf_counter() + 10
        while not line_at and time.perf_counter() < deadline:
            time.sleep(0.005)
    finally:
        proc.terminate()
        proc.wait(15)
    if answered is None or not line_at:
        raise SystemExit("the server did not start")
    return line_at[0], answered, sum(1 for at in refused if at > line_at[0]), cpu


def summary(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"{name}: median {statistics.median(ms):.0f} ms, min {min(ms):.0f}, max {max(ms):.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, load {os.getloadavg()}")
    for kind in ("fresh", "restart"):
        lines, answers, refused = [], [], 0
        server_cpu, child_cpu = [], []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                data = Path(tmp) / "data"
                if kind == "restart":
                    one_start(data)
                line, answer, refused_after_line, (own, children) = one_start(data)
                lines.append(line)
                answers.append(answer)
                server_cpu.append(own)
                child_cpu.append(children)
                refused += refused_after_line
        print(f"[{kind}] {summary('spawn -> listening line', lines)}")
        print(f"[{kind}] {summary('spawn -> first answer', answers)}")
        gaps = [a - li for li, a in zip(lines, answers, strict=True)]
        print(f"[{kind}] {summary('line -> first answer', gaps)}")
        print(f"[{kind}] {summary('CPU of the server at the first answer', server_cpu)}")
        print(f"[{kind}] {summary('CPU of its children at the first answer', child_cpu)}")
        print(f"[{kind}] requests sent after the line and refused: {refused} in {args.runs} starts")
    print(f"load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
