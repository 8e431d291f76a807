"""Default plugin: ``ven demo`` — the embedded default that ``make demo`` runs."""

from plugins.demo.cli import ven_cli

__all__ = ["ven_cli"]
