"""OpenADR 3.0.1 over HTTP(S) with httpx: the default :class:`venclient.protocols.VtnTransport`.

The OpenADR endpoints (VENs, resources, programs, events, reports, subscriptions) on top of
:class:`venclient.plugins.openadr_http.request_loop.HttpRequestLoop`, which sends each request (connections,
authentication, retries, deadlines, paging: see that module).  Every method sends and returns the pydantic
models of :mod:`venclient.openadr` (plain dicts are accepted for bodies too) and raises the typed errors of
:mod:`venclient.vtn_errors`.  Listings send the spec's query filters (``venName``, ``resourceName``,
``programID``, ``eventID``, ``clientName``) and filter the answer on our side too: some VTNs ignore filters
when ``skip`` is given.

The hot path (``create_resource`` at tens of requests in flight) does no logging above DEBUG, takes no lock
unless the token must be refreshed, and serialises with pydantic-core.
"""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import quote

import orjson

from venclient.openadr import Event, Program, Report, Resource, Subscription, Ven
from venclient.vtn_errors import VtnConflict, VtnError, VtnProtocolError
from venclient.plugins.openadr_http.request_loop import HttpRequestLoop

UNKNOWN_OUTCOME_ROUNDS = 3  # look-up-then-create rounds after creates whose outcome is unknown


class HttpVtnTransport(HttpRequestLoop):
    """Talks OpenADR 3.0.1 to one VTN over HTTP(S); use as ``async with HttpVtnTransport(config) as vtn``.

    ``http_transport`` (an ``httpx.AsyncBaseTransport``) and ``clock`` exist for tests: a transport that
    validates each request/response pair against the spec, a clock that jumps past token expiry.
    """

    # ------------------------------------------------------------------ VENs and resources
    async def list_vens(self, ven_name: str | None = None) -> list[Ven]:
        """Every VEN (or those named ``ven_name``, filtered on our side too)."""
        if not ven_name:
            return await self._paged(Ven, "/vens")
        return await self._paged(Ven, "/vens", {"venName": ven_name}, keep=lambda v: v.ven_name == ven_name)

    async def find_ven(self, ven_name: str) -> Ven | None:
        """The VEN named exactly ``ven_name``, or ``None``."""
        found = await self._paged(Ven, "/vens", {"venName": ven_name},
                                  first_only=lambda v: v.ven_name == ven_name)
        return found[0] if found else None

    async def get_ven(self, ven_id: str) -> Ven:
        """One VEN by id; 404 raises ``VtnNotFound`` (a VTN that forgot us answers so)."""
        return self._one(Ven, await self._json("GET", f"/vens/{_seg(ven_id)}"))

    async def create_ven(self, ven: Ven | dict[str, Any]) -> Ven:
        """POST a VEN; 409 (name taken) raises ``VtnConflict``."""
        return self._one(Ven, await self._json("POST", "/vens", ven))

    async def find_or_create_ven(self, ven_name: str) -> Ven:
        """The VEN named ``ven_name``, created when missing.

        A 409 on creation is resolved by looking the name up; so is a create whose outcome is unknown (timed
        out, ambiguous 5xx): found means adopted, surely absent means created again (at most
        :data:`UNKNOWN_OUTCOME_ROUNDS` times), so a stalled VTN never gets the VEN twice.
        """
        ven = await self.find_ven(ven_name)
        if ven is not None:
            return ven
        unknown: VtnError | None = None
        for _ in range(UNKNOWN_OUTCOME_ROUNDS):
            try:
                return await self.create_ven(Ven(ven_name=ven_name))
            except VtnConflict:
                ven = await self.find_ven(ven_name)
                if ven is None:
                    raise
                return ven
            except VtnError as err:
                if not err.maybe_delivered:
                    raise
                unknown = err
            ven = await self.find_ven(ven_name)  # the create may have arrived: look before creating again
            if ven is not None:
                return ven
        assert unknown is not None
        raise unknown

    async def create_resource(self, ven_id: str, resource: Resource | dict[str, Any]) -> Resource:
        """POST a resource to the VEN; 409 (``resourceName`` taken in that VEN) raises ``VtnConflict``.

        A 409 can also follow a retried attempt whose first try did reach the VTN; callers resolve any
        conflict with :meth:`find_resource`.
        """
        return self._one(Resource, await self._json("POST", f"/vens/{_seg(ven_id)}/resources", resource))

    async def create_resource_id(self, ven_id: str, resource: Resource | dict[str, Any]) -> str:
        """:meth:`create_resource` for callers that need only the new id (the registration hot path): the
        answer is checked for an ``id`` but not validated as a whole resource."""
        response = await self._json("POST", f"/vens/{_seg(ven_id)}/resources", resource)
        try:
            object_id = orjson.loads(response.content)["id"]
        except (orjson.JSONDecodeError, TypeError, KeyError):
            object_id = None
        if isinstance(object_id, bool) or not isinstance(object_id, (str, int)) or object_id == "":
            raise VtnProtocolError(
                f"The VTN answered {response.request.method} {response.request.url} without the new resource's id.",
                status=response.status_code, method=response.request.method, url=str(response.request.url),
                body=response.text[:2000])
        return str(object_id)

    async def find_resource(self, ven_id: str, resource_name: str) -> Resource | None:
        """The VEN's resource named exactly ``resource_name``, or ``None``."""
        found = await self._paged(Resource, f"/vens/{_seg(ven_id)}/resources", {"resourceName": resource_name},
                                  first_only=lambda r: r.resource_name == resource_name)
        return found[0] if found else None

    async def list_resources(self, ven_id: str) -> list[Resource]:
        """Every resource of the VEN."""
        return await self._paged(Resource, f"/vens/{_seg(ven_id)}/resources")

    async def update_resource(self, ven_id: str, resource_id: str, resource: Resource | dict[str, Any]) -> Resource:
        """PUT a resource."""
        return self._one(Resource, await self._json(
            "PUT", f"/vens/{_seg(ven_id)}/resources/{_seg(resource_id)}", resource))

    async def delete_resource(self, ven_id: str, resource_id: str) -> Resource:
        """DELETE a resource."""
        return self._one(Resource, await self._json("DELETE", f"/vens/{_seg(ven_id)}/resources/{_seg(resource_id)}"))

    # ------------------------------------------------------------------ programs and events
    async def list_programs(self) -> list[Program]:
        """Every program."""
        return await self._paged(Program, "/programs")

    async def find_program(self, program_name: str) -> Program | None:
        """The program named exactly ``program_name``, or ``None``."""
        found = await self._paged(Program, "/programs", first_only=lambda p: p.program_name == program_name)
        return found[0] if found else None

    async def create_program(self, program: Program | dict[str, Any]) -> Program:
        """POST a program (business role)."""
        return self._one(Program, await self._json("POST", "/programs", program))

    async def delete_program(self, program_id: str) -> Program:
        """DELETE a program (business role)."""
        return self._one(Program, await self._json("DELETE", f"/programs/{_seg(program_id)}"))

    async def list_events(self, program_id: str | None = None) -> list[Event]:
        """Every event, or those of one program (filtered on our side too)."""
        if not program_id:
            return await self._paged(Event, "/events")
        return await self._paged(Event, "/events", {"programID": program_id},
                                 keep=lambda e: e.program_id == program_id)

    async def get_event(self, event_id: str) -> Event:
        """One event by id; 404 raises ``VtnNotFound``."""
        return self._one(Event, await self._json("GET", f"/events/{_seg(event_id)}"))

    async def create_event(self, event: Event | dict[str, Any]) -> Event:
        """POST an event (business role)."""
        return self._one(Event, await self._json("POST", "/events", event))

    async def update_event(self, event_id: str, event: Event | dict[str, Any]) -> Event:
        """PUT an event (business role)."""
        return self._one(Event, await self._json("PUT", f"/events/{_seg(event_id)}", event))

    async def delete_event(self, event_id: str) -> Event:
        """DELETE an event (business role)."""
        return self._one(Event, await self._json("DELETE", f"/events/{_seg(event_id)}"))

    # ------------------------------------------------------------------ reports and subscriptions
    async def create_report(self, report: Report | dict[str, Any]) -> Report:
        """POST a report; a 409 ("identical report exists") raises ``VtnConflict``, which the outbox counts as
        delivered."""
        return self._one(Report, await self._json("POST", "/reports", report))

    async def post_report_text(self, payload: str) -> None:
        """POST a stored report (JSON text, sent unchanged) once, without retries: the outbox keeps its own
        backoff, after a look-up when the outcome is unknown.  A 409 raises ``VtnConflict``."""
        await self.raw("POST", "/reports", json=orjson.Fragment(payload), retries=0)

    async def list_reports(self, program_id: str | None = None, event_id: str | None = None,
                           client_name: str | None = None) -> list[Report]:
        """Reports, optionally filtered by program, event and client name (on our side too)."""
        params, keep = _report_filters(program_id, event_id, client_name, attribute=True)
        return await self._paged(Report, "/reports", params, keep=keep)

    async def find_report(self, report_name: str, *, program_id: str | None = None, event_id: str | None = None,
                          client_name: str | None = None) -> dict[str, Any] | None:
        """The VTN's report named ``report_name`` (and of that program, event and client when given), as the
        JSON object the VTN sent, or ``None``.

        The filters go into the query and are checked again on our side; paging stops at the first match.
        Reports are compared as plain JSON (no model validation), so a long listing stays cheap.
        """
        params, keep = _report_filters(program_id, event_id, client_name, attribute=False)

        def same(item: dict[str, Any]) -> bool:
            return item.get("reportName") == report_name and (keep is None or keep(item))

        found = await self._paged(Report, "/reports", params, first_only=same, as_dicts=True)
        return found[0] if found else None

    async def create_subscription(self, subscription: Subscription | dict[str, Any]) -> Subscription:
        """POST a subscription (webhook)."""
        return self._one(Subscription, await self._json("POST", "/subscriptions", subscription))

    async def list_subscriptions(self, program_id: str | None = None,
                                 client_name: str | None = None) -> list[Subscription]:
        """Subscriptions, optionally of one program and/or client (filtered on our side too)."""
        params = {k: v for k, v in (("programID", program_id), ("clientName", client_name)) if v}
        if not params:
            return await self._paged(Subscription, "/subscriptions")

        def keep(sub: Subscription) -> bool:
            return (not program_id or sub.program_id == program_id) and (not client_name or sub.client_name == client_name)

        return await self._paged(Subscription, "/subscriptions", params, keep=keep)

    async def delete_subscription(self, subscription_id: str) -> None:
        """DELETE a subscription."""
        await self._json("DELETE", f"/subscriptions/{_seg(subscription_id)}")


def _report_filters(program_id: str | None, event_id: str | None, client_name: str | None, *,
                    attribute: bool) -> tuple[dict[str, str], Callable[[Any], bool] | None]:
    """The query filters of a report listing and the same test on our side (on models when ``attribute``,
    else on wire dicts); ``None`` for no filter."""
    wanted = [(key, name, value) for key, name, value in (("programID", "program_id", program_id),
                                                          ("eventID", "event_id", event_id),
                                                          ("clientName", "client_name", client_name)) if value]
    params = {key: value for key, _, value in wanted}
    if not wanted:
        return params, None
    if attribute:
        return params, lambda r: all(getattr(r, name, None) == value for _, name, value in wanted)
    return params, lambda r: all(r.get(key) == value for key, _, value in wanted)


def _seg(value: str) -> str:
    """A path segment, percent-encoded unless it is already URL-safe (the usual case)."""
    return value if value.replace("-", "").replace("_", "").isalnum() else quote(str(value), safe="")
