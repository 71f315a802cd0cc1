"""What the run's child processes share: how one is started and how it talks.

A child is a plain ``python -c`` process, not ``multiprocessing``: that would import
the user's ``__main__`` again in the child (a script without an
``if __name__ == "__main__"`` guard would run twice). Parent and child exchange
pickled frames (an 8-byte length, then the pickle) over the child's stdin and
stdout; the child sends its own stray prints to stderr, so they never corrupt a
frame, and ends when its stdin closes, so it never outlives the run.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import sys
from pathlib import Path
from typing import IO, Any, BinaryIO

__all__ = [
    "HEADER",
    "can_start_python",
    "child_command",
    "cpus",
    "encode_frame",
    "frame_streams",
    "read_frame",
]

HEADER = struct.Struct("!Q")


def can_start_python() -> bool:
    """Whether ``sys.executable`` is a Python that can run a child: not in a frozen
    application (its executable is the application itself) or an embedded one."""
    return bool(sys.executable) and not getattr(sys, "frozen", False)


def cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def child_command(entry: str) -> tuple[list[str], dict[str, str], str]:
    """The command, environment and working folder of a child that runs ``entry``
    (``"module:function"``): this qasynth first on its path, and started from the
    package's folder, so nothing in the user's folder shadows a module."""
    module, function = entry.split(":")
    package_root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    argv = [sys.executable, "-c", f"from {module} import {function}; {function}()"]
    return argv, env, package_root


def encode_frame(value: Any) -> bytes:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


def read_frame(stream: IO[bytes]) -> bytes | None:
    """The next frame's pickle, ``None`` at the end of the stream."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    data = stream.read(size)
    return data if len(data) == size else None


def frame_streams() -> tuple[BinaryIO, BinaryIO]:
    """In a child: (the parent's frames, where to write frames to the parent).

    Ctrl-C reaches the whole process group; the parent handles it (it keeps what is
    finished) and closes the child's stdin, which ends it. Stray prints go to stderr."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    frames = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return sys.stdin.buffer, frames
