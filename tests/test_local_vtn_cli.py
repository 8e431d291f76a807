"""`ven vtn serve` as a real process: starts, serves, persists its state file on Ctrl-C, reloads it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest

from fixtures.vtn import REPO, run_ven


class ServeProcess:
    """``ven vtn serve`` in a subprocess; ``url`` is read from its "listening on" line."""

    def __init__(self, *args: str):
        env = {k: v for k, v in os.environ.items() if not k.startswith("VEN_")}
        env["COLUMNS"] = "400"
        self.process = subprocess.Popen([sys.executable, "-m", "core.cli", "vtn", "serve", *args], cwd=REPO,
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._ready.wait(30)
        found = re.search(r"listening on (http://\S+)", " ".join(self.lines))
        if found is None:
            self.stop()
            pytest.fail("ven vtn serve did not start: " + " ".join(self.lines))
        self.url = found.group(1)

    def _read(self) -> None:
        for line in self.process.stderr:  # type: ignore[union-attr]
            self.lines.append(line.rstrip())
            if "listening on" in line or "Error" in line:
                self._ready.set()
        self._ready.set()

    def stop(self) -> int:
        """Ctrl-C and wait (bounded); kill if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._reader.join(5)
        return self.process.returncode


@pytest.fixture
def serve_process() -> Iterator[list[ServeProcess]]:
    started: list[ServeProcess] = []
    yield started
    for process in started:
        process.stop()


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
