"""Hook implementations of the VTN transport plugin: the transport, its ``[vtn]`` settings, ``ven vtn ping``,
``ven programs`` and ``ven events``."""

from __future__ import annotations

from typing import Any

from typing import TYPE_CHECKING

from venclient.hookspecs import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    import typer

    from venclient.plugins.openadr_http.transport import HttpVtnTransport

# httpx and the OpenADR models load with the first transport, not with `ven --help`.


@hookimpl(tryfirst=True)
def ven_settings_validators() -> list[Any]:
    """Every ``[vtn]`` setting the transport reads: URL, credentials, timeouts, retries, pool (with defaults).

    Checked before other plugins' settings, as when core held the ``vtn.*`` validators."""
    from venclient.plugins.openadr_http.config import settings_validators

    return settings_validators()


@hookimpl
def ven_vtn_transport(settings: Any) -> HttpVtnTransport:
    """The HTTP transport for ``settings.vtn``; a missing ``vtn.url`` is a settings error (exit 2)."""
    from venclient.plugins.openadr_http.config import VtnConfig
    from venclient.plugins.openadr_http.transport import HttpVtnTransport

    return HttpVtnTransport(VtnConfig.from_settings(settings))


@hookimpl
def ven_cli(app: typer.Typer) -> None:
    """Add ``ven vtn ping``, ``ven programs`` and ``ven events``."""
    from venclient.plugins.openadr_http.cli import add_commands

    add_commands(app)
