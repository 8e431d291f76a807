"""Test configuration: fixture modules per area live in tests/fixtures/."""

pytest_plugins = [
    "fixtures.core",
]
