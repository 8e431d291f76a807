"""Hook implementations of the H5 simulator: one ``h5sim`` source on ``h5_simulator.h5_path`` and ``ven meterdata``."""

from __future__ import annotations

from typing import Any

from typing import TYPE_CHECKING

from venclient.hookspecs import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    import typer

# h5py and numpy load with the first source, not with `ven --help`.


@hookimpl
def ven_settings_validators() -> list[Any]:
    """``h5_simulator.h5_path``, the meter data file."""
    from venclient.plugins.h5_simulator.settings import settings_validators

    return settings_validators()


@hookimpl
def ven_meter_sources(settings: Any) -> list[Any]:
    """A new :class:`H5MeterSource` per call, so every collector owns its own gather state; it responds to events
    (:class:`venclient.plugins.h5_simulator.responding.RespondingSource`, ``[h5_simulator.response]``)."""
    from venclient.plugins.h5_simulator.responding import RespondingSource, response_settings
    from venclient.plugins.h5_simulator.source import H5MeterSource

    return [RespondingSource(H5MeterSource(settings.h5_simulator.h5_path), response_settings(settings))]


@hookimpl
def ven_cli(app: typer.Typer) -> None:
    """Add ``ven meterdata …``."""
    from venclient.plugins.h5_simulator.cli import build_meterdata_app

    app.add_typer(build_meterdata_app(), name="meterdata")
