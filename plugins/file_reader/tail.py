"""Following a file another program keeps appending to: new complete lines since the last look.

``FileTail.poll()`` returns the lines added since the previous call with their line numbers.  A last line
without its newline is kept back until the writer finishes it.  The tail starts over from the top when
the file is truncated (smaller than what was read), replaced (another inode — log rotation), or rewritten
(the bytes just before the read position changed); it then reports ``restarted``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

CHECK_BYTES = 64
CHUNK_BYTES = 4 * 1024 * 1024


@dataclass
class Poll:
    """The outcome of one look at the file."""

    lines: list[tuple[int, str]] = field(default_factory=list)  # (line number from 1, text)
    exists: bool = True
    restarted: bool = False
    undecodable: list[int] = field(default_factory=list)  # line numbers that are not UTF-8


class FileTail:
    """Incremental reader of one growing text file (UTF-8, ``\\n`` or ``\\r\\n`` line ends)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.offset = 0
        self.line_number = 0
        self._partial = b""
        self._inode: int | None = None
        self._last = b""  # the bytes just before ``offset``, to notice an in-place rewrite

    def _restart(self) -> None:
        self.offset = 0
        self.line_number = 0
        self._partial = b""
        self._last = b""

    def poll(self) -> Poll:
        """Read what was appended since the last poll (everything on the first)."""
        try:
            handle = open(self.path, "rb")
        except FileNotFoundError:
            return Poll(exists=False)
        result = Poll()
        with handle:
            st = os.fstat(handle.fileno())
            replaced = self._inode is not None and st.st_ino != self._inode
            rewritten = False
            if not replaced and self._last and st.st_size >= self.offset:
                handle.seek(self.offset - len(self._last))
                rewritten = handle.read(len(self._last)) != self._last
            if replaced or st.st_size < self.offset or rewritten:
                self._restart()
                result.restarted = True
            self._inode = st.st_ino
            if st.st_size == self.offset:
                return result
            handle.seek(self.offset)
            while True:
                chunk = handle.read(CHUNK_BYTES)
                if not chunk:
                    break
                self.offset += len(chunk)
                self._last = (self._last + chunk)[-CHECK_BYTES:]
                self._split(self._partial + chunk, result)
        return result

    def _split(self, data: bytes, result: Poll) -> None:
        pieces = data.split(b"\n")
        self._partial = pieces.pop()  # b"" when data ends with a newline
        for raw in pieces:
            self.line_number += 1
            try:
                result.lines.append((self.line_number, raw.rstrip(b"\r").decode("utf-8")))
            except UnicodeDecodeError:
                result.undecodable.append(self.line_number)
