"""The MQTT meter source (kind ``mqtt``).

``open(batch)`` resolves each load's channel (topic + payload preset), gives every distinct feed a slot,
starts one client per broker and subscribes.  Messages are parsed on arrival (in paho's thread) and
stored per slot with their arrival time; retained messages count like any other.  ``read(tick)`` is a
numpy gather over the slots: never-seen feeds are ``QUALITY_MISSING`` (NaN), feeds older than
``stale_after_seconds`` are ``QUALITY_STALE`` (the last value is kept), the rest ``QUALITY_OK``.
An unparsable payload is counted and logged once per topic; it never raises.  A channel with an energy path
(the tasmota and zigbee2mqtt presets, or ``energy_path``) also keeps the meter register of the message that
carried the power: after ``read`` it is in :attr:`MqttMeterSource.energy_register_kwh` (kWh,
:class:`venclient.protocols.HasRegisterReading`), NaN where that message had none or the value is not OK.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from venclient.errors import InputError
from venclient.model import LOAD_COMPONENTS, QUALITY_MISSING, QUALITY_OK, QUALITY_STALE, WRITER, Connection
from venclient.protocols import LoadBatch, SourceReading, parsed_connections
from venclient.plugins.mqtt_meter.broker import BrokerClient, connect_once, stop_client
from venclient.plugins.mqtt_meter.options import MqttOptions
from venclient.plugins.mqtt_meter.params import KIND, BrokerAddress, Channel, MqttTarget, parse_reader, parse_writer
from venclient.plugins.mqtt_meter.presets import FieldAbsent, extract_values, extract_watts
from venclient.plugins.mqtt_meter.table import LatestValues

log = logging.getLogger(__name__)

COMPONENT_NAMES: tuple[str, ...] = tuple(LOAD_COMPONENTS)
PARSE_ERRORS = (ValueError, TypeError, UnicodeDecodeError, json.JSONDecodeError)
RETAINED_SETTLE_SECONDS = 0.2  # retained messages follow the subscription's acknowledgement


@dataclass(frozen=True)
class _Routing:
    """Which feeds a message on ``(broker, topic)`` serves, their slots, and the table (swapped as one)."""

    routes: dict[tuple[BrokerAddress, str], list[Channel]]
    table: LatestValues
    slot_keys: dict[tuple[BrokerAddress, Channel], int]


class MqttMeterSource:
    """Reads power from MQTT topics (Tasmota, Shelly, Zigbee2MQTT, dsmr-reader, any JSON); see the README."""

    kinds: tuple[str, ...] = (KIND,)

    def __init__(self, options: MqttOptions | None = None, settings: Any = None):
        self.options = options or MqttOptions()
        self._settings = settings
        self._routing = _Routing({}, LatestValues(0), {})
        self._brokers: dict[BrokerAddress, BrokerClient] = {}
        self._load_slots = np.empty(0, dtype=np.intp)   # slot per load, -1 = no channel
        self._stale_after = np.empty(0)                 # seconds per load
        self._reported_bad: set[int] = set()
        self._unparsable: Counter[str] = Counter()
        self._counter_lock = threading.Lock()
        self._swap_lock = threading.Lock()
        self._has_registers = False
        self.energy_register_kwh: np.ndarray | None = None  # HasRegisterReading: kWh per load after read()

    # ------------------------------------------------------------------ contract extras
    def validate_connection(self, connection: Connection) -> None:
        """Raise InputError (one sentence) when the connection's options are unusable."""
        (parse_writer if connection.actortype == WRITER else parse_reader)(connection)

    async def test_read(self, connection: Connection) -> dict[str, float | None]:
        """Subscribe once and wait up to ``test_wait_seconds`` for each channel: ``{load: watts or None}``.

        Retained values arrive at once; a device that publishes every few minutes may give ``None``.
        An unreachable broker or a refused login raises InputError.
        """
        target = parse_reader(connection)
        return await asyncio.to_thread(self._probe, target)

    async def wait_ready(self, timeout: float, settle: float = RETAINED_SETTLE_SECONDS) -> bool:
        """Wait up to ``timeout`` seconds until every broker is connected and subscribed (False if not), then
        ``settle`` seconds more for the retained messages a broker sends right after acknowledging."""
        brokers = list(self._brokers.values())

        def wait_all() -> bool:
            deadline = time.monotonic() + timeout
            return all(b.wait_ready(max(0.0, deadline - time.monotonic())) for b in brokers)

        ready = await asyncio.to_thread(wait_all)
        if ready and brokers and settle > 0:
            await asyncio.sleep(settle)
        return ready

    def messages_received(self) -> int:
        """Messages delivered by all brokers since their clients started (a statistic)."""
        return sum(b.messages_received for b in list(self._brokers.values()))

    def unparsable_counts(self) -> dict[str, int]:
        """How many unparsable payloads arrived per topic since the source was created."""
        with self._counter_lock:
            return dict(self._unparsable)

    # ------------------------------------------------------------------ MeterSource
    async def open(self, batch: LoadBatch) -> None:
        """Give each load a slot, (re)start broker clients and subscribe; keeps values of kept feeds."""
        targets = self._targets(batch)
        slot_keys: dict[tuple[BrokerAddress, Channel], int] = {}
        routes: dict[tuple[BrokerAddress, str], list[Channel]] = {}
        load_slots = np.full(len(batch), -1, dtype=np.intp)
        stale_after = np.full(len(batch), self.options.stale_after_seconds)
        topics: dict[BrokerAddress, dict[str, int]] = {}
        for position, (connection_id, component) in enumerate(zip(batch.connection_ids, batch.components)):
            target = targets.get(int(connection_id))
            channel = target.channels.get(COMPONENT_NAMES[int(component)]) if target is not None else None
            if target is None or channel is None:
                continue  # no channel: this load reports nothing
            key = (target.broker, channel)
            if key not in slot_keys:
                slot_keys[key] = len(slot_keys)
                routes.setdefault((target.broker, channel.topic), []).append(channel)
            load_slots[position] = slot_keys[key]
            if target.stale_after_seconds is not None:
                stale_after[position] = target.stale_after_seconds
            qos = self.options.qos if target.qos is None else target.qos
            wanted = topics.setdefault(target.broker, {})
            wanted[channel.topic] = max(qos, wanted.get(channel.topic, 0))

        table = LatestValues(len(slot_keys))
        with self._swap_lock:  # no message may land in the old table after its values were copied
            old = self._routing
            kept = [(old.slot_keys[k], s) for k, s in slot_keys.items() if k in old.slot_keys]
            if kept:
                old_slots, new_slots = (np.array(x, dtype=np.intp) for x in zip(*kept))
                table.carry_over(old.table, old_slots, new_slots)
            self._routing = _Routing(routes, table, slot_keys)
        self._load_slots, self._stale_after = load_slots, stale_after
        self._has_registers = any(channel.energy_path for _, channel in slot_keys)
        self.energy_register_kwh = None
        await asyncio.to_thread(self._sync_brokers, topics)

    async def read(self, tick: Any = None) -> SourceReading:
        """Latest watts per load with OK / STALE / MISSING quality; O(loads) numpy work, never raises."""
        slots = self._load_slots
        has_slot = slots >= 0
        watts = np.full(len(slots), np.nan)
        arrived = np.full(len(slots), np.nan)
        kwh = np.full(len(slots), np.nan)
        if has_slot.any():
            watts[has_slot], arrived[has_slot], kwh[has_slot] = self._routing.table.gather(slots[has_slot])
        age = time.monotonic() - arrived
        quality = np.full(len(slots), QUALITY_OK, dtype=np.uint8)
        quality[age > self._stale_after] = QUALITY_STALE
        quality[np.isnan(watts)] = QUALITY_MISSING
        self.energy_register_kwh = np.where(quality == QUALITY_OK, kwh, np.nan) if self._has_registers else None
        return SourceReading(power_w=watts, quality=quality)

    async def close(self) -> None:
        """Stop every broker client."""
        await asyncio.to_thread(self._sync_brokers, {})
        self._routing = _Routing({}, LatestValues(0), {})
        self._load_slots, self._stale_after = np.empty(0, dtype=np.intp), np.empty(0)
        self._has_registers, self.energy_register_kwh = False, None

    # ------------------------------------------------------------------ internals
    def _targets(self, batch: LoadBatch) -> dict[int, MqttTarget]:
        """Parsed reader connections of the batch; a bad one is logged once and its loads stay missing."""
        return parsed_connections(batch, self.kinds, parse_reader, self._reported_bad, log)

    def _sync_brokers(self, topics: dict[BrokerAddress, dict[str, int]]) -> None:
        """Start clients for new brokers, update subscriptions, stop clients no longer needed (blocking)."""
        for address in [a for a in self._brokers if a not in topics]:
            self._brokers.pop(address).stop()
        for address, wanted in topics.items():
            client = self._brokers.get(address)
            if client is None:
                client = BrokerClient(address, self.options, self._settings,
                                      lambda topic, payload, arrived, a=address: self._ingest(a, topic, payload, arrived))
                try:
                    client.start()
                except InputError as err:
                    log.warning("%s Its loads report no value.", err)
                    continue
                self._brokers[address] = client
            client.set_topics(wanted)

    def _ingest(self, broker: BrokerAddress, topic: str, payload: bytes, arrived: float) -> None:
        """Parse one message for every feed its topic serves and store the values (MQTT thread)."""
        routing = self._routing
        parsed: list[tuple[Channel, tuple[float, float]]] = []
        for channel in routing.routes.get((broker, topic), ()):
            try:
                parsed.append((channel, extract_values(payload, channel.path, channel.scale, channel.energy_path,
                                                       channel.energy_scale)))
            except FieldAbsent:
                continue
            except PARSE_ERRORS as err:
                self._count_unparsable(topic, channel, payload, err)
        if not parsed:
            return
        with self._swap_lock:
            routing = self._routing  # re-read: open() may have swapped tables while we parsed
            for channel, (watts, kwh) in parsed:
                slot = routing.slot_keys.get((broker, channel))
                if slot is not None:
                    routing.table.put(slot, watts, arrived, kwh)

    def _count_unparsable(self, topic: str, channel: Channel, payload: bytes, err: Exception) -> None:
        with self._counter_lock:
            self._unparsable[topic] += 1
            first = self._unparsable[topic] == 1
        if first:
            log.warning("MQTT topic %s: payload %r is not %s power (%s); such payloads are counted and skipped "
                        "(logged once per topic).", topic, payload[:80], channel.preset, err)

    def _probe(self, target: MqttTarget) -> dict[str, float | None]:
        """Blocking part of :meth:`test_read`."""
        values: dict[str, float | None] = {name: None for name in target.channels}
        done = threading.Event()
        lock = threading.Lock()

        def on_message(_client: Any, _userdata: Any, message: Any) -> None:
            for name, channel in target.channels.items():
                if channel.topic != message.topic:
                    continue
                try:
                    watts = extract_watts(message.payload, channel.path, channel.scale)
                except (FieldAbsent, *PARSE_ERRORS):
                    continue
                with lock:
                    values[name] = watts
                    if all(v is not None for v in values.values()):
                        done.set()

        client = connect_once(target.broker, self.options, self._settings, "test")
        try:
            client.on_message = on_message
            qos = self.options.qos if target.qos is None else target.qos
            client.subscribe([(topic, qos) for topic in {c.topic for c in target.channels.values()}])
            done.wait(self.options.test_wait_seconds)
        finally:
            stop_client(client)
        with lock:
            return dict(values)
