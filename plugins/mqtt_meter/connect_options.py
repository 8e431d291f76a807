"""The ``ven resources connect`` options of MQTT connections: ``--broker URL`` (host, port, TLS, user name)
and ``--preset``."""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import urlsplit

from venclient.connection_options import ConnectionDraft, ConnectionOption, ConnectionOptions
from venclient.errors import InputError
from venclient.plugins.mqtt_meter.params import KIND

MQTT_SCHEMES = {"mqtt": (1883, False), "tcp": (1883, False), "mqtts": (8883, True), "ssl": (8883, True)}


def parse_broker(url: str) -> tuple[str, int, bool, str | None]:
    """``mqtt://user@host:1883`` → (host, port, tls, username); a password in the URL is refused."""
    try:
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        hostname = parts.hostname
    except ValueError:  # an unbalanced "[" (urllib: "Invalid IPv6 URL")
        hostname = None
    if not hostname or parts.scheme not in MQTT_SCHEMES:
        raise InputError(f"--broker must look like mqtt://host:1883 (or mqtts://host:8883), got {url!r}.")
    if parts.password:
        raise InputError("Do not put the MQTT password in --broker; give --password-env NAME and set that "
                         "environment variable.")
    default_port, tls = MQTT_SCHEMES[parts.scheme]
    try:
        port = parts.port or default_port
    except ValueError:
        raise InputError(f"--broker has an invalid port: {url!r}.") from None
    return parts.hostname, port, tls, parts.username


def apply_options(draft: ConnectionDraft, values: Mapping[str, Any]) -> None:
    """``broker`` gives host, port, TLS and the user name (unless ``--username``); ``preset`` → ``params``."""
    broker = values.get("broker")
    if broker:
        if draft.host:
            raise draft.fail("give either --broker or --host, not both.")
        try:
            host, port, tls, url_user = parse_broker(str(broker))
        except InputError as err:
            raise draft.fail(str(err)) from None
        if draft.port not in (None, ""):
            raise draft.fail("the port is part of --broker; drop --port.")
        draft.host, draft.port = host, port
        draft.username = draft.username or url_user
        if tls:
            draft.params.setdefault("tls", True)
    if values.get("preset"):
        draft.params["preset"] = values["preset"]


def describe(params: Mapping[str, Any]) -> list[str]:
    """``preset tasmota`` when there is one."""
    return [f"preset {params['preset']}"] if "preset" in params else []


CONNECTION_OPTIONS = ConnectionOptions(
    kinds=(KIND,),
    options=(ConnectionOption("--broker", "MQTT broker, mqtt://host:1883."),
             ConnectionOption("--preset", "MQTT payload preset.")),
    apply=apply_options, describe=describe)
