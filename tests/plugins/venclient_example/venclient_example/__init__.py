"""A third-party venclient plugin package (test fixture)."""
