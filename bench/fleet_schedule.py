"""One schedule across a fleet: many scheduled bots, simulated agents, one ``join_at`` minute.

Starts a temporary PostgreSQL database, ``--replicas`` control planes
(``MEETBOT_LAUNCHER=fleet meetbot serve``) and ``--agents`` agents (``meetbot agent --simulate``:
the real runner session and report channel, a simulated meeting page, no Chromium), creates
``--bots`` scheduled bots whose ``join_at`` are spread over ``--window`` seconds starting
``--lead`` s from now, and measures per bot ``joining.at - join_at`` (the time the runner
asked to join, as the control plane stored it) — p50/p99/max — the bots missed (not joining
within 30 s of ``join_at``), and the bots handed to an agent more than once (rows of
``agent_handoffs``). Each bot stays ``MEETBOT_SIMULATED_CALL_SECONDS`` (``--call``) in its
simulated meeting.

``--kill-replica``: with 2 replicas, the first is killed -9 before the first dispatch (agents and
runners fail over to the second). ``--kill-agent``: one agent is killed -9 after the bots are
dispatched: its bots go to the others (they are counted apart, as ``redispatched``).

    .venv/bin/python bench/fleet_schedule.py --bots 1000 --agents 10 [--rounds 2]
    .venv/bin/python bench/fleet_schedule.py --replicas 2 --kill-replica
    .venv/bin/python bench/fleet_schedule.py --kill-agent
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "integration")]

from pg_testdb import temporary_database, unavailable_reason  # noqa: E402

from harness.fleet import MEET, Fleet  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def joined_at(bot: dict[str, Any], status: str = "joining") -> datetime | None:
    for change in bot["status_changes"]:
        if change["status"] == status:
            return datetime.fromisoformat(change["at"].replace("Z", "+00:00"))
    return None


def one_round(args: argparse.Namespace, number: int) -> None:
    settings = {
        "MEETBOT_SCHEDULED_THRESHOLD": "10",
        "MEETBOT_DISPATCH_LEAD": str(args.dispatch_lead),
        "MEETBOT_SIMULATED_CALL_SECONDS": str(args.call),
        "MEETBOT_AGENT_TIMEOUT": "15",
        "MEETBOT_LOG_LEVEL": "warning",
    }
    with tempfile.TemporaryDirectory() as tmp, temporary_database("meetbot_bench") as url:
        fleet = Fleet(Path(tmp) / "data", url, settings)
        try:
            for _ in range(args.replicas):
                fleet.replica()
            slots = math.ceil(args.bots / args.agents) + 10
            if args.kill_agent:
                slots = math.ceil(args.bots / (args.agents - 1)) + 10
            for n in range(args.agents):
                fleet.agent(f"sim-{n}", slots=slots, warm=0, env={"MEETBOT_LOG_LEVEL": "warning"})
            while sum(a["state"] == "live" for a in fleet.agents_list()) < args.agents:
                time.sleep(0.2)
            start = datetime.now(UTC) + timedelta(seconds=args.lead)
            rng = random.Random(number)
            ids: dict[str, datetime] = {}
            created_s = time.monotonic()
            with httpx.Client(
                base_url=fleet.replicas[-1].url, timeout=120,
                headers={"Authorization": f"Token {fleet.key}"},
            ) as http:  # fmt: skip
                join_ats = [
                    start + timedelta(seconds=rng.uniform(0, args.window)) for _ in range(args.bots)
                ]

                def create(join_at: datetime) -> None:
                    body = {"meeting_url": MEET, "join_at": join_at.isoformat(),
                            "expected_duration": 5}  # fmt: skip
                    if datetime.now(UTC) > start - timedelta(seconds=args.dispatch_lead):
                        print("  creating took too long: give a longer --lead")
                        return
                    while True:
                        r = http.post("/api/v1/bot/", json=body)
                        if r.status_code in (429, 503):  # the same create, retried as told
                            time.sleep(float(r.headers.get("Retry-After", "1")))
                            continue
                        if r.status_code != 201:
                            print(f"create: {r.status_code} {r.text[:200]}")
                            return
                        ids[r.json()["id"]] = join_at
                        return

                with ThreadPoolExecutor(args.create_concurrency) as pool:
                    list(pool.map(create, join_ats))
                created_s = time.monotonic() - created_s
                first_dispatch = start - timedelta(seconds=args.dispatch_lead)
                if args.kill_replica and len(fleet.replicas) > 1:
                    wait_until(first_dispatch - timedelta(seconds=2))
                    fleet.replicas[0].kill9()
                    print("  replica 1 killed -9 before the first dispatch")
                if args.kill_agent:
                    wait_until(start - timedelta(seconds=min(10, args.dispatch_lead / 2)))
                    fleet.agents[0].kill9()
                    print("  agent sim-0 killed -9 after dispatch")
                wait_until(start + timedelta(seconds=args.window + 30))
                late: list[float] = []
                dispatch_late: list[float] = []
                missed: Counter[str] = Counter()
                for bot_id, join_at in ids.items():
                    found = get_bot(http, bot_id)
                    at, booted = joined_at(found), joined_at(found, "booting")
                    if booted is not None:
                        due = join_at - timedelta(seconds=args.dispatch_lead)
                        dispatch_late.append((booted - due).total_seconds() * 1000)
                    if at is None or at > join_at + timedelta(seconds=30):
                        missed[f"{found['status']}/{found.get('sub_code')}"] += 1
                    else:
                        late.append((at - join_at).total_seconds() * 1000)
            with psycopg.connect(url) as db:
                rows = db.execute("SELECT bot_id FROM agent_handoffs WHERE bot_id IS NOT NULL")
                per_bot = Counter(r[0] for r in rows)
            twice = sum(1 for n in per_bot.values() if n > 1)
            label = "redispatched" if args.kill_agent else "dispatched twice"
            print(
                f"round {number}: {len(ids)} bots created in {created_s:.1f} s over "
                f"{len(fleet.replicas)} replica(s), {args.agents} agents; joining - join_at "
                f"p50={pct(late, 0.5):.0f} ms p99={pct(late, 0.99):.0f} ms "
                f"max={max(late, default=float('nan')):.0f} ms; missed={sum(missed.values())} "
                f"{dict(missed)}; {label}={twice}; dispatch (booting) - (join_at - lead) "
                f"p50={pct(dispatch_late, 0.5):.0f} ms p99={pct(dispatch_late, 0.99):.0f} ms; "
                f"load average {os.getloadavg()[0]:.2f}"
            )
        finally:
            fleet.stop()
            if args.server_log:
                with open(args.server_log, "w") as log:
                    for n, replica in enumerate(fleet.replicas):
                        log.write(f"--- replica {n}\n" + "\n".join(replica.output) + "\n")
                    for agent in fleet.agents:
                        if agent.log.exists():
                            log.write(f"--- agent {agent.name}\n{agent.log.read_text()}\n")


def get_bot(http: httpx.Client, bot_id: str) -> dict[str, Any]:
    """The bot, read again when the server asks to retry (429 rate limit, 503 shed)."""
    while True:
        r = http.get(f"/api/v1/bot/{bot_id}/")
        if r.status_code in (429, 503):
            time.sleep(float(r.headers.get("Retry-After", "1")))
            continue
        r.raise_for_status()
        found: dict[str, Any] = r.json()
        return found


def wait_until(at: datetime) -> None:
    time.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--window", type=float, default=60.0, help="join_at spread (s)")
    parser.add_argument("--lead", type=float, default=240.0, help="first join_at from now (s)")
    parser.add_argument("--dispatch-lead", type=float, default=30.0)
    parser.add_argument("--call", type=float, default=20.0, help="simulated call length (s)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--kill-replica", action="store_true")
    parser.add_argument("--kill-agent", action="store_true")
    parser.add_argument("--create-concurrency", type=int, default=8)
    parser.add_argument(
        "--server-log", help="write the replicas' output and the agents' logs to this file"
    )
    args = parser.parse_args()
    if args.kill_replica:
        args.replicas = max(2, args.replicas)
    if (reason := unavailable_reason()) is not None:
        sys.exit(reason)
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, {vars(args)}")
    for number in range(1, args.rounds + 1):
        one_round(args, number)


if __name__ == "__main__":
    main()
