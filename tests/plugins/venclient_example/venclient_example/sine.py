"""A meter that is a sine wave: connection kind ``sine``, with ``amplitude`` (W), ``period`` (s), ``phase`` (°).

Load component ``load_n`` of a resource reads ``amplitude · sin(2π · t / period + phase + n · 60°)`` at the
tick's time ``t`` (Unix seconds) — a clock you can compute in a test, so nothing here needs a device.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from venclient import (LOAD_COMPONENTS, QUALITY_MISSING, QUALITY_OK, Connection, LoadBatch, SourceReading, Tick,
                       parsed_connections)
from venclient_example.wave import COMPONENT_SHIFT, KIND, parse_wave

log = logging.getLogger(__name__)


class SineMeterSource:
    """The :class:`venclient.MeterSource` of kind ``sine``: one numpy expression per tick for the whole batch."""

    kinds: tuple[str, ...] = (KIND,)

    def __init__(self) -> None:
        self._reported: set[int] = set()  # connections already logged as rejected (kept across open calls)
        self._amplitude = self._omega = self._phase = np.empty(0)
        self._power = np.empty(0)
        self._quality = np.empty(0, dtype=np.uint8)

    def validate_connection(self, connection: Connection) -> None:
        """Called by ``ven resources connect`` before storing (``connection.id`` is still ``None``)."""
        parse_wave(connection)

    async def test_read(self, connection: Connection, tick: Tick | None = None) -> dict[str, float | None]:
        """``ven resources test``: every component's value now (or at ``tick``)."""
        wave = parse_wave(connection)
        seconds = tick.time.timestamp() if tick is not None else 0.0
        return {name: wave.watts(seconds, index) for index, name in enumerate(LOAD_COMPONENTS)}

    async def open(self, batch: LoadBatch) -> None:
        """Per load: the wave of its connection (NaN where the connection was rejected); buffers sized once."""
        waves = parsed_connections(batch, self.kinds, parse_wave, self._reported, log)
        count = len(batch)
        self._amplitude, self._omega, self._phase = np.full(count, np.nan), np.ones(count), np.zeros(count)
        for position, (connection_id, component) in enumerate(zip(batch.connection_ids.tolist(),
                                                                  batch.components.tolist())):
            wave = waves.get(int(connection_id))
            if wave is not None:
                self._amplitude[position] = wave.amplitude
                self._omega[position] = 2 * math.pi / wave.period
                self._phase[position] = wave.phase + int(component) * COMPONENT_SHIFT
        self._power = np.empty(count)
        self._quality = np.where(np.isnan(self._amplitude), QUALITY_MISSING, QUALITY_OK).astype(np.uint8)

    async def read(self, tick: Tick) -> SourceReading:
        """The batch's values at ``tick``, written into the same buffer every time (the collector copies it)."""
        np.multiply(self._omega, tick.time.timestamp(), out=self._power)
        np.add(self._power, self._phase, out=self._power)
        np.sin(self._power, out=self._power)
        np.multiply(self._power, self._amplitude, out=self._power)
        return SourceReading(self._power, self._quality)

    async def close(self) -> None:
        """Nothing to release: no device, no thread."""
