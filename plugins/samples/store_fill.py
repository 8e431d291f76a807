"""Opening the store for a command that fills it on purpose (``ven samples …``, ``ven demo``)."""

from __future__ import annotations

from typing import Any

from venclient.cli.output import console


def open_store_to_fill(runtime: Any) -> Any:
    """The runtime's store for a command that fills a store on purpose: a database (and folder) that does not
    exist yet is made, and what was made is said on stderr."""
    store = runtime.store(create=True)
    created = list(getattr(store, "created", None) or [])
    if created:
        console(stderr=True).print(f"Created {' and '.join(created)} for a new store.", highlight=False,
                                   soft_wrap=True)
    return store
