"""The MQTT writer: publishes a command for a load (topic + payload template).

The template is a Python format string with the fields ``value`` (the number), ``on_off`` (``"ON"``
when value ≠ 0, else ``"OFF"``), ``load`` (``load_2``), ``load_id`` and ``resource``; e.g.
``{on_off}`` for ``cmnd/<tasmota>/POWER`` or ``{{"limit": {value:.0f}}}`` for a JSON set-point.
Each write connects, publishes (QoS 1 by default, waiting for the broker's acknowledgement) and
disconnects, in a worker thread.
"""

from __future__ import annotations

import asyncio
from typing import Any

from venclient.errors import InputError
from venclient.model import Connection, Load
from venclient.plugins.mqtt_meter.broker import publish_once
from venclient.plugins.mqtt_meter.options import MqttOptions
from venclient.plugins.mqtt_meter.params import KIND, parse_writer


def render_payload(template: str, load: Load, value: float) -> str:
    """The payload for ``value`` on ``load`` from ``template``."""
    return template.format(value=value, on_off="ON" if value else "OFF", load=load.load_component,
                           load_id=load.load_id, resource=load.resource_id)


class MqttWriter:
    """Publishes commands to the topic of a writer connection."""

    kinds: tuple[str, ...] = (KIND,)

    def __init__(self, options: MqttOptions | None = None, settings: Any = None):
        self.options = options or MqttOptions()
        self._settings = settings

    def validate_connection(self, connection: Connection) -> None:
        """Raise InputError (one sentence) when the writer connection's options are unusable."""
        parse_writer(connection)

    async def write(self, connection: Connection, load: Load, value: float) -> None:
        """Publish the command for ``value`` on ``load``.

        InputError when the connection has no command for the load or the broker is unreachable;
        VenError when the broker does not confirm the message.
        """
        target = parse_writer(connection)
        command = target.command_for(load.load_component)
        if command is None:
            raise InputError(f"MQTT writer connection {connection.id} has no command_topic for "
                             f"{load.load_component} of resource {load.resource_id}.")
        payload = render_payload(command.payload_template, load, value)
        await asyncio.to_thread(publish_once, target.broker, self.options, self._settings, command.topic,
                                payload, command.qos, command.retain)
