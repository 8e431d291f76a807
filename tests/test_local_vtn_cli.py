"""`ven vtn serve` as a real process: starts, serves, persists its state file on Ctrl-C, reloads it."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from fixtures.vtn import ServeProcess, run_ven


def test_serve_persists_state_between_runs(tmp_path: Path, serve_process):
    state = tmp_path / "vtn.json"
    first = ServeProcess("--port", "0", "--state", str(state))
    serve_process.append(first)
    assert first.url.startswith("http://127.0.0.1:") and first.url.endswith("/openadr3/3.0.1")
    text = " ".join(first.lines)
    assert "ven-dev (VEN), bl-dev (BL)" in text and "(new)" in text and "1 program, 1 event" in text

    ping = json.loads(run_ven("vtn", "ping", "--json", env={"VEN_VTN__URL": first.url}).stdout)
    assert ping["ok"] and ping["programs"] == 1
    assert first.stop() == 0
    saved = json.loads(state.read_text())
    assert [p["programName"] for p in saved["programs"]] == ["demo-program"]

    second = ServeProcess("--port", "0", "--state", str(state), "--no-seed-demo")
    serve_process.append(second)
    assert "(loaded)" in " ".join(second.lines)
    programs = json.loads(run_ven("programs", "--json", env={"VEN_VTN__URL": second.url}).stdout)
    assert [p["id"] for p in programs] == [p["id"] for p in saved["programs"]]


def test_serve_without_demo_seed(serve_process):
    server = ServeProcess("--port", "0", "--no-seed-demo")
    serve_process.append(server)
    assert "0 programs, 0 events" in " ".join(server.lines)


def test_serve_on_a_busy_port_is_one_sentence():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = run_ven("vtn", "serve", "--port", str(port))
    assert out.returncode == 2
    assert out.stderr.strip() == f"Error: The local VTN cannot listen on 127.0.0.1:{port}: address already in use."


def test_serve_with_a_damaged_state_file(tmp_path):
    state = tmp_path / "broken.json"
    state.write_text("{oops")
    out = run_ven("vtn", "serve", "--port", "0", "--state", str(state))
    assert out.returncode == 2 and f"Cannot read the local VTN state file {state}" in out.stderr
