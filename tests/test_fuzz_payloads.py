"""Fuzz harness, part one: the parsers of what devices and the VTN send (issue 18).

Each property feeds one parser generated input, its seed corpus (``tests/data/fuzz/<parser>/``) and mutated
seeds, and checks: a value, or the parser's documented one-sentence error — never another exception.  These
parsers are pure, so nothing can reach the store.  Budget: ``VEN_FUZZ_EXAMPLES`` (see ``fixtures.fuzz``).

=====================  ========================================  =========================================
parser                 called as                                 documented errors
=====================  ========================================  =========================================
mqtt_payload           ``extract_watts`` with every preset       ``ValueError`` (unparsable), ``FieldAbsent``
modbus_registers       ``bus.decode`` per data type, word order  none (a float, maybe not finite)
file_reader_line       ``RowParser.parse`` in every format       ``RowError``
notification           ``webhook.read_notification``             ``ValueError``
vtn_response           ``ResponseParser.one``/``many_counted``   ``VtnProtocolError`` (a ``VenError``)
=====================  ========================================  =========================================
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from fixtures.fuzz import FUZZ_SETTINGS, mutated, seeds
from venclient.engine.webhook import read_notification
from venclient.plugins.file_reader.rows import FORMATS, Row, RowError, RowParser
from venclient.plugins.modbus_meter.bus import decode
from venclient.plugins.modbus_meter.params import Register
from venclient.plugins.modbus_meter.registermaps import DATA_TYPES, WORD_ORDERS
from venclient.plugins.mqtt_meter.presets import PRESETS, FieldAbsent, extract_values, extract_watts, split_path
from venclient.plugins.mqtt_meter.source import PARSE_ERRORS
from venclient.plugins.openadr_http.parsing import LABELS, ResponseParser
from venclient.vtn_errors import VtnProtocolError

VARIANTS = Path(__file__).parent / "data" / "vtn_variants"
JSON_LEAF = (st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats() | st.text(max_size=12)
             | st.sampled_from(["", "NaN", "1e309", "-0", "2026-12-02T13:49:07Z", "PT15M", "load_0"]))
JSON_VALUE = st.recursive(JSON_LEAF, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=10), inner, max_size=4), max_leaves=12)


def _json_bytes(value: Any) -> bytes:
    """``value`` as JSON text; NaN and infinities as Python's json writes them (``NaN``, ``Infinity``)."""
    return json.dumps(value, allow_nan=True).encode()


def _variant_bodies(model_file: str) -> list[Any]:
    return [case["body"] for case in json.loads((VARIANTS / model_file).read_text(encoding="utf-8"))]


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into a JSON value (dict keys and list positions), the value itself first."""
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, prefix + (key,))
    elif isinstance(value, list):
        for position, inner in enumerate(value):
            found += _paths(inner, prefix + (position,))
    return found


def _replaced(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replaced(copy[path[0]], path[1:], new)
    return copy


def mangled(bodies: list[Any]) -> st.SearchStrategy[Any]:
    """A body with one of its values (any depth, the whole body included) replaced by generated JSON."""
    def mangle(body: Any, pick: int, new: Any) -> Any:
        paths = _paths(body)
        return _replaced(body, paths[pick % len(paths)], new)
    return st.builds(mangle, st.sampled_from(bodies), st.integers(0, 10**6), JSON_VALUE)


def _payloads(parser: str) -> st.SearchStrategy[bytes]:
    return (mutated(seeds(parser)) | JSON_VALUE.map(_json_bytes) | st.binary(max_size=64)
            | st.text(max_size=40).map(str.encode))


# ------------------------------------------------------------------------------------------------ MQTT
def check_mqtt_payload(tally, payload: bytes, preset: str) -> None:
    chosen = PRESETS[preset]
    result = tally.run("mqtt_payload", lambda: extract_watts(payload, split_path(chosen.path), chosen.scale),
                       (FieldAbsent, *PARSE_ERRORS))
    if not isinstance(result, BaseException):
        assert isinstance(result, float)
    both = tally.run("mqtt_payload", lambda: extract_values(payload, split_path(chosen.path), chosen.scale,
                                                            split_path(chosen.energy_path), chosen.energy_scale),
                     (FieldAbsent, *PARSE_ERRORS))  # what the source parses: the same watts, a kWh or NaN
    if not isinstance(result, BaseException):
        assert isinstance(both, tuple) and both[0] == result and isinstance(both[1], float)


@FUZZ_SETTINGS
@given(payload=_payloads("mqtt_payload"), preset=st.sampled_from(sorted(PRESETS)))
def test_mqtt_payloads_give_watts_or_an_unparsable_verdict(fuzz_tally, payload: bytes, preset: str):
    check_mqtt_payload(fuzz_tally, payload, preset)


# ---------------------------------------------------------------------------------------------- Modbus
MODBUS_BLOCKS = [json.loads(seed) for seed in seeds("modbus_registers")]


@FUZZ_SETTINGS
@given(data_type=st.sampled_from(sorted(DATA_TYPES)), word_order=st.sampled_from(WORD_ORDERS),
       scale=st.sampled_from([1.0, 0.001, 1000.0, -1.0, 1e300]),
       words=st.sampled_from(MODBUS_BLOCKS) | st.lists(st.integers(0, 0xFFFF), min_size=4, max_size=4))
def test_modbus_register_blocks_decode_to_a_float(fuzz_tally, data_type: str, word_order: str, scale: float,
                                                   words: list[int]):
    check_modbus_block(fuzz_tally, data_type, word_order, scale, words)


def check_modbus_block(tally, data_type: str, word_order: str, scale: float, words: list[int]) -> None:
    register = Register("holding", 0, data_type=data_type, word_order=word_order, scale=scale)
    block = (words * 4)[:register.count]
    value = tally.run("modbus_registers", lambda: decode(block, register), ())
    assert isinstance(value, float)  # non-finite (NaN or infinity patterns) is a value the source marks invalid


# ------------------------------------------------------------------------------------------ file reader
def _lines() -> st.SearchStrategy[str]:
    decoded = mutated(seeds("file_reader_line")).map(lambda b: b.decode("utf-8", "replace").split("\n")[0])
    fields = st.lists(JSON_LEAF.map(lambda v: "" if v is None else str(v)), max_size=5).map(",".join)
    records = st.dictionaries(st.sampled_from(["timestamp", "ts", "load", "component", "watts", "power_w", "x"]),
                              JSON_LEAF, max_size=4).map(lambda d: json.dumps(d, allow_nan=True))
    return decoded | fields | records | st.text(max_size=60)


@FUZZ_SETTINGS
@given(fmt=st.sampled_from(FORMATS), lines=st.lists(_lines(), min_size=1, max_size=4))
def test_file_reader_lines_give_a_row_or_a_row_error(fuzz_tally, fmt: str, lines: list[str]):
    check_file_reader_lines(fuzz_tally, fmt, lines)


def check_file_reader_lines(tally, fmt: str, lines: list[str]) -> None:
    parser = RowParser(fmt)
    for line in lines:
        row = tally.run("file_reader_line", lambda: parser.parse(line), (RowError,))
        if isinstance(row, Row):
            assert 0 <= row.component <= 5 and math.isfinite(row.watts) and row.timestamp_ms >= 0


# ------------------------------------------------------------------------------------------ notification
NOTIFICATION_BODIES = _variant_bodies("notification.json")


@FUZZ_SETTINGS
@given(body=mangled(NOTIFICATION_BODIES).map(_json_bytes) | mangled(NOTIFICATION_BODIES)
       | _payloads("notification") | JSON_VALUE.map(lambda v: json.dumps(json.dumps(v))))
def test_notification_bodies_read_or_refused_in_one_sentence(fuzz_tally, body: Any):
    check_notification(fuzz_tally, body)


def check_notification(tally, body: Any) -> None:
    result = tally.run("notification", lambda: read_notification(body), (ValueError,))
    if isinstance(result, dict):
        assert result["operation"] in ("GET", "POST", "PUT", "DELETE") and isinstance(result["object"], dict)
        assert isinstance(result["objectType"], str) and result["objectType"] == result["objectType"].upper()


# ------------------------------------------------------------------------------------------ VTN answers
MODEL_FILES = {model: f"{label.split()[0].lower()}.json" for model, label in LABELS.items()}
REQUEST = httpx.Request("GET", "http://127.0.0.1:8080/openadr3/objects")


def _answer(body: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else _json_bytes(body)
    return httpx.Response(200, content=content, request=REQUEST)


def _bodies(model: type) -> st.SearchStrategy[Any]:
    bodies = _variant_bodies(MODEL_FILES[model])
    return (mangled(bodies) | mangled(bodies).map(lambda b: [b, b]) | mangled([bodies]) | JSON_VALUE
            | mutated(seeds("vtn_response")))


@FUZZ_SETTINGS
@given(data=st.data(), model=st.sampled_from(sorted(LABELS, key=lambda m: m.__name__)))
def test_vtn_answers_parse_or_fail_as_a_protocol_error(fuzz_tally, data, model: type):
    check_vtn_answer(fuzz_tally, model, data.draw(_bodies(model), label="body"))


def check_vtn_answer(tally, model: type, body: Any) -> None:
    parser = ResponseParser()
    one = tally.run("vtn_response", lambda: parser.one(model, _answer(body)), (VtnProtocolError,))
    if not isinstance(one, BaseException):
        assert isinstance(one, BaseModel)
    many = tally.run("vtn_response", lambda: parser.many_counted(model, _answer(body)), (VtnProtocolError,))
    if not isinstance(many, BaseException):
        kept, count = many
        assert all(isinstance(item, model) for item in kept) and len(kept) <= count


# ------------------------------------------------------------------------------------------ seed corpora
def _replay(parser: str, seed: bytes, tally) -> None:
    if parser == "mqtt_payload":
        for preset in sorted(PRESETS):
            check_mqtt_payload(tally, seed, preset)
    elif parser == "modbus_registers":
        for data_type in sorted(DATA_TYPES):
            for word_order in WORD_ORDERS:
                check_modbus_block(tally, data_type, word_order, 1.0, json.loads(seed))
    elif parser == "file_reader_line":
        for fmt in FORMATS:
            check_file_reader_lines(tally, fmt, seed.decode("utf-8").split("\n"))  # as FileTail splits
    elif parser == "notification":
        check_notification(tally, seed)
    else:
        for model in LABELS:
            check_vtn_answer(tally, model, seed)


@pytest.mark.parametrize("parser", ["mqtt_payload", "modbus_registers", "file_reader_line", "notification",
                                    "vtn_response"])
def test_every_seed_of_the_corpus_passes_the_property(fuzz_tally, parser: str):
    for seed in seeds(parser):
        _replay(parser, seed, fuzz_tally)
