"""``ven resources set-group``: put resources in a group (what an event's ``GROUP`` target names; registered
as the resource's ``GROUP`` attribute when its loads are registered)."""

from __future__ import annotations


import typer

from venclient.cli.groups import command_group
from venclient.cli.output import console, plural, print_json
from venclient.errors import InputError


def set_group_command(
    ctx: typer.Context,
    resource_ids: list[str] = typer.Argument(..., help="Resource ids, then the group (or use --clear)."),
    clear: bool = typer.Option(False, "--clear", help="Take the resources out of their group."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Put resources in a group: ``ven resources set-group RESOURCE [RESOURCE …] GROUP`` (or ``--clear``).

    Events whose ``GROUP`` target names the group target the resources' loads.
    """
    if clear:
        ids, group = list(resource_ids), None
    elif len(resource_ids) < 2:
        raise InputError("Give one or more resource ids and then the group (or --clear to take them out).")
    else:
        ids, group = list(resource_ids[:-1]), resource_ids[-1]
    from venclient.protocols import ResourceGroups  # numpy and the store load when the command runs

    store = ctx.obj.store()
    if not isinstance(store, ResourceGroups):
        raise InputError("The configured store keeps no resource groups.")
    count = store.set_resource_group(ids, group)
    if as_json:
        print_json({"updated": count, "group": group})
    elif group is None:
        console().print(f"{plural(count, 'resource')} taken out of their group.")
    else:
        console().print(f"{plural(count, 'resource')} now in group {group!r}.")


def add_commands(app: typer.Typer) -> None:
    """Add ``ven resources set-group`` (to the ``ven resources`` group, made if missing)."""
    group = command_group(app, "resources", "Resources: list, status, meter connections (reader / writer), test, "
                                            "write.")
    group.command("set-group")(set_group_command)
