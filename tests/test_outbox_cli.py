"""``ven outbox``, ``ven outbox retry`` and ``ven outbox drop``: rejected reports sent again or deleted on purpose,
all or nothing, one sentence for a wrong id or VEN."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone

import numpy as np
import pytest

from venclient.engine.outbox import Outbox
from venclient.engine.report import build_reports, payload_specs
from fixtures.run import vtn_reports
from fixtures.vtn import REPO, json_body, make_config
from venclient.plugins.local_vtn import DEMO_EVENT, DEMO_PROGRAM
from venclient.plugins.openadr_http import HttpVtnTransport


def add_rows(store, rows: list[tuple[str, str]]) -> list[int]:
    """Outbox rows ``(ven, state)``; ``rejected`` ones are set aside with a reason after one attempt."""
    ids = store.outbox_add({"ven": ven, "program_id": "p1", "event_id": "e1", "tick_ms": i,
                            "payload": json.dumps({"reportName": f"{ven}:{i}"})} for i, (ven, _) in enumerate(rows))
    for outbox_id, (_, state) in zip(ids, rows):
        store.outbox_mark_attempt(outbox_id)
        if state == "rejected":
            store.outbox_reject(outbox_id, "The VTN answered 400 Bad Request to POST …/reports: bad interval.")
        else:
            store.outbox_retry_later(outbox_id, "busy", 1e12, False)
    return ids


def states(store) -> dict[int, tuple[str, int]]:
    return {r["id"]: (r["state"], r["attempts"]) for r in store.outbox_list()}


@pytest.fixture
def rows(store):
    """Five rows: Aalborg rejected, rejected, pending; Herning rejected, pending."""
    return add_rows(store, [("Aalborg", "rejected"), ("Aalborg", "rejected"), ("Aalborg", "pending"),
                            ("Herning", "rejected"), ("Herning", "pending")])


def test_retry_one_id(ven, store, rows):
    before = {r["id"]: r for r in store.outbox_list()}
    result = ven("outbox", "retry", "--id", str(rows[1]), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"retried": 1, "ids": [rows[1]]}
    after = {r["id"]: r for r in store.outbox_list()}
    assert after[rows[1]]["state"] == "pending" and after[rows[1]]["attempts"] == 1  # attempts kept
    assert after[rows[1]]["next_attempt_at"] < before[rows[4]]["next_attempt_at"]  # due now
    assert [after[i]["state"] for i in rows] == ["rejected", "pending", "pending", "rejected", "pending"]


def test_retry_a_ven_then_all(ven, store, rows):
    result = ven("outbox", "retry", "--ven", "Herning")
    assert result.exit_code == 0, result.stderr
    assert "1 rejected report of VEN Herning will be sent again" in result.stdout
    assert states(store)[rows[3]] == ("pending", 1)
    result = ven("outbox", "retry", "--all", "--json")
    assert json.loads(result.stdout) == {"retried": 2, "ids": [rows[0], rows[1]]}
    assert store.outbox_counts() == {"pending": 5, "rejected": 0}
    again = ven("outbox", "retry", "--all")
    assert again.exit_code == 0 and "No rejected reports: nothing to retry." in again.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("--id", "999"), "Error: No report with outbox id 999 in the outbox (`ven outbox --rows` lists them)."),
    (("--ven", "Atlantis"), "Error: Unknown VEN 'Atlantis': no resource in the store and no report in the outbox "
                            "belongs to it."),
    ((), "Error: Say which rejected reports to retry: give exactly one of --all, --id N or --ven V."),
    (("--all", "--ven", "Aalborg"), "Error: Say which rejected reports to retry: give exactly one of --all, --id N "
                                    "or --ven V (got --all and --ven)."),
])
def test_retry_bad_selection_is_one_sentence_and_changes_nothing(ven, store, rows, args, message):
    before = states(store)
    result = ven("outbox", "retry", *args)
    assert result.exit_code == 2
    assert " ".join(result.stderr.split()) == message
    assert states(store) == before


def test_retry_of_a_pending_id_among_rejected_ones_changes_nothing(ven, store, rows):
    before = states(store)
    result = ven("outbox", "retry", "--id", str(rows[0]), "--id", str(rows[2]))
    assert result.exit_code == 2
    assert f"Outbox report {rows[2]} is pending (waiting to be sent), not rejected." in result.stderr
    assert states(store) == before  # not even the first, rejected one


def test_drop_with_yes_deletes_only_rejected_reports(ven, store, rows):
    result = ven("outbox", "drop", "--ven", "Aalborg", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"dropped": 2, "ids": [rows[0], rows[1]]}
    assert set(states(store)) == {rows[2], rows[3], rows[4]}
    result = ven("outbox", "drop", "--all", "--yes")
    assert "Deleted 1 rejected report." in result.stdout
    assert store.outbox_counts() == {"pending": 2, "rejected": 0}
    bad = ven("outbox", "drop", "--id", str(rows[2]), "--yes")
    assert bad.exit_code == 2 and "is pending (waiting to be sent), not rejected" in bad.stderr
    assert store.outbox_counts() == {"pending": 2, "rejected": 0}


def _ven_subprocess(settings, *args: str, answer: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEN_")}
    env.update({"VEN_DATABASE_URL": settings.database_url, "VEN_H5_PATH": settings.h5_simulator.h5_path})
    return subprocess.run([sys.executable, "-m", "venclient.cli", *args], input=answer, capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=60)


def test_drop_asks_first(settings, store, rows):
    declined = _ven_subprocess(settings, "outbox", "drop", "--all", answer="n\n")
    assert declined.returncode == 1
    assert "Delete 3 rejected reports for good?" in declined.stderr and "Nothing was dropped." in declined.stderr
    assert store.outbox_counts() == {"pending": 2, "rejected": 3}
    accepted = _ven_subprocess(settings, "outbox", "drop", "--id", str(rows[3]), answer="y\n")
    assert accepted.returncode == 0, accepted.stderr
    assert f"Deleted 1 rejected report (id {rows[3]})." in accepted.stdout
    assert store.outbox_counts() == {"pending": 2, "rejected": 2}


def test_the_summary_still_shows_without_a_sub_command(ven, store, rows):
    result = ven("outbox", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["pending"], data["rejected"]) == (2, 3)
    aalborg = data["by_ven"]["Aalborg"]
    assert (aalborg["pending"], aalborg["rejected"], aalborg["oldest_tick_ms"]) == (1, 2, 2)
    table = ven("outbox")
    assert table.exit_code == 0 and "Aalborg" in table.stdout and "Herning" in table.stdout


async def test_a_report_the_vtn_rejected_is_sent_again_after_retry(ven, store, faulty_vtn):
    server, injector = faulty_vtn
    program_id = server.state.programs.id_for_name(DEMO_PROGRAM)
    event_id = next(e["id"] for e in server.state.events if e["eventName"] == DEMO_EVENT)
    [report] = build_reports(ven="Aalborg", program_id=program_id, event_id=event_id,
                             specs=payload_specs([{"payloadType": "USAGE", "units": "KWH"}], 15),
                             start=datetime(2025, 1, 15, 13, tzinfo=timezone.utc), interval_seconds=15,
                             names=np.array(["r1_load_0"], dtype=object), power_w=np.array([100.0]))
    outbox = Outbox(store)
    [row_id] = await outbox.put([report])
    injector.add("POST", "/reports", status=400, body=json_body(
        {"type": "about:blank", "title": "Bad Request", "status": 400, "detail": "program is closed today"}))
    async with HttpVtnTransport(make_config(server.url)) as transport:
        assert (await outbox.flush(transport)).rejected == 1
        assert (await outbox.flush(transport)).sent == 0  # rejected stays aside
        result = ven("outbox", "retry", "--id", str(row_id), "--json")
        assert json.loads(result.stdout)["retried"] == 1
        again = await outbox.flush(transport)
    assert (again.sent, again.already_delivered) == (1, 0)
    assert [r["reportName"] for r in vtn_reports(server.state)] == [report["reportName"]]
    assert store.outbox_counts() == {"pending": 0, "rejected": 0}
