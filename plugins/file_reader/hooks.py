"""Hook implementations of the file reader: its meter source and its settings validators."""

from __future__ import annotations

from typing import Any

from dynaconf import Validator

from venclient.hookspecs import hookimpl
from venclient.plugins.file_reader.settings import settings_validators
from venclient.plugins.file_reader.source import DEFAULT_STALE_AFTER_SECONDS, FileReaderSource


@hookimpl
def ven_meter_sources(settings: Any) -> list[FileReaderSource]:
    """A new ``filereader`` source per call (each collector owns its file positions)."""
    stale = settings.get("filereader.stale_after_seconds", DEFAULT_STALE_AFTER_SECONDS)
    return [FileReaderSource(stale_after_seconds=float(stale))]


@hookimpl
def ven_settings_validators() -> list[Validator]:
    """Validators with defaults for ``filereader.*``."""
    return settings_validators()
