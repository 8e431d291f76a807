"""Keeping a long-running VEN's memory flat: a cap on glibc's malloc arenas.

glibc gives each thread that allocates concurrently its own malloc *arena* (up to 8 per core).  ``ven run``
moves store and file I/O to worker threads, so a fleet tick's buffers (report JSON, outbox rows, HTTP bodies)
are freed into several arenas whose free space the next tick cannot reuse across arenas: resident memory
climbs for several ticks before it levels off.  With one or two arenas it stays near the first tick's peak,
at no measurable cost in speed (Python's own small objects do not use malloc arenas).

This is what the ``MALLOC_ARENA_MAX`` environment variable does, set from inside the process (setting
``memory.malloc_arenas``) so that systemd units and ``make demo`` need no extra environment.  On other C
libraries (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc <malloc.h>


def limit_malloc_arenas(arenas: int) -> bool:
    """Cap glibc's malloc arenas at ``arenas`` (``0`` leaves the default; ``MALLOC_ARENA_MAX`` in the
    environment wins).  Call it before worker threads start.  Returns whether a cap was set."""
    if arenas <= 0 or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt, macOS neither)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = mallopt(M_ARENA_MAX, int(arenas)) == 1
    log.debug("malloc arenas capped at %d: %s", arenas, applied)
    return applied
