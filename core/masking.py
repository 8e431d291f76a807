"""Hide secrets in settings before they are shown: secret-looking keys at any depth, passwords in URLs.

Used by ``ven settings`` (table and ``--json``) and by settings error messages.  The rules:

* a key is secret-looking when its last word (``_``/``-`` separated, case-insensitive) is ``secret``,
  ``password``, ``passwd``, ``pwd``, ``passphrase``, ``token``, ``apikey`` or ``credentials`` (or a plural),
  or it ends in ``api_key``, ``private_key``, ``secret_key``, ``access_key``, ``signing_key`` or
  ``encryption_key``: ``client_secret``, ``token``, ``bearer_token`` and ``mqtt.password`` are secret,
  ``token_url`` and ``token_ttl_seconds`` are not;
* every non-empty value under a secret-looking key becomes ``"***"`` — also inside tables and lists under it;
* tables and lists are walked to any depth, so ``local_vtn.clients[].client_secret`` is hidden too;
* in every other string, the password of a URL (``postgresql://ven:pw@db/ven`` → ``postgresql://ven:***@db/ven``)
  and secret-looking query parameters (``?token=…``) are hidden.

Empty values (``""``, ``None``) stay visible, so a user can see that a secret is *not* set.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

MASK = "***"
SECRET_WORDS = frozenset({"secret", "password", "passwd", "pwd", "passphrase", "token", "apikey", "credential",
                          "credentials"})
SECRET_KEY_QUALIFIERS = frozenset({"api", "private", "secret", "access", "signing", "encryption"})

# scheme://user:password@  — the password may itself hold "@" (greedy up to the last "@" before the host)
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*:/*[^\s:/?#@]*):(?P<password>[^\s/?#]*)@")
_QUERY_PARAMETER = re.compile(r"(?P<head>[?&;](?P<name>[^=&#;\s]+)=)(?P<value>[^&#;\s]*)")


def is_secret_key(key: Any) -> bool:
    """Whether a settings key names a secret (see the module docstring for the rule)."""
    words = [w for w in re.split(r"[_\-\s]+", str(key).lower()) if w]
    if not words:
        return False
    last = words[-1]
    if last in SECRET_WORDS or (last.endswith("s") and last[:-1] in SECRET_WORDS):
        return True
    return last == "key" and len(words) > 1 and words[-2] in SECRET_KEY_QUALIFIERS


def mask_text(text: str) -> str:
    """``text`` with URL passwords and secret-looking query parameters replaced by ``***``."""
    if ":" not in text and "=" not in text:
        return text
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}:{MASK if m['password'] else ''}@", text)
    return _QUERY_PARAMETER.sub(
        lambda m: f"{m['head']}{MASK}" if m["value"] and is_secret_key(m["name"]) else m[0], text)


def mask_secrets(value: Any, secret: bool = False) -> Any:
    """A copy of ``value`` (plain dicts, lists and scalars) with every secret hidden.

    ``secret`` says the value sits under a secret-looking key, so everything non-empty in it is hidden.
    Dict keys are kept as they are.
    """
    if isinstance(value, Mapping):
        return {k: mask_secrets(v, secret or is_secret_key(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_secrets(item, secret) for item in value]
    if value is None or value == "":
        return value
    if secret:
        return MASK
    if isinstance(value, str):
        return mask_text(value)
    return value
