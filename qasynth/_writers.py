"""Serialising records as OpenAI chat fine-tuning JSONL, written atomically.

Every line is built with :func:`json.dumps` (never string formatting), keeps
non-ASCII text readable (no ``\\uXXXX`` escapes), and the file is written to a
temporary sibling and renamed into place, so a crash never leaves half a file.
New files get the permissions any other program would give them (``0666``
less the user's umask); a file that is replaced keeps its permissions.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from ._errors import OutputError
from ._schema import QARecord

__all__ = [
    "atomic_path",
    "atomic_writer",
    "chat_example",
    "dumps_line",
    "write_chat_jsonl",
    "write_jsonl",
]


def dumps_line(obj: Any) -> str:
    """One JSONL line (without the newline): compact, UTF-8 readable."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def chat_example(user: str, assistant: str, system_prompt: str | None = None) -> dict[str, Any]:
    """The chat fine-tuning object for one exchange."""
    messages: list[dict[str, str]] = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    messages.append({"role": "user", "content": user})
    messages.append({"role": "assistant", "content": assistant})
    return {"messages": messages}


def _current_umask() -> int:
    """The process umask, read without changing it where the system allows."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(target: Path) -> int:
    """The permissions ``target`` would get from a plain ``open(target, "w")``."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        return 0o666 & ~_current_umask()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary sibling of ``path`` to write; it replaces ``path`` when the block ends.

    On an exception the temporary file is removed and any existing file at
    ``path`` is untouched. The file ends with the permissions of a normally
    created file (see the module docstring). A symlink at ``path`` stays: the file
    it points to is replaced.
    """
    target = Path(path)
    if target.is_symlink():  # write where it points, as the shell's > does; keep the link
        target = target.resolve()
    if target.is_dir():  # os.replace would fail naming the temporary file
        raise OutputError(f"{target} is a folder; give the path of a file to write", path=target)
    directory = target.parent if str(target.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        yield Path(tmp_name)
        os.chmod(tmp_name, _mode_for(target))
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


@contextlib.contextmanager
def atomic_writer(path: str | Path) -> Iterator[IO[str]]:
    """Open a text file for writing that appears at ``path`` only when complete.

    Written as UTF-8 without BOM with ``\\n`` line ends; on an exception the
    temporary file is removed and any existing file at ``path`` is untouched.
    """
    with (
        atomic_path(path) as tmp,
        tmp.open("w", encoding="utf-8", newline="\n") as handle,
    ):
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def write_jsonl(path: str | Path, objects: Iterable[Any]) -> int:
    """Write one JSON value per line, atomically. Returns the number of lines."""
    count = 0
    with atomic_writer(path) as handle:
        for obj in objects:
            handle.write(dumps_line(obj))
            handle.write("\n")
            count += 1
    return count


def write_chat_jsonl(
    path: str | Path, records: Iterable[QARecord], *, system_prompt: str | None = None
) -> int:
    """Write records as chat fine-tuning JSONL. Returns the number of lines."""
    return write_jsonl(path, (chat_example(r.question, r.answer, system_prompt) for r in records))
