"""A runtime that has no Modbus, MQTT or local-VTN work does not import pymodbus, paho-mqtt, Starlette or uvicorn.

The libraries are imported where they are used (a bus opened, a broker connected, the VTN app built or
served), so a long-running ``ven run`` does not carry them.  Checked in a fresh interpreter: the test session
itself has imported all of them long before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OPTIONAL = ("pymodbus", "paho", "starlette", "uvicorn")

PROBE = """
import json, sys
from venclient.runtime import Runtime

OPTIONAL = ("pymodbus", "paho", "starlette", "uvicorn")
loaded = lambda: sorted(m for m in OPTIONAL if m in sys.modules)

rt = Runtime.create(load_entry_points=False)
rt.store()
sources = rt.meter_sources()
writers = rt.writers()
rt.transport()
before = loaded()

import venclient.plugins.local_vtn
server = venclient.plugins.local_vtn.LocalVtnServer
create_app = venclient.plugins.local_vtn.create_app
from venclient.plugins.local_vtn import LocalVtnServer
rt.close()
print(json.dumps({"before": before, "after": loaded(), "sources": sorted(sources), "writers": sorted(writers),
                  "server": f"{server.__module__}.{server.__qualname__}", "same": server is LocalVtnServer,
                  "create_app": f"{create_app.__module__}.{create_app.__qualname__}"}))
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> dict:
    """What the probe above saw in a fresh interpreter on isolated settings."""
    tmp = tmp_path_factory.mktemp("lazy")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEN_")}
    env.update(VEN_ENV="development", VEN_DATABASE_URL=f"sqlite:///{tmp / 'resources.db'}",
               VEN_H5_PATH=str(tmp / "load_data.h5"))
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_runtime_services_do_not_import_hardware_or_server_libraries(probe):
    assert {"modbustcp", "modbusrtu", "mqtt"} <= set(probe["sources"])  # the sources were built ...
    assert {"modbustcp", "modbusrtu", "mqtt"} <= set(probe["writers"])
    assert not {"pymodbus", "paho", "starlette", "uvicorn"} & set(probe["before"])  # ... without their libraries


def test_local_vtn_public_names_still_resolve(probe):
    assert probe["server"] == "venclient.plugins.local_vtn.server.LocalVtnServer"
    assert probe["same"]
    assert probe["create_app"] == "venclient.plugins.local_vtn.app.create_app"
    assert {"starlette", "uvicorn"} <= set(probe["after"])


def test_modbus_failures_still_include_pymodbus_exceptions():
    from pymodbus import ModbusException

    from venclient.plugins.modbus_meter import bus

    assert ModbusException in bus._FAILURES
    assert bus.DATATYPE.FLOAT32 is bus._DATATYPES["float32"]
