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
