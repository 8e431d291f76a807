"""An example third-party venclient plugin: a sine-wave meter source and a recording writer (kind ``sine``).

``plugin`` holds the hook implementations (the entry point), ``sine`` the source, ``recorder`` the writer.
"""
