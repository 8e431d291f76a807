"""The ``ven`` command line: the root app, core commands (``plugins``, ``settings``) and error handling.

Plugins add their commands through the ``ven_cli(app)`` hook.  Any :class:`venclient.errors.VenError`
becomes one sentence on stderr and its exit status (2 for settings and input errors), no traceback.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Optional

import typer
from rich.logging import RichHandler
from rich.markup import escape

from venclient import __version__

try:  # typer ≥ 0.2x carries its own copy of click; older ones use click itself
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as click_errors
ClickException, UsageError = click_errors.ClickException, click_errors.UsageError
NoArgsIsHelp = getattr(click_errors, "NoArgsIsHelpError", ())  # `ven` or a group without a command: show help
from venclient.cli import baseline, collect, register, resource_groups, resources, run
from venclient.cli.output import console, json_logs_active, print_json, table
from venclient.errors import SettingsError, VenError
from venclient.plugin_manager import list_plugins
from venclient.runtime import Runtime
from venclient.safe_text import LOG_LIMIT, PrintableLogFilter, printable
from venclient.settings import effective_settings, load_settings
from venclient.settings_files import SettingsSearch, settings_files_read

#: the core's command modules; each attaches its commands with ``add_commands(app)``, as plugins do in ``ven_cli``
COMMAND_MODULES = (register, run, resources, resource_groups, collect, baseline)

JSON_OPTION = typer.Option(False, "--json", help="Print JSON for scripts instead of a table.")


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("human", "json")


def parse_log_level(text: str, source: str) -> str:
    """The upper-case level name of ``text`` (``WARN`` = ``WARNING``); anything else is a :class:`SettingsError`
    naming ``source`` (``--log-level`` or ``VEN_LOG_LEVEL``) and the accepted levels."""
    name = str(text).strip().upper()
    name = "WARNING" if name == "WARN" else name
    if name not in LOG_LEVELS:
        raise SettingsError(f"Unknown log level {text!r} from {source}: use one of "
                            f"{', '.join(LOG_LEVELS[:-1])} or {LOG_LEVELS[-1]}.")
    return name


def parse_log_format(text: str, source: str) -> str:
    """``human`` or ``json`` from ``text`` (any case); anything else is a :class:`SettingsError` naming ``source``
    (``--log-format``, ``VEN_LOG_FORMAT`` or the setting ``logging.format``)."""
    name = str(text).strip().lower()
    if name not in LOG_FORMATS:
        raise SettingsError(f"Unknown log format {text!r} from {source}: use human or json.")
    return name


def _log_level_source(ctx: typer.Context) -> str:
    source = ctx.get_parameter_source("log_level")
    return "VEN_LOG_LEVEL" if getattr(source, "name", "") == "ENVIRONMENT" else "--log-level"


def _log_format(ctx: typer.Context, option: str | None, runtime: Runtime) -> str:
    """The log format from ``--log-format`` / ``VEN_LOG_FORMAT``, else the setting ``logging.format``, else human."""
    if option is not None:
        source = ctx.get_parameter_source("log_format")
        return parse_log_format(option, "VEN_LOG_FORMAT" if getattr(source, "name", "") == "ENVIRONMENT"
                                else "--log-format")
    return parse_log_format(runtime.settings.get("logging.format", "human") or "human", "the setting logging.format")


def _setup_logging(level: str, log_format: str = "human") -> None:
    if log_format == "json":  # one JSON object per line (venclient.json_logs), for journald and log shippers
        from venclient.json_logs import json_handler
        handler = json_handler()
    else:
        handler = RichHandler(console=console(stderr=True), show_path=False, rich_tracebacks=False)
        handler.addFilter(PrintableLogFilter())  # messages may quote a VTN or a device: no terminal control
    logging.basicConfig(level=level, format="%(message)s", datefmt="%H:%M:%S", handlers=[handler], force=True)
    for noisy in ("httpx", "httpcore", "pymodbus", "uvicorn.access", "amqtt", "transitions"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def _setting_rows(data: dict, prefix: str = "") -> list[tuple[str, str]]:
    """``(dotted key, repr of value)`` rows of already-masked settings, tables flattened to any depth."""
    rows: list[tuple[str, str]] = []
    for key, value in data.items():
        if isinstance(value, dict) and value:
            rows.extend(_setting_rows(value, f"{prefix}{key}."))
        else:
            rows.append((f"{prefix}{key}", repr(value)))
    return rows


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"venclient {__version__}")
        raise typer.Exit()


def build_app(runtime: Runtime) -> typer.Typer:
    """The root Typer app with core commands and every plugin's ``ven_cli`` commands."""
    app = typer.Typer(name="ven", no_args_is_help=True, add_completion=False,
                      help="venclient: an OpenADR 3.0.1 VEN framework. Start with `ven demo`.",
                      context_settings={"help_option_names": ["-h", "--help"]})

    @app.callback()
    def root(
        ctx: typer.Context,
        log_level: str = typer.Option("INFO", "--log-level", envvar="VEN_LOG_LEVEL",
                                      help="DEBUG, INFO, WARNING, ERROR or CRITICAL (case does not matter)."),
        log_format: Optional[str] = typer.Option(
            None, "--log-format", envvar="VEN_LOG_FORMAT", metavar="human|json",
            help="human (default; or the setting logging.format) or json: one JSON object per line on stderr "
                 "(timestamp, level, logger, message and extras), for journald and log shippers."),
        version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                     help="Print the version and exit."),
        settings_file: Optional[str] = typer.Option(
            None, "--settings", metavar="FILE",
            help="Read this settings file first (or VEN_SETTINGS), over ./settings.toml, "
                 "~/.config/venclient/settings.toml and /etc/venclient/settings.toml; `ven settings` lists "
                 "the files read."),
    ) -> None:
        # settings_file was read by main() before the plugins loaded (they depend on the settings)
        _setup_logging(parse_log_level(log_level, _log_level_source(ctx)), _log_format(ctx, log_format, runtime))
        runtime.validate_settings()  # before any command runs (`ven --help` alone skips it)
        ctx.obj = runtime

    @app.command("plugins")
    def plugins_cmd(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
        """List active plugins, where each came from and the hooks it implements."""
        infos = list_plugins(ctx.obj.pm)
        if as_json:
            print_json([{"name": p.name, "origin": p.origin, "module": p.module, "hooks": list(p.hooks),
                         "distribution": p.distribution, "version": p.version} for p in infos])
            return
        console().print(table("Active plugins", ["plugin", "origin", "module", "hooks"],
                              [(p.name, p.origin, p.module, ", ".join(p.hooks)) for p in infos]))

    @app.command("settings")
    def settings_cmd(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
        """Validate and print the effective settings (secrets masked) and the files they were read from."""
        data = effective_settings(ctx.obj.settings)
        data["env"] = ctx.obj.settings.current_env.lower()
        data["settings_files"] = settings_files_read(ctx.obj.settings)
        if as_json:
            print_json(data)
            return
        files = data.pop("settings_files")
        console().print(table(f"Settings ({data['env']})", ["key", "value"], _setting_rows(data)))
        console().print(table("Settings files read (highest precedence first)", ["file"], [(f,) for f in files]))

    for module in COMMAND_MODULES:
        module.add_commands(app)
    runtime.pm.hook.ven_cli(app=app)
    return app


def _fail(message: str, code: int) -> None:
    if json_logs_active():  # stderr carries JSON lines only
        logging.getLogger("venclient.cli").error("Error: %s", printable(message, LOG_LIMIT))
        sys.exit(code)
    console(stderr=True).print(f"[bold red]Error:[/] {escape(printable(message, LOG_LIMIT))}", markup=True,
                               highlight=False, soft_wrap=True)
    sys.exit(code)


def settings_file_argument(args: list[str]) -> Optional[str]:
    """FILE of ``--settings FILE`` or ``--settings=FILE`` among the root options (those before the command)."""
    rest = list(args)
    while rest and rest[0].startswith("-"):
        arg = rest.pop(0)
        if arg.startswith("--settings="):
            return arg.partition("=")[2]
        if arg == "--settings":
            return rest[0] if rest else None
        if arg == "--log-level" and rest:
            rest.pop(0)
    return None


def main(argv: Optional[list[str]] = None) -> None:
    """Console-script entry point of ``ven``."""
    args = sys.argv[1:] if argv is None else argv
    runtime = None
    code: Any = 0
    try:
        settings = load_settings(search=SettingsSearch.from_environment(settings_file_argument(args)))
        # only commands that fill a new store create one; settings are validated in the root callback
        runtime = Runtime.create(settings, may_create_store=False, validate_settings=False)
        app = build_app(runtime)
        command = typer.main.get_command(app)
        # Not standalone: a usage error (unknown option, a value that is not a number or out of range) comes
        # here and is printed as one `Error:` line like every other error; `--help` and typer.Exit return a code.
        code = command.main(args=args, prog_name="ven", obj=runtime, standalone_mode=False)
    except NoArgsIsHelp as err:
        err.show()
        code = err.exit_code
    except UsageError as err:
        where = err.ctx.command_path if err.ctx is not None else "ven"
        message = err.format_message().rstrip()
        _fail(f"{message}{'' if message.endswith('.') else '.'} See `{where} --help`.", err.exit_code)
    except ClickException as err:
        _fail(err.format_message(), err.exit_code)
    except typer.Abort:
        _fail("Aborted.", 1)
    except VenError as err:
        _fail(str(err), err.exit_code)
    except KeyboardInterrupt:
        _fail("Interrupted.", 130)
    finally:
        if runtime is not None:
            runtime.close()
    if isinstance(code, int) and code:
        sys.exit(code)
