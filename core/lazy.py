"""Lazy package attributes (PEP 562), so importing a package does not import its heavy modules.

A plugin package whose ``__init__`` re-exports a class from a module that pulls in SQLAlchemy, httpx or h5py
would make every ``ven`` invocation (even ``ven --help``) pay for that import, because pluggy imports each
plugin's ``hooks`` module and with it the package.  Such a package declares its exports instead::

    __getattr__ = lazy_attributes(__name__, {"SqlResourceStore": "store"})

and the name resolves (and is cached in the package) on first access.
"""

from __future__ import annotations

import sys
from importlib import import_module
from typing import Any, Callable, Iterable


def lazy_attributes(package: str, exports: dict[str, str],
                    submodules: Iterable[str] = ()) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` resolving each name in ``exports`` from its submodule
    (``{name: submodule}``, relative to ``package``) and each name in ``submodules`` as that submodule itself;
    any other name raises ``AttributeError``."""
    modules = frozenset(submodules)

    def __getattr__(name: str) -> Any:
        if name in modules:
            return import_module(f"{package}.{name}")
        submodule = exports.get(name)
        if submodule is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{submodule}"), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    return __getattr__
