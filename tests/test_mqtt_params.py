"""MQTT connection params and payload presets: validation sentences and parsing (no broker)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from venclient.errors import InputError
from venclient.model import Connection
from venclient.plugins.mqtt_meter.params import parse_reader, parse_writer, resolve_secret
from venclient.plugins.mqtt_meter.presets import FieldAbsent, extract_watts
from venclient.plugins.mqtt_meter.source import MqttMeterSource
from venclient.plugins.mqtt_meter.writer import MqttWriter, render_payload


def mqtt(topic: str | None = "meter/power", **fields) -> Connection:
    params = fields.pop("params", {})
    return Connection(id=8, type="mqtt", host=fields.pop("host", "192.0.2.20"), topic=topic, params=params,
                      **fields)


@pytest.mark.parametrize("preset, name, topic", [
    ("tasmota", "plug1", "tele/plug1/SENSOR"),
    ("shelly_gen1", "shellyem-ABC", "shellies/shellyem-ABC/emeter/0/power"),
    ("shelly_gen2", "shellypro3em-01", "shellypro3em-01/status/em:0"),
    ("zigbee2mqtt", "fridge", "zigbee2mqtt/fridge"),
    ("dsmr", "dsmr", "dsmr/reading/electricity_currently_delivered"),
    ("json", "site/power", "site/power"),
])
def test_bare_names_expand_to_the_preset_topic(preset, name, topic):
    target = parse_reader(mqtt(name, params={"preset": preset}))
    assert target.channels["load_0"].topic == topic


def test_broker_url_channels_and_loads():
    target = parse_reader(mqtt(None, params={
        "broker": "mqtts://broker.local", "preset": "shelly_gen1",
        "channels": {"load_0": "shellies/em/emeter/0/power", "load_1": {"topic": "shellies/em/emeter/1/power"},
                     "load_2": {"topic": "heatpump", "preset": "zigbee2mqtt", "scale": 0.5}}}))
    assert (target.broker.host, target.broker.port, target.broker.tls) == ("broker.local", 8883, True)
    assert target.channels["load_2"].topic == "zigbee2mqtt/heatpump"
    assert target.channels["load_2"].scale == 0.5 and target.channels["load_2"].path == ("power",)
    whole_site = parse_reader(mqtt("plug", params={"preset": "tasmota", "loads": ["load_0", "load_5"]}))
    assert sorted(whole_site.channels) == ["load_0", "load_5"]
    assert parse_reader(mqtt(None, params={"preset": "dsmr"})).channels["load_0"].scale == 1000.0


@pytest.mark.parametrize("connection, words", [
    (mqtt(params={"preset": "tasmota2"}), "params.preset must be one of tasmota, shelly_gen1, shelly_gen2"),
    (mqtt(None), "topic is missing"),
    (mqtt(host=""), "host is missing"),
    (mqtt("tele/+/SENSOR"), "without the wildcards + or #"),
    (mqtt(params={"channels": {"load_6": "x"}}), "names 'load_6', which is not a load component"),
    (mqtt(params={"channels": {"load_0": {"topic": "x", "unit": "kW"}}}), "params.channels.load_0 has unknown key"),
    (mqtt(params={"broker": "http://x"}), "params.broker must look like mqtt://host:1883"),
    (mqtt(params={"scale": 0}), "params.scale must be a non-zero number"),
    (mqtt(params={"qos": 3}), "params.qos must be 0, 1 or 2"),
    (mqtt(params={"stale_after_seconds": -1}), "params.stale_after_seconds must be a number above 0"),
    (mqtt(password="hunter2"), "password must name where the secret is"),
])
def test_bad_reader_params_give_one_sentence(connection, words):
    with pytest.raises(InputError) as err:
        MqttMeterSource().validate_connection(connection)
    message = str(err.value)
    assert words in message and message.startswith("MQTT connection 8: ") and message.endswith(".")


def test_writer_params_and_templates():
    connection = mqtt(None, actortype="writer", params={
        "command_topic": "cmnd/plug1/POWER", "payload_template": "{on_off}",
        "channels": {"load_2": {"command_topic": "hvac/set", "payload_template": '{{"limit": {value:.0f}}}'}}})
    target = parse_writer(connection)
    from venclient.model import Load

    load = Load("x_load_2", "x", "load_2", "HVAC", "m")
    assert render_payload(target.command_for("load_2").payload_template, load, 1500.4) == '{"limit": 1500}'
    assert render_payload(target.command_for("load_0").payload_template, load, 0) == "OFF"
    with pytest.raises(InputError, match=r"payload_template uses \{watts\}; known fields"):
        MqttWriter().validate_connection(mqtt(None, actortype="writer",
                                              params={"command_topic": "c", "payload_template": "{watts}"}))
    with pytest.raises(InputError, match="params.command_topic is missing"):
        MqttWriter().validate_connection(mqtt(None, actortype="writer"))


def test_secret_references(monkeypatch):
    monkeypatch.setenv("VEN_TEST_MQTT_SECRET", "s3cret")
    assert resolve_secret("env:VEN_TEST_MQTT_SECRET", None, "x") == "s3cret"
    monkeypatch.delenv("VEN_TEST_MQTT_SECRET")
    with pytest.raises(InputError, match="environment variable VEN_TEST_MQTT_SECRET, which is not set"):
        resolve_secret("env:VEN_TEST_MQTT_SECRET", None, "MQTT broker mqtt://h:1883")
    assert resolve_secret("settings:mqtt.password", {"mqtt.password": "p"}, "x") == "p"


@pytest.mark.parametrize("payload, path, scale, watts", [
    (json.dumps({"Time": "2024-01-01T00:00:00", "ENERGY": {"Power": 118, "Voltage": 230}}), ("ENERGY", "Power"), 1, 118),
    (json.dumps({"ENERGY": {"Power": [12, 40]}}), ("ENERGY", "Power"), 1, 52),         # multi-channel Tasmota
    (json.dumps({"ENERGY": {"Power": [12, 40]}}), ("ENERGY", "Power", "1"), 1, 40),
    ("231.45", (), 1, 231.45),                                                          # Shelly Gen1
    (json.dumps({"id": 0, "a_act_power": 100.5, "total_act_power": 301.5}), ("total_act_power",), 1, 301.5),
    (json.dumps({"power": 64.2, "state": "ON", "linkquality": 90}), ("power",), 1, 64.2),  # Zigbee2MQTT
    ("0.352", ("electricity_currently_delivered",), 1000, 352.0),                      # dsmr-reader, kW
    (json.dumps({"electricity_currently_delivered": "1.250"}), ("electricity_currently_delivered",), 1000, 1250.0),
    ('"17.5"', (), 2, 35.0),
])
def test_extract_watts(payload, path, scale, watts):
    assert extract_watts(payload.encode(), path, scale) == pytest.approx(watts)


@pytest.mark.parametrize("payload", [b"garbage", b"{bad json", b"true", b'{"power": "n/a"}', b"nan", b"\xff\xfe",
                                     b'{"ENERGY": {"Power": 1}}'])
def test_unparsable_payloads_raise_value_error(payload):
    path = ("power",) if payload.startswith(b'{"power"') else ()
    with pytest.raises(ValueError):
        extract_watts(payload, path, 1.0)


def test_valid_json_without_the_field_is_absent_not_garbage():
    with pytest.raises(FieldAbsent):
        extract_watts(b'{"state": "ON"}', ("power",), 1.0)


def test_writer_accepts_the_event_engine_keys():
    from venclient.model import Connection
    from venclient.plugins.mqtt_meter.params import parse_writer

    parse_writer(Connection(id=1, type="mqtt", actortype="writer", host="127.0.0.1", port=1883,
                            params={"command_topic": "cmnd/plug1/POWER", "release_value": 1, "loads": ["load_0"]}))


def test_energy_paths_of_presets_and_connections():
    from venclient.plugins.mqtt_meter.presets import extract_values

    def reader(**params):
        return parse_reader(Connection(id=9, type="mqtt", host="127.0.0.1", port=1883, topic="dev", params=params))

    assert reader(preset="tasmota").channels["load_0"].energy_path == ("ENERGY", "Total")
    assert reader(preset="zigbee2mqtt").channels["load_0"].energy_path == ("energy",)
    assert reader(preset="shelly_gen2").channels["load_0"].energy_path == ()
    generic = reader(preset="json", path="p", energy_path="meter.total_wh", energy_scale=0.001).channels["load_0"]
    assert (generic.energy_path, generic.energy_scale) == (("meter", "total_wh"), 0.001)
    with pytest.raises(InputError) as err:
        reader(preset="json", energy_path=5)
    assert "params.energy_path must be a dotted path such as ENERGY.Total" in str(err.value)
    with pytest.raises(InputError) as err:
        reader(preset="json", energy_scale=0)
    assert "params.energy_scale must be a non-zero number, got 0" in str(err.value)
    message = json.dumps({"ENERGY": {"Total": 7.5, "Power": 100}}).encode()
    assert extract_values(message, ("ENERGY", "Power"), 1.0, ("ENERGY", "Total")) == (100.0, 7.5)
    watts, kwh = extract_values(b"42", ("ENERGY", "Power"), 1.0, ("ENERGY", "Total"))
    assert watts == 42.0 and np.isnan(kwh)  # a plain number carries no register
    watts, kwh = extract_values(b'{"ENERGY": {"Power": 1, "Total": "n/a"}}', ("ENERGY", "Power"), 1.0,
                                ("ENERGY", "Total"))
    assert watts == 1.0 and np.isnan(kwh)  # an unreadable register is none, the power still counts
