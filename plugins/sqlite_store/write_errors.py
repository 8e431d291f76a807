"""Turn the database's "cannot write" failures into one :class:`venclient.errors.StoreUnavailable` sentence.

A full disk, a read-only database or file system, and a failing disk reach SQLAlchemy as an
``OperationalError`` with a driver message; every command would print a traceback.  The engine's
``handle_error`` event recognises them (SQLite result codes, PostgreSQL SQLSTATEs) and raises
``StoreUnavailable`` instead — naming the store (without its password) and the reason — so ``ven run`` can retry
the write later and the other commands print one line.  Other errors pass through unchanged.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from venclient.errors import StoreUnavailable

# SQLite extended result codes by their primary code's name prefix → what the user is told.
_SQLITE_REASONS = (
    ("SQLITE_FULL", "the disk is full"),
    ("SQLITE_READONLY", "the database is read-only"),
    ("SQLITE_IOERR", "the disk refused the write (full, or failing)"),
    ("SQLITE_CANTOPEN", "its file cannot be opened (a read-only or missing folder?)"),
)
_SQLITE_MESSAGES = (
    ("database or disk is full", "the disk is full"),
    ("readonly database", "the database is read-only"),
    ("disk i/o error", "the disk refused the write (full, or failing)"),
)
# PostgreSQL SQLSTATEs: disk_full, read_only_sql_transaction, insufficient_resources, out_of_memory.
_POSTGRES_REASONS = {"53100": "the database server's disk is full",
                     "25006": "the database is read-only (a standby, or default_transaction_read_only)",
                     "53000": "the database server is out of resources", "53200": "the database server is out of memory"}


def write_failure_reason(error: BaseException) -> str | None:
    """Why the database refused a write, in words, when ``error`` (a DBAPI error) is such a failure; else ``None``."""
    name = getattr(error, "sqlite_errorname", None)
    if isinstance(name, str):
        for prefix, reason in _SQLITE_REASONS:
            if name.startswith(prefix):
                return reason
    state = getattr(error, "sqlstate", None) or getattr(getattr(error, "diag", None), "sqlstate", None)
    if isinstance(state, str) and state in _POSTGRES_REASONS:
        return _POSTGRES_REASONS[state]
    text = str(error).lower()
    for fragment, reason in _SQLITE_MESSAGES:
        if fragment in text:
            return reason
    return None


def display_url(url: str) -> str:
    """``url`` without a password (``postgresql://ven:***@db/ven``)."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an odd URL is shown as it is
        return url


def translate_write_errors(engine: sa.Engine, url: str) -> None:
    """Make ``engine`` raise :class:`StoreUnavailable` for full-disk / read-only / disk failures."""
    shown = display_url(url)

    @sa.event.listens_for(engine, "handle_error")
    def _write_failure(context: Any) -> None:
        original = context.original_exception
        reason = write_failure_reason(original)
        if reason is None:
            return
        detail = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
        raise StoreUnavailable(f"The store {shown} refuses writes: {reason} ({detail}).") from original
