"""``python -m venclient.cli`` runs ``ven``."""

from venclient.cli.app import main

main()
