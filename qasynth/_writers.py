"""Serialising records as OpenAI chat fine-tuning JSONL, written atomically.

Every line is built with :func:`json.dumps` (never string formatting), keeps
non-ASCII text readable (no ``\\uXXXX`` escapes), and the file is written to a
temporary sibling and renamed into place, so a crash never leaves half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from ._schema import QARecord

__all__ = ["atomic_writer", "chat_example", "dumps_line", "write_chat_jsonl", "write_jsonl"]


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


@contextlib.contextmanager
def atomic_writer(path: str | Path) -> Iterator[IO[str]]:
    """Open a text file for writing that appears at ``path`` only when complete.

    Written as UTF-8 without BOM with ``\\n`` line ends; on an exception the
    temporary file is removed and any existing file at ``path`` is untouched.
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


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
