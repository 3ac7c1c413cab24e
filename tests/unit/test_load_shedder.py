"""The load shedder's queue: a slot, a bounded wait, hand-over in arrival order, and exempt
paths. An application that finishes only when told holds its slot; nothing is timed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from meetbot.control.api.load_shedder import DETAIL, LoadShedder, LoopLag


class HeldApp:
    """Answers 200 once its request's event is set."""

    def __init__(self) -> None:
        self.release: dict[str, asyncio.Event] = {}
        self.started: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = scope["path"]
        self.started.append(name)
        await self.release.setdefault(name, asyncio.Event()).wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def finish(self, name: str) -> None:
        self.release.setdefault(name, asyncio.Event()).set()


async def call(shedder: LoadShedder, path: str) -> tuple[int, dict[str, str], Any]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await shedder({"type": "http", "path": path, "headers": []}, receive, send)
    headers = {k.decode(): v.decode() for k, v in sent[0].get("headers", [])}
    body = sent[1].get("body", b"")
    return sent[0]["status"], headers, json.loads(body) if body else None


async def test_beyond_the_limit_a_request_waits_and_takes_the_freed_slot() -> None:
    app = HeldApp()
    shedder = LoadShedder(app, max_in_flight=1, max_queue_wait=60)
    first = asyncio.create_task(call(shedder, "/api/a"))
    second = asyncio.create_task(call(shedder, "/api/b"))
    third = asyncio.create_task(call(shedder, "/api/c"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert app.started == ["/api/a"]
    assert shedder.in_flight == 1
    app.finish("/api/a")
    assert (await first)[0] == 200
    await asyncio.sleep(0)
    assert app.started == ["/api/a", "/api/b"]  # in arrival order
    app.finish("/api/b")
    app.finish("/api/c")
    assert (await second)[0] == 200
    assert (await third)[0] == 200
    assert shedder.in_flight == 0


async def test_a_request_that_gets_no_slot_in_time_is_shed() -> None:
    app = HeldApp()
    shedder = LoadShedder(app, max_in_flight=1, max_queue_wait=0.01)
    first = asyncio.create_task(call(shedder, "/api/a"))
    await asyncio.sleep(0)
    status, headers, body = await call(shedder, "/api/b")
    assert status == 503
    assert headers["retry-after"] == "1"
    assert body == {"code": "service_unavailable", "detail": DETAIL}
    assert app.started == ["/api/a"]
    app.finish("/api/a")
    assert (await first)[0] == 200
    assert shedder.in_flight == 0
    assert shedder.waiting == 0  # the shed one left no waiter behind


async def test_a_waiter_whose_client_leaves_frees_its_place() -> None:
    app = HeldApp()
    shedder = LoadShedder(app, max_in_flight=1, max_queue_wait=60)
    first = asyncio.create_task(call(shedder, "/api/a"))
    await asyncio.sleep(0)
    gone = asyncio.create_task(call(shedder, "/api/b"))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    app.finish("/api/a")
    await first
    assert shedder.in_flight == 0
    assert shedder.waiting == 0


async def test_health_and_the_runner_channel_are_never_shed() -> None:
    app = HeldApp()
    shedder = LoadShedder(app, max_in_flight=1, max_queue_wait=0)
    first = asyncio.create_task(call(shedder, "/api/a"))
    await asyncio.sleep(0)
    for path in ("/health", "/internal/bots/x/events", "/media/k"):
        app.finish(path)
        assert (await call(shedder, path))[0] == 200
    assert (await call(shedder, "/api/b"))[0] == 503
    app.finish("/api/a")
    await first


async def test_zero_turns_it_off() -> None:
    app = HeldApp()
    shedder = LoadShedder(app, max_in_flight=0, max_queue_wait=0)
    tasks = [asyncio.create_task(call(shedder, f"/api/{i}")) for i in range(5)]
    await asyncio.sleep(0)
    assert len(app.started) == 5
    for i in range(5):
        app.finish(f"/api/{i}")
    assert [t[0] for t in await asyncio.gather(*tasks)] == [200] * 5


async def test_under_pressure_slow_answers_lower_the_limit_to_a_quarter() -> None:
    app = HeldApp()
    shedder = LoadShedder(app, max_in_flight=2, max_queue_wait=0.001)
    assert shedder.floor == 1
    first = asyncio.create_task(call(shedder, "/api/a"))
    second = asyncio.create_task(call(shedder, "/api/b"))
    await asyncio.sleep(0)
    assert (await call(shedder, "/api/c"))[0] == 503  # pressure
    await asyncio.sleep(0.01)  # /api/a takes longer than max_queue_wait
    app.finish("/api/a")
    await first
    assert shedder.limit < 2
    assert (await call(shedder, "/api/d"))[0] == 503  # one slot now, and /api/b holds it
    app.finish("/api/b")
    await second
    app.finish("/api/e")
    assert (await call(shedder, "/api/e"))[0] == 200
    assert LoadShedder(app, max_in_flight=16, max_queue_wait=0.05).floor == 4


async def test_without_pressure_a_slow_answer_changes_nothing() -> None:
    app = HeldApp()
    shedder = LoadShedder(app, max_in_flight=2, max_queue_wait=0.001)
    first = asyncio.create_task(call(shedder, "/api/a"))
    await asyncio.sleep(0.01)
    app.finish("/api/a")
    await first
    assert shedder.limit == 2


async def test_the_loop_lag_sampler_stops_when_nobody_asks() -> None:
    from meetbot.control.api.load_shedder import LoopLag

    lag = LoopLag(interval=0.001, idle=0.01)
    assert lag.current() == 0.0
    for _ in range(200):  # stops after 10 ms without a question
        await asyncio.sleep(0.005)
        if lag._loop is None:
            break
    assert lag._loop is None
    lag.current()  # asked again: sampling again
    assert lag._loop is asyncio.get_running_loop()


class FixedLag(LoopLag):
    """A loop lag that is what the test says."""

    def __init__(self, lag: float) -> None:
        super().__init__()
        self.lag = lag

    def current(self) -> float:
        return self.lag


async def test_a_flood_with_the_loop_behind_is_shed_even_with_a_free_slot() -> None:
    app = HeldApp()
    lag = FixedLag(0.0)
    shedder = LoadShedder(app, max_in_flight=8, max_queue_wait=0.05, loop_lag=lag)
    held = [asyncio.create_task(call(shedder, f"/api/{n}")) for n in range(4)]
    await asyncio.sleep(0)
    lag.lag = 0.03  # behind by more than half the queue wait
    status, _, body = await asyncio.wait_for(call(shedder, "/api/flooded"), 5)
    assert status == 503  # four in flight: half of eight
    assert body["code"] == "service_unavailable"
    assert app.started == [f"/api/{n}" for n in range(4)]
    lag.lag = 0.01
    third = asyncio.create_task(call(shedder, "/api/caught-up"))
    await asyncio.sleep(0)
    assert app.started[-1] == "/api/caught-up"
    for name in ("/api/0", "/api/1", "/api/2", "/api/3", "/api/caught-up"):
        app.finish(name)
    assert [(await t)[0] for t in (*held, third)] == [200] * 5


async def test_a_slow_machine_with_few_requests_is_never_shed_for_its_lag() -> None:
    """A browser's six parallel requests on a machine far behind are all taken."""
    app = HeldApp()
    shedder = LoadShedder(app, max_in_flight=16, max_queue_wait=0.05, loop_lag=FixedLag(5.0))
    names = [f"/api/{n}" for n in range(6)]
    tasks = [asyncio.create_task(call(shedder, name)) for name in names]
    await asyncio.sleep(0)
    assert app.started == names
    for name in names:
        app.finish(name)
    assert [(await t)[0] for t in tasks] == [200] * 6
