"""Reading the seeds' asset CSVs (``<subtype>-in-denmark.csv``: title, address, longitude, latitude).

A file that cannot be used at all (missing, not CSV text, no sub-type in its name, missing columns)
raises :class:`venclient.errors.InputError` naming it.  A bad row (missing title, unparsable coordinates, no
town in the address) is recorded with its line number and skipped.  Every file is read and checked
before anything is written, and all files go to the store in one transaction.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from venclient.errors import InputError
from venclient.plugins.samples.build import Site
from venclient.plugins.samples.subtypes import SUB_TYPES, SubType, subtype_for_file
from venclient.plugins.samples.towns import parse_town

REQUIRED_COLUMNS = ("title", "address", "longitude", "latitude")


@dataclass(frozen=True)
class SkippedRow:
    """A row left out, with its (first) line number in the file and why."""

    line: int
    reason: str


@dataclass
class AssetFile:
    """The usable sites of one asset file and the rows skipped."""

    path: Path
    sub_type: SubType
    sites: list[Site] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Data rows seen (imported + skipped)."""
        return len(self.sites) + len(self.skipped)


def _parse_coordinate(text: str, name: str, limit: float) -> float:
    value = (text or "").strip()
    if value.count(",") == 1 and "." not in value:
        value = value.replace(",", ".")  # a decimal comma ("55,67")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"unparsable {name} {text!r}" if value else f"missing {name}") from None
    if not math.isfinite(number) or abs(number) > limit:
        raise ValueError(f"{name} {text!r} is out of range")
    return number


def _site_from_row(row: dict[str, str], sub_type: SubType) -> Site:
    """One site from a row, or ``ValueError`` with the reason the row is unusable."""
    title = " ".join((row.get("title") or "").split())
    if not title:
        raise ValueError("missing title")
    longitude = _parse_coordinate(row.get("longitude", ""), "longitude", 180.0)
    latitude = _parse_coordinate(row.get("latitude", ""), "latitude", 90.0)
    address = " ".join((row.get("address") or "").split())
    town = parse_town(address)
    if town is None:
        raise ValueError(f"no town after a 4-digit postcode in the address {address!r}" if address
                         else "missing address")
    return Site(title=title, address=address, ven=town, longitude=longitude, latitude=latitude,
                sub_type=sub_type)


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"The asset file {path} does not exist.") from None
    except IsADirectoryError:
        raise InputError(f"The asset file {path} is a directory, not a CSV file.") from None
    except OSError as err:
        raise InputError(f"The asset file {path} cannot be read: {err.strerror or err}.") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line, column = _line_column(data, err.start)
        raise InputError(f"The asset file {path} is not a CSV file (it is not UTF-8 text at line {line}, "
                         f"column {column}).") from None
    if "\x00" in text:
        line, column = _line_column(data, data.index(b"\x00"))
        raise InputError(f"The asset file {path} is not a CSV file (it contains binary data at line {line}, "
                         f"column {column}).")
    return text


def _line_column(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in bytes) of ``offset`` in ``data``."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - line_start + 1


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def read_asset_file(path: Path) -> AssetFile:
    """Read and check one asset file; raise :class:`InputError` when the file as a whole is unusable."""
    sub_type = subtype_for_file(path.name)
    if sub_type is None:
        names = ", ".join(s.slug for s in SUB_TYPES)
        raise InputError(f"The asset file {path} does not name a sub-type: expected <subtype>-in-denmark.csv "
                         f"with <subtype> one of {names}.")
    text = _read_text(path)
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    if not first_line:
        raise InputError(f"The asset file {path} is empty; it needs a header row with "
                         f"{', '.join(REQUIRED_COLUMNS)}.")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line))
    result = AssetFile(path=path, sub_type=sub_type)
    header: list[str] | None = None
    previous_line = 0
    try:
        for fields in reader:
            start_line, previous_line = previous_line + 1, reader.line_num
            if not any(f.strip() for f in fields):
                continue
            if header is None:
                header = [f.strip().lower() for f in fields]
                missing = [c for c in REQUIRED_COLUMNS if c not in header]
                if missing:
                    raise InputError(f"The asset file {path} lacks the column(s) {', '.join(missing)}; "
                                     f"its header must name {', '.join(REQUIRED_COLUMNS)}.")
                continue
            row = dict(zip(header, fields))
            try:
                result.sites.append(_site_from_row(row, sub_type))
            except ValueError as err:
                result.skipped.append(SkippedRow(line=start_line, reason=str(err)))
    except csv.Error as err:
        raise InputError(f"The asset file {path} is not a valid CSV file (line {reader.line_num}: {err}).") from None
    return result


def read_asset_files(paths: Sequence[Path]) -> list[AssetFile]:
    """Read and check every file before anything is imported; the first unusable file raises."""
    seen: set[Path] = set()
    for path in paths:
        key = path.resolve()
        if key in seen:
            raise InputError(f"The asset file {path} is named twice; each file can be imported once.")
        seen.add(key)
    return [read_asset_file(path) for path in paths]
