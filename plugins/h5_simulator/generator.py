"""A synthetic ``load_data.h5`` in the seeds' layout, with six load profiles that look like their names.

The file format is :mod:`venclient.plugins.h5_simulator.layout`: 18-digit meter ids, hourly values from
2025-01-15 13:00 UTC.  Profiles, per meter scaled by a random site size:

* ``load_0`` Base Load — steady, a little noise.
* ``load_1`` Water Heater — idle standby with heating spikes, most likely mornings and evenings.
* ``load_2`` HVAC — heating that follows a Danish outdoor temperature (season, day/night, weather),
  a little cooling on warm afternoons, more while the site is open.
* ``load_3`` Kitchen Appliances — refrigeration plus peaks at breakfast, lunch and dinner.
* ``load_4`` Lighting — on after dark (solar elevation at 56°N 10°E) while people are about.
* ``load_5`` Other Appliances — noisy: correlated noise around an opening-hours level, random bursts.

The file is written to a temporary name beside the target and renamed, so a crash never leaves a
half-written file where the target was.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from venclient.errors import InputError

START = datetime(2025, 1, 15, 13, 0, tzinfo=timezone.utc)
INTERVAL_SECONDS = 3600
METER_ID_PREFIX = "707057500"
LATITUDE_DEG = 56.0
LONGITUDE_DEG = 10.0


@dataclass(frozen=True)
class TimeAxis:
    """Per-hour features shared by every meter: Danish local hour, weekday, weather and daylight."""

    unix_seconds: np.ndarray  # float64
    local_hour: np.ndarray  # 0..23 (Europe/Copenhagen, with summer time)
    weekend: np.ndarray  # bool
    outdoor_c: np.ndarray  # outdoor temperature, °C
    sun_elevation_deg: np.ndarray


def _last_sunday(year: int, month: int) -> datetime:
    day = datetime(year, month + 1, 1, tzinfo=timezone.utc) - timedelta(days=1)
    return day - timedelta(days=(day.weekday() - 6) % 7)


def copenhagen_offset_seconds(unix_seconds: np.ndarray) -> np.ndarray:
    """UTC offset of Danish local time (CET +1 h, CEST +2 h from the last Sunday of March to that of October)."""
    offsets = np.full(unix_seconds.shape, 3600, dtype=np.int64)
    if unix_seconds.size == 0:
        return offsets
    first = datetime.fromtimestamp(float(unix_seconds.min()), timezone.utc).year
    last = datetime.fromtimestamp(float(unix_seconds.max()), timezone.utc).year
    for year in range(first, last + 1):
        begin = (_last_sunday(year, 3) + timedelta(hours=1)).timestamp()
        end = (_last_sunday(year, 10) + timedelta(hours=1)).timestamp()
        offsets[(unix_seconds >= begin) & (unix_seconds < end)] = 7200
    return offsets


def time_axis(hours: int, start: datetime, weather_rng: np.random.Generator) -> TimeAxis:
    """The hourly time axis from ``start`` with local time, temperature and sun elevation."""
    unix = start.timestamp() + INTERVAL_SECONDS * np.arange(hours, dtype=np.float64)
    local = unix.astype(np.int64) + copenhagen_offset_seconds(unix)
    local_hour = (local % 86400) // 3600
    weekday = (local // 86400 + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    day_of_year = (unix - datetime(start.year, 1, 1, tzinfo=timezone.utc).timestamp()) / 86400.0
    utc_hour = (unix % 86400) / 3600.0
    # Denmark: about 1 °C in late January, 17 °C in late July; warmest mid-afternoon; slow weather swings.
    seasonal = 9.0 - 8.0 * np.cos(2 * np.pi * (day_of_year - 25) / 365.25)
    daily = 3.0 * np.cos(2 * np.pi * (local_hour - 15) / 24)
    weather = _smooth_noise(weather_rng, hours, memory_hours=72) * 3.0
    declination = -23.44 * np.cos(2 * np.pi * (day_of_year + 10) / 365.25)
    hour_angle = 15.0 * (utc_hour + LONGITUDE_DEG / 15.0 - 12.0)
    lat, dec, ha = np.radians(LATITUDE_DEG), np.radians(declination), np.radians(hour_angle)
    elevation = np.degrees(np.arcsin(np.sin(lat) * np.sin(dec) + np.cos(lat) * np.cos(dec) * np.cos(ha)))
    return TimeAxis(unix_seconds=unix, local_hour=local_hour.astype(np.float64), weekend=weekday >= 5,
                    outdoor_c=seasonal + daily + weather, sun_elevation_deg=elevation)


def _smooth_noise(rng: np.random.Generator, length: int, memory_hours: int) -> np.ndarray:
    """Zero-mean, unit-variance noise correlated over about ``memory_hours`` (exponential kernel)."""
    kernel = np.exp(-np.arange(4 * memory_hours) / memory_hours)
    white = rng.normal(size=length + kernel.size)
    smooth = np.convolve(white, kernel, mode="valid")[:length]
    return smooth / np.sqrt(np.sum(kernel**2))


def _bump(hour: np.ndarray, centre: float, width: float) -> np.ndarray:
    distance = np.minimum(np.abs(hour - centre), 24 - np.abs(hour - centre))
    return np.exp(-0.5 * (distance / width) ** 2)


def meter_profiles(rng: np.random.Generator, axis: TimeAxis) -> np.ndarray:
    """The six load profiles of one meter in watts, shape (6, hours), never negative."""
    n = axis.unix_seconds.size
    hour = axis.local_hour
    size = rng.lognormal(mean=0.0, sigma=0.45)
    opens, closes = rng.uniform(6, 10), rng.uniform(17, 23)
    open_now = ((hour >= opens) & (hour < closes)).astype(np.float64)
    occupancy = np.where(axis.weekend, 0.6, 1.0) * open_now + 0.1

    base = size * rng.uniform(400, 1500) * (1 + 0.02 * rng.normal(size=n))

    heater_kw = size * rng.uniform(2000, 6000)
    demand = 0.05 + 0.35 * _bump(hour, 7.5, 1.2) + 0.3 * _bump(hour, 19.0, 1.5)
    on = rng.random(n) < demand
    water = np.where(on, heater_kw * rng.uniform(0.3, 1.0, size=n), size * 20.0)

    heating = np.clip(16.0 - axis.outdoor_c, 0, None) / 16.0
    cooling = np.clip(axis.outdoor_c - 21.0, 0, None) / 6.0
    hvac_kw = size * rng.uniform(3000, 9000)
    hvac = hvac_kw * (heating * (0.55 + 0.45 * occupancy) + 0.4 * cooling * occupancy) + size * 150 * open_now
    hvac *= 1 + 0.05 * rng.normal(size=n)

    meals = 0.5 * _bump(hour, 7.5, 0.8) + 1.0 * _bump(hour, 12.0, 0.9) + 0.9 * _bump(hour, 18.5, 1.0)
    kitchen = size * (180.0 + rng.uniform(1500, 5000) * meals * np.where(axis.weekend, 1.15, 1.0))
    kitchen *= 1 + 0.08 * rng.normal(size=n)

    darkness = 1.0 / (1.0 + np.exp(axis.sun_elevation_deg / 2.0))
    awake = np.where((hour >= 6) & (hour < 23), 1.0, 0.15)
    lighting = size * rng.uniform(600, 3000) * darkness * awake * np.maximum(occupancy, 0.3)
    lighting *= 1 + 0.03 * rng.normal(size=n)

    level = size * rng.uniform(300, 1200) * (0.4 + 0.6 * occupancy)
    bursts = (rng.random(n) < 0.04) * size * rng.uniform(500, 2500, size=n)
    other = level * np.exp(0.35 * _smooth_noise(rng, n, memory_hours=3)) + bursts

    return np.clip(np.vstack([base, water, hvac, kitchen, lighting, other]), 0.0, None)


@dataclass(frozen=True)
class MeterDataSummary:
    """What :func:`write_meterdata` wrote."""

    path: str
    meters: int
    hours: int
    start: str
    end: str
    seed: int
    bytes: int
    meter_ids: tuple[str, ...]


def _generate_meter_ids(rng: np.random.Generator, count: int) -> list[str]:
    suffixes = rng.choice(10**9, size=count, replace=False)
    return sorted(f"{METER_ID_PREFIX}{int(s):09d}" for s in suffixes.tolist())


def _prepare_target(path: Path) -> None:
    if path.is_dir():
        raise InputError(f"The meter data path {path} is a directory; give a file name such as {path / 'load_data.h5'}.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"Cannot create the folder {path.parent} for the meter data file: "
                         f"{err.strerror or err}.") from None


def write_meterdata(path: str | Path, *, meters: int = 153, hours: int = 8741, seed: int | None = None,
                    start: datetime = START, progress: Callable[[int], None] | None = None) -> MeterDataSummary:
    """Write ``meters`` × six profiles of ``hours`` hourly values to ``path`` atomically.

    The same ``seed`` gives the same file contents.  ``progress(1)`` is called after each meter.
    Raises :class:`InputError` naming the path when it cannot be written; the old file, if any, stays.
    """
    import h5py

    from venclient.plugins.h5_simulator.layout import write_file_attrs, write_meter

    if meters < 1 or hours < 1:
        raise InputError(f"Meter data needs at least one meter and one hour (got {meters} meters, {hours} hours).")
    if meters > 10**9:
        raise InputError(f"At most 1,000,000,000 distinct meter ids exist, asked for {meters} meters.")
    target = Path(path)
    _prepare_target(target)
    seed = secrets.randbelow(2**31) if seed is None else seed
    rng = np.random.default_rng(seed)
    meter_ids = _generate_meter_ids(rng, meters)
    axis = time_axis(hours, start, rng)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with h5py.File(temporary, "w-") as h5:
            meters_group = write_file_attrs(h5, {"start_unix_seconds": int(start.timestamp()),
                                                 "interval_seconds": INTERVAL_SECONDS, "hours": hours,
                                                 "seed": seed, "generator": "venclient h5_simulator"})
            for meter_id in meter_ids:
                write_meter(meters_group, meter_id, axis.unix_seconds, meter_profiles(rng, axis))
                if progress is not None:
                    progress(1)
        os.replace(temporary, target)
    except OSError as err:
        raise InputError(f"Cannot write the meter data file {target}: {err.strerror or err}.") from None
    finally:
        temporary.unlink(missing_ok=True)
    end = start + timedelta(seconds=INTERVAL_SECONDS * (hours - 1))
    return MeterDataSummary(path=str(target), meters=meters, hours=hours, start=start.isoformat(),
                            end=end.isoformat(), seed=seed, bytes=target.stat().st_size,
                            meter_ids=tuple(meter_ids))
