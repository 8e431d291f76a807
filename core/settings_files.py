"""Which settings files are read, in which order, and how each is read (a dynaconf loader).

Search order, highest precedence first; every file that exists is read:

1. ``--settings FILE`` or ``VEN_SETTINGS`` (``VEN_SETTINGS_FILE`` is the older name); it must exist,
2. ``./settings.toml``,
3. ``~/.config/venclient/settings.toml`` (``$XDG_CONFIG_HOME/venclient`` when that is set),
4. ``/etc/venclient/settings.toml``,

and lowest of all the defaults packaged with venclient (:data:`DEFAULTS_FILE`).  A ``.secrets.toml`` beside
a settings file is read right after it (it wins over that file).

Relative paths in a settings file resolve against that file's folder: the string values of keys ending in
``_path``, ``_file``, ``_dir`` or ``ca_certs``, a string ``verify_tls`` (a CA bundle), and the file of a
``sqlite:///relative.db`` URL in a key ending in ``_url``.  Values with a dynaconf marker (``@format …``) are
left alone.  The packaged defaults name their paths below ``data_dir``, which is relative to the working
folder unless a settings file or ``VEN_DATA_DIR`` says otherwise.

An old key is moved to its new place as the file is read, with one ``FutureWarning`` per file
(:data:`MOVED_KEYS`: a top-level ``h5_path`` is now ``h5_simulator.h5_path``).
"""

from __future__ import annotations

import os
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from dynaconf.utils import build_env_list, upperfy

from venclient.errors import SettingsError

DEFAULTS_FILE = Path(__file__).resolve().with_name("default_settings.toml")
SETTINGS_NAME = "settings.toml"
SECRETS_NAME = ".secrets.toml"
SYSTEM_DIR = Path("/etc/venclient")
PATH_KEY_SUFFIXES = ("_path", "_file", "_dir", "ca_certs")
MOVED_KEYS = {"h5_path": ("h5_simulator", "h5_path")}
"""Old top-level key -> (table, key) it moved to."""


@dataclass(frozen=True)
class SettingsSearch:
    """Where to look for settings files; :meth:`found` lists those that exist, highest precedence first.

    ``explicit`` (with ``explicit_source`` naming where it came from, for the error) must exist when given.
    """

    cwd: Path
    user_dir: Path
    system_dir: Path = SYSTEM_DIR
    explicit: Path | None = None
    explicit_source: str = "--settings"

    @classmethod
    def from_environment(cls, explicit: str | Path | None = None, *, environ: Mapping[str, str] | None = None,
                         system_dir: Path = SYSTEM_DIR) -> "SettingsSearch":
        """The search of this process: ``explicit`` (from ``--settings``), else ``VEN_SETTINGS`` or
        ``VEN_SETTINGS_FILE``; the working folder; the user's and the system's config folders."""
        environ = os.environ if environ is None else environ
        source = "--settings"
        if explicit is None:
            for variable in ("VEN_SETTINGS", "VEN_SETTINGS_FILE"):
                if environ.get(variable):
                    explicit, source = environ[variable], variable
                    break
        config_home = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".config")
        return cls(cwd=Path.cwd(), user_dir=Path(config_home) / "venclient", system_dir=system_dir,
                   explicit=Path(explicit) if explicit else None, explicit_source=source)

    def candidates(self) -> list[Path]:
        """Every place searched, highest precedence first (the explicit file first when given)."""
        places = [self.cwd / SETTINGS_NAME, self.user_dir / SETTINGS_NAME, self.system_dir / SETTINGS_NAME]
        return ([self.explicit] if self.explicit is not None else []) + places

    def found(self) -> list[Path]:
        """The settings files that exist, absolute, highest precedence first, each once."""
        if self.explicit is not None and not self.explicit.is_file():
            raise SettingsError(f"{self.explicit_source} points at {self.explicit}, which is not a readable file.")
        found: list[Path] = []
        for path in self.candidates():
            path = path.resolve()
            if path.is_file() and path not in found:
                found.append(path)
        return found

    def load_order(self) -> list[Path]:
        """What dynaconf reads, lowest precedence first: the packaged defaults, then each found file (lowest
        first), each followed by its ``.secrets.toml`` when that exists."""
        order = [DEFAULTS_FILE]
        for path in reversed(self.found()):
            order.append(path)
            secrets = path.with_name(SECRETS_NAME)
            if secrets.is_file():
                order.append(secrets)
        return order


def settings_files_read(settings: Any) -> list[str]:
    """The files ``settings`` was read from, highest precedence first (the packaged defaults last)."""
    return list(reversed([str(f) for f in settings.get("SETTINGS_FILE_FOR_DYNACONF") or []]))


def load(obj: Any, env: str | None = None, silent: bool = True, key: str | None = None,
         validate: bool = False) -> None:
    """Dynaconf loader: read every file in ``obj.SETTINGS_FILE_FOR_DYNACONF`` (lowest precedence first).

    Of each file its environments ``[default]`` then the current one (``[development]`` …) are taken, relative
    paths resolved and moved keys moved; the files merge table by table, and a value (a list too) in a later
    file replaces the earlier one, so ``vens = ["Herning"]`` in ``./settings.toml`` is the list, not an
    addition to ``/etc``'s.
    """
    merged: dict[str, Any] = {}
    for filename in obj.get("SETTINGS_FILE_FOR_DYNACONF") or []:
        path = Path(filename)
        if not path.is_file():
            continue
        try:
            with path.open("rb") as stream:
                data = read_settings_file(stream)
        except tomllib.TOMLDecodeError as err:
            raise SettingsError(f"The settings file {path} is not valid TOML: {err}.") from None
        except UnicodeDecodeError as err:
            raise SettingsError(f"The settings file {path} is not UTF-8 text (byte {err.start + 1}: "
                                f"{err.reason}).") from None
        except OSError as err:
            raise SettingsError(f"The settings file {path} cannot be read: {err.strerror or err}.") from None
        tables = {str(name).lower(): table for name, table in data.items()}
        for name in build_env_list(obj, env or obj.current_env):
            table = tables.get(name.lower())
            if isinstance(table, dict):
                merge_tables(merged, table)
    data = {upperfy(k): v for k, v in merged.items()}
    if key:
        data = {upperfy(key): data[upperfy(key)]} if upperfy(key) in data else {}
    if data:
        obj.update(data, loader_identifier="venclient.settings_files", validate=validate)


def merge_tables(base: dict[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """``new`` merged into ``base`` (in place): tables merge key by key, any other value replaces."""
    for name, value in new.items():
        if isinstance(value, Mapping) and isinstance(base.get(name), dict):
            merge_tables(base[name], value)
        else:
            base[name] = dict(value) if isinstance(value, Mapping) else value
    return base


def read_settings_file(stream: Any) -> dict[str, Any]:
    """The TOML in ``stream`` (an open settings file), prepared by :func:`prepare_settings_data`."""
    path = Path(stream.name)
    return prepare_settings_data(tomllib.load(stream), path, resolve_paths=path != DEFAULTS_FILE)


def prepare_settings_data(data: dict[str, Any], path: Path, *, resolve_paths: bool = True) -> dict[str, Any]:
    """``data`` of the settings file ``path``: moved keys in their new place (warned), and, with
    ``resolve_paths``, relative paths made absolute against the file's folder.  Top-level tables are the
    environments."""
    moved = []
    for table in data.values():
        if isinstance(table, dict):
            moved += _move_keys(table)
    if moved:
        new = ", ".join(".".join(MOVED_KEYS[old]) for old in moved)
        warnings.warn_explicit(f"{', '.join(moved)} is deprecated; write {new} instead.", FutureWarning,
                               filename=str(path), lineno=0)  # shown as "<settings file>:0: FutureWarning: …"
    return _resolve(data, path.parent) if resolve_paths else data


def _move_keys(table: dict[str, Any]) -> list[str]:
    moved = []
    for old, (section, new) in MOVED_KEYS.items():
        if old in table:
            target = table.setdefault(section, {})
            value = table.pop(old)
            if isinstance(target, dict):
                target.setdefault(new, value)
            moved.append(old)
    return moved


def _resolve(value: Any, folder: Path, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _resolve(v, folder, str(k).lower()) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, folder, key) if isinstance(v, (dict, list)) else v for v in value]
    if not isinstance(value, str) or not value or value.startswith("@"):
        return value
    if key.endswith("_url"):
        scheme, sep, rest = value.partition(":///")
        if sep and scheme.startswith("sqlite") and rest and not rest.startswith(":memory:"):
            return f"{scheme}:///{resolve_path(rest, folder)}"
        return value
    if key.endswith(PATH_KEY_SUFFIXES) or key == "verify_tls":
        return resolve_path(value, folder)
    return value


def resolve_path(text: str, folder: Path) -> str:
    """``text`` as an absolute path: ``~`` expanded, else relative to ``folder``."""
    path = Path(text).expanduser()
    return str(path if path.is_absolute() else folder / path)
