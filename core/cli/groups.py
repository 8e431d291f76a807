"""Shared command groups: several plugins may add commands to one ``ven <group>``."""

from __future__ import annotations

import typer


def command_group(app: typer.Typer, name: str, help: str) -> typer.Typer:
    """The sub-app ``ven <name>`` of ``app``; created (with ``help``) by the first plugin that asks."""
    for info in app.registered_groups:
        if info.name == name and info.typer_instance is not None:
            return info.typer_instance
    group = typer.Typer(help=help, no_args_is_help=True)
    app.add_typer(group, name=name)
    return group
