"""The query filters of the local VTN's search endpoints (``targetType``/``targetValues`` and plain fields)."""

from __future__ import annotations

from typing import Any, Callable

from starlette.requests import Request

Filter = Callable[[dict[str, Any]], bool]


def target_filter(request: Request) -> Filter | None:
    """Objects with a target of ``targetType`` holding one of ``targetValues`` (``None``: no such query)."""
    target_type = request.query_params.get("targetType")
    values = set(request.query_params.getlist("targetValues"))
    if not target_type and not values:
        return None

    def keep(obj: dict[str, Any]) -> bool:
        for target in obj.get("targets") or ():
            if (not target_type or target.get("type") == target_type) and \
                    (not values or values.intersection(str(v) for v in target.get("values") or ())):
                return True
        return False

    return keep


def field_filter(request: Request, names: tuple[str, ...]) -> Filter | None:
    """Objects whose fields ``names`` equal the query's values for them (``None``: none asked)."""
    wanted = {name: request.query_params[name] for name in names if request.query_params.get(name)}
    if not wanted:
        return None
    return lambda obj: all(obj.get(k) == v for k, v in wanted.items())


def all_of(*filters: Filter | None) -> Filter | None:
    """Objects every given filter keeps (``None``: no filter given)."""
    active = [f for f in filters if f is not None]
    if not active:
        return None
    if len(active) == 1:
        return active[0]
    return lambda obj: all(f(obj) for f in active)
