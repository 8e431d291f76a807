"""Observer hooks (``ven_readings``, ``ven_event``) are called in pluggy's order — the plugin registered last
first — by the real collector and event engine, and a failing plugin is isolated the same way in both: one
warning naming it, the other plugins still called, later failures only counted."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest

from venclient.clock import Tick
from venclient.engine.collect import Collector
from venclient.engine.events import CREATED, EventChange, EventEngine
from venclient.hookspecs import hookimpl
from venclient.openadr import Event


class Observer:
    """A plugin that records its name in ``calls`` for both hooks, and raises when ``fails``."""

    def __init__(self, name: str, calls: list[str], *, fails: bool = False):
        self.name, self.calls, self.fails = name, calls, fails

    def _seen(self) -> None:
        self.calls.append(self.name)
        if self.fails:
            raise RuntimeError(f"{self.name} is broken")

    @hookimpl
    def ven_readings(self, tick, readings) -> None:
        self._seen()

    @hookimpl
    def ven_event(self, change, event, loads) -> None:
        self._seen()


@pytest.fixture
def observers(runtime):
    """Three observers registered in the order first, broken, last; returns the list their calls go to."""
    calls: list[str] = []
    for name, fails in (("first", False), ("broken", True), ("last", False)):
        runtime.pm.register(Observer(name, calls, fails=fails), name=name)
    return calls


async def test_ven_readings_in_pluggy_order_with_a_failing_plugin_isolated(runtime, observers, caplog):
    tick = Tick(index=0, time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    async with Collector.from_runtime(runtime) as collector:
        with caplog.at_level(logging.WARNING):
            for _ in range(3):
                await collector.collect(tick)
        assert collector.readings_hook.failures == {"broken": 3}
    assert observers == ["last", "broken", "first"] * 3
    assert _warnings_about("broken", caplog) == ["Plugin broken failed in ven_readings; the other plugins still run "
                                                 "(further failures are counted, not logged)."]


async def test_ven_event_in_pluggy_order_with_a_failing_plugin_isolated(runtime, observers, caplog):
    engine = EventEngine(runtime, transport=None, vens=[])
    changes = [EventChange(CREATED, Event(id=f"e{i}", program_id="p", event_name=f"e{i}", intervals=[]))
               for i in range(3)]
    with caplog.at_level(logging.WARNING):
        await engine.dispatch(changes)
    assert observers == ["last", "broken", "first"] * 3
    assert _warnings_about("broken", caplog) == ["Plugin broken failed in ven_event; the other plugins still run "
                                                 "(further failures are counted, not logged)."]
    assert engine.event_hook.failures == {"broken": 3}


def _warnings_about(plugin: str, caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and plugin in r.getMessage()]
