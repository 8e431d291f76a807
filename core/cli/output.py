"""Console helpers shared by commands: JSON for scripts, rich tables and progress bars for people."""

from __future__ import annotations

import json
import logging
import sys
from datetime import date, datetime
from typing import Any, Iterable, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from venclient.safe_text import printable


def console(stderr: bool = False) -> Console:
    """A rich console; progress and logs go to stderr so stdout stays parseable."""
    return Console(stderr=stderr, highlight=False)


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def print_json(data: Any) -> None:
    """Write ``data`` as JSON on stdout (one document, newline-terminated)."""
    sys.stdout.write(json.dumps(data, default=_default, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A rich table with ``columns`` and stringified ``rows``; numbers are right-aligned."""
    rows = [list(r) for r in rows]
    t = Table(title=title, title_justify="left")
    for i, col in enumerate(columns):
        numeric = bool(rows) and all(isinstance(r[i], (int, float)) for r in rows)
        t.add_column(col, justify="right" if numeric else "left")
    for row in rows:  # cells may hold what a VTN or a device sent: printable() strips terminal control
        t.add_row(*(f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else printable(v) for v in row))
    return t


def print_wide(renderable: Any) -> None:
    """Print a table; when stdout is not a terminal, wide enough that ids are not cut."""
    out = console()
    if not out.is_terminal:
        out.width = max(out.width, 200)
    out.print(renderable)


class ErasedOnFailure(Progress):
    """A :class:`rich.progress.Progress` that erases itself when its ``with`` block fails, so a failing
    command's one ``Error:`` line stands alone."""

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.live.transient = True
        super().__exit__(exc_type, exc, tb)


def json_logs_active() -> bool:
    """Whether logs go out as JSON lines (``--log-format json``, :mod:`venclient.json_logs`): then stderr carries
    log records only — no progress bars, and messages the CLI prints go through logging."""
    return any(getattr(handler, "venclient_json", False) for handler in logging.getLogger().handlers)


def progress(transient: bool = False) -> Progress:
    """A progress bar on stderr: description, bar, n/total, elapsed time (erased when its block fails; off while
    logs are JSON lines)."""
    return ErasedOnFailure(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TimeElapsedColumn(), console=console(stderr=True), transient=transient,
                           disable=json_logs_active())


def plural(count: int, word: str) -> str:
    """``plural(1, "event")`` → ``1 event``; ``plural(1200, "event")`` → ``1,200 events``."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"
