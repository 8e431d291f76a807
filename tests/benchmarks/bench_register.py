"""Benchmark: registration throughput — our engine vs a minimal raw httpx client vs the seeds' batch method.

Run: ``.venv/bin/python tests/benchmarks/bench_register.py [--resources 3400] [--seed-loads 2000] [--full]``

1. Builds a fleet in a temporary folder with the real commands (``ven meterdata generate`` with a few hours,
   ``ven samples generate``, ``ven loads generate``): 3,400 resources = 20,400 loads by default, the whole
   19,402-resource fleet (116,412 loads) with ``--full``.
2. For each contender, starts a fresh local VTN in its own process (``ven vtn serve``) and registers a fresh
   copy of the store:
   * ``ours`` — ``Registrar.register_vens`` (window of 50 in flight, results written to the store);
   * ``raw`` — minimal ``httpx.AsyncClient``s (one kept-alive connection per request in flight, like ours)
     posting the same resource bodies with the same window of 50, writing nothing anywhere;
   * ``seed`` — the seeds' method: batches of 50 with ``gather`` and a 0.5 s pause, on the first
     ``--seed-loads`` loads only (it is slow by design).
3. Prints details (with the CPU each contender and its VTN spent per load), then LAST one JSON line:
   ``loads``, ``loads_per_s``, ``raw_per_s``, ``seed_method_per_s``, ``ratio_raw``, ``seconds`` (ours, wall),
   ``speedup_vs_seed``, ``client_cpu_us_per_load`` and ``raw_client_cpu_us_per_load`` (this process's CPU per
   load for ours and for raw: when the client side is the bottleneck, the ratio follows these two).

Goals: ``ratio_raw`` ≥ 0.9, ``loads_per_s`` ≥ 5 × ``seed_method_per_s``, 116,412 loads in ≤ 120 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

WINDOW = 50


def ven_cli(*args: str) -> str:
    """Run ``ven ARGS`` in-process (environment settings); exit on failure."""
    from venclient.cli.app import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exit_:
            if exit_.code:
                sys.exit(f"ven {' '.join(args)} failed: {err.getvalue().strip()}")
    return out.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class VtnProcess:
    """``ven vtn serve`` on a free loopback port in a child process (fresh, in-memory state)."""

    def __init__(self) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("VEN_")}
        env["VEN_LOG_LEVEL"] = "WARNING"
        self.proc = subprocess.Popen([sys.executable, "-m", "venclient.cli", "vtn", "serve", "--port", str(self.port)],
                                     cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            if self.proc.poll() is not None:
                sys.exit(f"the local VTN did not start: {self.proc.stderr.read().decode()[-500:]}")
            time.sleep(0.05)
        sys.exit("the local VTN did not start within 30 s")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/openadr3/3.0.1"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Timed:
    """Wall seconds and CPU seconds — this process (the client) and the VTN process — spent in a block."""

    def __init__(self, vtn: "VtnProcess"):
        self.vtn = vtn
        self.seconds = self.client_cpu = self.vtn_cpu = 0.0

    @staticmethod
    def _own_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def _vtn_cpu(self) -> float:
        fields = Path(f"/proc/{self.vtn.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> "Timed":
        self._start = (time.perf_counter(), self._own_cpu(), self._vtn_cpu())
        return self

    def __exit__(self, *exc: object) -> None:
        wall, own, vtn = self._start
        self.seconds = time.perf_counter() - wall
        self.client_cpu = self._own_cpu() - own
        self.vtn_cpu = self._vtn_cpu() - vtn


def runtime_for(db: Path, h5: Path, vtn_url: str):
    from venclient.runtime import Runtime
    from venclient.settings import load_settings

    return Runtime.create(load_settings("development", database_url=f"sqlite:///{db}", h5_path=str(h5),
                                        **{"vtn.url": vtn_url}))


async def run_ours(db: Path, h5: Path, vtn: VtnProcess) -> tuple[int, Timed]:
    from venclient.engine.register import Registrar

    runtime = runtime_for(db, h5, vtn.url)
    store = runtime.store()
    vens = store.get_ven_list()
    async with runtime.transport() as transport:
        await transport.authenticate()
        registrar = Registrar(store, transport, vtn_url=vtn.url, concurrency=WINDOW)
        with Timed(vtn) as timed:
            summary = (await registrar.register_vens(vens)).as_dict()
    runtime.close()
    if summary["loads_failed"]:
        sys.exit(f"ours: {summary['loads_failed']} loads failed")
    return summary["loads_registered"], timed


async def run_raw(db: Path, h5: Path, vtn: VtnProcess) -> tuple[int, Timed]:
    """The same bodies, the same window, a bare client: token once, VEN ids once, then POST as fast as it can."""
    import httpx

    from venclient.engine.register import resource_payload

    runtime = runtime_for(db, h5, vtn.url)
    store = runtime.store()
    work = [(ven, row) for ven in store.get_ven_list() for row in store.registration_rows(ven)]
    runtime.close()
    bodies = [(ven, json.dumps(resource_payload(row)).encode()) for ven, row in work]
    # One kept-alive connection per worker, like our transport: a single AsyncClient pooling 50 connections
    # is far slower (httpcore scans every pooled connection on every request).
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [httpx.AsyncClient(base_url=vtn.url + "/", limits=limits) for _ in range(WINDOW)]
    try:
        client = clients[0]
        token = (await client.post("auth/token", data={"grant_type": "client_credentials", "client_id": "ven-dev",
                                                       "client_secret": "ven-dev-secret"})).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        ven_ids = {}
        for ven in sorted({v for v, _ in bodies}):
            response = await client.post("vens", json={"venName": ven}, headers=headers)
            ven_ids[ven] = response.json()["id"]
        queue = iter(bodies)
        failures = 0

        async def worker(own: httpx.AsyncClient) -> None:
            nonlocal failures
            for ven, body in queue:
                response = await own.post(f"vens/{ven_ids[ven]}/resources", content=body, headers=headers)
                failures += response.status_code != 201

        with Timed(vtn) as timed:
            await asyncio.gather(*(worker(c) for c in clients))
    finally:
        for c in clients:
            await c.aclose()
    if failures:
        sys.exit(f"raw: {failures} requests failed")
    return len(bodies), timed


async def run_seed_method(db: Path, h5: Path, vtn: VtnProcess, limit: int) -> tuple[int, Timed]:
    """The seeds' batches of 50 + 0.5 s pause over the first ``limit`` loads (whole VENs)."""
    from venclient.engine.register import Registrar

    runtime = runtime_for(db, h5, vtn.url)
    store = runtime.store()
    chosen, count = [], 0
    for ven in store.get_ven_list():
        if count >= limit:
            break
        chosen.append(ven)
        count += len(store.registration_rows(ven))
    async with runtime.transport() as transport:
        await transport.authenticate()
        registrar = Registrar(store, transport, vtn_url=vtn.url)
        done = 0
        with Timed(vtn) as timed:
            for ven in chosen:
                result = await registrar.register_ven_in_batches(ven, batch_size=50, delay_between_batches=0.5)
                done += result.registered + result.adopted
    runtime.close()
    return done, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=3400, help="fleet size (6 loads each)")
    parser.add_argument("--full", action="store_true", help="the whole 19,402-resource fleet (116,412 loads)")
    parser.add_argument("--seed-loads", type=int, default=2000, help="loads for the slow seed method")
    args = parser.parse_args()
    resources = 19_402 if args.full else args.resources

    with tempfile.TemporaryDirectory(prefix="bench_register_") as folder:
        base = Path(folder)
        h5 = base / "load_data.h5"
        master = base / "master.db"
        for key in [k for k in os.environ if k.startswith("VEN_")]:
            del os.environ[key]
        os.environ.update({"VEN_DATABASE_URL": f"sqlite:///{master}", "VEN_H5_PATH": str(h5),
                           "VEN_LOG_LEVEL": "WARNING"})
        ven_cli("meterdata", "generate", "--meters", "153", "--hours", "24", "--seed", "1", "--json")
        ven_cli("samples", "generate", "--resources", str(resources), "--seed", "1", "--json")
        ven_cli("loads", "generate", "--seed", "1", "--json")
        for name in ("ours", "raw", "seed"):
            shutil.copy(master, base / f"{name}.db")

        results = {}
        for name in ("raw", "ours", "seed"):
            vtn = VtnProcess()
            try:
                db = base / f"{name}.db"
                if name == "ours":
                    results[name] = asyncio.run(run_ours(db, h5, vtn))
                elif name == "raw":
                    results[name] = asyncio.run(run_raw(db, h5, vtn))
                else:
                    results[name] = asyncio.run(run_seed_method(db, h5, vtn, args.seed_loads))
            finally:
                vtn.stop()
            loads, timed = results[name]
            print(f"{name:>5}: {loads:,} loads in {timed.seconds:.2f} s = {loads / timed.seconds:,.0f} loads/s; "
                  f"CPU per load: client {timed.client_cpu / loads * 1e6:.0f} µs, "
                  f"VTN {timed.vtn_cpu / loads * 1e6:.0f} µs")

    ours = results["ours"][0] / results["ours"][1].seconds
    raw = results["raw"][0] / results["raw"][1].seconds
    seed = results["seed"][0] / results["seed"][1].seconds
    figures = {"loads": results["ours"][0], "loads_per_s": round(ours, 1), "raw_per_s": round(raw, 1),
               "seed_method_per_s": round(seed, 1), "ratio_raw": round(ours / raw, 3),
               "seconds": round(results["ours"][1].seconds, 2), "speedup_vs_seed": round(ours / seed, 1),
               "client_cpu_us_per_load": round(results["ours"][1].client_cpu / results["ours"][0] * 1e6),
               "raw_client_cpu_us_per_load": round(results["raw"][1].client_cpu / results["raw"][0] * 1e6)}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
