"""The H5 simulator looks ahead (venclient.protocols.ForecastsPower): ``forecast_w`` gives the recorded watts of
future rows for the opened batch, also through the responding wrapper, and refuses a batch it was not opened with."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from venclient.engine.collect import Collector
from venclient.protocols import ForecastsPower
from fixtures.collect import METER_IDS, START_S, add_fleet, expected_watts


async def test_forecast_w_reads_the_rows_ahead(collect_runtime):
    add_fleet(collect_runtime.store(), {"Herning": [METER_IDS[0], METER_IDS[1]]})
    async with Collector.from_runtime(collect_runtime) as collector:
        source = collector.sources["h5sim"]
        assert isinstance(source, ForecastsPower)
        run = collector._runs[0]
        start = datetime.fromtimestamp(START_S, timezone.utc)
        times = [start + timedelta(hours=5), start + timedelta(hours=7, minutes=30)]
        forecast = source.forecast_w(run.batch, times)
        plan = collector.plan
        for n, row in enumerate((5, 7)):
            want = [expected_watts(METER_IDS.index(plan.h5_meter_ids[i]) + 1, int(plan.component_index[i]), row)
                    for i in range(len(plan))]
            assert forecast[n][run.positions].tolist() == pytest.approx(want, rel=1e-6)
        with pytest.raises(ValueError, match="opened with"):
            source.forecast_w(run.batch.__class__(**{**run.batch.__dict__}), times[:1])
        assert np.isfinite(forecast).all()


async def test_the_collector_forecasts_the_whole_plan(collect_runtime):
    add_fleet(collect_runtime.store(), {"Herning": [METER_IDS[0]]})
    async with Collector.from_runtime(collect_runtime) as collector:
        assert collector.can_forecast()
        start = datetime.fromtimestamp(START_S, timezone.utc)
        forecast = collector.forecast_w([start + timedelta(hours=3)])
        plan = collector.plan
        assert forecast.shape == (1, len(plan))
        want = [expected_watts(METER_IDS.index(plan.h5_meter_ids[i]) + 1, int(plan.component_index[i]), 3)
                for i in range(len(plan))]
        assert forecast[0].tolist() == pytest.approx(want, rel=1e-6)
