"""Settings: the packaged defaults, settings files + ``.secrets.toml``, ``VEN_*`` environment variables (dynaconf).

Environments ``[default]``, ``[development]`` (the default), ``[production]``; choose with ``VEN_ENV``.
Nested keys from the environment use a double underscore: ``VEN_VTN__URL``.  Which files are read and how
their relative paths resolve: :mod:`venclient.settings_files`.  ``VEN_H5_PATH`` is another name for
``VEN_H5_SIMULATOR__H5_PATH``.

Environment values are parsed as TOML by dynaconf (``VEN_VTN__TIMEOUT_SECONDS=5`` is the number 5), except
for *string settings*: a key whose validator (core's or a plugin's ``ven_settings_validators``) says
``is_type_of=str`` keeps the environment text exactly as written, so ``VEN_VTN__CLIENT_SECRET=999`` is the
string ``"999"`` and ``0123``, ``1e5``, ``true`` or ``[1]`` stay those characters.  A value starting with a
dynaconf marker (``@str``, ``@int``, ``@float``, ``@bool``, ``@json``, ``@format`` …) is converted by that
marker, for every key.
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterable, Mapping

from dynaconf import Dynaconf, ValidationError, Validator
from dynaconf.utils.parse_conf import (DynaconfFormatError, DynaconfParseError, boolean_fix, converters,
                                       parse_conf_data)

from venclient.errors import SettingsError
from venclient.masking import is_secret_key, mask_secrets
from venclient.settings_files import SettingsSearch

Settings = Dynaconf

GLOBAL_ENV_PREFIX = "DYNACONF"  # dynaconf also reads DYNACONF_* variables, before the VEN_* ones
ENVIRONMENT_ALIASES = {"VEN_H5_PATH": ("VEN_H5_SIMULATOR__H5_PATH", "h5_simulator.h5_path")}
"""Old environment variable -> (its new name, the dotted key it sets when the new name is not set)."""
MARKER_ERRORS = (DynaconfParseError, DynaconfFormatError, ImportError, ValueError)
"""What dynaconf raises for a value whose marker it cannot apply (``@int fifteen``, ``@format {this.nope}``,
``@format }``, a ``@jinja`` value without jinja2 installed)."""


def _is_str_list(value: Any) -> bool:
    return value is None or (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value))


def is_http_url(value: Any) -> bool:
    """Whether ``value`` is empty or starts with ``http://`` or ``https://`` (for URL validators)."""
    return value in (None, "") or (isinstance(value, str) and value.startswith(("http://", "https://")))


def core_validators() -> list[Validator]:
    """Validators for the keys core reads (plugins add theirs through ``ven_settings_validators``; the
    ``vtn.*`` keys are the openadr_http plugin's, ``h5_simulator.h5_path`` the h5_simulator plugin's)."""
    return [
        Validator("database_url", must_exist=True, is_type_of=str,
                  condition=lambda v: "://" in v or v.startswith("sqlite:"),
                  messages={"condition": "database_url must be an SQLAlchemy URL such as "
                                         "sqlite:///config/resources.db, got {value!r}.",
                            "operations": "database_url must be an SQLAlchemy URL string, got {value!r}."}),
        Validator("data_dir", default="config", is_type_of=str, len_min=1,
                  messages={"operations": "data_dir must be a folder path, got {value!r}."}),
        Validator("plugins", default=None, condition=_is_str_list,
                  messages={"condition": "plugins must be a list of plugin names, got {value!r}."}),
        Validator("disabled_plugins", default=[], condition=_is_str_list,
                  messages={"condition": "disabled_plugins must be a list of plugin names, got {value!r}."}),
        Validator("vens", default=[], condition=_is_str_list,
                  messages={"condition": "vens must be a list of VEN names, got {value!r}."}),
        Validator("reporting.interval_seconds", default=15.0, is_type_of=(int, float), gt=0,
                  messages={"operations": "reporting.interval_seconds must be a number above 0, got {value!r}."}),
        Validator("logging.format", default="human", is_in=("human", "json", "HUMAN", "JSON"),
                  messages={"operations": "logging.format must be human or json, not {value!r}."}),
        Validator("reporting.level", default="load", is_in=("load", "resource"),
                  messages={"operations": "reporting.level must be load or resource, got {value!r}."}),
        Validator("reporting.max_resources_per_report", default=2000, is_type_of=int, gte=1,
                  messages={"operations": "reporting.max_resources_per_report must be a whole number of at "
                                          "least 1, got {value!r}."}),
        Validator("reporting.register_every_seconds", "reporting.shutdown_flush_seconds", "events.poll_seconds",
                  is_type_of=(int, float), gt=0,
                  messages={"operations": "{name} must be a number above 0, got {value!r}."}),
        Validator("reporting.backlog_max_ticks", default=240, is_type_of=int, gte=1,
                  messages={"operations": "reporting.backlog_max_ticks must be a whole number of at least 1, "
                                          "got {value!r}."}),
        Validator("reporting.backlog_drain_per_tick", default=4, is_type_of=int, gte=2,
                  messages={"operations": "reporting.backlog_drain_per_tick must be a whole number of at least 2 "
                                          "(a tick must report more kept ticks than it adds), got {value!r}."}),
        Validator("run.lease_seconds", default=30.0, is_type_of=(int, float), gte=3,
                  messages={"operations": "run.lease_seconds must be a number of seconds, at least 3, "
                                          "got {value!r}."}),
        Validator("reporting.program", "reporting.event", default="", is_type_of=str,
                  messages={"operations": "{name} must be a program/event name or id, got {value!r}."}),
        Validator("events.programs", default=[], condition=_is_str_list,
                  messages={"condition": "events.programs must be a list of program names or ids, got {value!r}."}),
        Validator("events.subscribe", default=False, is_type_of=bool,
                  messages={"operations": "events.subscribe must be true or false, got {value!r}."}),
        Validator("events.callback_host", default="127.0.0.1", is_type_of=str, len_min=1,
                  messages={"operations": "events.callback_host must be a host name or address, got {value!r}."}),
        Validator("events.callback_port", default=0, is_type_of=int, gte=0, lte=65535,
                  messages={"operations": "events.callback_port must be a port number from 0 to 65535 "
                                          "(0 = any free port), got {value!r}."}),
        Validator("events.callback_url", default="", is_type_of=str, condition=is_http_url,
                  messages={"condition": "events.callback_url must start with http:// or https://, got {value!r}."}),
        Validator("clock.mode", default="replay", is_in=("replay", "wallclock"),
                  messages={"operations": "clock.mode must be replay or wallclock, got {value!r}."}),
        Validator("collect.source_timeout_seconds", default=5.0, is_type_of=(int, float), gt=0,
                  messages={"operations": "collect.source_timeout_seconds must be a number above 0, "
                                          "got {value!r}."}),
        Validator("baseline.history_days", default=14, is_type_of=int, gte=1, lte=3660,
                  messages={"operations": "baseline.history_days must be a whole number of days from 1 to 3660, "
                                          "got {value!r}."}),
        Validator("baseline.days", default=10, is_type_of=int, gte=1, lte=3660,
                  messages={"operations": "baseline.days must be a whole number of days from 1 to 3660, "
                                          "got {value!r}."}),
        Validator("baseline.min_days", default=3, is_type_of=int, gte=1, lte=3660,
                  messages={"operations": "baseline.min_days must be a whole number of days from 1 to 3660, "
                                          "got {value!r}."}),
        Validator("baseline.min_coverage", default=0.5, is_type_of=(int, float), gt=0, lte=1,
                  messages={"operations": "baseline.min_coverage must be a fraction above 0 and at most 1, "
                                          "got {value!r}."}),
        Validator("memory.malloc_arenas", default=2, is_type_of=int, gte=0,
                  messages={"operations": "memory.malloc_arenas must be a whole number, 0 or more (0 = the C "
                                          "library's default), got {value!r}."}),
    ]


def load_settings(environment: str | None = None, *, search: SettingsSearch | None = None,
                  **overrides: Any) -> Settings:
    """Load and validate the core settings; raise :class:`SettingsError` with one sentence on failure.

    ``search`` says where settings files are looked for (default: :meth:`SettingsSearch.from_environment`).
    ``overrides`` (lower-case keys; a table as a dict merges into it) win over files and environment — used
    by tests and ``ven demo``.  ``h5_path`` is taken as ``h5_simulator.h5_path``.
    """
    search = search if search is not None else SettingsSearch.from_environment()
    switched = os.environ.get("VEN_ENV")
    if switched is not None and not (re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", switched) and isinstance(
            parse_conf_data(boolean_fix(switched), tomlfy=True), str)):  # dynaconf reads it as TOML: not `false`
        raise SettingsError(f"VEN_ENV must name an environment such as development or production, "
                            f"got {switched!r}.")
    try:
        settings = _load(environment, search, overrides)
    except MARKER_ERRORS as err:
        raise SettingsError(f"Invalid setting: {_first_line(err)}.") from None
    validate(settings, core_validators())
    return settings


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0].rstrip(".")


def _load(environment: str | None, search: SettingsSearch, overrides: Mapping[str, Any]) -> Settings:
    """The settings from files, environment and ``overrides``, every marker value evaluated (dynaconf would
    otherwise evaluate ``@format``/``@jinja``/``@get`` at first use, and fail there)."""
    settings = Dynaconf(
        envvar_prefix="VEN",
        settings_files=[str(path) for path in search.load_order()],
        core_loaders=[],  # the files are read by venclient.settings_files (relative paths resolved)
        loaders=["venclient.settings_files", "dynaconf.loaders.env_loader"],
        environments=True,
        env_switcher="VEN_ENV",
        env=environment or os.environ.get("VEN_ENV", "development"),
        merge_enabled=True,
    )
    apply_environment_aliases(settings, os.environ)
    for key, value in overrides.items():
        settings.set("h5_simulator.h5_path" if key == "h5_path" else key, value)
    for key in list(settings.keys()):
        try:
            _evaluated(settings.get(key))
        except MARKER_ERRORS as err:
            raise SettingsError(f"Invalid setting: {key.lower()}: {_first_line(err)}.") from None
    return settings


def _evaluated(value: Any) -> None:
    """Read every value inside ``value`` the way code reads it (``box.get``), so dynaconf evaluates its markers."""
    if isinstance(value, Mapping):
        for name in list(value.keys()):
            _evaluated(value.get(name))
    elif isinstance(value, (list, tuple)):
        for position in range(len(value)):
            _evaluated(value[position])


def apply_environment_aliases(settings: Settings, environ: Mapping[str, str]) -> None:
    """Set what an old environment variable (:data:`ENVIRONMENT_ALIASES`) names, as written, unless its new
    name is set too."""
    for old, (new, key) in ENVIRONMENT_ALIASES.items():
        if old in environ and new not in environ:
            settings.set(key, environ[old])


def validate(settings: Settings, validators: Iterable[Validator]) -> None:
    """Run ``validators``; turn the first failure into a :class:`SettingsError` (secrets in it masked).

    Before validating, every string setting among ``validators`` that came from the environment gets its
    raw environment text back (see :func:`keep_string_environment_text`).
    """
    validators = list(validators)
    keep_string_environment_text(settings, string_setting_keys(validators))
    settings.validators.register(*validators)
    try:
        settings.validators.validate()
    except ValidationError as err:
        message = _masked_message(settings, err)
        if not message.endswith("."):
            message += "."
        raise SettingsError(f"Invalid setting: {message}") from None


def _masked_message(settings: Settings, err: ValidationError) -> str:
    """The first line of ``err`` with the failing values' secrets (and URL passwords) replaced by ``***``."""
    message = str(err).strip().splitlines()[0]
    for validator, _detail in getattr(err, "details", None) or []:
        for name in getattr(validator, "names", None) or ():
            value = settings.get(name, None)
            if value is None:
                continue
            plain = _plain(value)
            masked = mask_secrets(plain, is_secret_key(str(name).rsplit(".", 1)[-1]))
            if masked != plain:
                message = message.replace(repr(value), repr(masked)).replace(repr(plain), repr(masked))
    return message


def _plain(value: Any) -> Any:
    """Dynaconf's boxes and box lists as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def string_setting_keys(validators: Iterable[Validator]) -> set[str]:
    """Lower-case dotted names of the settings ``validators`` require to be strings (``is_type_of=str``).

    Combined validators (``a | b``, ``a & b``) count when one side requires a string.
    """
    keys: set[str] = set()
    for validator in validators:
        inner = getattr(validator, "validators", None)
        if inner:
            keys |= string_setting_keys(inner)
            continue
        wanted = (getattr(validator, "operations", None) or {}).get("is_type_of")
        if wanted is str or (isinstance(wanted, tuple) and wanted and all(t is str for t in wanted)):
            keys.update(str(name).lower() for name in validator.names)
    return keys


def keep_string_environment_text(settings: Settings, keys: set[str]) -> list[str]:
    """Give each string setting in ``keys`` that an environment variable set its raw text back.

    Dynaconf parses every environment value as TOML, so ``VEN_VTN__CLIENT_SECRET=999`` would become the integer
    999.  For a key in ``keys`` whose current value is exactly what dynaconf made of the variable (so neither a
    file nor an override given to :func:`load_settings` won), the value becomes the variable's text as written.
    Values starting with a dynaconf marker (``@int 5``, ``@json [1]`` …) are left to that marker.
    Returns the dotted keys that were changed.
    """
    if not keys:
        return []
    prefixes = [GLOBAL_ENV_PREFIX]
    prefix = settings.get("ENVVAR_PREFIX_FOR_DYNACONF")
    if isinstance(prefix, str) and prefix and prefix.upper() != GLOBAL_ENV_PREFIX:
        prefixes.append(prefix.upper())
    raw_by_key: dict[str, str] = {}
    for prefix in prefixes:  # in dynaconf's order: the later prefix wins
        start = f"{prefix}_"
        for variable, raw in os.environ.items():
            if variable.startswith(start):
                key = ".".join(part.lower() for part in variable[len(start):].split("__"))
                if key in keys:
                    raw_by_key[key] = raw
    changed = []
    for key, raw in raw_by_key.items():
        if raw.partition(" ")[0] in converters:
            continue
        current = settings.get(key, None)
        if isinstance(current, str) and current == raw:
            continue
        if _same(current, parse_conf_data(boolean_fix(raw), tomlfy=True, box_settings=settings)):
            settings.set(key, raw)
            changed.append(key)
    return changed


def _same(current: Any, parsed: Any) -> bool:
    """Whether a setting still holds what dynaconf parsed from the environment (NaN equals NaN here)."""
    if isinstance(current, float) and isinstance(parsed, float) and current != current and parsed != parsed:
        return True
    try:
        return type(_plain(current)) is type(_plain(parsed)) and _plain(current) == _plain(parsed)
    except Exception:  # noqa: BLE001 - an odd value that cannot be compared is not ours to replace
        return False


def effective_settings(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain dicts and lists, lower-case keys, every secret masked at any depth
    (see :mod:`venclient.masking`)."""
    raw = settings.as_dict(internal=False)
    return {k.lower(): mask_secrets(_lower_keys(v), is_secret_key(k)) for k, v in sorted(raw.items())}


def _lower_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k).lower(): _lower_keys(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lower_keys(v) for v in value]
    return value
