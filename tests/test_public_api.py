"""The front door: everything a plugin author needs is importable from ``venclient`` itself, cheaply."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import import_module

import pytest

import venclient


def test_every_public_name_resolves_to_its_defining_module():
    for name in venclient.__all__:
        if name == "__version__":
            continue
        value = getattr(venclient, name)
        module = import_module(venclient._EXPORTS[name])
        assert value is getattr(module, name), name


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="no_such_thing"):
        venclient.no_such_thing  # noqa: B018


def test_dir_lists_the_public_names():
    assert {"hookimpl", "MeterSource", "LoadBatch", "SourceReading", "InputError"} <= set(dir(venclient))


def test_the_plugin_author_line_works_in_a_fresh_interpreter_and_import_alone_is_cheap():
    probe = (
        "import json, sys\n"
        "import venclient\n"
        "heavy_at_import = sorted(m for m in ('numpy', 'pydantic', 'sqlalchemy', 'typer') if m in sys.modules)\n"
        "from venclient import hookimpl, MeterSource, LoadBatch, SourceReading\n"
        "print(json.dumps({'heavy_at_import': heavy_at_import, 'hookimpl': type(hookimpl).__name__,\n"
        "                  'batch': LoadBatch.__module__}))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen == {"heavy_at_import": [], "hookimpl": "HookimplMarker", "batch": "venclient.protocols"}


def test_all_lists_exactly_the_exports():
    assert sorted(venclient.__all__) == sorted(["__version__", *venclient._EXPORTS])
