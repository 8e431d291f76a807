"""Hook implementations of the store plugin: the ``ven_resource_store`` for SQLAlchemy URLs and ``ven db``."""

from __future__ import annotations

from typing import Any

from typing import TYPE_CHECKING

from venclient.hookspecs import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    import typer

    from venclient.plugins.sqlite_store.store import SqlResourceStore

# SQLAlchemy loads with the first store, not with `ven --help`.


@hookimpl
def ven_resource_store(settings: Any, create: bool) -> SqlResourceStore | None:
    """Serve ``sqlite:`` and ``postgresql:`` URLs from ``settings.database_url``; a SQLite file (and folder) that
    does not exist is made only when ``create`` is true, else it is an error naming the path."""
    url = settings.database_url
    if not url.startswith(("sqlite", "postgresql")):
        return None
    from venclient.plugins.sqlite_store.store import SqlResourceStore

    return SqlResourceStore(url, create=create)


@hookimpl
def ven_cli(app: typer.Typer) -> None:
    """Add ``ven db``."""
    from venclient.plugins.sqlite_store.cli import db_app

    app.add_typer(db_app, name="db")
