"""Hook implementations of the file reader: its meter source and its settings validators."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from venclient.hookspecs import hookimpl
from venclient.plugins.file_reader.settings import DEFAULT_STALE_AFTER_SECONDS, settings_validators

if TYPE_CHECKING:  # pragma: no cover
    from dynaconf import Validator

    from venclient.plugins.file_reader.source import FileReaderSource

# The source module (numpy) loads when a runtime asks for sources.


@hookimpl
def ven_meter_sources(settings: Any) -> list[FileReaderSource]:
    """A new ``filereader`` source per call (each collector owns its file positions)."""
    from venclient.plugins.file_reader.source import FileReaderSource

    stale = settings.get("filereader.stale_after_seconds", DEFAULT_STALE_AFTER_SECONDS)
    return [FileReaderSource(stale_after_seconds=float(stale))]


@hookimpl
def ven_settings_validators() -> list[Validator]:
    """Validators with defaults for ``filereader.*``."""
    return settings_validators()
