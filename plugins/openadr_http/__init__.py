"""VTN transport plugin: OpenADR 3.0.1 over HTTP(S) with httpx, plus ``ven vtn ping``, ``ven programs``, ``ven events``."""

from __future__ import annotations

from venclient.plugins.openadr_http.config import VtnConfig
from venclient.plugins.openadr_http.transport import HttpVtnTransport

__all__ = ["HttpVtnTransport", "VtnConfig"]
