"""Benchmark the hardware sources on loopback; prints, last, one JSON line.

* ``modbus_tick_ms`` — median time of one ``ModbusMeterSource.read()`` for 50 SDM630 meters (unit ids
  1–50, four loads each: total + three phases, one block read per meter, which also holds the total's import
  energy register) on one pymodbus TCP server running in a separate process.  Every tick's values (watts and
  the register's kWh) are checked against what the server holds.
* ``mqtt_msgs_per_s`` — ingestion rate of ``MqttMeterSource``: a publisher in a separate process sends
  ``--messages`` Tasmota-style JSON messages round-robin over ``--topics`` topics (QoS 0, the last one per
  topic QoS 1); the clock runs from the publisher's start until ``read()`` shows the last value of every
  topic, which is then verified.  Rate = messages the source received / elapsed time.

Run: ``.venv/bin/python tests/benchmarks/bench_hardware.py [--meters 50] [--ticks 50] [--topics 400]
[--messages 40000]``.  The broker is mosquitto when installed, else amqtt in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parents[2]
for entry in (str(ROOT), str(ROOT / "tests")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

import numpy as np  # noqa: E402

from venclient.model import QUALITY_OK, Connection  # noqa: E402
from fixtures.hardware import MqttBroker, ModbusMeterServer, make_batch  # noqa: E402
from venclient.plugins.modbus_meter.options import ModbusOptions  # noqa: E402
from venclient.plugins.mqtt_meter.options import MqttOptions  # noqa: E402


def meter_watts(unit: int) -> tuple[float, tuple[float, float, float]]:
    """The values meter ``unit`` shows in the benchmark (exact in float32)."""
    return unit * 100.0 + 0.5, (unit + 0.25, unit + 0.5, unit + 0.75)


def meter_kwh(unit: int) -> float:
    """The import energy register meter ``unit`` shows (exact in float32)."""
    return unit * 1000.0 + 0.125


# ------------------------------------------------------------------------------------------ Modbus
def _serve_modbus(units: int, port_out: "mp.Queue[int]", stop: "mp.Event") -> None:  # type: ignore[valid-type]
    server = ModbusMeterServer(units=range(1, units + 1)).start()
    for unit in range(1, units + 1):
        total, phases = meter_watts(unit)
        server.set_power(unit, total, phases=phases)
        server.set_import_energy(unit, meter_kwh(unit))
    port_out.put(server.port)
    stop.wait(600)
    server.stop()


async def bench_modbus(meters: int, ticks: int) -> dict[str, float]:
    from venclient.plugins.modbus_meter.source import ModbusMeterSource

    ctx = mp.get_context("spawn")
    port_queue: mp.Queue[int] = ctx.Queue()
    stop = ctx.Event()
    process = ctx.Process(target=_serve_modbus, args=(meters, port_queue, stop), daemon=True)
    process.start()
    try:
        port = port_queue.get(timeout=60)
        rows = []
        for unit in range(1, meters + 1):
            conn = Connection(id=unit, type="modbustcp", host="127.0.0.1", port=port, params={
                "unit": unit, "channels": {"load_0": "total_power", "load_1": "l1_power",
                                           "load_2": "l2_power", "load_3": "l3_power"}})
            rows += [(f"site-{unit:03d}", c, conn) for c in range(4)]
        expected = np.array([v for u in range(1, meters + 1) for v in (meter_watts(u)[0], *meter_watts(u)[1])])
        kwh = np.array([v for u in range(1, meters + 1) for v in (meter_kwh(u), np.nan, np.nan, np.nan)])
        source = ModbusMeterSource(ModbusOptions(timeout_seconds=2.0))
        await source.open(make_batch(rows))
        try:
            for _ in range(5):  # warm-up
                await source.read(None)
            durations = []
            for _ in range(ticks):
                start = time.perf_counter()
                reading = await source.read(None)
                durations.append((time.perf_counter() - start) * 1000)
                if not (reading.quality == QUALITY_OK).all() or not np.array_equal(reading.power_w, expected) \
                        or not np.array_equal(source.energy_register_kwh, kwh, equal_nan=True):
                    raise SystemExit("Modbus benchmark read wrong values")
        finally:
            await source.close()
    finally:
        stop.set()
        process.join(30)
    durations.sort()
    return {
        "modbus_tick_ms": round(statistics.median(durations), 3),
        "modbus_tick_ms_p95": round(durations[int(0.95 * (len(durations) - 1))], 3),
        "modbus_meters": meters,
        "modbus_loads": len(rows),
    }


# ------------------------------------------------------------------------------------------ MQTT
def _publish(port: int, topics: int, messages: int, go: "mp.Event", done: "mp.Event") -> None:  # type: ignore[valid-type]
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    go.wait(120)
    rounds = messages // topics
    last = None
    for n in range(rounds):
        final = n == rounds - 1
        for t in range(topics):
            payload = json.dumps({"Time": "2025-01-15T13:00:00", "ENERGY": {"Power": t * 1000 + n}})
            last = client.publish(f"bench/t{t}/SENSOR", payload, qos=1 if final else 0)
    if last is not None:
        last.wait_for_publish(120)
    done.wait(300)
    client.disconnect()
    client.loop_stop()


async def bench_mqtt(topics: int, messages: int) -> dict[str, float | str]:
    from venclient.plugins.mqtt_meter.source import MqttMeterSource

    rounds = messages // topics
    with tempfile.TemporaryDirectory() as workdir:
        broker = MqttBroker(Path(workdir)).start()
        ctx = mp.get_context("spawn")
        go, done = ctx.Event(), ctx.Event()
        publisher = ctx.Process(target=_publish, args=(broker.port, topics, rounds * topics, go, done), daemon=True)
        source = MqttMeterSource(MqttOptions(qos=1))
        try:
            rows = [(f"site-{t:04d}", 0, Connection(id=t + 1, type="mqtt", host=broker.host, port=broker.port,
                                                    topic=f"bench/t{t}/SENSOR", params={"preset": "tasmota"}))
                    for t in range(topics)]
            await source.open(make_batch(rows))
            if not await source.wait_ready(30):
                raise SystemExit("MQTT source did not subscribe")
            publisher.start()
            await asyncio.sleep(1.0)  # let the publisher connect
            expected = np.array([t * 1000.0 + rounds - 1 for t in range(topics)])
            start = time.perf_counter()
            go.set()
            deadline = start + 300
            while True:
                reading = await source.read(None)
                if np.array_equal(reading.power_w, expected):
                    break
                if time.perf_counter() > deadline:
                    raise SystemExit("MQTT benchmark: the last values never all arrived")
                await asyncio.sleep(0.001)
            elapsed = time.perf_counter() - start
            received = source.messages_received()
        finally:
            done.set()
            if publisher.pid is not None:
                publisher.join(30)
            await source.close()
            broker.stop()
    return {
        "mqtt_msgs_per_s": round(received / elapsed, 1),
        "mqtt_messages_sent": rounds * topics,
        "mqtt_messages_received": received,
        "mqtt_topics": topics,
        "mqtt_broker": broker.backend,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=50)
    parser.add_argument("--ticks", type=int, default=50)
    parser.add_argument("--topics", type=int, default=400)
    parser.add_argument("--messages", type=int, default=40000)
    args = parser.parse_args()
    result: dict[str, float | str] = {}
    modbus = await bench_modbus(args.meters, args.ticks)
    print(f"modbus: {args.meters} meters, {modbus['modbus_loads']} loads, median tick "
          f"{modbus['modbus_tick_ms']} ms (p95 {modbus['modbus_tick_ms_p95']} ms)", flush=True)
    result.update(modbus)
    mqtt = await bench_mqtt(args.topics, args.messages)
    print(f"mqtt: {mqtt['mqtt_messages_received']} of {mqtt['mqtt_messages_sent']} messages over "
          f"{args.topics} topics via {mqtt['mqtt_broker']}: {mqtt['mqtt_msgs_per_s']} msg/s, last values right",
          flush=True)
    result.update(mqtt)
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
