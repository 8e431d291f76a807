"""Default plugin: log every demand-response event change in one readable line (see ``hooks``)."""
