"""The CLI matrix (issue 18 part 4): every ``ven`` command with each class of bad option that applies.

Commands are enumerated from the typer app as ``ven`` builds it (core commands, plugin commands, the example
plugin's), so a new command fails :func:`test_every_command_is_in_the_matrix` until it gets its row here.

Every refusal: exit status 2, exactly one stderr line beginning ``Error:``, no traceback, and the store (an SQL
dump of its SQLite file) exactly as before.  Two sources of refusal, marked in the table:

* ``ERROR`` — our checks (:class:`venclient.errors.VenError`).
* ``USAGE`` — what click refuses before a command runs (an unknown option, a value typer cannot convert or
  that is outside the option's declared range); ``ven`` prints it as one ``Error:`` line naming the option and
  pointing at the command's ``--help``.

Classes of bad option: unknown resource, unknown VEN, malformed number, out-of-range value, missing file,
unreadable file (a directory where a file is read: the tests run as any user, and root reads mode-000 files),
wrong kind (an unknown connection kind, status, quirk, load component or file type), and for every command
an unknown option.  Runs in-process (``run_ven_inprocess``); no command reaches the network: the VTN URL is a
closed loopback port.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import typer

from fixtures.samples import run_ven_inprocess

ERROR, USAGE = "error", "usage"
UNKNOWN_RESOURCE, UNKNOWN_VEN, MALFORMED, OUT_OF_RANGE = "unknown resource", "unknown VEN", "malformed number", \
    "out-of-range value"
MISSING_FILE, UNREADABLE_FILE, WRONG_KIND = "missing file", "unreadable file", "wrong kind"


@dataclass(frozen=True)
class Bad:
    """One bad invocation: its class, the arguments after the command (``{rid}`` a stored resource id,
    ``{dir}`` a folder, ``{missing}`` a path that does not exist) and the shape of the refusal."""

    kind: str
    args: tuple[str, ...]
    shape: str = ERROR


MATRIX: dict[str, list[Bad]] = {
    "plugins": [],
    "settings": [Bad(MISSING_FILE, ("--settings", "{missing}")), Bad(UNREADABLE_FILE, ("--settings", "{dir}"))],
    "register": [Bad(UNKNOWN_VEN, ("--ven", "Nowhere")), Bad(MALFORMED, ("--rate", "fast"), USAGE),
                 Bad(OUT_OF_RANGE, ("--concurrency", "0"), USAGE)],
    "run": [Bad(UNKNOWN_VEN, ("--ven", "Nowhere", "--once")), Bad(MALFORMED, ("--ticks", "abc"), USAGE),
            Bad(OUT_OF_RANGE, ("--ticks", "-5"), USAGE)],
    "collect": [Bad(UNKNOWN_VEN, ("--ven", "Nowhere")), Bad(MALFORMED, ("--index", "abc"), USAGE)],
    "baseline": [Bad(UNKNOWN_RESOURCE, ("--resource", "no-such-site")),
                 Bad(MALFORMED, ("--resource", "{rid}", "--at", "yesterday"))],
    "example-hello": [],
    "demo": [Bad(MALFORMED, ("--ticks", "abc"), USAGE), Bad(OUT_OF_RANGE, ("--resources", "-1"), USAGE)],
    "programs": [],
    "outbox retry": [Bad(UNKNOWN_VEN, ("--ven", "Nowhere")), Bad(MALFORMED, ("--id", "abc"), USAGE),
                     Bad(OUT_OF_RANGE, ("--id", "99999"))],
    "outbox drop": [Bad(UNKNOWN_VEN, ("--ven", "Nowhere", "--yes")), Bad(MALFORMED, ("--id", "x", "--yes"), USAGE),
                    Bad(OUT_OF_RANGE, ("--id", "99999", "--yes"))],
    "resources list": [Bad(WRONG_KIND, ("--status", "weird"))],
    "resources set-status": [Bad(UNKNOWN_RESOURCE, ("r-nope", "--status", "APPROVED")),
                             Bad(UNKNOWN_VEN, ("--ven", "Nowhere", "--status", "APPROVED")),
                             Bad(WRONG_KIND, ("{rid}", "--status", "weird"))],
    "resources connect": [
        Bad(UNKNOWN_RESOURCE, ("r-nope", "--type", "h5sim")),
        Bad(WRONG_KIND, ("{rid}", "--type", "nope")),
        Bad(MALFORMED, ("{rid}", "--type", "modbustcp", "--host", "127.0.0.1", "--port", "abc")),
        Bad(OUT_OF_RANGE, ("{rid}", "--type", "modbustcp", "--host", "127.0.0.1", "--port", "99999")),
        Bad(MISSING_FILE, ("--from", "{missing}")),
        Bad(UNREADABLE_FILE, ("--from", "{dir}")),
        Bad(MISSING_FILE, ("{rid}", "--type", "filereader", "--file", "{missing}/readings.csv"))],
    "resources test": [Bad(UNKNOWN_RESOURCE, ("r-nope",))],
    "resources write": [Bad(UNKNOWN_RESOURCE, ("r-nope", "--value", "1", "--load", "load_0")),
                        Bad(MALFORMED, ("{rid}", "--value", "lots", "--load", "load_0"), USAGE),
                        Bad(WRONG_KIND, ("{rid}", "--value", "1", "--load", "load_9"))],
    "resources set-group": [Bad(UNKNOWN_RESOURCE, ("r-nope", "g1"))],
    "vtn serve": [Bad(MALFORMED, ("--port", "abc"), USAGE), Bad(OUT_OF_RANGE, ("--port", "99999")),
                  Bad(UNREADABLE_FILE, ("--state", "{dir}"), USAGE), Bad(WRONG_KIND, ("--quirks", "nope"))],
    "vtn ping": [],
    # --no-lookup: with the VTN away, a look-up adds its notice line ("taken as its id") before the Error: line
    "events opt-out": [Bad(UNKNOWN_RESOURCE, ("e1", "--resource", "r-nope", "--no-lookup"))],
    # opt-in removes opt-outs by id: an id without one (a resource deleted since, or never known) removes nothing
    "events opt-in": [],
    "events timeline": [Bad(UNKNOWN_VEN, ("--ven", "Nowhere"))],
    "meterdata generate": [Bad(MALFORMED, ("--meters", "many"), USAGE), Bad(OUT_OF_RANGE, ("--meters", "0"), USAGE),
                           Bad(UNREADABLE_FILE, ("--out", "{dir}"))],
    "samples import": [Bad(MISSING_FILE, ("{missing}/hotels-in-denmark.csv",)),
                       Bad(UNREADABLE_FILE, ("{dir}/bars-in-denmark.csv",)),
                       Bad(WRONG_KIND, ("{dir}/not-an-asset-file.csv",))],
    "samples generate": [Bad(MALFORMED, ("--resources", "abc"), USAGE),
                         Bad(OUT_OF_RANGE, ("--resources", "0"), USAGE)],
    "loads generate": [Bad(MALFORMED, ("--seed", "abc"), USAGE)],
    "db status": [],
    "db migrate": [],
}
"""Command -> its bad invocations; ``[]`` means no option of it can be wrong beyond an unknown one."""


def command_paths(group: Any, ctx: Any, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    """Every leaf command under ``group`` as ``"outbox retry"``."""
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if hasattr(command, "list_commands"):
            yield from command_paths(command, ctx, prefix + (name,))
        else:
            yield " ".join(prefix + (name,))


def sqlite_dump(database: Path) -> list[str]:
    with closing(sqlite3.connect(database)) as conn:
        return list(conn.iterdump())


@pytest.fixture(scope="module")
def cli_world(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """A working folder with a store of three generated resources, ``ven`` set up to use it, and the
    commands of the app ``ven`` builds there."""
    folder = tmp_path_factory.mktemp("cli_matrix")
    (folder / "adir" / "bars-in-denmark.csv").mkdir(parents=True)
    (folder / "adir" / "not-an-asset-file.csv").write_text("title,address,longitude,latitude\n")
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in __import__("os").environ if k.startswith(("VEN_", "DYNACONF_"))]:
            patch.delenv(key)
        patch.chdir(folder)  # no ./settings.toml of the checkout
        for key, value in {"VEN_DATABASE_URL": f"sqlite:///{folder / 'resources.db'}",
                           "VEN_H5_PATH": str(folder / "load_data.h5"), "VEN_VTN__URL": "http://127.0.0.1:9/openadr3",
                           "VEN_VTN__RETRIES": "0", "HOME": str(folder), "XDG_CONFIG_HOME": str(folder),
                           "COLUMNS": "200"}.items():
            patch.setenv(key, value)
        made = run_ven_inprocess("samples", "generate", "--resources", "3", "--seed", "7")
        assert made.exit_code == 0, made.stderr
        listed = run_ven_inprocess("resources", "list", "--json")
        from venclient.cli.app import build_app
        from venclient.runtime import Runtime
        from venclient.settings import load_settings

        runtime = Runtime.create(load_settings(), may_create_store=False, validate_settings=False)
        root = typer.main.get_command(build_app(runtime))
        commands = list(command_paths(root, root.make_context("ven", ["--help"], resilient_parsing=True)))
        runtime.close()
        yield {"folder": folder, "rid": json.loads(listed.stdout)[0]["resource_id"], "commands": commands,
               "database": folder / "resources.db"}


def test_every_command_is_in_the_matrix(cli_world):
    commands = set(cli_world["commands"])
    assert not commands - set(MATRIX), f"commands without a row in MATRIX: {sorted(commands - set(MATRIX))}"
    assert not set(MATRIX) - commands, f"rows for commands ven no longer has: {sorted(set(MATRIX) - commands)}"


CASES = [(command, bad) for command, bads in MATRIX.items()
         for bad in [*bads, Bad("unknown option", ("--no-such-option",), USAGE)]]


@pytest.mark.parametrize("command,bad", CASES, ids=[f"{c}: {b.kind}: {' '.join(b.args)}" for c, b in CASES])
def test_a_bad_option_is_refused_in_one_sentence_and_changes_nothing(cli_world, command: str, bad: Bad):
    places = {"rid": cli_world["rid"], "dir": str(cli_world["folder"] / "adir"),
              "missing": str(cli_world["folder"] / "missing")}
    args = [arg.format(**places) for arg in bad.args]
    root_options = [a for a in args[:2] if args[:1] == ["--settings"]]
    before = sqlite_dump(cli_world["database"])
    result = run_ven_inprocess(*root_options, *command.split(), *args[len(root_options):])
    shown = f"ven {command} {' '.join(args)} -> {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert result.exit_code == 2, shown
    assert "Traceback" not in result.stderr + result.stdout, shown
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), shown
    if bad.shape == USAGE:
        assert ("Invalid value" in lines[0] or "No such option" in lines[0]) and "--help" in lines[0], shown
    assert sqlite_dump(cli_world["database"]) == before, f"the store changed: {shown}"
