"""Plugin options on a core command: ``ven resources connect`` takes the options of the invocation's plugins.

Typer reads a command's options from its function once, when the app is built; the plugins (hook
``ven_connection_options``) are those of the runtime the command runs with (``ctx.obj``), so
:class:`PluginOptionsCommand` adds their options per invocation.
"""

from __future__ import annotations

import inspect
from typing import Any, Optional

import click
import typer
from typer.core import TyperCommand

from venclient.cli.connections import kind_options, plugin_options
from venclient.connection_options import ConnectionOption

PLUGIN_VALUES = "venclient.plugin_connection_options"  # ctx.meta key of the plugin options' values


def typer_options(options: list[ConnectionOption]) -> list[click.Parameter]:
    """Click parameters for ``options``, made by typer itself from a signature holding one per option."""
    def holder(**values: Any) -> None:
        """Never called: typer reads only its signature."""

    holder.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
        inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[o.type],
                          default=typer.Option(None, o.flag, help=o.help)) for o in options])
    scratch = typer.Typer(add_completion=False)
    scratch.command()(holder)
    return list(typer.main.get_command(scratch).params)


class PluginOptionsCommand(TyperCommand):
    """A command that also takes the connection options of the invocation's plugins (``ctx.obj.pm``).

    Typer reads a command's options from its function once; the plugins' options depend on the runtime the
    command runs with, so they are added per invocation (``get_params``, which parsing and ``--help`` use) and
    their values reach the function as ``ctx.meta[PLUGIN_VALUES]`` (``{ConnectionOption.name: value}``).
    """

    def _plugin_params(self, ctx: click.Context) -> list[click.Parameter]:
        pm = getattr(ctx.obj, "pm", None)
        if pm is None:
            return []
        key = f"{PLUGIN_VALUES}.params"
        if key not in ctx.meta:
            ctx.meta[key] = typer_options(plugin_options(kind_options(pm)))
        return ctx.meta[key]

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        own = super().get_params(ctx)
        names = {param.name for param in own}
        return own[:-1] + [p for p in self._plugin_params(ctx) if p.name not in names] + own[-1:]  # --help last

    def invoke(self, ctx: click.Context) -> Any:
        names = {param.name for param in self._plugin_params(ctx)}
        ctx.meta[PLUGIN_VALUES] = {name: ctx.params.pop(name) for name in list(ctx.params) if name in names}
        return super().invoke(ctx)
