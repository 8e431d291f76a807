"""Benchmark: one reporting tick of the whole 19,402-resource fleet, end to end, against the local VTN.

    .venv/bin/python tests/benchmarks/bench_report.py [--dir DIR] [--ticks 3] [--profile]

1. The fleet (19,402 resources, 116,412 loads, 153 meters × 8741 hours) is built in DIR with the project's
   own commands, like ``bench_collect.py`` does (skipped when DIR already holds it).
2. The local VTN runs in a separate process: ``ven vtn serve --port P --state DIR/vtn_state.json`` (the demo
   program and its metering event, USAGE in kWh; reports of earlier benchmark runs are dropped from the
   state file first).
3. Every VEN and load is registered for real by ``ven register`` in a child process (~116k POSTs the first
   time; later runs find everything registered at the same VTN state and post nothing).
4. In this process — the VEN — the pieces ``ven run`` uses are set up (not timed): its malloc arena cap
   (``memory.malloc_arenas``), the transport, the event engine's first poll (it dispatches the metering event
   to the plugins), the collector over every approved load, the reporter and the outbox.  Then each tick is
   timed from collection until the outbox is empty again: collect, build the reports, persist them to the
   outbox (SQLite), POST every report and delete it.

5. The second case, *event-aligned* (skip it with ``--no-aligned``): a 24-interval hourly event over the whole
   fleet, default descriptors (USAGE), created on the VTN starting at the replay clock's next row; 24 ticks (one
   H5 row = one hour each) accumulate per interval in the store (the tick's transaction) and the last one builds
   one report per VEN with 24 intervals, posted like the others.  The event is deleted afterwards.

Figures: ``fleet_tick_s`` (median of ``--ticks`` ticks after the first), ``first_tick_s`` (the first tick,
which also checks the plan's resource names once), ``posts`` (POST /reports of one tick), ``posts_bound``
(one per VEN per event plus chunks), ``report_bytes`` (JSON bytes of one tick's reports), ``rss_mb`` (peak
resident memory of this VEN process), ``ven_cpu_s`` and ``vtn_cpu_s`` (CPU seconds this process and the VTN
process spent per tick — when ``vtn_cpu_s`` is near ``fleet_tick_s`` the VTN is the bottleneck); ``aligned``
holds the second case's: ``fleet_tick_s`` (median of the 23 ticks that only accumulate), ``last_tick_s`` (the
tick that builds and posts the reports: ``last_stored_s`` until every report is built and stored, then
``last_posted_s`` until the outbox is empty; ``last_ven_cpu_s`` and ``last_vtn_cpu_s`` its CPU seconds),
``reports`` (one per VEN, a VEN with more than ``reporting.max_resources_per_report`` loads in chunks) and
``vens``, ``report_bytes`` (their JSON bytes), ``mean_report_bytes``, ``max_report_bytes``, ``intervals`` (the
distinct means of intervals per resource of each report), ``rss_stored_mb`` (peak once the last tick's reports are
stored) and ``rss_mb`` (the process's peak after the case; the top-level ``rss_mb`` is the peak after the
continuous case).  The last line printed is that JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import math
import os
import pstats
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "benchmarks"))

from bench_collect import _env, build_fleet  # noqa: E402 - the same fleet, built the same way


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def vtn_env(folder: Path, url: str) -> dict[str, str]:
    env = _env(folder)
    env.update({"VEN_VTN__URL": url, "VEN_VTN__CLIENT_ID": "ven-dev", "VEN_VTN__CLIENT_SECRET": "ven-dev-secret"})
    return env


DROP_REPORTS = """
import sys, orjson
from pathlib import Path
path = Path(sys.argv[1])
data = orjson.loads(path.read_bytes())
if data.get("reports"):
    data["reports"] = []
    path.write_bytes(orjson.dumps(data))
"""


def drop_old_reports(state_file: Path) -> None:
    """Earlier runs' reports would only make the VTN's state file (and its start-up) bigger.  Done in a child
    process: parsing a big state file must not count towards this process's peak memory."""
    if state_file.is_file():
        subprocess.run([sys.executable, "-c", DROP_REPORTS, str(state_file)], check=True)


def start_vtn(folder: Path, port: int) -> subprocess.Popen:
    state_file = folder / "vtn_state.json"
    drop_old_reports(state_file)
    proc = subprocess.Popen([sys.executable, "-m", "venclient.cli", "vtn", "serve", "--port", str(port),
                             "--state", str(state_file)], cwd=ROOT, env=_env(folder),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"The VTN did not start: {proc.stderr.read().decode()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("The VTN did not start within 120 s.")


def stop_vtn(proc: subprocess.Popen) -> None:
    proc.terminate()  # SIGTERM: uvicorn saves the state file on the way out
    try:
        proc.wait(120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@contextlib.contextmanager
def registered_fleet(folder: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """The fleet built in ``folder`` (when missing), a local VTN process serving it and every load registered;
    yields ``(VTN base URL, VTN process)`` and stops the VTN afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    build_fleet(folder)
    port = free_port()
    url = f"http://127.0.0.1:{port}/openadr3/3.0.1"
    vtn = start_vtn(folder, port)
    try:
        register(folder, url)
        yield url, vtn
    finally:
        stop_vtn(vtn)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """User + system CPU seconds of this process, every thread."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def register(folder: Path, url: str) -> None:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venclient.cli", "register"], check=True, cwd=ROOT, env=vtn_env(folder, url),
                   stdout=subprocess.DEVNULL)
    print(f"  ven register: {time.perf_counter() - started:.1f} s", file=sys.stderr)


ALIGNED_HOURS = 24


async def measure_aligned(runtime, transport, collector, clock, vtn_pid: int) -> dict:
    """The event-aligned case (module docstring, step 5)."""
    import secrets

    from venclient.engine.outbox import Outbox
    from venclient.engine.report_schedule import ReportSchedule
    from venclient.openadr import Event
    from venclient.plugins.openadr_http import HttpVtnTransport, VtnConfig

    store = runtime.store()
    plan = collector.plan
    clock.increase_time()
    start = clock.tick.time
    config = VtnConfig(url=runtime.settings.vtn.url, client_id="bl-dev", client_secret="bl-dev-secret")
    async with HttpVtnTransport(config) as business:
        program = await business.find_program("demo-program")
        event = await business.create_event(Event.model_validate({
            "programID": program.id, "eventName": f"bench-24h-{secrets.token_hex(3)}",
            "intervalPeriod": {"start": start.isoformat(), "duration": "PT1H"},
            "reportDescriptors": [{"payloadType": "USAGE", "units": "KWH"}],
            "intervals": [{"id": n, "payloads": [{"type": "PRICE", "values": [0.1 + n / 100]}]}
                          for n in range(ALIGNED_HOURS)]}))
        try:
            schedule = ReportSchedule(level=runtime.settings.reporting.level,
                                      max_resources=int(runtime.settings.reporting.max_resources_per_report),
                                      get_state=store.get_state,
                                      reader=lambda ven, event_id: store.accumulators_read([ven], event_id))
            _, aligned = schedule.split([event])
            outbox = Outbox(store)
            times, sizes, intervals, stored_at, vtn_cpu, ven_cpu, rss_stored = [], [], [], [], [], [], []
            for n in range(ALIGNED_HOURS):
                if n:
                    clock.increase_time()
                cpu_before, own_before = cpu_seconds(vtn_pid), own_cpu_seconds()
                started = time.perf_counter()
                readings = await collector.collect(clock.tick)
                write = schedule.stage(clock.tick.time, clock.tick_seconds, readings, plan, aligned,
                                       clock.tick.timestamp_ms)
                built = len(sizes)

                def measured(reports):  # built one VEN at a time while the store takes them, as in `ven run`
                    for report in reports:
                        sizes.append(len(report.json.encode()))
                        # intervals per resource, without parsing MBs of JSON into this process's peak memory:
                        # every interval object starts with its id, and nothing else in a report does
                        intervals.append(report.json.count('{"id":') / max(1, report.resources))
                        yield report

                await outbox.put(measured(write.reports), tick_ms=clock.tick.timestamp_ms, state=write.state,
                                 accumulators=write.write)
                schedule.commit(write)
                stored_at.append(time.perf_counter() - started)
                rss_stored.append(peak_rss_mb())
                while store.outbox_counts()["pending"]:
                    result = await outbox.flush(transport)
                    if result.errors:
                        raise SystemExit(f"The VTN refused reports: {result.errors[0]}")
                times.append(time.perf_counter() - started)
                vtn_cpu.append(cpu_seconds(vtn_pid) - cpu_before)
                ven_cpu.append(own_cpu_seconds() - own_before)
                print(f"  aligned tick {n}: {times[-1]:.3f} s ({stored_at[-1]:.3f} s until stored), "
                      f"{len(sizes) - built} reports, VEN CPU {ven_cpu[-1]:.2f} s, VTN CPU {vtn_cpu[-1]:.2f} s; "
                      f"peak RSS {rss_stored[-1]:.0f} MB after storing, {peak_rss_mb():.0f} MB after posting",
                      file=sys.stderr)
        finally:
            await business.delete_event(event.id)
    return {"fleet_tick_s": round(statistics.median(times[:-1]), 3), "last_tick_s": round(times[-1], 3),
            "last_stored_s": round(stored_at[-1], 3), "last_posted_s": round(times[-1] - stored_at[-1], 3),
            "last_ven_cpu_s": round(ven_cpu[-1], 3), "last_vtn_cpu_s": round(vtn_cpu[-1], 3),
            "reports": len(sizes), "vens": len(plan.ven_slices), "report_bytes": sum(sizes),
            "mean_report_bytes": round(sum(sizes) / max(1, len(sizes))), "max_report_bytes": max(sizes, default=0),
            "intervals": sorted(set(round(i, 2) for i in intervals)), "rss_stored_mb": round(rss_stored[-1], 1),
            "rss_mb": round(peak_rss_mb(), 1)}


async def measure(runtime, ticks: int, vtn_pid: int, profile: bool, with_aligned: bool = True) -> dict:
    from venclient.engine.collect import Collector
    from venclient.engine.events import EventEngine
    from venclient.engine.outbox import Outbox
    from venclient.engine.register import select_vens
    from venclient.engine.report import Reporter
    from venclient.engine.report_schedule import ReportSchedule

    store = runtime.store()
    leftover = [row["id"] for row in store.outbox_list()]
    if leftover:  # an interrupted earlier run's reports (their event may be gone): not this run's to send
        store.outbox_delete(leftover)
        print(f"  dropped {len(leftover)} reports an earlier run left in the outbox", file=sys.stderr)
    vens = select_vens(store)
    settings = runtime.settings
    async with runtime.transport() as transport:
        events = EventEngine(runtime, transport, vens)
        await events.poll()
        requests, _aligned = ReportSchedule().split(events.report_requests())  # the continuous ones, as ven run
        print(f"  peak RSS after the event poll: {peak_rss_mb():.0f} MB", file=sys.stderr)
        async with Collector.from_runtime(runtime, vens=vens, strict_open=False) as collector:
            plan = collector.plan
            print(f"  peak RSS after opening the collector: {peak_rss_mb():.0f} MB", file=sys.stderr)
            clock = collector.build_clock(settings)
            reporter = Reporter(interval_seconds=float(settings.reporting.interval_seconds),
                                level=settings.reporting.level,
                                max_resources=int(settings.reporting.max_resources_per_report))
            outbox = Outbox(store)
            registered = int(plan.registered.sum())
            bound = sum(math.ceil((s.stop - s.start) / reporter.max_resources) for s in plan.ven_slices.values())
            bound *= len(requests)
            profiler = cProfile.Profile() if profile else None
            times, vtn_cpu, ven_cpu, posts, report_bytes = [], [], [], [], []
            for n in range(ticks + 1):
                if n:
                    clock.increase_time()
                cpu_before = cpu_seconds(vtn_pid)
                own_before = own_cpu_seconds()
                if profiler is not None and n:
                    profiler.enable()
                started = time.perf_counter()
                readings = await collector.collect(clock.tick)
                sizes: list[int] = []

                def measured(reports):  # as in `ven run`: built one VEN at a time, stored as they come
                    for report in reports:
                        sizes.append(len(report.json.encode()))
                        yield report

                await outbox.put(measured(reporter.iter_build(clock.tick.time, readings, plan, requests,
                                                              clock.tick_seconds)),
                                 tick_ms=clock.tick.timestamp_ms)
                report_bytes.append(sum(sizes))
                after_put = peak_rss_mb()
                attempts = 0
                while store.outbox_counts()["pending"]:
                    result = await outbox.flush(transport)
                    attempts += result.sent + result.deferred + result.rejected
                    if result.errors:
                        raise SystemExit(f"The VTN refused reports: {result.errors[0]}")
                times.append(time.perf_counter() - started)
                if profiler is not None and n:
                    profiler.disable()
                vtn_cpu.append(cpu_seconds(vtn_pid) - cpu_before)
                ven_cpu.append(own_cpu_seconds() - own_before)
                posts.append(attempts)
                print(f"  tick {n}: {times[-1]:.3f} s, {attempts} posts, {report_bytes[-1] / 1e6:.1f} MB, "
                      f"VEN CPU {ven_cpu[-1]:.2f} s, VTN CPU {vtn_cpu[-1]:.2f} s; peak RSS {after_put:.0f} MB after "
                      f"queuing, {peak_rss_mb():.0f} MB after posting", file=sys.stderr)
            if profiler is not None:
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(35)
                print(out.getvalue(), file=sys.stderr)
            continuous_rss = peak_rss_mb()
            aligned = await measure_aligned(runtime, transport, collector, clock, vtn_pid) if with_aligned else None
    steady = times[1:] or times
    return {"rss_after_continuous_mb": round(continuous_rss, 1), "aligned": aligned,"fleet_tick_s": round(statistics.median(steady), 3), "first_tick_s": round(times[0], 3),
            "posts": posts[-1], "posts_bound": bound, "report_bytes": report_bytes[-1],
            "vtn_cpu_s": round(statistics.median(vtn_cpu[1:] or vtn_cpu), 3),
            "ven_cpu_s": round(statistics.median(ven_cpu[1:] or ven_cpu), 3),
            "loads": len(plan), "registered_loads": registered, "vens": len(plan.ven_slices),
            "events": len(requests)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="Where the fleet lives (built when missing).")
    parser.add_argument("--ticks", type=int, default=3, help="Timed ticks after the first (median reported).")
    parser.add_argument("--profile", action="store_true", help="Print a cProfile of the timed ticks to stderr.")
    parser.add_argument("--no-aligned", action="store_true", help="Skip the event-aligned case.")
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="bench_report_"))
    with registered_fleet(folder) as (url, vtn):
        os.environ.update(vtn_env(folder, url))
        from venclient.memory import limit_malloc_arenas
        from venclient.runtime import Runtime

        runtime = Runtime.create(load_entry_points=False)
        limit_malloc_arenas(int(runtime.settings.get("memory.malloc_arenas", 2)))  # as `ven run` does
        try:
            figures = asyncio.run(measure(runtime, args.ticks, vtn.pid, args.profile, not args.no_aligned))
        finally:
            runtime.close()
    figures["rss_mb"] = figures.pop("rss_after_continuous_mb")  # the continuous case's peak
    print(f"fleet: {figures['loads']:,} loads ({figures['registered_loads']:,} registered) in {figures['vens']} VENs, "
          f"{figures['events']} event(s) asking for reports; goals: fleet_tick_s <= 2, posts <= {figures['posts_bound']}, "
          f"rss_mb <= 200", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
