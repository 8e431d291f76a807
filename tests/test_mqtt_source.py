"""The MQTT source and writer against a real broker on loopback (mosquitto, or amqtt when missing)."""

from __future__ import annotations

import asyncio
import json
import logging

import numpy as np
import pytest

from venclient.errors import InputError
from venclient.model import QUALITY_MISSING, QUALITY_OK, QUALITY_STALE, Connection, Load
from venclient.runtime import Runtime
from fixtures.core import make_settings
from fixtures.hardware import free_port, make_batch, read_until, wait_for
from venclient.plugins.mqtt_meter.options import MqttOptions
from venclient.plugins.mqtt_meter.source import MqttMeterSource
from venclient.plugins.mqtt_meter.writer import MqttWriter

FAST = MqttOptions(backoff_min_seconds=0.05, backoff_max_seconds=0.5, connect_timeout_seconds=3,
                   test_wait_seconds=1.0)
READY_S = 10.0

# preset → (topic the connection names, topic the device publishes on, payload, watts expected)
DEVICES = {
    "tasmota": ("plug1", "tele/plug1/SENSOR",
                json.dumps({"Time": "2025-01-15T13:00:00", "ENERGY": {"Total": 12.3, "Power": 118, "Voltage": 231}}),
                118.0),
    "shelly_gen1": ("shellies/shellyem-A1B2/emeter/1/power", "shellies/shellyem-A1B2/emeter/1/power", "231.45",
                    231.45),
    "shelly_gen2": ("shellypro3em-01", "shellypro3em-01/status/em:0",
                    json.dumps({"id": 0, "a_act_power": 100.5, "b_act_power": 100.0, "c_act_power": 101.0,
                                "total_act_power": 301.5}), 301.5),
    "zigbee2mqtt": ("fridge", "zigbee2mqtt/fridge",
                    json.dumps({"power": 64.2, "state": "ON", "linkquality": 87}), 64.2),
    "dsmr": (None, "dsmr/reading/electricity_currently_delivered", "0.352", 352.0),
}


def connection(broker, connection_id: int, topic: str | None, **params) -> Connection:
    return Connection(id=connection_id, type="mqtt", host=broker.host, port=broker.port, topic=topic,
                      params=params)


@pytest.fixture
async def source():
    src = MqttMeterSource(FAST)
    yield src
    await src.close()


async def open_ready(source: MqttMeterSource, batch) -> None:
    await source.open(batch)
    assert await source.wait_ready(READY_S)


@pytest.mark.parametrize("preset", list(DEVICES))
async def test_each_preset(preset, mqtt_broker, mqtt_peer, source):
    topic, device_topic, payload, watts = DEVICES[preset]
    conn = connection(mqtt_broker, 1, topic, preset=preset)
    await open_ready(source, make_batch([("site", 0, conn), ("site", 1, conn)]))
    mqtt_peer.publish(device_topic, payload)
    reading = await read_until(source, lambda r: r.quality[0] == QUALITY_OK)
    assert reading.power_w[0] == pytest.approx(watts)
    assert reading.quality[1] == QUALITY_MISSING and np.isnan(reading.power_w[1])  # no channel for load_1


async def test_json_preset_with_path_and_scale_and_channels_per_load(mqtt_broker, mqtt_peer, source):
    conn = connection(mqtt_broker, 1, None, preset="json", channels={
        "load_0": {"topic": "site/meter", "path": "data.p_kw", "scale": 1000},
        "load_2": {"topic": "heatpump", "preset": "zigbee2mqtt"},
        "load_4": {"topic": "site/meter", "path": "data.lights"}})
    await open_ready(source, make_batch([("site", c, conn) for c in range(6)]))
    mqtt_peer.publish("site/meter", json.dumps({"data": {"p_kw": 1.25, "lights": 40}}))
    mqtt_peer.publish("zigbee2mqtt/heatpump", json.dumps({"power": 900}))
    reading = await read_until(source, lambda r: (r.quality[[0, 2, 4]] == QUALITY_OK).all())
    np.testing.assert_array_equal(reading.power_w, [1250.0, np.nan, 900.0, np.nan, 40.0, np.nan])


async def test_retained_messages_count(mqtt_broker, mqtt_peer, source):
    mqtt_peer.publish("tele/plug7/SENSOR", json.dumps({"ENERGY": {"Power": 77}}), retain=True)
    await source.open(make_batch([("bar", 0, connection(mqtt_broker, 1, "plug7", preset="tasmota"))]))
    reading = await read_until(source, lambda r: r.quality[0] == QUALITY_OK)
    assert reading.power_w[0] == 77.0


async def test_latest_value_wins_across_many_messages(mqtt_broker, mqtt_peer, source):
    conns = [connection(mqtt_broker, i, f"meters/m{i}") for i in range(1, 6)]
    await open_ready(source, make_batch([(f"r{i}", 0, c) for i, c in enumerate(conns, start=1)]))
    for value in range(50):
        for i in range(1, 6):
            mqtt_peer.publish(f"meters/m{i}", str(i * 1000 + value), qos=0)
    mqtt_peer.publish("meters/m1", "1049")  # a QoS-1 marker: everything before it has been delivered
    reading = await read_until(source, lambda r: list(r.power_w) == [i * 1000 + 49.0 for i in range(1, 6)])
    assert list(reading.power_w) == [i * 1000 + 49.0 for i in range(1, 6)]


async def test_staleness(mqtt_broker, mqtt_peer, source):
    conn = connection(mqtt_broker, 1, "meters/slow", stale_after_seconds=0.3)
    await open_ready(source, make_batch([("r", 0, conn)]))
    mqtt_peer.publish("meters/slow", "500")
    reading = await read_until(source, lambda r: r.quality[0] == QUALITY_OK)
    assert reading.power_w[0] == 500.0
    reading = await read_until(source, lambda r: r.quality[0] == QUALITY_STALE)
    assert reading.quality[0] == QUALITY_STALE and reading.power_w[0] == 500.0  # last value kept, flagged
    mqtt_peer.publish("meters/slow", "510")
    reading = await read_until(source, lambda r: r.quality[0] == QUALITY_OK)
    assert reading.power_w[0] == 510.0


async def test_broker_restart_values_come_back(mqtt_broker, mqtt_peer, source):
    conn = connection(mqtt_broker, 1, "plug9", preset="tasmota")
    await open_ready(source, make_batch([("r", 0, conn)]))
    mqtt_peer.publish("tele/plug9/SENSOR", json.dumps({"ENERGY": {"Power": 10}}))
    assert (await read_until(source, lambda r: r.power_w[0] == 10.0)).power_w[0] == 10.0

    mqtt_broker.restart()  # same port; the broker forgets every session and subscription
    assert await wait_for(lambda: mqtt_peer.connected)
    assert await source.wait_ready(READY_S)  # reconnected and subscribed again by itself
    mqtt_peer.publish("tele/plug9/SENSOR", json.dumps({"ENERGY": {"Power": 20}}))
    reading = await read_until(source, lambda r: r.power_w[0] == 20.0)
    assert reading.power_w[0] == 20.0 and reading.quality[0] == QUALITY_OK


async def test_unparsable_payload_counted_logged_once_never_raised(mqtt_broker, mqtt_peer, source, caplog):
    conn = connection(mqtt_broker, 1, "plug3", preset="tasmota")
    await open_ready(source, make_batch([("r", 0, conn)]))
    mqtt_peer.publish("tele/plug3/SENSOR", json.dumps({"ENERGY": {"Power": 33}}))
    await read_until(source, lambda r: r.power_w[0] == 33.0)
    with caplog.at_level(logging.WARNING, logger="venclient.plugins.mqtt_meter"):
        for payload in ("garbage", "{not json", json.dumps({"ENERGY": {"Power": "n/a"}})):
            mqtt_peer.publish("tele/plug3/SENSOR", payload)
        mqtt_peer.publish("tele/plug3/SENSOR", json.dumps({"Time": "x"}))  # valid, no power field: ignored
        assert await wait_for(lambda: source.unparsable_counts().get("tele/plug3/SENSOR") == 3)
    reading = await source.read(None)
    assert reading.power_w[0] == 33.0 and reading.quality[0] == QUALITY_OK
    warnings = [r for r in caplog.records if "tele/plug3/SENSOR" in r.getMessage()]
    assert len(warnings) == 1


async def test_reopen_keeps_values_of_kept_feeds(mqtt_broker, mqtt_peer, source):
    a = connection(mqtt_broker, 1, "meters/a")
    b = connection(mqtt_broker, 2, "meters/b")
    await open_ready(source, make_batch([("a", 0, a)]))
    mqtt_peer.publish("meters/a", "1")
    await read_until(source, lambda r: r.power_w[0] == 1.0)
    await open_ready(source, make_batch([("b", 0, b), ("a", 0, a)]))
    reading = await source.read(None)
    assert reading.power_w[1] == 1.0 and reading.quality[0] == QUALITY_MISSING
    mqtt_peer.publish("meters/b", "2")
    reading = await read_until(source, lambda r: r.power_w[0] == 2.0)
    assert list(reading.power_w) == [2.0, 1.0]


async def test_unreachable_broker_and_missing_secret_never_raise_from_read(mqtt_broker, mqtt_peer, source,
                                                                            monkeypatch):
    monkeypatch.delenv("VEN_TEST_NO_SUCH_SECRET", raising=False)
    ok = connection(mqtt_broker, 1, "meters/ok")
    nobody = Connection(id=2, type="mqtt", host="127.0.0.1", port=free_port(), topic="meters/x")
    secret = Connection(id=3, type="mqtt", host="127.0.0.1", port=free_port(), topic="meters/y",
                        username="ven", password="env:VEN_TEST_NO_SUCH_SECRET")
    await source.open(make_batch([("a", 0, ok), ("b", 0, nobody), ("c", 0, secret)]))
    mqtt_peer.publish("meters/ok", "5", retain=True)
    reading = await read_until(source, lambda r: r.quality[0] == QUALITY_OK)
    assert reading.power_w[0] == 5.0
    assert list(reading.quality[1:]) == [QUALITY_MISSING, QUALITY_MISSING]


async def test_test_read(mqtt_broker, mqtt_peer, source, monkeypatch):
    mqtt_peer.publish("tele/plug5/SENSOR", json.dumps({"ENERGY": {"Power": 55}}), retain=True)
    conn = connection(mqtt_broker, 1, "plug5", preset="tasmota", loads=["load_0", "load_3"])
    assert await source.test_read(conn) == {"load_0": 55.0, "load_3": 55.0}
    silent = connection(mqtt_broker, 2, "nothing/here")
    assert await source.test_read(silent) == {"load_0": None}
    with pytest.raises(InputError, match=r"^MQTT broker mqtt://127\.0\.0\.1:\d+ is unreachable \(.+\)\.$"):
        await source.test_read(Connection(id=3, type="mqtt", host="127.0.0.1", port=free_port(), topic="x"))
    monkeypatch.delenv("VEN_TEST_NO_SUCH_SECRET", raising=False)
    with pytest.raises(InputError, match="environment variable VEN_TEST_NO_SUCH_SECRET, which is not set"):
        await source.test_read(Connection(id=4, type="mqtt", host=mqtt_broker.host, port=mqtt_broker.port,
                                          topic="x", username="u", password="env:VEN_TEST_NO_SUCH_SECRET"))


async def test_writer_publish_is_seen_by_a_subscriber(mqtt_broker, mqtt_peer):
    mqtt_peer.subscribe("cmnd/#")
    writer = MqttWriter(FAST)
    conn = Connection(id=9, type="mqtt", actortype="writer", host=mqtt_broker.host, port=mqtt_broker.port,
                      params={"command_topic": "cmnd/plug1/POWER", "payload_template": "{on_off}",
                              "channels": {"load_2": {"command_topic": "cmnd/hvac/limit",
                                                      "payload_template": '{{"limit_w": {value:.0f}}}'}}})
    load0 = Load("bar_load_0", "bar", "load_0", "Base Load", "m")
    load2 = Load("bar_load_2", "bar", "load_2", "HVAC", "m")
    await writer.write(conn, load0, 0)
    await writer.write(conn, load2, 1499.6)
    assert await wait_for(lambda: len(mqtt_peer.received()) >= 2)
    assert mqtt_peer.received() == [("cmnd/plug1/POWER", b"OFF", False), ("cmnd/hvac/limit", b'{"limit_w": 1500}', False)]
    with pytest.raises(InputError, match="has no command_topic for load_3"):
        await writer.write(Connection(id=10, type="mqtt", actortype="writer", host=mqtt_broker.host,
                                      port=mqtt_broker.port, params={"channels": {"load_2": {"command_topic": "x"}}}),
                           Load("bar_load_3", "bar", "load_3", "Kitchen", "m"), 1)
    with pytest.raises(InputError, match="is unreachable"):
        await writer.write(Connection(id=11, type="mqtt", actortype="writer", host="127.0.0.1", port=free_port(),
                                      params={"command_topic": "x"}), load0, 1)


def test_plugin_registers_source_writer_and_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("VEN_MQTT__PASSWORD", "from-env")
    settings = make_settings(tmp_path, mqtt={"stale_after_seconds": 42, "username": "ven"})
    runtime = Runtime.create(settings)
    try:
        source = runtime.meter_sources()["mqtt"]
        assert isinstance(source, MqttMeterSource)
        assert source.options.stale_after_seconds == 42.0 and source.options.username == "ven"
        assert source.options.qos == 0
        assert isinstance(runtime.writers()["mqtt"], MqttWriter)
    finally:
        runtime.close()


def test_bad_mqtt_setting_is_one_sentence(tmp_path):
    from venclient.errors import SettingsError

    with pytest.raises(SettingsError, match="mqtt.stale_after_seconds must be a number of seconds above 0"):
        Runtime.create(make_settings(tmp_path, mqtt={"stale_after_seconds": 0}))


async def test_reads_are_consistent_while_messages_stream_in(mqtt_broker, mqtt_peer, source):
    """Ticks taken while the network thread writes never see torn or foreign values."""
    conns = [connection(mqtt_broker, i, f"stream/{i}") for i in range(1, 4)]
    await open_ready(source, make_batch([(f"r{i}", 0, c) for i, c in enumerate(conns, start=1)]))

    async def ticks() -> None:
        for _ in range(100):
            reading = await source.read(None)
            ok = reading.quality == QUALITY_OK
            # every value seen is one that was published on that topic: i*1000 + n
            assert all(int(v) // 1000 == i + 1 for i, v in enumerate(reading.power_w) if ok[i])
            await asyncio.sleep(0.001)

    async def publish() -> None:
        for n in range(100):
            for i in range(1, 4):
                await asyncio.to_thread(mqtt_peer.publish, f"stream/{i}", str(i * 1000 + n), False, 0)

    await asyncio.gather(ticks(), publish())
    mqtt_peer.publish("stream/3", "3099")
    reading = await read_until(source, lambda r: list(r.power_w) == [1099.0, 2099.0, 3099.0])
    assert list(reading.power_w) == [1099.0, 2099.0, 3099.0]


async def test_the_meter_register_comes_from_the_message_with_the_power(mqtt_broker, mqtt_peer, source):
    plug = connection(mqtt_broker, 1, "plug4", preset="tasmota")
    fridge = connection(mqtt_broker, 2, "fridge4", preset="zigbee2mqtt")
    site = connection(mqtt_broker, 3, "site/meter4", preset="json", path="p", energy_path="e_wh",
                      energy_scale=0.001)  # a generic feed naming its register, in Wh
    shelly = connection(mqtt_broker, 4, "shellies/em4/emeter/0/power", preset="shelly_gen1")  # no register
    await open_ready(source, make_batch([("bar", 0, plug), ("hut", 0, fridge), ("lab", 0, site),
                                         ("shed", 0, shelly)]))
    mqtt_peer.publish("tele/plug4/SENSOR", json.dumps({"ENERGY": {"Total": 12.345, "Power": 118}}))
    mqtt_peer.publish("zigbee2mqtt/fridge4", json.dumps({"power": 64.2, "energy": 3.5, "state": "ON"}))
    mqtt_peer.publish("site/meter4", json.dumps({"p": 900, "e_wh": 4500}))
    mqtt_peer.publish("shellies/em4/emeter/0/power", "231.5")
    reading = await read_until(source, lambda r: (r.quality == QUALITY_OK).all())
    np.testing.assert_array_equal(reading.power_w, [118.0, 64.2, 900.0, 231.5])
    np.testing.assert_allclose(source.energy_register_kwh, [12.345, 3.5, 4.5, np.nan])

    # the next message without the register: no register value (not the old one, not zero)
    mqtt_peer.publish("tele/plug4/SENSOR", json.dumps({"ENERGY": {"Power": 120}}))
    reading = await read_until(source, lambda r: r.power_w[0] == 120.0)
    assert reading.power_w[0] == 120.0 and np.isnan(source.energy_register_kwh[0])
    mqtt_peer.publish("tele/plug4/SENSOR", json.dumps({"ENERGY": {"Total": 12.4, "Power": 121}}))
    await read_until(source, lambda r: r.power_w[0] == 121.0)
    assert source.energy_register_kwh[0] == pytest.approx(12.4)


async def test_without_a_register_path_the_source_reports_none(mqtt_broker, mqtt_peer, source):
    conn = connection(mqtt_broker, 1, "plug6", preset="tasmota", energy_path=None)
    await open_ready(source, make_batch([("bar", 0, conn)]))
    mqtt_peer.publish("tele/plug6/SENSOR", json.dumps({"ENERGY": {"Total": 1.0, "Power": 5}}))
    reading = await read_until(source, lambda r: r.quality[0] == QUALITY_OK)
    assert reading.power_w[0] == 5.0 and source.energy_register_kwh is None
