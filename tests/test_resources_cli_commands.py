"""`ven resources` (list, set-status, connect, connect --from, test, write) and `ven collect`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from venclient.cli.app import build_app
from venclient.errors import InputError
from venclient.hookspecs import hookimpl
from venclient.cli.connections import build_connection
from venclient.connection_options import options_by_kind
from venclient.plugins.modbus_meter.connect_options import CONNECTION_OPTIONS as MODBUS_OPTIONS
from venclient.plugins.mqtt_meter.connect_options import CONNECTION_OPTIONS as MQTT_OPTIONS, parse_broker
from fixtures.collect import METER_IDS, add_fleet, expected_watts


@pytest.fixture
def cli(collect_runtime):
    add_fleet(collect_runtime.store(), {"Herning": [METER_IDS[0], METER_IDS[1]], "Aalborg": [METER_IDS[2]]})
    add_fleet(collect_runtime.store(), {"Lemvig": [METER_IDS[0]]}, status="PENDING", prefix="p")
    app = build_app(collect_runtime)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), obj=collect_runtime)

    invoke.runtime = collect_runtime
    return invoke


def ok(result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def fails(result, *fragments: str) -> str:
    assert isinstance(result.exception, InputError), (result.output, result.exception)
    message = str(result.exception)
    assert all(f in message for f in fragments), message
    assert len(message.splitlines()) == 1
    return message


def test_list_filters_and_json(cli):
    data = json.loads(ok(cli("resources", "list", "--json")))
    assert [r["resource_id"] for r in data] == ["r-Aalborg-000", "r-Herning-000", "r-Herning-001", "p-Lemvig-000"]
    assert data[0]["connection_type"] == "h5sim" and data[0]["connection"] is None
    herning = json.loads(ok(cli("resources", "list", "--ven", "Herning", "--status", "approved", "--json")))
    assert [r["resource_id"] for r in herning] == ["r-Herning-000", "r-Herning-001"]
    assert "r-Aalborg-000" in ok(cli("resources", "list"))
    fails(cli("resources", "list", "--status", "GONE"), "Unknown status 'GONE'")


def test_set_status_by_ids_and_by_ven(cli):
    store = cli.runtime.store()
    assert json.loads(ok(cli("resources", "set-status", "--ven", "Lemvig", "--status", "APPROVED", "--json")))[
        "updated"] == 1
    assert store.get_resource("p-Lemvig-000").registration_status == "APPROVED"
    ok(cli("resources", "set-status", "r-Herning-000", "r-Aalborg-000", "--status", "suspended"))
    assert {r.resource_id for r in store.list_resources(status="SUSPENDED")} == {"r-Herning-000", "r-Aalborg-000"}
    fails(cli("resources", "set-status", "nope", "--status", "APPROVED"), "Unknown resource nope")
    fails(cli("resources", "set-status", "r-Herning-000", "--ven", "Herning", "--status", "APPROVED"), "either")
    fails(cli("resources", "set-status", "--ven", "Atlantis", "--status", "APPROVED"), "Atlantis")
    assert store.get_resource("r-Herning-001").registration_status == "APPROVED"


def test_connect_filereader_then_collect_reads_the_file(cli, tmp_path):
    log_file = tmp_path / "logger.jsonl"
    log_file.write_text("".join(json.dumps({"timestamp": "2025-01-15T12:59:00Z", "load": f"load_{c}",
                                            "power_w": 10 + c}) + "\n" for c in range(6)))
    loads_before = [l.load_id for l in cli.runtime.store().get_loads_by_resource("r-Herning-001")]
    ok(cli("resources", "connect", "r-Herning-001", "--type", "filereader", "--file", str(log_file)))
    data = json.loads(ok(cli("collect", "--ven", "Herning", "--json")))
    assert [r["power_w"] for r in data["r-Herning-001"]["readings"]] == [10.0 + c for c in range(6)]
    assert [r["power_w"] for r in data["r-Herning-000"]["readings"]] == [expected_watts(1, c, 0) for c in range(6)]
    listed = json.loads(ok(cli("resources", "list", "--ven", "Herning", "--json")))
    assert listed[1]["connection"]["file"] == str(log_file) and listed[1]["connection_type"] == "filereader"
    ok(cli("resources", "connect", "r-Herning-001", "--type", "h5sim"))
    data = json.loads(ok(cli("collect", "--ven", "Herning", "--json")))
    assert [r["power_w"] for r in data["r-Herning-001"]["readings"]] == [expected_watts(2, c, 0) for c in range(6)]
    assert [l.load_id for l in cli.runtime.store().get_loads_by_resource("r-Herning-001")] == loads_before


def test_connect_checks_before_storing(cli, tmp_path):
    store = cli.runtime.store()
    message = fails(cli("resources", "connect", "r-Herning-000", "--type", "carrier-pigeon"),
                    "Unknown connection kind 'carrier-pigeon'", "filereader", "h5sim")
    assert all(kind in message for kind in cli.runtime.meter_sources())
    fails(cli("resources", "connect", "r-Herning-000", "--type", "filereader"), "needs --file")
    fails(cli("resources", "connect", "r-Herning-000", "--type", "filereader", "--file", str(tmp_path / "a.csv"),
              "--host", "x"), "remove host")
    fails(cli("resources", "connect", "r-Herning-000", "ghost", "--type", "filereader", "--file",
              str(tmp_path / "a.csv")), "Unknown resource ghost")
    fails(cli("resources", "connect", "r-Herning-000", "--type", "h5sim", "--writer"), "writes connection kind")
    assert store.resource_connections("r-Herning-000") == {"reader": None, "writer": None}


def test_connect_from_toml_is_all_or_nothing(cli, tmp_path):
    store = cli.runtime.store()
    good = tmp_path / "good.toml"
    good.write_text(f'''
[[resource]]
ids = ["r-Herning-000", "r-Herning-001"]
type = "filereader"
file = "{tmp_path / 'herning.csv'}"

[[resource]]
id = "r-Aalborg-000"
type = "filereader"
file = "{tmp_path / 'aalborg.jsonl'}"
params = {{ format = "jsonl" }}
''')
    result = json.loads(ok(cli("resources", "connect", "--from", str(good), "--json")))
    assert result == {"connected": 3, "tables": 2, "file": str(good)}
    assert store.resource_connections("r-Aalborg-000")["reader"].params == {"format": "jsonl"}

    bad = tmp_path / "bad.toml"
    bad.write_text(f'''
[[resource]]
id = "p-Lemvig-000"
type = "filereader"
file = "{tmp_path / 'lemvig.csv'}"

[[resource]]
id = "r-Herning-000"
type = "filereader"
''')
    fails(cli("resources", "connect", "--from", str(bad)), "bad.toml", "#2", "r-Herning-000", "needs --file")
    assert store.resource_connections("p-Lemvig-000")["reader"] is None
    typo = tmp_path / "typo.toml"
    typo.write_text('[[resource]]\nid = "r-Herning-000"\ntype = "filereader"\nfiel = "x.csv"\n')
    fails(cli("resources", "connect", "--from", str(typo)), "typo.toml", "unknown key 'fiel'")
    broken = tmp_path / "broken.toml"
    broken.write_text("[[resource]\n")
    fails(cli("resources", "connect", "--from", str(broken)), "not valid TOML")
    fails(cli("resources", "connect", "--from", str(tmp_path / "none.toml")), "does not exist")


def test_test_reads_one_resource(cli, tmp_path):
    data = json.loads(ok(cli("resources", "test", "r-Herning-001", "--json")))
    assert data["values"] == {f"load_{c}": expected_watts(2, c, 0) for c in range(6)}
    assert data["connection"] == "h5sim" and data["elapsed_ms"] >= 0
    log_file = tmp_path / "t.csv"
    log_file.write_text("1736946000,load_2,77\n")
    ok(cli("resources", "connect", "r-Aalborg-000", "--type", "filereader", "--file", str(log_file)))
    data = json.loads(ok(cli("resources", "test", "r-Aalborg-000", "--json")))
    assert data["values"]["load_2"] == 77.0 and data["values"]["load_0"] is None
    assert "Water Heater" in ok(cli("resources", "test", "r-Herning-000"))
    fails(cli("resources", "test", "nobody"), "Unknown resource nobody")


class FakeWriter:
    kinds = ("relay",)

    def __init__(self):
        self.calls = []

    async def write(self, connection, load, value):
        self.calls.append((connection.host, load.load_component, load.resource_id, value))


class WriterPlugin:
    def __init__(self):
        self.writer = FakeWriter()

    @hookimpl
    def ven_writers(self, settings):
        return [self.writer]


def test_write_goes_through_the_resource_s_writer(cli):
    fails(cli("resources", "write", "r-Herning-000", "--value", "0"), "has no writer connection")
    plugin = WriterPlugin()
    cli.runtime.pm.register(plugin, name="relay_plugin")
    try:
        ok(cli("resources", "connect", "r-Herning-000", "--type", "relay", "--host", "10.0.0.9", "--writer"))
        assert cli.runtime.store().resource_connections("r-Herning-000")["reader"] is None
        ok(cli("resources", "write", "r-Herning-000", "--value", "1500", "--load", "HVAC"))
        assert plugin.writer.calls == [("10.0.0.9", "load_2", "r-Herning-000", 1500.0)]
        fails(cli("resources", "write", "r-Herning-000", "--value", "1", "--load", "load_9"), "load_9")
    finally:
        cli.runtime.pm.unregister(name="relay_plugin")


def test_build_connection_maps_options():
    by_kind = options_by_kind([MODBUS_OPTIONS, MQTT_OPTIONS])
    rtu = build_connection("modbusrtu", port="/dev/serial/by-id/usb-FTDI", unit=3, map_name="sdm630",
                           channels=["load_0=total_power", "Lighting=phase_1_power"], params=["baudrate=19200"],
                           by_kind=by_kind)
    assert rtu.port is None and rtu.params == {"serial_port": "/dev/serial/by-id/usb-FTDI", "unit": 3,
                                               "map": "sdm630", "baudrate": 19200,
                                               "channels": {"load_0": "total_power", "load_4": "phase_1_power"}}
    tcp = build_connection("modbustcp", host="127.0.0.1", port="5020", unit=1, by_kind=by_kind)
    assert (tcp.host, tcp.port, tcp.params) == ("127.0.0.1", 5020, {"unit": 1})
    mqtt = build_connection("mqtt", broker="mqtts://ven@broker.local", topic="tele/plug/SENSOR", preset="tasmota",
                            password_env="MQTT_PASSWORD", by_kind=by_kind)
    assert (mqtt.host, mqtt.port, mqtt.username, mqtt.password) == ("broker.local", 8883, "ven", "env:MQTT_PASSWORD")
    assert mqtt.params == {"tls": True, "preset": "tasmota"} and mqtt.topic == "tele/plug/SENSOR"
    assert build_connection("relay", writer=True).actortype == "writer"
    assert parse_broker("mqtt://127.0.0.1:1884") == ("127.0.0.1", 1884, False, None)
    for bad, fragment in (({"port": "http"}, "--port must be a TCP port"), ({"port": "70000"}, "1 to 65535"),
                          ({"broker": "http://x"}, "--broker must look like"),
                          ({"broker": "mqtt://u:secret@x"}, "password"), ({"params": ["novalue"]}, "KEY=VALUE"),
                          ({"channels": ["load_7=x"]}, "not a load component")):
        with pytest.raises(InputError, match=fragment):
            build_connection("modbustcp" if "broker" not in bad else "mqtt", by_kind=by_kind, **bad)


def test_modbusrtu_port_is_the_serial_device_when_the_modbus_plugin_is_enabled(cli):
    if "modbusrtu" not in cli.runtime.meter_sources():
        pytest.skip("modbus_meter plugin not present")
    ok(cli("resources", "connect", "r-Aalborg-000", "--type", "modbusrtu", "--port", "/dev/ttyUSB0", "--unit", "3",
           "--map", "sdm630"))
    stored = cli.runtime.store().resource_connections("r-Aalborg-000")["reader"]
    assert stored.type == "modbusrtu" and stored.params["serial_port"] == "/dev/ttyUSB0" and stored.params["unit"] == 3


# ------------------------------------------------------------------------------------------ end to end
def run_ven(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEN_")}
    env.update({"VEN_DATABASE_URL": f"sqlite:///{tmp_path / 'resources.db'}",
                "VEN_H5_PATH": str(tmp_path / "load_data.h5"), "VEN_LOG_LEVEL": "WARNING"})
    return subprocess.run([sys.executable, "-m", "venclient.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_ven_collect_end_to_end(cli, tmp_path):
    out = run_ven(tmp_path, "collect", "--ven", "Herning", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert list(data) == ["r-Herning-000", "r-Herning-001"]
    assert data["r-Herning-000"] == {"meter_point_id": "570000000000000000", "readings": [
        {"timestamp": 1736946000000, "load_id": f"load_{c}", "power_w": expected_watts(1, c, 0)} for c in range(6)]}
    out = run_ven(tmp_path, "collect", "--ven", "Aalborg", "--ven", "Herning", "--ticks", "3", "--index", "22",
                  "--json")
    ticks = json.loads(out.stdout)
    assert isinstance(ticks, list) and len(ticks) == 3
    assert [t["r-Aalborg-000"]["readings"][0]["power_w"] for t in ticks] == [expected_watts(3, 0, i)
                                                                            for i in (22, 23, 0)]
    table = run_ven(tmp_path, "collect", "--ven", "Herning")
    assert table.returncode == 0 and "r-Herning-001" in table.stdout and "2,000.0" in table.stdout


def test_cli_errors_are_one_sentence(cli, tmp_path):
    for args, fragment in ((("collect", "--ven", "Atlantis"), "Unknown VEN 'Atlantis'"),
                           (("resources", "connect", "r-Herning-000", "--type", "telepathy"),
                            "Unknown connection kind 'telepathy'")):
        out = run_ven(tmp_path, *args)
        assert out.returncode == 2 and fragment in out.stderr and "Traceback" not in out.stderr
    (tmp_path / "load_data.h5").write_text("garbage")
    out = run_ven(tmp_path, "collect", "--ven", "Herning")
    assert out.returncode == 2 and "not a readable HDF5 file" in out.stderr and "Traceback" not in out.stderr
