"""File reader plugin: the ``filereader`` meter source (CSV or JSON-lines files a data logger appends to)."""
