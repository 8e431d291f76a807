"""Sample resources and loads: the seeds' asset-CSV importer, a synthetic Danish fleet, load generation.

Commands: ``ven samples import``, ``ven samples generate``, ``ven loads generate``.
"""
