"""Property: objects generated from the OpenADR 3.0.1 schema, with the VTN's bookkeeping fields mangled, always parse
and keep every field we act on.

Objects are drawn from the component schemas of ``../shared/openadr3/3.0.1/openadr3.yaml`` (a small schema →
hypothesis strategy builder below).  Then ``createdDateTime``, ``modificationDateTime``, ``objectType`` and ``id``
are replaced by random text, numbers, lists, objects, ``null`` or removed, and unknown extra keys are added.  The
mangled object must parse (never raise) and, with the bookkeeping fields left out, equal the original parsed.

The budget is small for CI; ``VEN_FUZZ_EXAMPLES=5000 make test`` (or ``make fuzz``) runs a long one.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from venclient.lenient import CONTEXT_KEY, LenientNotes
from venclient.openadr import Event, Notification, Program, Report, Resource, Subscription, Ven
from fixtures.vtn import load_spec

EXAMPLES = int(os.environ.get("VEN_FUZZ_EXAMPLES", "150"))
BOOKKEEPING = ("createdDateTime", "modificationDateTime", "objectType", "id")
MODELS = {"program": Program, "event": Event, "report": Report, "subscription": Subscription, "ven": Ven,
          "resource": Resource, "notification": Notification}
JSON_LEAF = st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False) | st.text(max_size=20)
JSON_VALUE = st.recursive(JSON_LEAF, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=8), inner, max_size=3), max_leaves=6)
STAMP_JUNK = st.sampled_from([
    "2026-12-02 13:49:07.123456789", "2026-12-02T13:49:07", "Wed, 02 Dec 2026 13:49:07 GMT", "13:49:07",
    "1796219347000", "2026-12-02 13:49:07 UTC", "yesterday", "", "0000-00-00 00:00:00", "2026-02-30T00:00:00Z"])


def _duration() -> st.SearchStrategy[str]:
    """ISO 8601 durations as the spec's pattern allows (hypothesis cannot build its look-ahead regex)."""
    def build(sign: bool, y: int, m: int, d: int, h: int, mi: int, s: float, weeks: bool) -> str:
        date = "".join(f"{v}{u}" for v, u in ((y, "Y"), (m, "M"), (d, "W" if weeks else "D")) if v)
        time = "".join(f"{v}{u}" for v, u in ((h, "H"), (mi, "M")) if v) + (f"{s:g}S" if s else "")
        if not date and not time:
            time = "0S"
        return ("-" if sign else "") + "P" + date + (f"T{time}" if time else "")

    small = st.integers(0, 40)
    return st.builds(build, st.booleans(), st.integers(0, 3), small, small, small, small,
                     st.sampled_from([0, 0.5, 15, 59]), st.booleans())


class SchemaStrategies:
    """Hypothesis strategies for the spec's component schemas (objects, arrays, strings with formats …)."""

    def __init__(self, spec: dict[str, Any]):
        self.schemas = spec["components"]["schemas"]
        self._cache: dict[str, st.SearchStrategy[Any]] = {}

    def named(self, name: str) -> st.SearchStrategy[Any]:
        if name not in self._cache:
            self._cache[name] = st.deferred(lambda: self.build(self.schemas[name], name))
        return self._cache[name]

    def build(self, schema: dict[str, Any], name: str = "") -> st.SearchStrategy[Any]:
        if "$ref" in schema:
            return self.named(schema["$ref"].rsplit("/", 1)[-1])
        if name == "duration":
            return _duration()
        if name == "dateTime" or schema.get("format") == "date-time":
            return st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31),
                                timezones=st.just(timezone.utc)).map(lambda d: d.isoformat().replace("+00:00", "Z"))
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        for key in ("oneOf", "anyOf"):
            if key in schema:
                return st.one_of([self.build(s) for s in schema[key]])
        kind = schema.get("type") or ("object" if "properties" in schema else None)
        strategy: st.SearchStrategy[Any]
        if kind == "object":
            properties = schema.get("properties", {})
            required = set(schema.get("required", ()))
            strategy = st.fixed_dictionaries(
                {k: self.build(v) for k, v in properties.items() if k in required},
                optional={k: self.build(v) for k, v in properties.items() if k not in required})
        elif kind == "array":
            strategy = st.lists(self.build(schema.get("items", {})), max_size=3)
        elif kind == "string":
            if schema.get("format") == "uri":
                strategy = st.sampled_from(["http://127.0.0.1:8080/cb", "https://vtn.example/notify?x=1"])
            elif "pattern" in schema:
                low, high = schema.get("minLength", 0), min(schema.get("maxLength", 40), 40)
                strategy = st.from_regex(schema["pattern"], fullmatch=True).filter(lambda t: low <= len(t) <= high)
            else:
                strategy = st.text(min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 30), 30))
        elif kind == "integer":
            strategy = st.integers(schema.get("minimum", -2**31), schema.get("maximum", 2**31 - 1))
        elif kind == "number":
            strategy = st.floats(allow_nan=False, allow_infinity=False, width=32)
        elif kind == "boolean":
            strategy = st.booleans()
        else:
            strategy = JSON_VALUE
        return (st.none() | strategy) if schema.get("nullable") else strategy


def mangle_bookkeeping(obj: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """``obj`` with each bookkeeping field kept, removed, nulled or replaced, plus unknown extra keys."""
    choices = {field: st.sampled_from(["keep", "drop"]) | st.just(None) | STAMP_JUNK | JSON_VALUE
               for field in BOOKKEEPING}

    def apply(picked: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        out = dict(obj)
        for field, value in picked.items():
            if value == "drop":
                out.pop(field, None)
            elif value != "keep":
                out[field] = value
        out.update({f"vendor{k}": v for k, v in extra.items()})
        return out

    return st.builds(apply, st.fixed_dictionaries(choices), st.dictionaries(st.text(max_size=6), JSON_VALUE, max_size=3))


def mangled(name: str, obj: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A notification's own fields say what happened (acted on); its ``object``'s bookkeeping is mangled instead."""
    if name == "notification":
        return mangle_bookkeeping(obj["object"]).map(lambda inner: {**obj, "object": inner})
    return mangle_bookkeeping(obj)


def _without_bookkeeping(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in BOOKKEEPING and not k.startswith("vendor")}


def acted_on(parsed: Any) -> dict[str, Any]:
    data = parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(parsed, Notification):
        return {**data, "object": _without_bookkeeping(data["object"])}
    return _without_bookkeeping(data)


@pytest.fixture(scope="module")
def strategies() -> SchemaStrategies:
    return SchemaStrategies(load_spec())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_mangled_bookkeeping_never_drops_an_object_nor_changes_what_we_act_on(name, strategies):
    model = MODELS[name]

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                            HealthCheck.filter_too_much])
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        original = data.draw(strategies.named(name), label="object from the schema")
        changed = data.draw(mangled(name, original), label="bookkeeping mangled")
        context = {CONTEXT_KEY: LenientNotes()}
        expected = acted_on(model.model_validate(original, context=context))
        assert acted_on(model.model_validate(changed, context=context)) == expected

    check()
