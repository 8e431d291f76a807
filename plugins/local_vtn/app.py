"""The local VTN as a Starlette app: the OpenADR 3.0.1 REST API over an in-memory :class:`VtnState`.

``create_app(state)`` serves ``/openadr3/3.0.1``: ``auth/token`` (form-encoded client credentials or HTTP
Basic), programs, events, reports, subscriptions, VENs and their resources (:mod:`.api`; errors as
:mod:`.problems`).  With ``state_file`` the state is saved atomically every
``save_interval`` seconds when it changed, and on shutdown.

``quirks`` (:class:`venclient.plugins.local_vtn.quirks.Quirks`) make it misbehave on purpose the way VTNs in the field
do; each quirk costs nothing when it is off (one attribute test per request at most).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from venclient.plugins.local_vtn.api import VtnApi
from venclient.plugins.local_vtn.gc_tuning import freeze_stored_objects
from venclient.plugins.local_vtn.notify import Notifier
from venclient.plugins.local_vtn.odd_timestamps import OddTimestamps
from venclient.plugins.local_vtn.problems import Problem, empty_409_response, http_error_response, problem_response
from venclient.plugins.local_vtn.quirks import Quirks
from venclient.plugins.local_vtn.saver import StateSaver
from venclient.plugins.local_vtn.stall import CreateStaller
from venclient.plugins.local_vtn.state import VtnState


def apply_timestamps_quirk(state: VtnState) -> None:
    """Make ``state`` stamp odd server timestamps from now on, and show its stored objects' in odd forms too."""
    odd = OddTimestamps()
    state.server_time = odd
    for collection in (state.programs, state.events, state.reports, state.subscriptions, state.vens,
                       *state.resources.values()):
        for obj in list(collection):
            collection.replace(odd.restamp(obj))


def create_app(state: VtnState, *, state_file: Path | str | None = None, save_interval: float = 5.0,
               notifier: Notifier | None = None, freeze_gc: bool = False,
               quirks: "Quirks | str | list[str] | None" = None) -> Starlette:
    """The Starlette app serving ``state`` under ``/openadr3/3.0.1``.

    ``quirks``: a :class:`Quirks` or the names it parses (``"all"``, ``"timestamps,stall:5"``); none = the
    plain, spec-shaped VTN.  With ``timestamps`` the state's stored objects are re-stamped in odd forms (same
    instants) and later stamps follow; with ``stall`` the counters are ``app.state.staller``.

    ``freeze_gc``: run :func:`freeze_stored_objects` — for a VTN in its own process (``ven vtn serve``),
    not for one sharing a process with other work (``gc.freeze`` is process-wide).

    ``state_file``: save there (atomically) every ``save_interval`` seconds after changes, and at shutdown;
    loading it is the caller's job (:func:`venclient.plugins.local_vtn.state.load_state`).
    """
    quirks = Quirks.parse(quirks, "quirks")
    if quirks.timestamps and state.server_time is None:
        apply_timestamps_quirk(state)
    notifier = notifier or Notifier(state, quirks=quirks)
    staller = CreateStaller(quirks.stall_seconds) if quirks.stall_seconds is not None else None
    api = VtnApi(state, notifier, quirks, staller)
    saver = StateSaver(state, Path(state_file), save_interval) if state_file else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await notifier.start()
        loop = asyncio.get_running_loop()
        saving = loop.create_task(saver.run()) if saver else None
        freezing = loop.create_task(freeze_stored_objects(state)) if freeze_gc else None
        try:
            yield
        finally:
            for task in (saving, freezing):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if saver is not None:
                await saver.save_if_changed(force=True)
            await notifier.stop()

    problems = empty_409_response if quirks.empty_409 else problem_response
    app = Starlette(routes=api.routes(), exception_handlers={Problem: problems, HTTPException: http_error_response},
                    lifespan=lifespan)
    app.state.vtn = state
    app.state.notifier = notifier
    app.state.saver = saver
    app.state.quirks = quirks
    app.state.staller = staller
    return app
