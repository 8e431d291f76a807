"""Strings from outside (a VTN, a device, a file) made safe to print: no terminal control, bounded length.

An event name, an error body or an MQTT topic may carry ESC sequences that clear a screen, retitle a
terminal window or forge log lines (a newline followed by a fake ``ERROR``).  Everything that reaches the
terminal or the log goes through :func:`printable`: control characters become visible escapes (``\\x1b``,
``\\n``), and text longer than the limit is cut with ``…`` and the count of characters left out.
"""

from __future__ import annotations

import logging
import re
import unicodedata

LOG_LIMIT = 4000  # characters of one log message
CELL_LIMIT = 300  # characters of one table cell

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char, f"\\x{ord(char):02x}" if ord(char) < 256
                                                     else f"\\u{ord(char):04x}")


def printable(text: object, limit: int = CELL_LIMIT) -> str:
    """``text`` (any object, as ``str``) with control and bidirectional-override characters escaped and cut
    to ``limit`` characters (plus a note of how many were cut)."""
    value = text if isinstance(text, str) else str(text)
    if len(value) > limit:
        value = value[:limit] + f"… ({len(value) - limit} more characters)"
    if _CONTROL.search(value) is None and value.isprintable():
        return value
    escaped = _CONTROL.sub(_escape, value)
    # other unprintable characters (format, unassigned, surrogates) as escapes too
    return "".join(c if c.isprintable() or c == " " else
                   (f"\\u{ord(c):04x}" if unicodedata.category(c) != "Zs" else " ") for c in escaped)


class PrintableLogFilter(logging.Filter):
    """A handler filter that renders each record's message once and makes it :func:`printable`.

    Our own multi-line messages are none: log lines are one sentence by house rule, so a newline in a
    message came from outside and is shown as ``\\n``."""

    def __init__(self, limit: int = LOG_LIMIT):
        super().__init__()
        self.limit = limit

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        safe = printable(message, self.limit)
        if safe != message:
            record.msg, record.args = safe, None
        return True
