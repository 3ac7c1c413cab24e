"""How fast a bot gets into a meeting: warm-pool joins, pool refill, scheduled punctuality.

Needs root (the Janus meeting lab, ``meetbot.lab``). Starts the lab and `meetbot serve` with the
local launcher (real runner processes and Chromium, which the lab's wrapper puts in the lab's
network namespace), then:

1. **ad-hoc joins** (``--bots``, one after another): wait until the warm pool holds an idle
   runner, POST a bot into a fresh room, follow it (GET every 50 ms) until ``recording``, then
   ``leave_call`` and wait for its runner to exit. Per bot: POST → ``joining`` and POST →
   ``recording`` from the ``status_changes`` times (the runner's clock; same machine) against
   the client's send time, the same as first seen by the 50 ms polling, and POST → the bot's
   name listed in the Janus room (the host's ``listparticipants``, polled every 100 ms).
2. **pool refill** after each claim, observed without POSTing: a runner is idle once its pid
   file (``<data_dir>/runners/<pid>.json``) has no ``bot_id`` and its log says
   ``browser up`` (logged right before it prints READY). Reported: claim (POST sent) → the next
   idle runner seen (polled every 50 ms), and runner process start → browser up from the logs.
3. **scheduled punctuality** (``--scheduled``): bots with ``join_at`` ``--lead`` s ahead (and
   ``--stagger`` s apart), MEETBOT_SCHEDULED_THRESHOLD=5, MEETBOT_DISPATCH_LEAD=4,
   MEETBOT_WARM_LEAD=3 (cold runners); per bot ``joining.at - join_at`` and
   ``recording.at - join_at``.

    sudo .venv/bin/python bench/runner_join.py [--bots 20] [--scheduled 5] [--pool 1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from meetbot.lab import MEETING_HOSTS, Lab, problems
from meetbot.lab.serve import Server, start_server

BOT_NAME = "Bench"
HOLD = {"empty_meeting_timeout": 120, "last_person_detection": 120, "silence_detection": 0}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def summary(name: str, values: list[float], digits: int = 2) -> str:
    if not values:
        return f"{name}: no samples"
    p50, p95, lo, hi = pct(values, 0.5), pct(values, 0.95), min(values), max(values)
    return (
        f"{name}: n={len(values)} p50={p50:.{digits}f}s p95={p95:.{digits}f}s "
        f"min={lo:.{digits}f}s max={hi:.{digits}f}s"
    )


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def parse_at(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def change_at(bot: dict[str, Any], status: str) -> float | None:
    for change in bot["status_changes"]:
        if change["status"] == status:
            return parse_at(change["at"])
    return None


# --- the launcher's runners, seen from outside ------------------------------------------------


def runner_records(data_dir: Path) -> list[dict[str, Any]]:
    found = []
    for path in (data_dir / "runners").glob("[0-9]*.json"):
        with contextlib.suppress(OSError, ValueError):
            found.append(json.loads(path.read_text()))
    return found


def browser_up_at(record: dict[str, Any]) -> float | None:
    """When the runner logged ``browser up`` (its READY follows at once), or None."""
    log = record.get("log")
    if not log:
        return None
    try:
        text = Path(log).read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if "browser up in" in line:
            stamp = line[:23]  # logging's asctime: 2026-01-01 12:00:00,123 (local time)
            with contextlib.suppress(ValueError):
                return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
            return time.time()
    return None


def idle_runners(data_dir: Path) -> list[dict[str, Any]]:
    return [r for r in runner_records(data_dir) if r.get("bot_id") is None and browser_up_at(r)]


def kill_leftover_runners(data_dir: Path) -> None:
    """Runners outlive the control plane by design; end the ones this benchmark started."""
    records = runner_records(data_dir)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = []
        for r in records:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(r["pid"], sig)
                alive.append(r)
        if not alive:
            return
        time.sleep(3)


def drain_output(server: Server) -> None:
    """Keep reading the server's output so its pipe never fills and blocks it."""

    def pump() -> None:
        assert server.proc is not None
        assert server.proc.stdout is not None
        for line in server.proc.stdout:
            server.output.append(line.rstrip())

    threading.Thread(target=pump, daemon=True).start()


# --- ad-hoc joins ---------------------------------------------------------------------------


@dataclass
class Join:
    joining_server: float | None = None
    recording_server: float | None = None
    joining_seen: float | None = None
    recording_seen: float | None = None
    in_room: float | None = None
    refill: float | None = None
    claim_to_spawn: float | None = None
    spawn_to_up: float | None = None
    status: str = ""
    errors: list[str] = field(default_factory=list)


def wait_idle(data_dir: Path, timeout: float) -> tuple[float, dict[str, Any]] | None:
    """Poll (50 ms) until an idle warm runner exists; return when it was seen, and its record."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if idle := idle_runners(data_dir):
            return time.time(), idle[0]
        time.sleep(0.05)
    return None


def watch_room(lab: Lab, room: int, started: float, out: Join, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            names = [p.display for p in lab.host.list_participants(room)]
        except Exception as exc:  # the room may go while we look
            out.errors.append(f"listparticipants: {exc}")
            return
        if BOT_NAME in names:
            out.in_room = time.time() - started
            return
        stop.wait(0.1)


def one_join(api: httpx.Client, lab: Lab, data_dir: Path, timeout: float) -> Join:
    out = Join()
    room = lab.new_room()
    body = {"meeting_url": lab.room_url(room), "bot_name": BOT_NAME, "stop_options": HOLD}
    stop = threading.Event()
    sent = time.time()
    watcher = threading.Thread(target=watch_room, args=(lab, room, sent, out, stop), daemon=True)
    watcher.start()
    r = api.post("/api/v1/bot/", json=body)
    if r.status_code != 201:
        stop.set()
        out.status = f"POST {r.status_code}"
        out.errors.append(r.text[:200])
        lab.host.destroy(room)
        return out
    bot_id = r.json()["id"]
    refill_wait = threading.Thread(target=_refill, args=(data_dir, sent, out))
    refill_wait.start()
    deadline = time.monotonic() + timeout
    bot: dict[str, Any] = r.json()
    while time.monotonic() < deadline:
        bot = api.get(f"/api/v1/bot/{bot_id}/").json()
        now = time.time() - sent
        if out.joining_seen is None and bot["status"] in ("joining", "recording"):
            out.joining_seen = now
        if bot["status"] == "recording":
            out.recording_seen = now
            break
        if bot["status"] not in ("ready", "booting", "joining"):
            break
        time.sleep(0.05)
    out.status = bot["status"]
    if (at := change_at(bot, "joining")) is not None:
        out.joining_server = at - sent
    if (at := change_at(bot, "recording")) is not None:
        out.recording_server = at - sent
    watcher.join(10)
    stop.set()
    if bot["status"] in ("booting", "joining", "recording"):
        api.post(f"/api/v1/bot/{bot_id}/leave_call/")
    refill_wait.join(90)
    # One bot at a time: wait for its runner to exit before the next.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not any(r.get("bot_id") == bot_id for r in runner_records(data_dir)):
            break
        time.sleep(0.1)
    else:
        out.errors.append("runner still alive 30 s after leave_call")
    with contextlib.suppress(Exception):
        lab.host.destroy(room)
    return out


def _refill(data_dir: Path, claimed_at: float, out: Join) -> None:
    """From the claim until an idle runner is seen again (the claimed one has a bot_id now),
    split into claim → replacement process started (pid file ``started_at``) → browser up."""
    time.sleep(0.05)
    found = wait_idle(data_dir, 90)
    if found is None:
        return
    seen, record = found
    out.refill = seen - claimed_at
    out.claim_to_spawn = record["started_at"] - claimed_at
    if (up := browser_up_at(record)) is not None:
        out.spawn_to_up = up - record["started_at"]


def runner_warm_times(data_dir: Path) -> list[float]:
    """Runner process start → ``browser up``, for every runner whose log is still there."""
    found = []
    for log in (data_dir / "runners" / "logs").glob("*.log"):
        text = log.read_text(errors="replace")
        for line in text.splitlines():
            if "browser up in" in line:
                with contextlib.suppress(ValueError):
                    found.append(float(line.rsplit("browser up in", 1)[1].split()[0]))
    return found


def bench_adhoc(api: httpx.Client, lab: Lab, data_dir: Path, bots: int) -> None:
    if wait_idle(data_dir, 120) is None:
        raise RuntimeError("no warm runner after 120 s")
    joins: list[Join] = []
    for i in range(bots):
        if wait_idle(data_dir, 120) is None:
            print(f"bot {i}: no idle runner after 120 s; stopping")
            break
        j = one_join(api, lab, data_dir, timeout=60)
        joins.append(j)
        print(
            f"bot {i:2d}: {j.status:<9} joining(server)={_s(j.joining_server)} "
            f"recording(server)={_s(j.recording_server)} seen: joining={_s(j.joining_seen)} "
            f"recording={_s(j.recording_seen)} in_room={_s(j.in_room)} refill={_s(j.refill)}"
            + (f" errors={j.errors}" if j.errors else ""),
            flush=True,
        )
    ok = [j for j in joins if j.status == "recording"]
    print(f"\nad-hoc: {len(ok)}/{len(joins)} reached recording; load={load()}")
    print(summary("POST -> joining (status_changes.at)", _vals(ok, "joining_server")))
    print(summary("POST -> recording (status_changes.at)", _vals(ok, "recording_server")))
    print(summary("POST -> joining (seen by 50 ms polling)", _vals(ok, "joining_seen")))
    print(summary("POST -> recording (seen by 50 ms polling)", _vals(ok, "recording_seen")))
    print(summary("POST -> listed in the Janus room (100 ms polling)", _vals(ok, "in_room")))
    print(summary("pool refill: claim -> next idle runner", _vals(joins, "refill")))
    print(summary("  of which claim -> replacement runner spawned", _vals(joins, "claim_to_spawn")))
    print(summary("  of which runner spawned -> browser up (log)", _vals(joins, "spawn_to_up")))
    print(summary("Chromium launch inside the runner (log)", runner_warm_times(data_dir)))


def _s(value: float | None, digits: int = 2) -> str:
    return "   -  " if value is None else f"{value:5.{digits}f}s"


def _vals(joins: list[Join], name: str) -> list[float]:
    return [v for j in joins if (v := getattr(j, name)) is not None]


# --- scheduled ------------------------------------------------------------------------------


def bench_scheduled(api: httpx.Client, lab: Lab, count: int, lead: float, stagger: float) -> None:
    base = datetime.now(UTC) + timedelta(seconds=lead)
    made: list[tuple[str, datetime, int]] = []
    for i in range(count):
        room = lab.new_room()
        join_at = base + timedelta(seconds=i * stagger)
        r = api.post(
            "/api/v1/bot/",
            json={
                "meeting_url": lab.room_url(room),
                "bot_name": BOT_NAME,
                "join_at": join_at.isoformat(),
                "stop_options": HOLD,
            },
        )
        if r.status_code != 201 or r.json()["kind"] != "scheduled":
            print(f"scheduled {i}: POST {r.status_code} {r.text[:200]}")
            continue
        made.append((r.json()["id"], join_at, room))
    joining: list[float] = []
    recording: list[float] = []
    for i, (bot_id, join_at, room) in enumerate(made):
        deadline = join_at.timestamp() + 60
        bot: dict[str, Any] = {}
        while time.time() < deadline:
            bot = api.get(f"/api/v1/bot/{bot_id}/").json()
            if bot["status"] not in ("scheduled", "ready", "booting", "joining"):
                break
            time.sleep(0.2)
        j, rec = change_at(bot, "joining"), change_at(bot, "recording")
        jd = None if j is None else j - join_at.timestamp()
        rd = None if rec is None else rec - join_at.timestamp()
        if jd is not None:
            joining.append(jd)
        if rd is not None:
            recording.append(rd)
        last = (bot.get("status_changes") or [{}])[-1]
        why = "" if rec is not None else f" ({last.get('sub_code')} {last.get('sub_status')})"
        print(
            f"scheduled {i}: {bot.get('status')}{why} joining.at-join_at={_s(jd, 3)} "
            f"recording.at-join_at={_s(rd, 3)}",
            flush=True,
        )
        if bot.get("status") in ("booting", "joining", "recording"):
            api.post(f"/api/v1/bot/{bot_id}/leave_call/")
        with contextlib.suppress(Exception):
            lab.host.destroy(room)
    print(f"\nscheduled: {len(joining)}/{len(made)} joined; load={load()}")
    print(summary("joining.at - join_at", joining, 3))
    print(summary("recording.at - join_at", recording, 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bots", type=int, default=20)
    parser.add_argument("--scheduled", type=int, default=5)
    parser.add_argument("--lead", type=float, default=15.0, help="join_at this far ahead (s)")
    parser.add_argument("--stagger", type=float, default=10.0, help="between scheduled bots (s)")
    parser.add_argument("--pool", type=int, default=1, help="MEETBOT_ADHOC_POOL_SIZE")
    parser.add_argument("--max-concurrent", type=int, default=4)
    args = parser.parse_args()
    if found := problems():
        raise SystemExit("the meeting lab cannot start here: " + "; ".join(found))
    print(f"date={datetime.now(UTC).isoformat(timespec='seconds')} cpus={os.cpu_count()}")
    print(f"load before={load()}")
    with tempfile.TemporaryDirectory(prefix="mb-bench-join-") as tmp, Lab.start() as lab:
        data_dir = Path(tmp) / "data"
        env = {
            "MEETBOT_LAUNCHER": "local",
            **lab.chromium_settings,
            "MEETBOT_SELF_HOSTED_MEETING_HOSTS": MEETING_HOSTS,
            "MEETBOT_ADHOC_POOL_SIZE": str(args.pool),
            "MEETBOT_MAX_CONCURRENT_BOTS": str(args.max_concurrent),
            "MEETBOT_TIMER_UNIT_SECONDS": "1",
            "MEETBOT_HEARTBEAT_TIMEOUT": "10",
            "MEETBOT_HEARTBEAT_INTERVAL": "1",
            "MEETBOT_SCHEDULED_THRESHOLD": "5",
            "MEETBOT_DISPATCH_LEAD": "4",
            "MEETBOT_WARM_LEAD": "3",
            "MEETBOT_DEFAULT_TRANSCRIPTION_MODEL": "none",
            "MEETBOT_LOG_LEVEL": "info",  # runners log "browser up" (the READY moment)
        }
        server = start_server(data_dir, env)
        drain_output(server)
        try:
            headers = {"Authorization": f"Token {server.first_key()}"}
            with httpx.Client(base_url=server.url, headers=headers, timeout=30) as api:
                if args.bots:
                    bench_adhoc(api, lab, data_dir, args.bots)
                if args.scheduled:
                    print()
                    bench_scheduled(api, lab, args.scheduled, args.lead, args.stagger)
        finally:
            server.stop()
            kill_leftover_runners(data_dir)
    print(f"load after={load()}")


if __name__ == "__main__":
    main()
