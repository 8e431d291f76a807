"""`ven run` carries a scheduled event out at its interval boundaries: the local VTN, an MQTT writer on a real
broker, the wall clock.  Three 2 s intervals (SIMPLE 1, 2, 3 mapped through a `levels` table) reach the command
topic at their starts and the release value at the end; a run restarted in the middle writes only the interval
active then, once."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

from venclient.engine.run import VenRunner
from venclient.hookspecs import hookimpl
from venclient.model import Connection
from venclient.openadr import Event, Interval, IntervalPeriod, ValuesMap
from venclient.plugins.local_vtn import DEMO_PROGRAM
from fixtures.run import amake_run_env, run_options

TOPIC = "dr/relay"
LEVELS = {"0": 0, "1": 10, "2": 20, "3": 30}
TOLERANCE = 0.5  # seconds


class IntervalRecorder:
    """``ven_event_interval``: records ``(phase, event id, interval id, loads, opted out?)``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int, int, bool]] = []

    @hookimpl
    def ven_event_interval(self, phase, event, interval, loads, opted_out):
        self.calls.append((phase, event.id, interval.id, len(loads), bool(opted_out)))


class Arrivals:
    """What the MQTT peer received on the command topic, with the wall-clock second each message was first seen."""

    def __init__(self, peer) -> None:
        self.peer = peer
        self.seen: list[tuple[str, float]] = []

    def poll(self) -> None:
        messages = [m for m in self.peer.received() if m[0] == TOPIC]
        for topic, payload, _retained in messages[len(self.seen):]:
            self.seen.append((payload.decode(), time.time()))

    async def wait_for(self, count: int, timeout: float) -> list[tuple[str, float]]:
        deadline = time.monotonic() + timeout
        while len(self.seen) < count and time.monotonic() < deadline:
            self.poll()
            await asyncio.sleep(0.01)
        return self.seen


def three_interval_event(program_id: str, start: datetime, target: str) -> Event:
    return Event(program_id=program_id, event_name="scheduled-shed", priority=1,
                 interval_period=IntervalPeriod(start=start, duration="PT2S"),
                 targets=[ValuesMap(type="RESOURCE_NAME", values=[target])],
                 intervals=[Interval(id=n, payloads=[ValuesMap(type="SIMPLE", values=[level])])
                            for n, level in enumerate((1, 2, 3))])


async def start(env) -> tuple[VenRunner, asyncio.Task]:
    runner = VenRunner(env.runtime, run_options(env.runtime, interval_seconds=1.0, speed=1.0, poll_seconds=3600.0))
    return runner, asyncio.create_task(runner.run())


async def stop(runner: VenRunner, task: asyncio.Task) -> None:
    runner.stop()
    await asyncio.wait_for(task, 30)


async def test_three_intervals_reach_the_command_topic_at_their_starts_and_a_restart_writes_only_the_current(
        tmp_path, local_vtn, contract, mqtt_broker, mqtt_peer, bl_transport):
    env = await amake_run_env(tmp_path, local_vtn, contract, **{"clock.mode": "wallclock"})
    recorder = IntervalRecorder()
    env.runtime.pm.register(recorder, name="test-intervals")
    try:
        target = env.store.list_loads(ven=env.vens[0])[0].resource_id
        env.store.connect_resources([target], Connection(
            id=None, type="mqtt", actortype="writer", host=mqtt_broker.host, port=mqtt_broker.port,
            params={"command_topic": TOPIC, "payload_template": "{value:g}", "levels": LEVELS, "release_value": 0,
                    "loads": ["load_1"]}))
        mqtt_peer.subscribe(TOPIC)
        arrivals = Arrivals(mqtt_peer)
        program = await bl_transport.find_program(DEMO_PROGRAM)
        t0 = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=4)
        event = await bl_transport.create_event(three_interval_event(program.id, t0, target))
        first = await start(env)
        try:
            seen = await arrivals.wait_for(2, timeout=10)  # "10" at t0, "20" at t0 + 2
            assert [payload for payload, _ in seen] == ["10", "20"], seen
        finally:
            await stop(*first)
        stopped_at = time.time()
        assert stopped_at < t0.timestamp() + 3.2, "the first run took too long to stop"
        second = await start(env)
        try:
            seen = await arrivals.wait_for(5, timeout=10)  # the restart: "20" again at once, then "30", "0"
        finally:
            await stop(*second)
        arrivals.poll()
        assert [payload for payload, _ in arrivals.seen] == ["10", "20", "20", "30", "0"], arrivals.seen
        begin = t0.timestamp()
        for (payload, at), due in zip([arrivals.seen[i] for i in (0, 1, 3, 4)], (0, 2, 4, 6)):
            assert abs(at - (begin + due)) <= TOLERANCE, (payload, at - begin)
        assert stopped_at <= arrivals.seen[2][1] < begin + 4  # written again by the new run, before the third
        # the hook: starts and ends of each interval, the restart starting the current one again
        mine = [(phase, interval) for phase, event_id, interval, loads, opted in recorder.calls
                if event_id == event.id]
        assert mine == [("start", 0), ("end", 0), ("start", 1), ("start", 1), ("end", 1), ("start", 2),
                        ("end", 2)]
        assert all(loads == 6 and not opted for _p, _e, _i, loads, opted in recorder.calls)
    finally:
        env.runtime.close()
