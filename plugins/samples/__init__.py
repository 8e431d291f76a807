"""Sample resources and loads: the seeds' asset-CSV importer, a synthetic Danish fleet, load generation.

Commands: ``ven samples import``, ``ven samples generate``, ``ven loads generate``.  Other plugins (``ven demo``)
use only the names below; each resolves from its submodule on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from venclient.lazy import lazy_attributes

if TYPE_CHECKING:  # pragma: no cover
    from venclient.plugins.samples.fleet import generate_fleet
    from venclient.plugins.samples.loadgen import LoadGeneration, generate_loads, read_meter_ids
    from venclient.plugins.samples.store_fill import open_store_to_fill
    from venclient.plugins.samples.towns import Town, load_towns

__getattr__ = lazy_attributes(__name__, {
    "generate_fleet": "fleet", "LoadGeneration": "loadgen", "generate_loads": "loadgen",
    "read_meter_ids": "loadgen", "open_store_to_fill": "store_fill", "Town": "towns", "load_towns": "towns"})

__all__ = ["LoadGeneration", "Town", "generate_fleet", "generate_loads", "load_towns", "open_store_to_fill",
           "read_meter_ids"]
