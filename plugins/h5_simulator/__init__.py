"""HDF5 meter simulator: the ``h5sim`` meter source and synthetic ``load_data.h5`` generation (``ven meterdata
generate``).  Hook implementations: :mod:`venclient.plugins.h5_simulator.hooks`.
"""

from venclient.plugins.h5_simulator.source import H5MeterSource

__all__ = ["H5MeterSource"]
