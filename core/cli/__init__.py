"""The ``ven`` command line: the root app (:mod:`venclient.cli.app`) and one module per command group."""

from venclient.cli.app import build_app, main

__all__ = ["build_app", "main"]
