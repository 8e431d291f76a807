"""``ven baseline --resource R [--at ISO] [--json]``: per load, the history baseline of one hour, the days used and
the method; one clear sentence for an unknown resource or a bad time."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from venclient.engine.baseline import DAY, HOUR
from venclient.model import Connection

AT = datetime(2024, 3, 20, 14, 0, tzinfo=timezone.utc)
H14 = int(AT.timestamp())


def seed(store, resource_id: str) -> list:
    loads = store.get_loads_by_resource(resource_id)
    rows = []
    for n, load in enumerate(loads[:2]):  # two loads with 4 days of the 14:00 hour; day 2 had an event
        for back in range(1, 5):
            rows.append({"load_id": load.load_id, "hour_start": H14 - back * DAY, "energy_wh": 100.0 * (n + 1) + back,
                         "seconds": 3600.0, "event": int(back == 2)})
    rows.append({"load_id": loads[2].load_id, "hour_start": H14 - DAY, "energy_wh": 5.0, "seconds": 3600.0,
                 "event": 0})  # one day only: no baseline
    store.history_add(rows)
    return loads


def test_json_shows_each_load_with_its_days_and_the_method(ven, store, sample_fleet):
    resource = sample_fleet.resource_ids[0]
    store.connect_resources([resource], Connection(id=None, type="filereader", file="/tmp/none.csv"))
    loads = seed(store, resource)
    done = ven("baseline", "--resource", resource, "--at", "2024-03-20T14:35:00Z", "--json")
    assert done.exit_code == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["resource_id"] == resource and data["source"] == "filereader"
    assert data["hour_start"] == "2024-03-20T14:00:00+00:00"
    assert "last 10 days without events" in data["method"] and "at least 3 days" in data["method"]
    shown = {item["load_id"]: item for item in data["loads"]}
    assert list(shown) == [load.load_id for load in loads]
    first, second, third = (shown[load.load_id] for load in loads[:3])
    assert first["baseline_w"] == (101 + 103 + 104) / 3 and first["days_used"] == 3
    assert first["dates"] == ["2024-03-19", "2024-03-17", "2024-03-16"]
    assert second["baseline_w"] == (201 + 203 + 204) / 3
    assert third["baseline_w"] is None and third["days_used"] == 1
    assert all(shown[load.load_id]["baseline_w"] is None for load in loads[3:])


def test_the_default_hour_follows_the_newest_history_and_the_table_prints(ven, store, sample_fleet):
    resource = sample_fleet.resource_ids[1]
    seed(store, resource)
    store.history_add([{"load_id": store.get_loads_by_resource(resource)[0].load_id, "hour_start": H14 - HOUR,
                        "energy_wh": 1.0, "seconds": 1.0, "event": 0}])  # newest hour: 13:00 today
    done = ven("baseline", "--resource", resource, "--json")
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["hour_start"] == "2024-03-20T14:00:00+00:00"
    table = ven("baseline", "--resource", resource, "--at", "2024-03-20T14:00")
    assert table.exit_code == 0, table.stderr
    assert "102.7" in table.out and "—" in table.out and "simulated" in table.out and "Method:" in table.out


def test_unknown_resource_and_bad_time_are_one_sentence(ven, store, sample_fleet):
    before = store.history_read([load.load_id for load in store.list_loads()], 0, 2 ** 40)
    done = ven("baseline", "--resource", "no-such-site")
    assert done.exit_code == 2 and "Unknown resource 'no-such-site'" in done.err
    done = ven("baseline", "--resource", sample_fleet.resource_ids[0], "--at", "yesterday")
    assert done.exit_code == 2 and "--at 'yesterday' is not an ISO 8601 time" in done.err
    assert store.history_read([load.load_id for load in store.list_loads()], 0, 2 ** 40) == before
