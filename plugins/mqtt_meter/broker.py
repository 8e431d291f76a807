"""One paho-mqtt client per broker, its network loop in a background thread (``loop_start``).

The client connects in the background and reconnects with a doubling backoff
(``backoff_min_seconds`` … ``backoff_max_seconds``); after every (re)connect it subscribes to all its
topics again, so a restarted broker delivers values again without the source doing anything.
Messages go to the ``on_message(topic, payload, arrived)`` callback given by the source; an exception
there is logged and never reaches paho's thread.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable

from venclient.errors import InputError, VenError
from venclient.plugins.mqtt_meter.options import MqttOptions
from venclient.plugins.mqtt_meter.params import BrokerAddress, resolve_secret

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes, float], None]


def new_client(address: BrokerAddress, options: MqttOptions, settings: Any, role: str) -> mqtt.Client:
    """A configured (not yet connected) paho client for ``address``: credentials, TLS, timeouts.

    Raises InputError when the password reference cannot be resolved.  paho-mqtt is imported here, on the
    first client, so a process without MQTT connections never loads it.
    """
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2,
                         client_id=f"{options.client_id_prefix}-{role}-{uuid.uuid4().hex[:10]}")
    client.connect_timeout = options.connect_timeout_seconds
    client.reconnect_delay_set(options.backoff_min_seconds, options.backoff_max_seconds)  # type: ignore[arg-type]
    username = address.username or options.username or None
    if address.password_ref:
        password = resolve_secret(address.password_ref, settings, f"MQTT broker {address.describe()}")
    else:
        password = options.password or None
    if username:
        client.username_pw_set(username, password)
    if address.tls or options.tls:
        client.tls_set(ca_certs=options.ca_certs or None)
    return client


def connect_once(address: BrokerAddress, options: MqttOptions, settings: Any, role: str) -> mqtt.Client:
    """A client connected to ``address`` with its loop running; InputError when unreachable or refused."""
    client = new_client(address, options, settings, role)
    answered = threading.Event()
    outcome: dict[str, Any] = {}

    def on_connect(_c: mqtt.Client, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
        outcome["reason"] = reason_code
        answered.set()

    client.on_connect = on_connect
    try:
        client.connect(address.host, address.port, keepalive=options.keepalive_seconds)
    except (OSError, ValueError) as err:
        reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
        raise InputError(f"MQTT broker {address.describe()} is unreachable ({reason}).") from None
    client.loop_start()
    if not answered.wait(options.connect_timeout_seconds):
        stop_client(client)
        raise InputError(f"MQTT broker {address.describe()} did not accept the connection within "
                         f"{options.connect_timeout_seconds:g} s.")
    reason = outcome["reason"]
    if reason.is_failure:
        stop_client(client)
        raise InputError(f"MQTT broker {address.describe()} refused the connection ({reason}).")
    return client


def stop_client(client: mqtt.Client) -> None:
    """Disconnect and stop the network thread."""
    try:
        client.disconnect()
    finally:
        client.loop_stop()


class BrokerClient:
    """A long-lived subscription client for one broker; ``set_topics`` keeps the subscriptions in sync."""

    def __init__(self, address: BrokerAddress, options: MqttOptions, settings: Any, on_message: MessageHandler):
        self.address = address
        self.options = options
        self._settings = settings
        self._on_message_cb = on_message
        self._topics: dict[str, int] = {}
        self._lock = threading.Lock()
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._sent: set[int] = set()    # SUBSCRIBE message ids sent since the last connect
        self._acked: set[int] = set()   # ... and acknowledged by the broker
        self._sending = 0                # subscribe calls in progress
        self._warned_down = False
        self.messages_received = 0       # written by the network thread only

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        """Begin connecting in the background (returns at once); InputError for a bad password reference."""
        client = new_client(self.address, self.options, self._settings, "reader")
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.connect_async(self.address.host, self.address.port, keepalive=self.options.keepalive_seconds)
        client.loop_start()
        self._client = client

    def wait_ready(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds until connected and every subscription is acknowledged."""
        deadline = time.monotonic() + timeout
        return self._connected.wait(timeout) and self._subscribed.wait(max(0.0, deadline - time.monotonic()))

    def _subscribe(self, client: mqtt.Client, topics: list[tuple[str, int]]) -> None:
        """Subscribe and track the acknowledgement (``wait_ready`` is false until it arrives)."""
        with self._lock:
            self._sending += 1
            self._subscribed.clear()
        _rc, mid = client.subscribe(topics)
        with self._lock:
            self._sending -= 1
            if mid is not None:
                self._sent.add(mid)
        self._check_subscribed()

    def _check_subscribed(self) -> None:
        with self._lock:
            done = self._sending == 0 and self._sent <= self._acked
        if done:
            self._subscribed.set()

    def set_topics(self, topics: dict[str, int]) -> None:
        """Subscribe to ``topics`` (topic → QoS) and drop subscriptions no longer wanted."""
        with self._lock:
            added = {t: q for t, q in topics.items() if self._topics.get(t) != q}
            removed = [t for t in self._topics if t not in topics]
            self._topics = dict(topics)
        client = self._client
        if client is None or not self.connected:
            return  # on_connect subscribes to everything
        if removed:
            client.unsubscribe(removed)
        if added:
            self._subscribe(client, list(added.items()))

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        client, self._client = self._client, None
        if client is not None:
            stop_client(client)
        self._connected.clear()

    # ------------------------------------------------------------------ paho callbacks (network thread)
    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: Any, _props: Any) -> None:
        if reason_code.is_failure:
            if not self._warned_down:
                log.warning("MQTT broker %s refused the connection (%s); retrying with backoff.",
                            self.address.describe(), reason_code)
                self._warned_down = True
            return
        with self._lock:
            topics = list(self._topics.items())
            self._sent, self._acked = set(), set()
        if topics:
            self._subscribe(client, topics)
        else:
            self._subscribed.set()
        self._connected.set()
        if self._warned_down:
            log.info("MQTT broker %s connected again.", self.address.describe())
        self._warned_down = False

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, mid: int, _codes: Any, _props: Any) -> None:
        with self._lock:
            self._acked.add(mid)
        self._check_subscribed()

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: Any, _props: Any) -> None:
        self._connected.clear()
        self._subscribed.clear()
        if self._client is not None and not self._warned_down:
            log.warning("MQTT broker %s disconnected (%s); reconnecting with backoff up to %g s.",
                        self.address.describe(), reason_code, self.options.backoff_max_seconds)
            self._warned_down = True

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.messages_received += 1
        try:
            self._on_message_cb(message.topic, message.payload, time.monotonic())
        except Exception:  # noqa: BLE001 - never let a handler bug kill paho's network thread
            log.exception("MQTT message on %s from %s could not be handled.", message.topic,
                          self.address.describe())


def publish_once(address: BrokerAddress, options: MqttOptions, settings: Any, topic: str, payload: str,
                 qos: int, retain: bool) -> None:
    """Connect, publish one message (waiting for the broker's acknowledgement when QoS > 0), disconnect.

    Raises InputError when the broker is unreachable and VenError when the publish is not confirmed.
    """
    client = connect_once(address, options, settings, "writer")
    try:
        info = client.publish(topic, payload, qos=qos, retain=retain)
        try:
            info.wait_for_publish(options.connect_timeout_seconds)
        except (ValueError, RuntimeError) as err:
            raise VenError(f"Publishing to {topic} on MQTT broker {address.describe()} failed ({err}).") from None
        if not info.is_published():
            raise VenError(f"MQTT broker {address.describe()} did not confirm the message to {topic} within "
                           f"{options.connect_timeout_seconds:g} s.")
    finally:
        stop_client(client)
