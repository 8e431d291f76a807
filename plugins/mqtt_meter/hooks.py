"""Hook implementations of the MQTT plugin: the source, the writer and the ``[mqtt]`` settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from venclient.hookspecs import hookimpl
from venclient.plugins.mqtt_meter.options import MqttOptions, settings_validators

if TYPE_CHECKING:  # pragma: no cover
    from venclient.connection_options import ConnectionOptions
    from venclient.plugins.mqtt_meter.source import MqttMeterSource
    from venclient.plugins.mqtt_meter.writer import MqttWriter

# The source and writer modules (numpy, the payload parsers) load when a runtime asks for sources.


@hookimpl
def ven_settings_validators() -> list[Any]:
    """``mqtt.stale_after_seconds``, credentials, TLS, backoff and timeouts."""
    return settings_validators()


@hookimpl
def ven_meter_sources(settings: Any) -> list[MqttMeterSource]:
    """One source serving ``mqtt``."""
    from venclient.plugins.mqtt_meter.source import MqttMeterSource

    return [MqttMeterSource(MqttOptions.from_settings(settings), settings)]


@hookimpl
def ven_writers(settings: Any) -> list[MqttWriter]:
    """One writer serving ``mqtt`` writer connections."""
    from venclient.plugins.mqtt_meter.writer import MqttWriter

    return [MqttWriter(MqttOptions.from_settings(settings), settings)]


@hookimpl
def ven_connection_options() -> ConnectionOptions:
    """The ``ven resources connect`` options of ``mqtt`` connections."""
    from venclient.plugins.mqtt_meter.connect_options import CONNECTION_OPTIONS

    return CONNECTION_OPTIONS
