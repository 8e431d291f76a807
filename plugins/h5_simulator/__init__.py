"""HDF5 meter simulator: synthetic ``load_data.h5`` generation (``ven meterdata generate``).

Keep this file a list of hook imports, one per submodule.
"""

from plugins.h5_simulator.cli import ven_cli
from plugins.h5_simulator.sources_hook import ven_meter_sources

__all__ = ["ven_cli", "ven_meter_sources"]
