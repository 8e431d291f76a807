"""Compare the store's registrations with what the VTN holds, and optionally repair the store side.

Per VEN: every VTN resource (paged) is matched by ``resourceName`` to a store load.
* ``missing_on_vtn`` — the store has a VTN id for a load the VTN does not list;
* ``unknown_on_vtn`` — the VTN lists a resource no store load corresponds to;
* ``id_mismatch`` — both know the load but the ids differ (or the store has none yet).

A VEN whose stored VTN id the VTN answers 404 for (a VTN restarted without its storage forgets everything) is
``ven_missing``: every load the store holds a VTN id for counts as missing on the VTN.  When the VTN holds a VEN of
the same name under another id, that VEN is compared instead (its ids are adopted by ``repair``).
``repair`` adopts the VTN's id for mismatches and forgets ids the VTN lost — of loads, and of VENs the VTN no
longer knows (those are registered again by the next ``ven register``).  Nothing is ever deleted on the VTN.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from venclient.model import external_resource_name
from venclient.vtn_errors import VtnNotFound
from venclient.protocols import ResourceStore, VtnTransport


@dataclass
class VenCheck:
    """The differences found for one VEN."""

    ven: str
    vtn_ven_id: str | None
    store_loads: int = 0
    vtn_resources: int = 0
    missing_on_vtn: list[str] = field(default_factory=list)
    unknown_on_vtn: list[str] = field(default_factory=list)
    id_mismatch: list[dict[str, Any]] = field(default_factory=list)
    unregistered: int = 0
    ven_missing: bool = False  # the VTN answered 404 for the VEN id the store holds
    error: str | None = None

    @property
    def clean(self) -> bool:
        return (self.error is None and not self.ven_missing and not self.missing_on_vtn and not self.unknown_on_vtn
                and not self.id_mismatch and self.unregistered == 0)


@dataclass
class VerifyReport:
    """All VENs' differences; ``clean`` when store and VTN agree everywhere."""

    vens: list[VenCheck]
    repaired: dict[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return all(v.clean for v in self.vens)

    def as_dict(self) -> dict[str, Any]:
        return {"clean": self.clean,
                "vens_missing_on_vtn": sum(1 for v in self.vens if v.ven_missing),
                "missing_on_vtn": sum(len(v.missing_on_vtn) for v in self.vens),
                "unknown_on_vtn": sum(len(v.unknown_on_vtn) for v in self.vens),
                "id_mismatch": sum(len(v.id_mismatch) for v in self.vens),
                "unregistered": sum(v.unregistered for v in self.vens),
                "repaired": self.repaired,
                "per_ven": [asdict(v) for v in self.vens]}


async def check_ven(store: ResourceStore, transport: VtnTransport, ven: str) -> VenCheck:
    """Compare one VEN's loads with the VTN's resources of that VEN."""
    ven_id, _url = await asyncio.to_thread(store.get_ven_registration, ven)
    check = VenCheck(ven=ven, vtn_ven_id=ven_id)
    rows = await asyncio.to_thread(store.registration_rows, ven, False)
    check.store_loads = len(rows)
    vtn_resources = None
    if ven_id is not None:
        try:
            vtn_resources = await transport.list_resources(ven_id)
        except VtnNotFound:  # the VTN forgot our VEN (restarted without storage, or deleted)
            check.ven_missing = True
            check.vtn_ven_id = None
        except Exception as err:  # noqa: BLE001 - reported per VEN, the others still get checked
            check.error = str(err)
            return check
    if vtn_resources is None:
        try:
            found = await transport.find_ven(ven)
        except Exception as err:  # noqa: BLE001
            check.error = str(err)
            return check
        if found is None:
            check.missing_on_vtn = [row["load_id"] for row in rows if row["vtn_resource_id"]]
            check.unregistered = len(rows) - len(check.missing_on_vtn)
            return check
        check.vtn_ven_id = ven_id = found.id
        try:
            vtn_resources = await transport.list_resources(ven_id)
        except Exception as err:  # noqa: BLE001
            check.error = str(err)
            return check
    check.vtn_resources = len(vtn_resources)
    on_vtn = {r.resource_name: r.id for r in vtn_resources}
    by_name = {external_resource_name(r["resource_id"], r["load_component"]): r for r in rows}
    for name, row in by_name.items():
        vtn_id = on_vtn.get(name)
        if vtn_id is None:
            if row["vtn_resource_id"]:
                check.missing_on_vtn.append(row["load_id"])
            else:
                check.unregistered += 1
        elif vtn_id != row["vtn_resource_id"]:
            check.id_mismatch.append({"load_id": row["load_id"], "resource_name": name,
                                      "store_id": row["vtn_resource_id"], "vtn_id": vtn_id})
    check.unknown_on_vtn = sorted(name for name in on_vtn if name not in by_name)
    return check


async def verify(store: ResourceStore, transport: VtnTransport, vens: Sequence[str], repair: bool = False,
                 vtn_url: str | None = None) -> VerifyReport:
    """Check every VEN in ``vens`` (a few at a time); with ``repair`` fix the store side and re-check."""
    gate = asyncio.Semaphore(8)

    async def one(ven: str) -> VenCheck:
        async with gate:
            return await check_ven(store, transport, ven)

    checks = list(await asyncio.gather(*(one(v) for v in vens)))
    report = VerifyReport(vens=checks)
    if repair:
        adopted = [(m["load_id"], m["vtn_id"]) for c in checks for m in c.id_mismatch]
        lost = [load_id for c in checks for load_id in c.missing_on_vtn]
        for c in checks:
            if c.vtn_ven_id and c.error is None:
                await asyncio.to_thread(store.set_ven_vtn_id, c.ven, c.vtn_ven_id, vtn_url)
            elif c.ven_missing and c.error is None:
                await asyncio.to_thread(store.clear_ven_vtn_id, c.ven)
        if adopted:
            await asyncio.to_thread(store.record_registrations, adopted)
        if lost:
            await asyncio.to_thread(store.clear_registrations, lost, "not found on the VTN by ven register --verify")
        for ven in vens:
            await asyncio.to_thread(store.refresh_resource_registration, ven)
        report = VerifyReport(vens=list(await asyncio.gather(*(one(v) for v in vens))),
                              repaired={"adopted_ids": len(adopted), "forgotten_ids": len(lost),
                                        "forgotten_vens": sum(1 for c in checks if c.ven_missing and c.error is None
                                                              and not c.vtn_ven_id)})
    return report
