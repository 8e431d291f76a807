"""The local VTN's OpenADR 3.0.1 REST API: the request handlers over one :class:`VtnState` and their routes.

Behaviour follows the spec: 201 with the full object on create, 409 for a duplicate ``programName``/``venName``/
``resourceName`` within a VEN, 404 problem objects for unknown ids, 400 for ``limit`` above 50, a body that is
not a valid object or a report that does not answer its event (:mod:`.report_check`), 403 for a missing,
unknown or expired token or a missing scope (the spec lists no 401).
Bodies are validated with the :mod:`venclient.openadr` models.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import parse_qsl

import orjson
from pydantic import ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from venclient.lenient import STRICT_KEY
from venclient.openadr import Event, OpenADRModel, Program, Report, Resource, Subscription, Ven
from venclient.plugins.local_vtn.filters import all_of, field_filter, target_filter
from venclient.plugins.local_vtn.notify import Notifier, spec_operations, to_http_operations
from venclient.plugins.local_vtn.problems import Problem, json_response, validation_detail
from venclient.plugins.local_vtn.quirks import Quirks
from venclient.plugins.local_vtn.report_body import REPORT_BODY
from venclient.plugins.local_vtn.report_check import check_report
from venclient.plugins.local_vtn.stall import CreateStaller
from venclient.plugins.local_vtn.state import Collection, VtnClient, VtnState

log = logging.getLogger("venclient.local_vtn")

BASE_PATH = "/openadr3/3.0.1"
MAX_LIMIT = 50
SPEC_STRICT = {STRICT_KEY: True}
"""Validation context for what clients send: the spec's spellings only (our models read VTN answers leniently)."""
IGNORED_WITH_SKIP = frozenset({"venName", "programID", "resourceName", "eventID", "clientName"})
"""The query filters the ``filters-ignored`` quirk drops when the query has ``skip``."""


@dataclass(frozen=True)
class Kind:
    """One top-level collection of the API: its model, object type, write scope and unique-name field."""

    path: str
    id_param: str
    model: type[OpenADRModel]
    object_type: str
    write_scope: str
    label: str
    query_fields: tuple[str, ...] = ()
    program_field: bool = False


KINDS = (
    Kind("programs", "program_id", Program, "PROGRAM", "write_programs", "program"),
    Kind("events", "event_id", Event, "EVENT", "write_events", "event", ("programID",), program_field=True),
    Kind("reports", "report_id", Report, "REPORT", "write_reports", "report", ("programID", "eventID", "clientName"),
         program_field=True),
    Kind("subscriptions", "subscription_id", Subscription, "SUBSCRIPTION", "write_subscriptions", "subscription",
         ("programID", "clientName"), program_field=True),
    Kind("vens", "ven_id", Ven, "VEN", "write_vens", "VEN"),
)


class VtnApi:
    """The request handlers over one state; every write goes through here so notifications follow.

    ``quirks`` switch deliberate misbehaviour on; ``staller`` (the ``stall`` quirk) delays some create answers.
    """

    def __init__(self, state: VtnState, notifier: Notifier, quirks: Quirks | None = None,
                 staller: CreateStaller | None = None):
        self.state = state
        self.notifier = notifier
        self.quirks = quirks or Quirks()
        self.staller = staller

    # ------------------------------------------------------------------ helpers
    def authorize(self, request: Request, scope: str) -> VtnClient:
        """The client of the request's bearer token, if it holds ``scope``; else a 403 problem."""
        header = request.headers.get("authorization")
        if not header or header[:7].lower() != "bearer ":
            raise Problem(403, "Forbidden", "A bearer token is required: fetch one at auth/token.")
        client = self.state.token_client(header[7:].strip())
        if client is None:
            raise Problem(403, "Forbidden", "The bearer token is unknown or expired: fetch a new one.")
        if scope not in client.scopes:
            raise Problem(403, "Forbidden", f"Client {client.client_id!r} ({client.role}) lacks scope {scope}.")
        return client

    @staticmethod
    def paging(request: Request) -> tuple[int, int]:
        """``(skip, limit)`` from the query; limit defaults to 50 and may not exceed it."""
        params = request.query_params
        try:
            skip = int(params.get("skip", 0))
            limit = int(params.get("limit", MAX_LIMIT))
        except ValueError:
            raise Problem(400, "Bad Request", "skip and limit must be whole numbers.") from None
        if skip < 0 or limit < 0:
            raise Problem(400, "Bad Request", "skip and limit may not be negative.")
        if limit > MAX_LIMIT:
            raise Problem(400, "Bad Request", f"limit may not exceed {MAX_LIMIT}, got {limit}.")
        return skip, limit

    @staticmethod
    async def body(request: Request, model: type[OpenADRModel],
                   prepare: Callable[[Any], Any] | None = None) -> dict[str, Any]:
        """The request body validated as ``model``, as a wire dict; a 400 problem if it is not one.

        ``prepare`` rewrites the decoded JSON before validation (the ``notify-http-verbs`` quirk's spellings).
        """
        try:
            raw = await request.body()
        except ClientDisconnect:  # the client gave up mid-body: nobody is left to answer, nothing is stored
            raise Problem(400, "Bad Request", "The client disconnected before sending the whole body.") from None
        try:
            if model is Report:  # the hot path: a fleet tick posts ~116k report resources
                REPORT_BODY.validate_json(raw)
                return {k: v for k, v in orjson.loads(raw).items() if v is not None}
            if prepare is not None:
                try:
                    data = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    raise Problem(400, "Bad Request",
                                  f"The body is not a valid {model.__name__.lower()}: it is not JSON.") from None
                return model.model_validate(prepare(data), context=SPEC_STRICT).model_dump(
                    mode="json", by_alias=True, exclude_none=True)
            return model.model_validate_json(raw, context=SPEC_STRICT).model_dump(mode="json", by_alias=True,
                                                                                 exclude_none=True)
        except ValidationError as err:
            raise Problem(400, "Bad Request",
                          f"The body is not a valid {model.__name__.lower()}: {validation_detail(err)}.") from None

    def _require_program(self, program_id: str, what: str) -> None:
        if self.state.programs.get(program_id) is None:
            raise Problem(400, "Bad Request", f"The {what} names programID {program_id!r}, which does not exist.")

    def _check_references(self, kind: Kind, obj: dict[str, Any]) -> None:
        if kind.object_type == "REPORT":
            check_report(obj, self.state)  # its program and event, and whether it answers what the event asked
        elif kind.program_field:
            self._require_program(obj["programID"], kind.label)

    def _collection(self, kind: Kind) -> Collection:
        return getattr(self.state, kind.path)

    def _unique_name_conflict(self, kind: Kind, obj: dict[str, Any], own_id: str | None = None) -> None:
        collection = self._collection(kind)
        if collection.name_field is None:
            return
        existing = collection.id_for_name(obj[collection.name_field])
        if existing is not None and existing != own_id:
            raise Problem(409, "Conflict",
                          f"A {kind.label} named {obj[collection.name_field]!r} already exists (id {existing}).")

    # ------------------------------------------------------------------ auth/token
    async def token(self, request: Request) -> Response:
        """RFC 6749 client credentials: form fields, or HTTP Basic for the client id and secret."""
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        client_id, secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("authorization", "")
        if header[:6].lower() == "basic ":
            try:
                client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return self._auth_error("invalid_request", "The Basic authorization header is malformed.")
        if form.get("grant_type") != "client_credentials":
            return self._auth_error("unsupported_grant_type", "Only grant_type=client_credentials is supported.")
        if not client_id or not secret:
            return self._auth_error("invalid_request", "client_id and client_secret are required.")
        client = self.state.client(client_id, secret)
        if client is None:
            return self._auth_error("invalid_client", "Unknown client or wrong secret.")
        token, ttl = self.state.issue_token(client)
        if self.quirks.token_no_expiry:
            return json_response({"access_token": token, "token_type": "Bearer", "scope": sorted(client.scopes)},
                         headers={"Cache-Control": "no-store"})
        return json_response({"access_token": token, "token_type": "Bearer", "expires_in": max(1, round(ttl)),
                      "scope": " ".join(sorted(client.scopes))}, headers={"Cache-Control": "no-store"})

    @staticmethod
    def _auth_error(error: str, description: str) -> Response:
        return json_response({"error": error, "error_description": description}, 400)

    # ------------------------------------------------------------------ top-level collections
    def handlers(self, kind: Kind) -> tuple[Callable, Callable, Callable, Callable, Callable]:
        """``(search, create, get, update, delete)`` endpoints for one collection."""
        collection_name = kind.path
        id_param = kind.id_param
        http_verbs = kind.object_type == "SUBSCRIPTION" and self.quirks.notify_http_verbs
        prepare = spec_operations if http_verbs else None
        filtered_fields = tuple(f for f in kind.query_fields if f not in IGNORED_WITH_SKIP)

        def fetch(request: Request) -> dict[str, Any]:
            object_id = request.path_params[id_param]
            obj = getattr(self.state, collection_name).get(object_id)
            if obj is None:
                raise Problem(404, "Not Found", f"No {kind.label} with id {object_id!r}.")
            return obj

        async def search(request: Request) -> Response:
            self.authorize(request, "read_all")
            skip, limit = self.paging(request)
            collection: Collection = getattr(self.state, collection_name)
            ignore = self.quirks.filters_ignored and "skip" in request.query_params
            keep = all_of(field_filter(request, filtered_fields if ignore else kind.query_fields),
                           target_filter(request))
            if kind.object_type == "VEN" and request.query_params.get("venName") is not None and not ignore:
                found = collection.get(collection.id_for_name(request.query_params["venName"]) or "")
                items = [o for o in ([found] if found else []) if keep is None or keep(o)][skip:skip + limit]
            elif kind.object_type == "SUBSCRIPTION" and request.query_params.getlist("objects"):
                objects = set(request.query_params.getlist("objects"))
                wanted = all_of(keep, lambda o: any(objects.intersection(e.get("objects", ()))
                                                     for e in o.get("objectOperations", ())))
                items = collection.page(skip, limit, wanted)
            else:
                items = collection.page(skip, limit, keep)
            return json_response(items)

        async def create(request: Request) -> Response:
            self.authorize(request, kind.write_scope)
            obj = await self.body(request, kind.model, prepare)
            self._check_references(kind, obj)
            self._unique_name_conflict(kind, obj)
            if kind.object_type == "VEN":
                obj.pop("resources", None)  # resources are created under /vens/{venID}/resources
            if http_verbs:
                obj = to_http_operations(obj)
            self.state.stamp(obj, kind.object_type)
            getattr(self.state, collection_name).add(obj)
            self.notifier.notify(kind.object_type, "POST", obj)
            if self.staller is not None:
                await self.staller.after_create(collection_name)
            return json_response(obj, 201)

        async def get(request: Request) -> Response:
            self.authorize(request, "read_all")
            return json_response(fetch(request))

        async def update(request: Request) -> Response:
            self.authorize(request, kind.write_scope)
            previous = fetch(request)
            obj = await self.body(request, kind.model, prepare)
            self._check_references(kind, obj)
            self._unique_name_conflict(kind, obj, previous["id"])
            if kind.object_type == "VEN":
                obj.pop("resources", None)
            if http_verbs:
                obj = to_http_operations(obj)
            self.state.stamp(obj, kind.object_type, previous=previous)
            getattr(self.state, collection_name).replace(obj)
            self.notifier.notify(kind.object_type, "PUT", obj)
            return json_response(obj)

        async def delete(request: Request) -> Response:
            self.authorize(request, kind.write_scope)
            obj = fetch(request)
            if kind.object_type == "VEN":
                self.state.remove_ven(obj["id"])
            else:
                getattr(self.state, collection_name).remove(obj["id"])
                self.state.version += 1
            if kind.object_type == "PROGRAM":
                for event in [e for e in self.state.events if e.get("programID") == obj["id"]]:
                    self.state.events.remove(event["id"])
                    self.notifier.notify("EVENT", "DELETE", event)
            self.notifier.notify(kind.object_type, "DELETE", obj)
            return json_response(obj)

        return search, create, get, update, delete

    # ------------------------------------------------------------------ VEN resources
    def _ven(self, request: Request) -> dict[str, Any]:
        ven_id = request.path_params["ven_id"]
        ven = self.state.vens.get(ven_id)
        if ven is None:
            raise Problem(404, "Not Found", f"No VEN with id {ven_id!r}.")
        return ven

    def _resource(self, request: Request) -> tuple[Collection, dict[str, Any]]:
        ven = self._ven(request)
        collection = self.state.ven_resources(ven["id"])
        resource_id = request.path_params["resource_id"]
        obj = collection.get(resource_id)
        if obj is None:
            raise Problem(404, "Not Found", f"No resource with id {resource_id!r} in VEN {ven['venName']!r}.")
        return collection, obj

    async def search_resources(self, request: Request) -> Response:
        """GET /vens/{venID}/resources with resourceName / targetType / targetValues filters."""
        self.authorize(request, "read_all")
        skip, limit = self.paging(request)
        ven = self._ven(request)
        collection = self.state.ven_resources(ven["id"])
        keep = target_filter(request)
        name = request.query_params.get("resourceName")
        if name is not None and not (self.quirks.filters_ignored and "skip" in request.query_params):
            found = collection.get(collection.id_for_name(name) or "")
            items = [o for o in ([found] if found else []) if keep is None or keep(o)][skip:skip + limit]
        else:
            items = collection.page(skip, limit, keep)
        return json_response(items)

    async def create_resource(self, request: Request) -> Response:
        """POST /vens/{venID}/resources: 201, or 409 when the VEN already has that resourceName."""
        self.authorize(request, "write_vens")
        ven = self._ven(request)
        obj = await self.body(request, Resource)
        collection = self.state.ven_resources(ven["id"])
        existing = collection.id_for_name(obj["resourceName"])
        if existing is not None:
            raise Problem(409, "Conflict", f"VEN {ven['venName']!r} already has a resource named "
                                           f"{obj['resourceName']!r} (id {existing}).")
        obj["venID"] = ven["id"]
        self.state.stamp(obj, "RESOURCE")
        self.state.add_resource(ven["id"], obj)
        self.notifier.notify("RESOURCE", "POST", obj)
        if self.staller is not None:
            await self.staller.after_create("resources")
        return json_response(obj, 201)

    async def get_resource(self, request: Request) -> Response:
        """GET /vens/{venID}/resources/{resourceID}."""
        self.authorize(request, "read_all")
        return json_response(self._resource(request)[1])

    async def update_resource(self, request: Request) -> Response:
        """PUT /vens/{venID}/resources/{resourceID}; renaming onto another resource's name is a 409."""
        self.authorize(request, "write_vens")
        collection, previous = self._resource(request)
        obj = await self.body(request, Resource)
        existing = collection.id_for_name(obj["resourceName"])
        if existing is not None and existing != previous["id"]:
            raise Problem(409, "Conflict", f"The VEN already has a resource named {obj['resourceName']!r}.")
        obj["venID"] = previous["venID"]
        self.state.stamp(obj, "RESOURCE", previous=previous)
        collection.replace(obj)
        self.notifier.notify("RESOURCE", "PUT", obj)
        return json_response(obj)

    async def delete_resource(self, request: Request) -> Response:
        """DELETE /vens/{venID}/resources/{resourceID}."""
        self.authorize(request, "write_vens")
        _, obj = self._resource(request)
        self.state.remove_resource(obj["venID"], obj["id"])
        self.notifier.notify("RESOURCE", "DELETE", obj)
        return json_response(obj)

    def routes(self) -> list[Route]:
        """Every route of the API below :data:`BASE_PATH`, the busiest first (Starlette matches in order)."""
        resources = f"{BASE_PATH}/vens/{{ven_id}}/resources"
        routes = [
            Route(resources, self.create_resource, methods=["POST"]),
            Route(resources, self.search_resources, methods=["GET"]),
            Route(f"{resources}/{{resource_id}}", self.get_resource, methods=["GET"]),
            Route(f"{resources}/{{resource_id}}", self.update_resource, methods=["PUT"]),
            Route(f"{resources}/{{resource_id}}", self.delete_resource, methods=["DELETE"]),
            Route(f"{BASE_PATH}/auth/token", self.token, methods=["POST"]),
        ]
        for kind in sorted(KINDS, key=lambda k: k.path not in ("reports", "vens")):
            search, create, get, update, delete = self.handlers(kind)
            item = f"{BASE_PATH}/{kind.path}/{{{kind.id_param}}}"
            routes += [
                Route(f"{BASE_PATH}/{kind.path}", create, methods=["POST"]),
                Route(f"{BASE_PATH}/{kind.path}", search, methods=["GET"]),
                Route(item, get, methods=["GET"]),
                Route(item, update, methods=["PUT"]),
                Route(item, delete, methods=["DELETE"]),
            ]
        return routes
