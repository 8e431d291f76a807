"""What a plugin adds to ``ven resources connect`` and to the ``[[resource]]`` tables of ``--from FILE.toml``.

The core parses the options every connection has (``--type``, ``--host``, ``--port``, ``--file``, ``--topic``,
``--channel``, ``--param``, ``--writer``, ``--username``, ``--password-env``) into a :class:`ConnectionDraft`.
A plugin that serves connection kinds answers the hook ``ven_connection_options`` with a
:class:`ConnectionOptions`: the kinds it parses, its own options, and ``apply(draft, values)``, which moves
their values into the draft (usually into ``draft.params``) and raises ``draft.fail(...)`` on a bad one.
Validating the finished :class:`venclient.model.Connection` stays the job of ``validate_connection``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from venclient.errors import InputError, PluginError


@dataclass(frozen=True)
class ConnectionOption:
    """One option a plugin adds: ``--unit`` on the command line, ``unit`` in a TOML table.

    ``type`` is ``str``, ``int`` or ``float`` (typer converts and checks it; a TOML value must be of it); ``dest`` is the keyword the value reaches
    ``apply`` and :func:`venclient.cli.connections.build_connection` by (default: the TOML key).
    """

    flag: str
    help: str
    type: type = str
    dest: str = ""

    @property
    def key(self) -> str:
        """The TOML key: the flag without dashes, ``-`` as ``_`` (``--password-env`` → ``password_env``)."""
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def name(self) -> str:
        """The keyword of the value in ``apply(draft, values)``."""
        return self.dest or self.key


@dataclass
class ConnectionDraft:
    """A connection being built from options; ``apply`` may change any field.

    ``port`` is still the raw text of ``--port``: after ``apply`` the core reads what is left as a TCP port
    (1–65535), so a plugin for which ``--port`` means something else (a serial device) moves it away and
    sets ``port = None``.  ``where`` prefixes error messages (the TOML table, or empty).
    """

    kind: str
    where: str = ""
    host: str | None = None
    port: Any = None
    username: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def fail(self, message: str) -> InputError:
        """The :class:`InputError` to raise for a bad option, naming the TOML table when there is one."""
        return InputError(f"{self.where}{message}")


@dataclass(frozen=True)
class ConnectionOptions:
    """The connection options of one plugin.

    ``apply(draft, values)`` gets only the options given (``values`` keyed by :attr:`ConnectionOption.name`)
    and only for a connection of one of ``kinds``.  ``describe(params)`` gives the words worth showing of a
    connection's ``params`` in its one-line description (``["unit 3", "map sdm630"]``).
    """

    kinds: tuple[str, ...]
    options: tuple[ConnectionOption, ...]
    apply: Callable[[ConnectionDraft, Mapping[str, Any]], None]
    describe: Callable[[Mapping[str, Any]], list[str]] | None = None


def options_by_kind(answers: Iterable[ConnectionOptions | Iterable[ConnectionOptions] | None]
                    ) -> dict[str, ConnectionOptions]:
    """``{kind: ConnectionOptions}`` from the hook's answers (each one object, a list, or ``None``).

    Two answers claiming the same kind are a :class:`venclient.errors.PluginError`.
    """
    by_kind: dict[str, ConnectionOptions] = {}
    for answer in answers:
        if answer is None:
            continue
        for options in ([answer] if isinstance(answer, ConnectionOptions) else answer):
            for kind in options.kinds:
                if kind in by_kind and by_kind[kind] is not options:
                    raise PluginError(f"Two plugins add connection options for the kind {kind!r}.")
                by_kind[kind] = options
    return by_kind
