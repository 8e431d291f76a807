"""VTN transport plugin: OpenADR 3.0.1 over HTTP(S) with httpx, plus ``ven vtn ping``, ``ven programs``, ``ven events``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from venclient.lazy import lazy_attributes

if TYPE_CHECKING:  # pragma: no cover
    from venclient.plugins.openadr_http.config import VtnConfig
    from venclient.plugins.openadr_http.transport import HttpVtnTransport

__getattr__ = lazy_attributes(__name__, {"HttpVtnTransport": "transport", "VtnConfig": "config"})  # httpx on first use

__all__ = ["HttpVtnTransport", "VtnConfig"]
