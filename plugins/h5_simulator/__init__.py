"""HDF5 meter simulator: the ``h5sim`` meter source and synthetic ``load_data.h5`` generation (``ven meterdata
generate``).  Hook implementations: :mod:`venclient.plugins.h5_simulator.hooks`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from venclient.lazy import lazy_attributes

if TYPE_CHECKING:  # pragma: no cover
    from venclient.plugins.h5_simulator.source import H5MeterSource

__getattr__ = lazy_attributes(__name__, {"H5MeterSource": "source"})  # the heavy module loads on first use

__all__ = ["H5MeterSource"]
