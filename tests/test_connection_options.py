"""Plugins parse their own ``ven resources connect`` options (hook ``ven_connection_options``)."""

from __future__ import annotations

import pytest

from venclient.cli.connections import build_connection, kind_options, load_connect_file
from venclient.errors import InputError
from venclient.runtime import Runtime


@pytest.fixture(scope="module")
def by_kind():
    runtime = Runtime.create(load_entry_points=False)
    try:
        yield kind_options(runtime.pm)
    finally:
        runtime.close()


def test_the_modbus_and_mqtt_plugins_answer_for_their_kinds(by_kind):
    assert {"modbustcp", "modbusrtu", "mqtt"} <= set(by_kind)
    assert by_kind["modbustcp"] is by_kind["modbusrtu"]


def test_an_option_of_another_kind_is_refused(by_kind):
    with pytest.raises(InputError, match="--unit is an option of modbustcp, modbusrtu connections, not of mqtt"):
        build_connection("mqtt", broker="mqtt://127.0.0.1", unit=3, by_kind=by_kind)
    with pytest.raises(InputError, match="--broker is an option of mqtt"):
        build_connection("filereader", file="x.csv", broker="mqtt://127.0.0.1", by_kind=by_kind)


def test_plugin_options_are_toml_keys(by_kind, tmp_path):
    path = tmp_path / "connections.toml"
    path.write_text('[[resource]]\nid = "r1"\ntype = "modbusrtu"\nport = "/dev/ttyUSB0"\nunit = 4\nmap = "sdm120"\n'
                    '[[resource]]\nid = "r2"\ntype = "mqtt"\nbroker = "mqtt://127.0.0.1:1884"\npreset = "shelly"\n',
                    encoding="utf-8")
    (ids1, rtu), (ids2, mqtt) = load_connect_file(path, by_kind)
    assert ids1 == ["r1"] and rtu.params == {"serial_port": "/dev/ttyUSB0", "unit": 4, "map": "sdm120"}
    assert ids2 == ["r2"] and (mqtt.host, mqtt.port, mqtt.params) == ("127.0.0.1", 1884, {"preset": "shelly"})
    path.write_text('[[resource]]\nid = "r1"\ntype = "modbustcp"\nhost = "h"\nunit = "four"\n', encoding="utf-8")
    with pytest.raises(InputError, match="unit must be an integer"):
        load_connect_file(path, by_kind)
