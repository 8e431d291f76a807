"""The default plugins shipped with venclient, one folder per job (see venclient.plugin_manager.DEFAULT_PLUGINS)."""
