"""File reader plugin: the ``filereader`` meter source (CSV or JSON-lines files a data logger appends to)."""

from plugins.file_reader.hooks import ven_meter_sources, ven_settings_validators

__all__ = ["ven_meter_sources", "ven_settings_validators"]
