"""Recovery when the VTN forgets: a VTN restarted without its storage knows none of our ids.

What such a VTN does: it answers 404 for our VEN ids, lists its programs and events under new ids (a seeded program
comes back with the same name), and rejects reports that name the old ones.  :class:`VtnRecovery` notices and
rebuilds, so ``ven run`` carries on by itself:

* :meth:`VtnRecovery.remember` keeps the names behind the program and event ids we saw (in the store, so a restart
  knows them) and tells when a program name now has another id — the sign of a VTN that forgot;
* :meth:`VtnRecovery.forgotten_vens` asks the VTN for each stored VEN id (``GET /vens/{id}``) and lists the VENs it
  answers 404 for; :meth:`VtnRecovery.forget` clears their VEN and load ids so registration creates them again
  (resource statuses stay, so collection goes on);
* :meth:`VtnRecovery.retarget_outbox` moves the reports still in the outbox (waiting, or set aside because the VTN
  did not know their program or event) to the ids the VTN now uses for the same program and event names — only
  after the programs were read again — and sets aside, with the reason, those whose program or event is gone.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import orjson

from venclient.vtn_errors import VtnNotFound
from venclient.protocols import ResourceStore, VtnTransport

log = logging.getLogger("venclient.run")

NAMES_KEY = "vtn.object_names"  # runtime state: {"programs": {id: name}, "events": {id: [program id, event name]}}


@dataclass
class RetargetResult:
    """What :meth:`VtnRecovery.retarget_outbox` did: reports moved to new ids, reports set aside (with reasons)."""

    moved: int = 0
    set_aside: int = 0
    reasons: list[str] = field(default_factory=list)


class VtnRecovery:
    """Remembers what our ids meant and rebuilds registration and the outbox when the VTN forgot them.

    ``store`` needs ``get_state``/``set_state``, ``get_ven_registration``, ``forget_ven_registration``,
    ``outbox_list`` and ``outbox_retarget`` (see :class:`venclient.protocols.ResourceStore`).
    """

    def __init__(self, store: ResourceStore, vens: Sequence[str]):
        self.store = store
        self.vens = list(vens)
        self.programs: dict[str, str] = {}   # program id -> name
        self.events: dict[str, tuple[str, str | None]] = {}  # event id -> (program id, event name)
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        raw = self.store.get_state(NAMES_KEY)
        try:
            data = orjson.loads(raw) if raw else {}
            self.programs = {str(k): str(v) for k, v in (data.get("programs") or {}).items()}
            self.events = {str(k): (str(v[0]), v[1]) for k, v in (data.get("events") or {}).items()}
        except (orjson.JSONDecodeError, AttributeError, IndexError, TypeError):
            self.programs, self.events = {}, {}

    def _save(self) -> None:
        self.store.set_state(NAMES_KEY, orjson.dumps(
            {"programs": self.programs, "events": {k: list(v) for k, v in self.events.items()}}).decode())

    def remember(self, programs: Mapping[str, Any], events: Iterable[Any]) -> bool:
        """Record the names of the programs (``{id: Program}``) and events the VTN lists now (blocking: the store).

        Returns ``True`` when a program we knew under one id is now listed under another — the VTN forgot its
        objects (or someone re-created the program), so our VEN ids should be checked.
        """
        self._load()
        renamed = False
        known_ids = {name: pid for pid, name in self.programs.items()}
        changed = False
        for pid, program in programs.items():
            name = getattr(program, "program_name", None)
            if not pid or not name:
                continue
            if name in known_ids and known_ids[name] != pid and known_ids[name] not in programs:
                renamed = True
            if self.programs.get(pid) != name:
                self.programs[pid] = name
                changed = True
        for event in events:
            if event.id and self.events.get(event.id) != (event.program_id, event.event_name):
                self.events[event.id] = (event.program_id, event.event_name)
                changed = True
        if changed:
            self._save()
        return renamed

    async def forgotten_vens(self, transport: VtnTransport) -> list[str]:
        """The VENs whose stored VTN id the VTN answers 404 for (other failures: not judged, left alone)."""
        forgotten = []
        for ven in self.vens:
            ven_id, _url = await asyncio.to_thread(self.store.get_ven_registration, ven)
            if not ven_id:
                continue
            try:
                await transport.get_ven(ven_id)
            except VtnNotFound:
                forgotten.append(ven)
            except Exception as err:  # noqa: BLE001 - cannot tell now; the next check asks again
                log.debug("Could not check VEN %s on the VTN: %s", ven, err)
        return forgotten

    async def forget(self, vens: Sequence[str]) -> int:
        """Clear the VEN and load ids of ``vens`` (the VTN no longer has them); returns how many loads."""
        total = 0
        for ven in vens:
            total += await asyncio.to_thread(self.store.forget_ven_registration, ven,
                                             "the VTN no longer knows this VEN (404); registering again")
        return total

    def retarget_outbox(self, programs: Mapping[str, Any], events: Iterable[Any]) -> RetargetResult:
        """Move outbox reports whose program or event id the VTN no longer lists to the ids it lists now under the
        same names (blocking: reads and writes the store).  Reports whose program or event is gone are set aside
        with the reason; reports of programs and events the VTN still lists are left as they are."""
        self._load()
        result = RetargetResult()
        current_events = list(events)
        program_by_name = {getattr(p, "program_name", None): pid for pid, p in programs.items()}
        event_by_name = {(e.program_id, e.event_name): e.id for e in current_events if e.event_name}
        event_ids = {e.id for e in current_events}
        moves: dict[tuple[str, str], tuple[str, str] | str] = {}
        for row in self.store.outbox_list():
            key = (row["program_id"], row["event_id"])
            if key in moves or (row["program_id"] in programs and row["event_id"] in event_ids):
                continue
            moves[key] = self._new_ids(key, programs, program_by_name, event_by_name)
        retarget = [(old[0], old[1], new[0], new[1]) for old, new in moves.items() if isinstance(new, tuple)]
        aside = [(old[0], old[1], reason) for old, reason in moves.items() if isinstance(reason, str)]
        if retarget or aside:
            result.moved, result.set_aside = self.store.outbox_retarget(retarget, aside)
            result.reasons = sorted({reason for *_, reason in aside})
        return result

    def _new_ids(self, key: tuple[str, str], programs: Mapping[str, Any], program_by_name: Mapping[Any, str],
                 event_by_name: Mapping[tuple[str, Any], str]) -> tuple[str, str] | str:
        """The ``(program id, event id)`` the VTN now uses for an old pair, or the reason there is none."""
        old_program, old_event = key
        program_name = self.programs.get(old_program)
        new_program = old_program if old_program in programs else program_by_name.get(program_name)
        if new_program is None:
            return (f"program {program_name or old_program!r} no longer exists on the VTN"
                    if program_name else f"program id {old_program!r} is unknown to the VTN and to us")
        _, event_name = self.events.get(old_event, (old_program, None))
        new_event = event_by_name.get((new_program, event_name)) if event_name else None
        if new_event is None:
            what = f"event {event_name!r}" if event_name else f"event id {old_event!r}"
            return f"{what} of program {program_name or new_program!r} no longer exists on the VTN"
        return new_program, new_event
