"""The ``[h5_simulator]`` settings: ``h5_path``, the H5 meter data file the ``h5sim`` source replays.

``VEN_H5_PATH`` and an old top-level ``h5_path`` still set it (see :mod:`venclient.settings`).
"""

from __future__ import annotations

from dynaconf import Validator


def settings_validators() -> list[Validator]:
    """``h5_simulator.h5_path`` must be a file path (the packaged defaults put it below ``data_dir``)."""
    return [
        Validator("h5_simulator.h5_path", must_exist=True, is_type_of=str,
                  messages={"operations": "h5_simulator.h5_path must be a file path, got {value!r}."}),
    ]
