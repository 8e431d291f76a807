"""Settings: ``settings.toml`` + ``.secrets.toml`` + ``VEN_*`` environment variables, via dynaconf.

Environments ``[default]``, ``[development]`` (the default), ``[production]``; choose with ``VEN_ENV``.
Nested keys from the environment use a double underscore: ``VEN_VTN__URL``.  The settings file is taken
from ``VEN_SETTINGS_FILE`` when set, else ``./settings.toml``, else the one beside the package.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

from dynaconf import Dynaconf, ValidationError, Validator

from core.errors import SettingsError

Settings = Dynaconf

SECRET_KEYS = ("client_secret", "token", "password", "secret")
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def _settings_files() -> list[str]:
    explicit = os.environ.get("VEN_SETTINGS_FILE")
    if explicit:
        main = Path(explicit)
        if not main.is_file():
            raise SettingsError(f"VEN_SETTINGS_FILE points at {main}, which is not a readable file.")
    elif Path("settings.toml").is_file():
        main = Path("settings.toml").resolve()
    else:
        main = PACKAGE_ROOT / "settings.toml"
    return [str(main), str(main.parent / ".secrets.toml")]


def _is_str_list(value: Any) -> bool:
    return value is None or (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value))


def _is_http_url(value: Any) -> bool:
    return value in (None, "") or (isinstance(value, str) and value.startswith(("http://", "https://")))


def core_validators() -> list[Validator]:
    """Validators for the keys core reads (plugins add theirs through ``ven_settings_validators``)."""
    return [
        Validator("database_url", must_exist=True, is_type_of=str,
                  condition=lambda v: "://" in v or v.startswith("sqlite:"),
                  messages={"condition": "database_url must be an SQLAlchemy URL such as "
                                         "sqlite:///config/resources.db, got {value!r}.",
                            "operations": "database_url must be an SQLAlchemy URL string, got {value!r}."}),
        Validator("h5_path", must_exist=True, is_type_of=str,
                  messages={"operations": "h5_path must be a file path, got {value!r}."}),
        Validator("plugins", default=None, condition=_is_str_list,
                  messages={"condition": "plugins must be a list of plugin names, got {value!r}."}),
        Validator("disabled_plugins", default=[], condition=_is_str_list,
                  messages={"condition": "disabled_plugins must be a list of plugin names, got {value!r}."}),
        Validator("vtn.url", default="", condition=_is_http_url,
                  messages={"condition": "vtn.url must start with http:// or https://, got {value!r}."}),
        Validator("vtn.token_url", default="", condition=_is_http_url,
                  messages={"condition": "vtn.token_url must start with http:// or https://, got {value!r}."}),
        Validator("vtn.client_id", "vtn.client_secret", "vtn.token", default="", is_type_of=str,
                  messages={"operations": "{name} must be a string."}),
        Validator("vtn.timeout_seconds", default=10.0, is_type_of=(int, float), gt=0,
                  messages={"operations": "vtn.timeout_seconds must be a number above 0, got {value!r}."}),
        Validator("vtn.verify_tls", default=True, is_type_of=(bool, str),
                  messages={"operations": "vtn.verify_tls must be true, false or a CA bundle path."}),
        Validator("vens", default=[], condition=_is_str_list,
                  messages={"condition": "vens must be a list of VEN names, got {value!r}."}),
        Validator("reporting.interval_seconds", default=15.0, is_type_of=(int, float), gt=0,
                  messages={"operations": "reporting.interval_seconds must be a number above 0, got {value!r}."}),
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
        Validator("events.callback_url", default="", condition=_is_http_url,
                  messages={"condition": "events.callback_url must start with http:// or https://, got {value!r}."}),
        Validator("clock.mode", default="replay", is_in=("replay", "wallclock"),
                  messages={"operations": "clock.mode must be replay or wallclock, got {value!r}."}),
        Validator("collect.source_timeout_seconds", default=5.0, is_type_of=(int, float), gt=0,
                  messages={"operations": "collect.source_timeout_seconds must be a number above 0, "
                                          "got {value!r}."}),
        Validator("memory.malloc_arenas", default=2, is_type_of=int, gte=0,
                  messages={"operations": "memory.malloc_arenas must be a whole number, 0 or more (0 = the C "
                                          "library's default), got {value!r}."}),
    ]


def load_settings(environment: str | None = None, **overrides: Any) -> Settings:
    """Load and validate the core settings; raise :class:`SettingsError` with one sentence on failure.

    ``overrides`` (lower-case keys) win over files and environment — used by tests and ``ven demo``.
    """
    settings = Dynaconf(
        envvar_prefix="VEN",
        settings_files=_settings_files(),
        environments=True,
        env_switcher="VEN_ENV",
        env=environment or os.environ.get("VEN_ENV", "development"),
        merge_enabled=True,
    )
    for key, value in overrides.items():
        settings.set(key, value)
    validate(settings, core_validators())
    return settings


def validate(settings: Settings, validators: Iterable[Validator]) -> None:
    """Run ``validators``; turn the first failure into a :class:`SettingsError`."""
    settings.validators.register(*validators)
    try:
        settings.validators.validate()
    except ValidationError as err:
        message = str(err).strip().splitlines()[0]
        if not message.endswith("."):
            message += "."
        raise SettingsError(f"Invalid setting: {message}") from None


def _mask(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask(k, v) for k, v in value.items()}
    name = key.lower()
    if value and (name in SECRET_KEYS or name.endswith(tuple(f"_{s}" for s in SECRET_KEYS))):
        return "***"
    return value


def effective_settings(settings: Settings) -> dict[str, Any]:
    """The effective settings as a plain dict, lower-case keys, with secrets masked."""
    raw = settings.as_dict(internal=False)
    return {k.lower(): _mask(k, _lower_keys(v)) for k, v in sorted(raw.items())}


def _lower_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k).lower(): _lower_keys(v) for k, v in value.items()}
    return value
