"""One run per output: an advisory lock beside the output file.

The lock is held by the operating system for as long as the process lives
(``flock`` on POSIX, ``msvcrt.locking`` on Windows), so a lock left by a killed
run never blocks the next one. The file holds the owner's pid for the message.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import TracebackType
from typing import IO

from ._errors import OutputError, StateError

__all__ = ["RunLock", "lock_path_for"]


def lock_path_for(output: str | Path) -> Path:
    return Path(f"{output}.qasynth.lock")


def _try_lock(handle: IO[str]) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class RunLock:
    """Held while a run writes ``output``; a second holder gets a clear error."""

    def __init__(self, output: str | Path) -> None:
        self.output = Path(output)
        self.path = lock_path_for(output)
        self._handle: IO[str] | None = None

    def __enter__(self) -> RunLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+", encoding="utf-8")
        except OSError as exc:
            folder = self.path.parent
            why = "it is a file, not a folder" if folder.is_file() else exc.strerror or str(exc)
            raise OutputError(
                f"cannot use {folder} for the output: {why}; choose another -o, or check "
                "that the folder can be written",
                path=folder,
            ) from None
        if not _try_lock(handle):
            handle.seek(0)
            pid = handle.read().strip() or "?"
            handle.close()
            raise StateError(
                f"another qasynth run, pid {pid}, is writing {self.output}; wait for it to "
                "finish (or stop it), or write to another output file"
            )
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self.path.unlink(missing_ok=True)
            self._handle.close()
            self._handle = None
