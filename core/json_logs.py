"""Structured logs: one JSON object per line on stderr, for journald and log shippers (``--log-format json``).

Each line holds ``timestamp`` (ISO 8601, UTC), ``level``, ``logger`` and ``message``, then whatever a call
passed as ``extra=`` (e.g. ``ven``, ``resource``), and ``exc_info`` (the traceback text) when an exception was
logged.  Messages pass the same :class:`venclient.safe_text.PrintableLogFilter` as the human format (bounded
length, no terminal control).  While it is on, the CLI's own stderr lines (a run's summary, an ``Error:``) are
log records too and progress bars are off, so stderr holds JSON lines only.  Built on python-json-logger;
imported only when the JSON format is chosen.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

from venclient.safe_text import PrintableLogFilter

FIELDS = {"levelname": "level", "name": "logger"}


def json_handler(stream: TextIO | None = None) -> logging.Handler:
    """A handler writing one JSON object per record to ``stream`` (stderr by default)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter("{levelname}{name}{message}", style="{", rename_fields=FIELDS,
                                       timestamp=True, json_ensure_ascii=False))
    handler.addFilter(PrintableLogFilter())
    handler.venclient_json = True  # type: ignore[attr-defined]  # read by venclient.cli.output.json_logs_active
    return handler
