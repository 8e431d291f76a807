"""Quirks: deliberate misbehaviour of the local VTN, each one imitating a VTN seen in the field.

``Quirks.parse("timestamps,stall:5")`` (or a list of names, ``"all"``) gives the value object that
:func:`venclient.plugins.local_vtn.app.create_app` and :class:`venclient.plugins.local_vtn.server.LocalVtnServer` take as
``quirks=``; ``Quirks()`` (no quirk) is the plain, spec-shaped VTN.  An unknown name or a bad argument is one
:class:`venclient.errors.InputError` sentence naming where it came from and listing the valid names.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Iterable

from venclient.errors import InputError

ALL = "all"
ALL_STALL_SECONDS = 0.05  # the stall of ``all``: every quirk on, yet tests stay quick
STALL = "stall"

QUIRK_HELP: dict[str, str] = {
    "timestamps": "server-set createdDateTime/modificationDateTime are not RFC 3339 (no zone, a space, "
                  "nanoseconds, epoch milliseconds, HTTP dates)",
    "empty-409": "every 409 answers with the body [] instead of a problem object",
    "token-no-expiry": "the token answer has no expires_in, and scope is a JSON array",
    "filters-ignored": "with skip in the query, the venName, programID, resourceName, eventID and clientName "
                       "filters are ignored",
    "stall:SECONDS": "every third create per collection (reports, vens, resources, subscriptions) is stored "
                     "at once but answered only after SECONDS",
    "amnesia": "a restart forgets every object (the state file is neither loaded nor kept; the demo is "
               "re-seeded with new ids)",
    "notify-http-verbs": "subscriptions use GET/POST/PUT/DELETE, notifications CREATE/UPDATE/DELETE "
                         "(both the other way round from the spec)",
    "notify-double-encoded": "the notification body is a JSON string whose content is the notification JSON",
}
"""Every quirk's name (as given to ``--quirks``) and what it imitates, for help texts and docs."""

# name -> the Quirks field it switches on (stall takes an argument and is handled apart)
_FLAGS = {"timestamps": "timestamps", "empty-409": "empty_409", "token-no-expiry": "token_no_expiry",
          "filters-ignored": "filters_ignored", "amnesia": "amnesia", "notify-http-verbs": "notify_http_verbs",
          "notify-double-encoded": "notify_double_encoded"}


def valid_names() -> str:
    """The accepted names as one comma-separated phrase."""
    return ", ".join([*QUIRK_HELP, ALL])


@dataclass(frozen=True)
class Quirks:
    """Which quirks are on; the default (all off) is the plain VTN.  ``bool(quirks)``: any quirk on.

    ``stall_seconds`` is ``None`` when ``stall`` is off (``0`` is a stall of no time, still counted).
    """

    timestamps: bool = False
    empty_409: bool = False
    token_no_expiry: bool = False
    filters_ignored: bool = False
    stall_seconds: float | None = None
    amnesia: bool = False
    notify_http_verbs: bool = False
    notify_double_encoded: bool = False

    @classmethod
    def all(cls, stall_seconds: float = ALL_STALL_SECONDS) -> "Quirks":
        """Every quirk on, with ``stall_seconds`` as the stall."""
        return cls(**{name: True for name in _FLAGS.values()}, stall_seconds=stall_seconds)

    @classmethod
    def parse(cls, value: "str | Iterable[str] | Quirks | None", source: str = "--quirks") -> "Quirks":
        """Quirks from ``"name,name:arg"`` or a list of such items; ``None``/empty = none.

        ``all`` switches every quirk on with ``stall:0.05``; a ``stall:N`` next to it sets the delay.  Names are
        case-insensitive and blanks around them are ignored.  Raises InputError naming ``source``.
        """
        if value is None:
            return cls()
        if isinstance(value, Quirks):
            return value
        items = value.split(",") if isinstance(value, str) else list(value)
        on: dict[str, bool] = {}
        stall: float | None = None
        everything = False
        for item in items:
            if not isinstance(item, str):
                raise InputError(f"{source} must be quirk names ({valid_names()}), got {item!r}.")
            name, colon, argument = item.strip().lower().partition(":")
            if not name and not colon:
                continue
            if name == STALL:
                stall = _stall_seconds(argument if colon else None, item.strip(), source)
            elif colon:
                raise InputError(f"{source}: quirk {name!r} takes no argument, got {item.strip()!r} "
                                 f"(valid: {valid_names()}).")
            elif name == ALL:
                everything = True
            elif name in _FLAGS:
                on[_FLAGS[name]] = True
            else:
                raise InputError(f"{source}: unknown quirk {item.strip()!r} (valid: {valid_names()}).")
        if everything:
            return cls.all(ALL_STALL_SECONDS if stall is None else stall)
        return cls(**on, stall_seconds=stall)

    @property
    def names(self) -> list[str]:
        """The quirks that are on, in :data:`QUIRK_HELP` order (``stall:N`` with its delay)."""
        found = []
        for name in QUIRK_HELP:
            if name == "stall:SECONDS":
                if self.stall_seconds is not None:
                    found.append(f"{STALL}:{self.stall_seconds:g}")
            elif getattr(self, _FLAGS[name]):
                found.append(name)
        return found

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) is True for f in fields(self)) or self.stall_seconds is not None

    def __str__(self) -> str:
        return ",".join(self.names) or "none"


def _stall_seconds(argument: str | None, item: str, source: str) -> float:
    sentence = f"{source}: stall needs a number of seconds of 0 or more, as in stall:5, got {item!r}."
    if argument is None:
        raise InputError(sentence)
    try:
        seconds = float(argument)
    except ValueError:
        raise InputError(sentence) from None
    if not seconds >= 0 or seconds == float("inf"):  # also rules out nan
        raise InputError(sentence)
    return seconds
