"""What a warm runner costs while it waits (the warm pool is paid for all day), and how fast the
pool refills after a claim.

No control plane and no meeting: the real runner host of ``meetbot serve``'s agent and of
``meetbot agent`` (``ProcessHost``) keeps ``--pool``
warm runners (real ``python -m meetbot.runner`` processes, real Chromium from
``MEETBOT_CHROMIUM_PATH``, sandboxed as ``nobody`` when run as root), then

1. **idle cost**: after ``--settle`` s, every process of each warm runner's session (the
   runner's Python, Playwright's node driver, Chromium's processes) is read from ``/proc``
   for ``--window`` s: PSS (``smaps_rollup``) and CPU time (utime + stime), per process kind;
2. **refill** (``--claims`` times): an idle runner is claimed (as ``ProcessHost.take`` does,
   without an assignment) → the pool holds ``--pool`` idle runners
   again (polled every 10 ms). The claimed runner gets EOF on stdin and exits (a real bot
   would start joining; ``bench/runner_join.py`` measures refill beside a joining bot).
   The runners' logs give the split: process start → ``browser up``.

    sudo .venv/bin/python bench/warm_idle.py [--pool 2] [--window 30] [--claims 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from meetbot.agent.processes import ProcessHost

TICK = os.sysconf("SC_CLK_TCK")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def tree_pids(root: int) -> list[int]:
    """``root`` and every live descendant (Playwright starts Chromium in a session of its own,
    so a runner's session does not hold its browser)."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children[int(fields[1])].append(int(entry.name))  # field 4 of stat: ppid
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def kind(pid: int) -> str:
    """runner (Python), driver (node), or Chromium's process type."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "gone"
    text = " ".join(c.decode(errors="replace") for c in cmd)
    if "meetbot.runner" in text:
        return "runner (python)"
    if "node" in Path(cmd[0].decode(errors="replace")).name:
        return "driver (node)"
    if match := re.search(r"--type=([a-z-]+)", text):
        extra = "-" + m.group(1) if (m := re.search(r"--utility-sub-type=\S*\.(\w+)", text)) else ""
        return f"chromium {match.group(1)}{extra}"
    if "chrom" in text:
        return "chromium browser"
    return cmd[0].decode(errors="replace") or "?"


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime


async def idle_cost(launcher: ProcessHost, settle: float, window: float) -> None:
    await asyncio.sleep(settle)
    runners = list(launcher.pids().values())
    before = {sid: {p: cpu_ticks(p) for p in tree_pids(sid)} for sid in runners}
    warm_cpu = [sum(ticks.values()) / TICK for ticks in before.values()]
    print("\nCPU a runner spent to get warm (its live processes, since their start): "
          + ", ".join(f"{c:.2f} s" for c in warm_cpu))  # fmt: skip
    began = time.monotonic()
    await asyncio.sleep(window)
    elapsed = time.monotonic() - began
    print(f"\nidle cost of {len(runners)} warm runners over {elapsed:.0f} s (load {load()}):")
    totals_pss, totals_cpu = [], []
    for sid in runners:
        by_kind_pss: dict[str, int] = defaultdict(int)
        by_kind_cpu: dict[str, float] = defaultdict(float)
        by_kind_n: dict[str, int] = defaultdict(int)
        for pid in tree_pids(sid):
            name = kind(pid)
            by_kind_n[name] += 1
            by_kind_pss[name] += pss_kib(pid)
            ticks = cpu_ticks(pid) - before[sid].get(pid, 0)
            by_kind_cpu[name] += ticks / TICK / elapsed * 100
        pss, cpu = sum(by_kind_pss.values()) / 1024, sum(by_kind_cpu.values())
        totals_pss.append(pss)
        totals_cpu.append(cpu)
        print(f"  runner pid {sid}: {sum(by_kind_n.values())} processes, PSS {pss:.1f} MiB, "
              f"CPU {cpu:.2f} % of a core")  # fmt: skip
        for name in sorted(by_kind_pss, key=lambda k: -by_kind_pss[k]):
            print(f"    {name:<34} x{by_kind_n[name]}  {by_kind_pss[name] / 1024:7.1f} MiB  "
                  f"{by_kind_cpu[name]:5.2f} %")  # fmt: skip
    n = len(totals_pss)
    print(f"per warm runner: PSS {sum(totals_pss) / n:.1f} MiB, CPU {sum(totals_cpu) / n:.2f} %")


async def refill(launcher: ProcessHost, pool: int, claims: int, gap: float) -> list[float]:
    times = []
    for _ in range(claims):
        while launcher.warm_idle() < pool:  # noqa: ASYNC110 (a count, polled as a client would)
            await asyncio.sleep(0.05)
        await asyncio.sleep(gap)  # the previous claimed runner is gone, the machine quiet
        claimed_at = time.monotonic()
        runner = next(r for r in launcher._runners.values() if r.state == "idle")
        runner.state = "busy"  # claimed, as take() does; the pool starts the next one
        launcher._touch()
        assert runner.process.stdin is not None
        runner.process.stdin.close()  # no assignment: EOF, it exits
        while launcher.warm_idle() < pool:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        times.append(time.monotonic() - claimed_at)
        print(f"  refill {len(times):2d}: {times[-1]:.3f} s", flush=True)
    return times


def browser_up_times(data_dir: Path) -> list[float]:
    found = []
    for log in (data_dir / "runners" / "logs").glob("*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if "browser up in" in line:
                found.append(float(line.rsplit("browser up in", 1)[1].split()[0]))
    return found


async def run(args: argparse.Namespace, data_dir: Path) -> None:
    env = {
        "MEETBOT_CHROMIUM_PATH": args.chromium,
        "MEETBOT_LOG_LEVEL": "info",
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }
    launcher = ProcessHost(
        data_dir=data_dir, runners_dir=data_dir / "runners", servers=(), slots=args.pool + 1,
        warm=args.pool, env=env,
    )  # fmt: skip
    await launcher.start()
    try:
        started = time.monotonic()
        while launcher.warm_idle() < args.pool:
            await asyncio.sleep(0.05)
            if time.monotonic() - started > 120:
                raise SystemExit("the pool did not fill in 120 s")
        if args.window:
            await idle_cost(launcher, args.settle, args.window)
        if args.claims:
            print(f"\nrefill after a claim (pool {args.pool}, load {load()}):")
            times = await refill(launcher, args.pool, args.claims, args.gap)
            print(f"refill: n={len(times)} p50={pct(times, 0.5):.3f} s "
                  f"p95={pct(times, 0.95):.3f} s max={max(times):.3f} s")  # fmt: skip
            up = browser_up_times(data_dir)
            print(f"runner's 'browser up in': n={len(up)} p50={pct(up, 0.5):.3f} s "
                  f"p95={pct(up, 0.95):.3f} s")  # fmt: skip
    finally:
        await launcher.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pool", type=int, default=2)
    parser.add_argument("--settle", type=float, default=10.0, help="after the pool is full (s)")
    parser.add_argument("--window", type=float, default=30.0, help="idle measure (s); 0: skip")
    parser.add_argument("--claims", type=int, default=10)
    parser.add_argument("--gap", type=float, default=1.0, help="quiet time before a claim (s)")
    parser.add_argument(
        "--chromium", default=os.environ.get("MEETBOT_CHROMIUM_PATH", "/usr/bin/chromium")
    )
    args = parser.parse_args()
    print(f"date={datetime.now(UTC).isoformat(timespec='seconds')} cpus={os.cpu_count()}")
    print(f"load before={load()}")
    with tempfile.TemporaryDirectory(prefix="mb-bench-warm-") as tmp:
        asyncio.run(run(args, Path(tmp) / "data"))
    print(f"load after={load()}")


if __name__ == "__main__":
    main()
