"""HDF5 meter simulator: the ``h5sim`` meter source and synthetic ``load_data.h5`` generation (``ven meterdata
generate``).  Hook implementations: :mod:`venclient.plugins.h5_simulator.hooks`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from venclient.lazy import lazy_attributes

if TYPE_CHECKING:  # pragma: no cover
    from venclient.plugins.h5_simulator.generator import MeterDataSummary, write_meterdata
    from venclient.plugins.h5_simulator.layout import H5MeterFile
    from venclient.plugins.h5_simulator.source import H5MeterSource

# the heavy modules (h5py) load on first use
__getattr__ = lazy_attributes(__name__, {"H5MeterSource": "source", "H5MeterFile": "layout",
                                         "MeterDataSummary": "generator", "write_meterdata": "generator"})

__all__ = ["H5MeterFile", "H5MeterSource", "MeterDataSummary", "write_meterdata"]
