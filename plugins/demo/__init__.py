"""Default plugin: ``ven demo``, the embedded default (sample fleet, meter data, local VTN, registration,
reporting). Hook implementations: :mod:`venclient.plugins.demo.hooks`."""
