"""venclient core: hook specs, plugin manager, settings, domain model and the engines that compose plugins.

`core` never imports a plugin; plugins import `core`.
"""

__version__ = "0.1.0"
