"""The example third-party plugin (tests/plugins/venclient_example), tested the way a plugin author would:
through the kit's fixtures (``ven_runtime``, ``ven_local_vtn``) and ``collect_once``."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone

import pytest
from typer.testing import CliRunner

from venclient import QUALITY_MISSING, QUALITY_OK, Connection, InputError
from venclient.cli.app import build_app
from venclient.testing import SMALL_FLEET, collect_once
from venclient_example.sine import SineMeterSource
from venclient_example.wave import COMPONENT_SHIFT, parse_wave

WAVE = {"amplitude": 500.0, "period": 60.0, "phase": 90.0}


def expected(seconds: float, component: int, amplitude=500.0, period=60.0, phase=90.0) -> float:
    return amplitude * math.sin(2 * math.pi * seconds / period + math.radians(phase) + component * COMPONENT_SHIFT)


def test_the_entry_point_serves_the_sine_kind(ven_runtime):
    assert isinstance(ven_runtime.meter_sources()["sine"], SineMeterSource)
    assert "sine" in ven_runtime.writers()


async def test_collect_once_reads_every_load_from_the_wave(ven_runtime):
    moment = datetime(2026, 12, 3, 7, 0, 12, tzinfo=timezone.utc)
    readings = await collect_once(ven_runtime, source=SineMeterSource(),
                                  connection=Connection(id=None, type="sine", params=WAVE), time=moment)
    assert len(readings) == 6 * sum(len(m) for m in SMALL_FLEET.values())
    assert (readings.quality == QUALITY_OK).all()
    seconds = moment.timestamp()
    for component, watts in zip(readings.components.tolist(), readings.power_w.tolist()):
        assert watts == pytest.approx(expected(seconds, int(component[-1])), abs=1e-3)


async def test_a_rejected_connection_reads_as_missing(ven_runtime):
    readings = await collect_once(ven_runtime, connection=Connection(id=None, type="sine", params={"period": 0}))
    assert (readings.quality == QUALITY_MISSING).all() and all(math.isnan(v) for v in readings.power_w.tolist())


def test_validate_connection_names_the_bad_option():
    for params, fragment in (({"period": -1}, "above 0"), ({"amplitude": "big"}, "must be a number"),
                             ({"colour": 1}, "not 'colour'")):
        with pytest.raises(InputError, match=fragment):
            parse_wave(Connection(id=None, type="sine", params=params))


def test_connect_takes_the_plugin_options_and_test_reads_them(ven_runtime):
    app, runner = build_app(ven_runtime), CliRunner()

    def ven(*args: str):
        result = runner.invoke(app, list(args), obj=ven_runtime)
        assert result.exit_code == 0, (result.output, result.exception)
        return result.stdout

    assert "--amplitude" in ven("resources", "connect", "--help")
    ven("resources", "connect", "r-Herning-000", "--type", "sine", "--amplitude", "500", "--period", "60",
        "--phase", "90")
    stored = ven_runtime.store().resource_connections("r-Herning-000")["reader"]
    assert stored.type == "sine" and stored.params == WAVE
    assert "sine amplitude 500 period 60 phase 90" in ven("resources", "list")
    refused = runner.invoke(app, ["resources", "connect", "r-Herning-000", "--type", "sine", "--period", "0"],
                            obj=ven_runtime)
    assert isinstance(refused.exception, InputError) and "above 0" in str(refused.exception)
    assert '"load_0"' in ven("resources", "test", "r-Herning-000", "--json")


def test_the_recording_writer_gets_what_resources_write_sends(ven_runtime, tmp_path):
    app, runner, record = build_app(ven_runtime), CliRunner(), tmp_path / "written.jsonl"
    for args in (["resources", "connect", "r-Aalborg-000", "--type", "sine", "--writer", "--file", str(record)],
                 ["resources", "write", "r-Aalborg-000", "--value", "1500", "--load", "HVAC"]):
        result = runner.invoke(app, args, obj=ven_runtime)
        assert result.exit_code == 0, (result.output, result.exception)
    lines = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    assert lines == [{"resource_id": "r-Aalborg-000", "load": "load_2", "value": 1500.0}]


def test_the_kit_serves_a_local_vtn(ven_local_vtn):
    import httpx

    answer = httpx.post(f"{ven_local_vtn.url}/auth/token", data={"grant_type": "client_credentials",
                                                                 "client_id": "ven-dev",
                                                                 "client_secret": "ven-dev-secret"}, timeout=10)
    assert answer.status_code == 200 and answer.json()["access_token"]


def test_a_connections_file_takes_the_plugin_keys(ven_runtime, tmp_path):
    path = tmp_path / "connections.toml"
    path.write_text('[[resource]]\nids = ["r-Herning-000", "r-Herning-001"]\ntype = "sine"\namplitude = 500\n'
                    'period = 60.0\nphase = 90\n', encoding="utf-8")
    result = CliRunner().invoke(build_app(ven_runtime), ["resources", "connect", "--from", str(path)],
                                obj=ven_runtime)
    assert result.exit_code == 0, (result.output, result.exception)
    for rid in ("r-Herning-000", "r-Herning-001"):
        assert ven_runtime.store().resource_connections(rid)["reader"].params == WAVE
    path.write_text('[[resource]]\nid = "r-Herning-000"\ntype = "sine"\nperiod = "slow"\n', encoding="utf-8")
    result = CliRunner().invoke(build_app(ven_runtime), ["resources", "connect", "--from", str(path)],
                                obj=ven_runtime)
    assert isinstance(result.exception, InputError) and "period must be a number" in str(result.exception)
