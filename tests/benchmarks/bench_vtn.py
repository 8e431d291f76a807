"""Benchmark: resource creation on the local VTN, as the registration engine will drive it.

The VTN runs in a separate process (``ven vtn serve`` on 127.0.0.1, a free port); a raw ``httpx.AsyncClient``
keeps ``--inflight`` POST /vens/{id}/resources requests in flight over kept-alive connections, spreading
resources over ``--vens`` VENs like the fleet (116,412 loads over 158 VENs).  Creation throughput is
measured early (the first ``--requests`` resources) and late (from ``--late-after`` stored resources to
``--total``), to show it stays flat as the store grows; the VTN process's CPU time per create is reported
for both phases too, a figure less disturbed by other work on the machine than requests per second.  The resources in between are sent through
:class:`venclient.plugins.openadr_http.HttpVtnTransport` (models in and out, as the registration engine sends them),
which gives ``transport_create_rps``.  Then pages of GET /vens/{id}/resources are timed and every VEN is read
back to count what the VTN stored.

    .venv/bin/python tests/benchmarks/bench_vtn.py            # full run, ~2 minutes
    .venv/bin/python tests/benchmarks/bench_vtn.py --total 30000 --late-after 20000 --requests 10000

The last line printed is JSON: create_resource_rps, create_resource_rps_late, transport_create_rps,
list_page_ms, resources_stored (and the parameters).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson

REPO = Path(__file__).resolve().parents[2]
COMPONENTS = ("Base Load", "Water Heater", "HVAC", "Kitchen Appliances", "Lighting", "Other Appliances")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEN_")}
    env["VEN_LOG_LEVEL"] = "WARNING"
    process = subprocess.Popen([sys.executable, "-m", "venclient.cli", "vtn", "serve", "--host", "127.0.0.1",
                                "--port", str(port), "--no-seed-demo"], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"ven vtn serve exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("ven vtn serve did not start within 60 s")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_us_per_request(before: float | None, after: float | None, requests: int) -> float | None:
    return None if before is None or after is None else round((after - before) / requests * 1e6, 1)


def resource_body(index: int) -> bytes:
    """A resource like the registration engine sends: stable name, human name and metadata in attributes."""
    resource_id, component = divmod(index, 6)
    return orjson.dumps({
        "resourceName": f"res-{resource_id:06d}_load_{component}",
        "attributes": [
            {"type": "LOAD_NAME", "values": [COMPONENTS[component]]},
            {"type": "RESOURCE_NAME", "values": [f"Hotel {resource_id} - {COMPONENTS[component]}"]},
            {"type": "RESOURCE_TYPE", "values": ["Hotel"]},
            {"type": "METER_POINT_ID", "values": [f"5713131{resource_id:011d}"]},
            {"type": "H5_METER_ID", "values": [f"meter_{resource_id % 2000:04d}"]},
            {"type": "LOCATION", "values": [{"x": 9.92, "y": 57.05}]},
        ],
    })


class ShardedClients:
    """``count`` raw ``httpx.AsyncClient``s with one kept-alive connection each, handed out per request.

    One AsyncClient with 50 connections is slower: httpcore scans every pooled connection (a poll syscall each)
    on every request.  The SSL context is shared so 50 clients do not load the CA bundle 50 times.
    """

    def __init__(self, base: str, count: int):
        import ssl

        context = ssl.create_default_context()
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self.clients = [httpx.AsyncClient(base_url=base + "/", limits=limits, timeout=30, verify=context)
                        for _ in range(count)]

    def set_token(self, token: str) -> None:
        for client in self.clients:
            client.headers["Authorization"] = f"Bearer {token}"

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


async def create_range(clients: ShardedClients, ven_ids: list[str], start: int, stop: int) -> tuple[float, int]:
    """POST resources ``start``…``stop``, one worker per client; return (seconds, non-201 answers)."""
    next_index = start
    errors = 0
    headers = {"Content-Type": "application/json"}

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal next_index, errors
        while next_index < stop:
            index = next_index
            next_index += 1
            ven_id = ven_ids[(index // 6) % len(ven_ids)]
            response = await client.post(f"vens/{ven_id}/resources", content=resource_body(index), headers=headers)
            if response.status_code != 201:
                errors += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in clients.clients))
    return time.perf_counter() - began, errors


async def create_range_with_transport(base: str, inflight: int, ven_ids: list[str], start: int,
                                      stop: int) -> tuple[float, int]:
    """The same through :class:`HttpVtnTransport` (pydantic models in and out, retries armed)."""
    sys.path.insert(0, str(REPO))
    from venclient.openadr import Resource
    from venclient.vtn_errors import VtnError
    from venclient.plugins.openadr_http import HttpVtnTransport, VtnConfig

    config = VtnConfig(url=base, client_id="ven-dev", client_secret="ven-dev-secret", max_connections=inflight)
    next_index = start
    errors = 0
    async with HttpVtnTransport(config) as vtn:
        await vtn.authenticate()

        async def worker() -> None:
            nonlocal next_index, errors
            while next_index < stop:
                index = next_index
                next_index += 1
                resource = Resource.model_validate_json(resource_body(index))
                try:
                    await vtn.create_resource(ven_ids[(index // 6) % len(ven_ids)], resource)
                except VtnError:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(inflight)))
        return time.perf_counter() - began, errors


async def run(args: argparse.Namespace, base: str, server_pid: int) -> dict:
    clients = ShardedClients(base, args.inflight)
    client = clients.clients[0]
    try:
        token = (await client.post("auth/token", data={"grant_type": "client_credentials", "client_id": "ven-dev",
                                                       "client_secret": "ven-dev-secret"})).json()["access_token"]
        clients.set_token(token)
        ven_ids = []
        for i in range(args.vens):
            answer = await client.post("vens", json={"venName": f"bench-ven-{i:03d}"})
            ven_ids.append(answer.json()["id"])

        cpu0 = cpu_seconds(server_pid)
        early_s, errors = await create_range(clients, ven_ids, 0, args.requests)
        cpu1 = cpu_seconds(server_pid)
        print(f"early (raw httpx): {args.requests:,} creates in {early_s:.1f} s = {args.requests / early_s:,.0f}/s",
              file=sys.stderr)
        preload_s, more = await create_range_with_transport(base, args.inflight, ven_ids, args.requests,
                                                            args.late_after)
        errors += more
        preload_n = args.late_after - args.requests
        print(f"preload (HttpVtnTransport): {preload_n:,} creates in {preload_s:.1f} s = "
              f"{preload_n / max(preload_s, 1e-9):,.0f}/s", file=sys.stderr)
        late_n = args.total - args.late_after
        cpu2 = cpu_seconds(server_pid)
        late_s, more = await create_range(clients, ven_ids, args.late_after, args.total)
        cpu3 = cpu_seconds(server_pid)
        errors += more
        print(f"late (raw httpx): {late_n:,} creates from {args.late_after:,} stored in {late_s:.1f} s = "
              f"{late_n / late_s:,.0f}/s", file=sys.stderr)

        page_ms = []
        for i in range(200):  # one request at a time: the latency of a page on a full store
            ven_id = ven_ids[i % len(ven_ids)]
            began = time.perf_counter()
            answer = await client.get(f"vens/{ven_id}/resources", params={"skip": (i * 50) % 700, "limit": 50})
            page_ms.append((time.perf_counter() - began) * 1000)
            assert answer.status_code == 200

        async def count(reader: httpx.AsyncClient, ven_id: str) -> int:
            total, skip = 0, 0
            while True:
                page = (await reader.get(f"vens/{ven_id}/resources", params={"skip": skip, "limit": 50})).json()
                total += len(page)
                skip += len(page)
                if len(page) < 50:
                    return total

        stored = 0
        for chunk in range(0, len(ven_ids), args.inflight):
            part = ven_ids[chunk:chunk + args.inflight]
            stored += sum(await asyncio.gather(*(count(c, v) for c, v in zip(clients.clients, part))))
    finally:
        await clients.aclose()

    return {
        "create_resource_rps": round(args.requests / early_s, 1),
        "create_resource_rps_late": round(late_n / late_s, 1),
        "transport_create_rps": round(preload_n / max(preload_s, 1e-9), 1),
        "server_cpu_us_per_create": cpu_us_per_request(cpu0, cpu1, args.requests),
        "server_cpu_us_per_create_late": cpu_us_per_request(cpu2, cpu3, late_n),
        "late_phase_from_stored": args.late_after,
        "list_page_ms": round(statistics.median(page_ms), 2),
        "list_page_ms_p95": round(sorted(page_ms)[int(len(page_ms) * 0.95)], 2),
        "resources_stored": stored,
        "requests": args.requests,
        "in_flight": args.inflight,
        "vens": args.vens,
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="creates in the early measurement")
    parser.add_argument("--late-after", type=int, default=100_000, help="stored resources before the late measurement")
    parser.add_argument("--total", type=int, default=116_412, help="resources at the end")
    parser.add_argument("--inflight", type=int, default=50)
    parser.add_argument("--vens", type=int, default=158)
    args = parser.parse_args()
    if not args.requests <= args.late_after < args.total:
        parser.error("need --requests <= --late-after < --total")
    port = free_port()
    server = start_server(port)
    try:
        try:
            import uvloop

            result = uvloop.run(run(args, f"http://127.0.0.1:{port}/openadr3/3.0.1", server.pid))
            result["client_loop"] = "uvloop"
        except ImportError:
            result = asyncio.run(run(args, f"http://127.0.0.1:{port}/openadr3/3.0.1", server.pid))
            result["client_loop"] = "asyncio"
    finally:
        server.terminate()
        server.wait(30)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
