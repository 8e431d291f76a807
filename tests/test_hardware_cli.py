"""`ven resources connect/test/collect` with the real Modbus and MQTT plugins against loopback peers."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from venclient.cli.app import build_app
from venclient.errors import InputError
from fixtures.collect import METER_IDS, add_fleet


@pytest.fixture
def cli(collect_runtime):
    add_fleet(collect_runtime.store(), {"Herning": [METER_IDS[0], METER_IDS[1], METER_IDS[2]]})
    app = build_app(collect_runtime)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), obj=collect_runtime)

    invoke.store = collect_runtime.store()
    return invoke


def connections(store) -> list:
    return [(r.resource_id, r.connection_id) for r in store.list_resources()]


@pytest.mark.parametrize("options, fragment", [
    (["--type", "modbustcp", "--host", "127.0.0.1", "--unit", "300"], "1"),
    (["--type", "modbustcp", "--host", "127.0.0.1", "--unit", "3", "--map", "sdm999"], "sdm999"),
    (["--type", "modbusrtu", "--unit", "3"], "serial"),
    (["--type", "mqtt", "--broker", "mqtt://127.0.0.1:1883", "--topic", "x", "--preset", "nope"], "nope"),
])
def test_bad_hardware_options_are_one_sentence_and_store_nothing(cli, options, fragment):
    before = connections(cli.store)
    result = cli("resources", "connect", "r-Herning-000", *options)
    assert isinstance(result.exception, InputError), result.output
    message = str(result.exception)
    assert fragment in message and len(message.splitlines()) == 1
    assert connections(cli.store) == before


def test_unit_range_is_named(cli):
    result = cli("resources", "connect", "r-Herning-000", "--type", "modbustcp", "--host", "127.0.0.1",
                 "--unit", "0")
    assert "1" in str(result.exception) and "247" in str(result.exception)


def test_unreachable_broker_is_one_sentence(cli):
    assert cli("resources", "connect", "r-Herning-001", "--type", "mqtt", "--broker", "mqtt://127.0.0.1:9",
               "--topic", "plug1", "--preset", "tasmota").exit_code == 0
    result = cli("resources", "test", "r-Herning-001")
    assert isinstance(result.exception, InputError), result.output
    assert "127.0.0.1:9" in str(result.exception) and len(str(result.exception).splitlines()) == 1


def test_one_ven_with_simulated_modbus_and_mqtt_resources(cli, modbus_server, mqtt_broker, mqtt_peer):
    modbus_server.set_power(3, 1234.5)
    assert cli("resources", "connect", "r-Herning-001", "--type", "modbustcp", "--host", modbus_server.host,
               "--port", str(modbus_server.port), "--unit", "3", "--map", "sdm630").exit_code == 0
    assert cli("resources", "connect", "r-Herning-002", "--type", "mqtt", "--broker", mqtt_broker.url,
               "--topic", "plug7", "--preset", "tasmota").exit_code == 0
    mqtt_peer.publish("tele/plug7/SENSOR", json.dumps({"ENERGY": {"Power": 87}}), retain=True)
    tested = cli("resources", "test", "r-Herning-001")
    assert tested.exit_code == 0 and "1,234.5" in tested.stdout
    result = cli("collect", "--ven", "Herning", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"r-Herning-000", "r-Herning-001", "r-Herning-002"}
    assert len(data["r-Herning-000"]["readings"]) == 6  # simulated: all six loads
    modbus = {r["load_id"]: r["power_w"] for r in data["r-Herning-001"]["readings"]}
    assert modbus == {"load_0": pytest.approx(1234.5)}  # a whole-site meter: loads without a channel report nothing
    mqtt = {r["load_id"]: r["power_w"] for r in data["r-Herning-002"]["readings"]}
    assert mqtt == {"load_0": 87}
