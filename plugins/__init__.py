"""The default plugins shipped with venclient, one folder per job (see core.plugins.DEFAULT_PLUGINS)."""
