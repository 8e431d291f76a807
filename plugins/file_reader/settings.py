"""The ``[filereader]`` settings table and its validators."""

from __future__ import annotations

from dynaconf import Validator

DEFAULT_STALE_AFTER_SECONDS = 300.0  # a reading older than this (relative to the tick) is stale


def settings_validators() -> list[Validator]:
    """``filereader.stale_after_seconds``: a reading older than this (relative to the tick) is stale."""
    return [
        Validator("filereader.stale_after_seconds", default=DEFAULT_STALE_AFTER_SECONDS, is_type_of=(int, float),
                  gt=0, messages={"operations": "filereader.stale_after_seconds must be a number above 0, "
                                                "got {value!r}."}),
    ]
