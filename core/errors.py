"""User-facing errors: one sentence, an exit status, no traceback."""

from __future__ import annotations


class VenError(Exception):
    """A failure the user can act on. ``str(err)`` is one sentence naming the file, field or resource.

    The CLI prints it and exits with ``exit_code`` (1 by default).
    """

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class SettingsError(VenError):
    """An invalid or missing setting; every command exits with status 2."""

    exit_code = 2


class InputError(VenError):
    """Bad user input (a file, a row, an option); nothing in the store was changed."""

    exit_code = 2


class PluginError(VenError):
    """A plugin could not be loaded or two plugins conflict."""

    exit_code = 2


class StoreUnavailable(VenError):
    """The store refused a write it normally takes: the disk is full, the database or its file system is
    read-only, or the disk failed.  Nothing of that write was stored; a long-running command retries it."""


class LeaseHeld(VenError):
    """Another live process holds the lease of a VEN this command must work on (``ven run``, ``ven register``).

    ``holders`` maps each refused VEN to the lease row that holds it (see :class:`venclient.protocols.ResourceStore`
    *leases*)."""

    def __init__(self, message: str, holders: dict | None = None):
        super().__init__(message)
        self.holders = dict(holders or {})
