"""Test configuration: fixture modules per area live in tests/fixtures/."""

pytest_plugins = [
    "fixtures.core",
    "fixtures.vtn",
    "fixtures.samples",
    "fixtures.collect",
    "fixtures.hardware",
    "fixtures.vtn_runtime",
    "fixtures.run",
    "fixtures.fuzz",
]
