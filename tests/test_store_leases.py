"""VEN leases in the store (SQLite, and PostgreSQL when VEN_TEST_POSTGRES_URL is set): taken all or nothing,
refused while another holder's lease lives, taken over after it expires, atomic under a race."""

from __future__ import annotations

import threading

from venclient.engine.lease import VenLeases, refusal


def holder(name: str, pid: int = 100) -> dict:
    return {"holder": f"host-{name}:{pid}:{name}", "host": f"host-{name}", "pid": pid, "command": "ven run"}


def test_a_free_lease_is_taken_and_listed(any_store):
    assert any_store.lease_acquire(["Aarhus", "Herning"], holder("a"), now=1000.0, seconds=30) == {}
    rows = any_store.lease_list()
    assert [r["ven"] for r in rows] == ["Aarhus", "Herning"]
    assert rows[0]["holder"] == "host-a:100:a" and rows[0]["host"] == "host-a" and rows[0]["pid"] == 100
    assert rows[0]["acquired_at"] == 1000.0 and rows[0]["expires_at"] == 1030.0


def test_a_live_lease_refuses_another_holder_and_changes_nothing(any_store):
    any_store.lease_acquire(["Aarhus"], holder("a"), now=1000.0, seconds=30)
    refused = any_store.lease_acquire(["Herning", "Aarhus"], holder("b", 200), now=1029.0, seconds=30)
    assert list(refused) == ["Aarhus"] and refused["Aarhus"]["pid"] == 100
    assert [r["ven"] for r in any_store.lease_list()] == ["Aarhus"]  # all or nothing: Herning was not taken
    sentence = refusal(refused, now=1029.0)
    assert "VEN 'Aarhus' is in use by `ven run` (host host-a, pid 100, since 1970-01-01 00:16:40 UTC)" in sentence
    assert "expires in 1 s" in sentence


def test_an_expired_lease_is_taken_over_and_its_old_holder_learns_it(any_store):
    any_store.lease_acquire(["Aarhus"], holder("a"), now=1000.0, seconds=30)
    assert any_store.lease_acquire(["Aarhus"], holder("b", 200), now=1030.0, seconds=30) == {}
    row = any_store.lease_list(["Aarhus"])[0]
    assert row["holder"] == "host-b:200:b" and row["acquired_at"] == 1030.0
    lost = any_store.lease_renew(["Aarhus"], holder("a"), now=1031.0, seconds=30)
    assert lost["Aarhus"]["holder"] == "host-b:200:b"
    assert any_store.lease_list(["Aarhus"])[0]["holder"] == "host-b:200:b"


def test_renewal_extends_and_keeps_the_start_time(any_store):
    any_store.lease_acquire(["Aarhus"], holder("a"), now=1000.0, seconds=30)
    assert any_store.lease_renew(["Aarhus"], holder("a"), now=1020.0, seconds=30) == {}
    row = any_store.lease_list(["Aarhus"])[0]
    assert (row["acquired_at"], row["heartbeat_at"], row["expires_at"]) == (1000.0, 1020.0, 1050.0)
    # still live at 1049 for anyone else
    assert list(any_store.lease_acquire(["Aarhus"], holder("b"), now=1049.0, seconds=30)) == ["Aarhus"]


def test_release_removes_only_the_holders_own_rows(any_store):
    any_store.lease_acquire(["Aarhus"], holder("a"), now=1000.0, seconds=30)
    any_store.lease_acquire(["Herning"], holder("b"), now=1000.0, seconds=30)
    assert any_store.lease_release(["Aarhus", "Herning"], "host-a:100:a") == 1
    assert [r["ven"] for r in any_store.lease_list()] == ["Herning"]


def test_vens_leases_object_acquires_renews_and_releases(any_store):
    clock = [1000.0]
    leases = VenLeases(any_store, ["Aarhus"], command="ven run", seconds=30, clock=lambda: clock[0])
    leases.acquire_blocking()
    clock[0] = 1010.0
    assert leases.renew_blocking() == {}
    assert any_store.lease_list()[0]["expires_at"] == 1040.0
    leases.release_blocking()
    assert any_store.lease_list() == []


def test_concurrent_acquisition_has_exactly_one_winner(any_store):
    """Four stores (own connections) race for the same VEN, round after round: one wins each round."""
    stores = [type(any_store)(any_store.url) for _ in range(4)]
    rounds = 15
    winners: list[list[int]] = [[] for _ in range(rounds)]
    barrier = threading.Barrier(len(stores), timeout=30)
    errors: list[BaseException] = []

    def contend(n: int) -> None:
        try:
            for r in range(rounds):
                barrier.wait()
                if stores[n].lease_acquire([f"race-{r}"], holder(f"w{n}", n), now=1000.0, seconds=30) == {}:
                    winners[r].append(n)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)
            barrier.abort()

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for s in stores:
        s.close()
    assert not errors, errors
    assert all(len(w) == 1 for w in winners), winners
    rows = {r["ven"]: r["holder"] for r in any_store.lease_list()}
    assert all(rows[f"race-{r}"] == holder(f"w{winners[r][0]}", winners[r][0])["holder"] for r in range(rounds))
