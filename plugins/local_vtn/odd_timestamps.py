"""Server-set timestamps in the shapes VTNs in the field send instead of RFC 3339 (the ``timestamps`` quirk).

:class:`OddTimestamps` is the ``server_time`` of a :class:`venclient.plugins.local_vtn.state.VtnState`: each call gives
the next form of the rotation for a UTC instant —

* ``2026-12-02 13:49:07.123456789`` (a space, no zone, nanoseconds),
* ``2026-12-02T13:49:07`` (no zone, whole seconds),
* ``1796219347123`` (epoch milliseconds, a JSON number),
* ``Wed, 02 Dec 2026 13:49:07 GMT`` (an HTTP date).

A new stamp never equals the ``previous`` value it replaces, so a changed object's ``modificationDateTime``
still changes: when the form in turn would repeat it (two updates in the same second), the next form is used.
The nanosecond form cannot repeat: the instants handed out strictly increase.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any, Callable

NS_PER_S = 1_000_000_000


def _spaced_nanoseconds(ns: int) -> str:
    seconds, fraction = divmod(ns, NS_PER_S)
    return f"{datetime.fromtimestamp(seconds, timezone.utc):%Y-%m-%d %H:%M:%S}.{fraction:09d}"


def _no_zone(ns: int) -> str:
    return f"{datetime.fromtimestamp(ns // NS_PER_S, timezone.utc):%Y-%m-%dT%H:%M:%S}"


def _epoch_milliseconds(ns: int) -> int:
    return ns // 1_000_000


def _http_date(ns: int) -> str:
    return format_datetime(datetime.fromtimestamp(ns // NS_PER_S, timezone.utc), usegmt=True)


FORMS: tuple[Callable[[int], Any], ...] = (_spaced_nanoseconds, _no_zone, _epoch_milliseconds, _http_date)


def instant_ns(value: Any) -> int | None:
    """Nanoseconds since the epoch of an RFC 3339 text (as the plain VTN stamps), or ``None``."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    whole = int(moment.replace(microsecond=0).timestamp())
    return whole * NS_PER_S + moment.microsecond * 1000


class OddTimestamps:
    """Rotates through :data:`FORMS`; ``clock_ns`` (default ``time.time_ns``) is the source of "now"."""

    def __init__(self, clock_ns: Callable[[], int] = time.time_ns):
        self.clock_ns = clock_ns
        self._turn = 0
        self._last_ns = 0

    def __call__(self, previous: Any = None, at_ns: int | None = None) -> Any:
        """The stamp for now (or for ``at_ns``), in the next form, never equal to ``previous``."""
        if at_ns is None:
            at_ns = max(self.clock_ns(), self._last_ns + 1)
            self._last_ns = at_ns
        value = None
        for _ in FORMS:
            value = FORMS[self._turn % len(FORMS)](at_ns)
            self._turn += 1
            if value != previous:
                return value
        return value

    def restamp(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A copy of a stored object with its server-set timestamps (RFC 3339) in odd forms of the same instants."""
        copy = dict(obj)
        for key in ("createdDateTime", "modificationDateTime"):
            ns = instant_ns(obj.get(key))
            if ns is not None:
                copy[key] = self(at_ns=ns)
        return copy
