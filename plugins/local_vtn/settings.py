"""The ``[local_vtn]`` settings of ``ven vtn serve`` (all optional, with defaults)."""

from __future__ import annotations

from dynaconf import Validator

DEFAULT_MAX_REPORTS = 5000
"""Reports ``ven vtn serve`` keeps: a few hundred fleet ticks, so the VEN's look-up of a recent report finds it."""


def settings_validators() -> list[Validator]:
    """Validators with defaults: host, port, state_file, seed_demo, token_ttl_seconds, save_interval_seconds,
    max_reports (the report history kept, oldest dropped first), clients, quirks (a list of names, or one
    comma-separated string as an environment variable gives it)."""
    return [
        Validator("local_vtn.host", default="127.0.0.1", is_type_of=str,
                  messages={"operations": "local_vtn.host must be a host name or address, got {value!r}."}),
        Validator("local_vtn.port", default=8080, is_type_of=int, gte=0, lte=65535,
                  messages={"operations": "local_vtn.port must be a port number from 0 to 65535, got {value!r}."}),
        Validator("local_vtn.state_file", default="", is_type_of=str,
                  messages={"operations": "local_vtn.state_file must be a file path or empty, got {value!r}."}),
        Validator("local_vtn.seed_demo", default=True, is_type_of=bool,
                  messages={"operations": "local_vtn.seed_demo must be true or false, got {value!r}."}),
        Validator("local_vtn.token_ttl_seconds", default=3600, is_type_of=(int, float), gt=0,
                  messages={"operations": "local_vtn.token_ttl_seconds must be a number above 0, got {value!r}."}),
        Validator("local_vtn.save_interval_seconds", default=5.0, is_type_of=(int, float), gt=0,
                  messages={"operations": "local_vtn.save_interval_seconds must be a number above 0, "
                                          "got {value!r}."}),
        Validator("local_vtn.max_reports", default=DEFAULT_MAX_REPORTS, is_type_of=int, gt=0,
                  messages={"operations": "local_vtn.max_reports must be a whole number above 0 (the reports kept, "
                                          "oldest dropped first), got {value!r}."}),
        Validator("local_vtn.clients", default=[], is_type_of=list,
                  messages={"operations": "local_vtn.clients must be a list of tables with client_id, "
                                          "client_secret and role, got {value!r}."}),
        Validator("local_vtn.quirks", default=[], is_type_of=(list, str),
                  messages={"operations": "local_vtn.quirks must be a list of quirk names (see ven vtn serve "
                                          "--help), got {value!r}."}),
    ]
