"""One run per output: an advisory lock beside the output file.

The lock is held by the operating system for as long as the process lives
(``flock`` on POSIX, ``msvcrt.locking`` on Windows), so a lock left by a killed
run never blocks the next one. The file holds the owner's pid for the message.
A run that ends removes the file; one that opened it just before then finds,
once it holds the lock, that the file is no longer the one at the path, and
starts again with the current file.
"""

from __future__ import annotations

import contextlib
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

        handle.seek(0)
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


def _same_file(handle: IO[str], path: Path) -> bool:
    """Whether ``path`` still names the file ``handle`` has open."""
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except OSError:
        return False


class RunLock:
    """Held while a run writes ``output``; a second holder gets a clear error."""

    def __init__(self, output: str | Path) -> None:
        self.output = Path(output)
        self.path = lock_path_for(output)
        self._handle: IO[str] | None = None

    def _open(self) -> IO[str]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return open(self.path, "a+", encoding="utf-8")
        except OSError as exc:
            folder = self.path.parent
            why = "it is a file, not a folder" if folder.is_file() else exc.strerror or str(exc)
            raise OutputError(
                f"cannot use {folder} for the output: {why}; choose another -o, or check "
                "that the folder can be written",
                path=folder,
            ) from None

    def __enter__(self) -> RunLock:
        for _ in range(10):
            handle = self._open()
            if not _try_lock(handle):
                handle.seek(0)
                pid = handle.read().strip() or "?"
                handle.close()
                raise StateError(
                    f"another qasynth run, pid {pid}, is writing {self.output}; wait for it "
                    "to finish (or stop it), or write to another output file"
                )
            if sys.platform == "win32" or _same_file(handle, self.path):
                break
            handle.close()  # the run that held it ended and removed it meanwhile
        else:  # pragma: no cover - ten runs ending in a row while this one starts
            raise StateError(f"cannot take the lock {self.path}; run the same command again")
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
        handle, self._handle = self._handle, None
        if handle is None:
            return
        if sys.platform == "win32":  # pragma: no cover - an open file cannot be removed there
            handle.close()
            with contextlib.suppress(OSError):
                self.path.unlink()
            return
        self.path.unlink(missing_ok=True)  # while still held: the next run makes a new one
        handle.close()
