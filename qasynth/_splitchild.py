"""A run's split: in a thread beside the event loop, and for a large input mostly in a
child process, so the split does not take the event loop's time.

tiktoken holds the GIL while it encodes (two threads encoding at once take longer
than one thread doing both), so a split thread takes its time from the event loop:
about 1.3–1.6 ms a chunk of 1,500 tokens, on the order of what the client spends on
a whole model call. A run whose inputs hold at least :data:`CHILD_MIN_CHARS`
characters therefore also starts a child process, where it may use more than one
CPU (see :mod:`qasynth._children`). The child loads the same encoding (half a
second or so), then splits the documents the run hands it (their text in slices of
:data:`_SLICE` characters) and sends back their chunks in order, :data:`HANDOVER` at
a time.

Until the child is ready, the thread splits, :data:`HANDOVER` chunks at a time and
only while the run is short of chunks (fewer than :data:`AHEAD` waiting), so the first
requests leave at once. Then the child takes over from the next chunk, in the middle
of a document if need be: it splits that document from its start again and leaves
out the chunks the thread made (the split is deterministic).

Nothing depends on the child. If it cannot start, or ends part way (killed, out of
memory), the thread splits the rest itself, leaving out the chunks of the document
the child had already sent (the split is deterministic). A document the child cannot
split raises the error the thread would have raised.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import pickle
import subprocess
import threading
import traceback
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from ._children import (
    can_start_python,
    child_command,
    cpus,
    encode_frame,
    frame_streams,
    read_frame,
)

if TYPE_CHECKING:
    import tiktoken
    from langchain_core.documents import Document

    from ._schema import Chunk

__all__ = ["AHEAD", "CHILD_MIN_CHARS", "HANDOVER", "SplitSettings", "Splitter"]

logger = logging.getLogger("qasynth")

CHILD_MIN_CHARS = 4_000_000
"""Characters of input from which a run splits in a child process (below it, the
thread would be done before the child is ready)."""
HANDOVER = 32
"""Chunks of one document handed to the run at a time while it is being split."""
AHEAD = 2 * HANDOVER
"""While the child is starting, the thread splits only while the run has fewer chunks
than this waiting to start."""
_POLL = 0.01
_SLICE = 4_000_000
"""Characters of a document's text sent in one frame: the run never holds more than
this much of a long document twice (its text, and the pickle being sent)."""

_READY, _CHUNKS, _ERROR, _REFUSED = "ready", "chunks", "error", "refused"

Batch = tuple[list["Chunk"], bool]
"""Chunks of one document, in order, and whether they are its last."""
ChunksOf = Callable[["Document"], Iterable["Chunk"]]


class SplitSettings(NamedTuple):
    """What a child needs to split exactly as the run would (picklable)."""

    chunk_size: int
    chunk_overlap: int
    encoding: tiktoken.Encoding
    theme: str | None


def batches(
    chunks_of: ChunksOf,
    documents: collections.deque[Document],
    stop: threading.Event,
    skip: int = 0,
) -> Iterator[Batch]:
    """Split ``documents`` (each taken out of the deque as its split starts), each
    document's chunks :data:`HANDOVER` at a time; ``skip`` leaves out the first chunks
    of the first document. A stop takes effect after the chunk being cut."""
    while documents and not stop.is_set():
        chunks = iter(chunks_of(documents.popleft()))
        if skip:
            chunks, skip = itertools.islice(chunks, skip, None), 0
        while (ready := _next_batch(chunks, stop)) is not None:
            last = len(ready) < HANDOVER
            yield ready, last
            if last:
                break


def _next_batch(chunks: Iterator[Chunk], stop: threading.Event) -> list[Chunk] | None:
    """The next :data:`HANDOVER` chunks cut from ``chunks`` (fewer at the end of its
    document), or ``None`` if a stop came first (checked after each chunk)."""
    ready: list[Chunk] = []
    for chunk in chunks:
        if stop.is_set():
            return None
        ready.append(chunk)
        if len(ready) == HANDOVER:
            break
    return ready


class Splitter:
    """The batches of a run's chunks, in input order; :meth:`stop` from any thread."""

    def __init__(
        self,
        chunks_of: ChunksOf,
        documents: list[Document],
        settings: SplitSettings | None,
        backlog: Callable[[], int] = lambda: 0,
    ) -> None:
        """``settings``: how a child would split as ``chunks_of`` does (``None`` when
        only ``chunks_of`` knows, such as a subclass's own split); ``backlog``: how many
        chunks the run has waiting to start (read from the split's thread)."""
        self._chunks_of, self._backlog = chunks_of, backlog
        self._left = collections.deque(documents)
        large = sum(len(d.page_content) for d in documents) >= CHILD_MIN_CHARS
        # on one CPU a child would take the same time from the loop, and its start-up too
        usable = large and cpus() > 1 and can_start_python()
        self._settings = settings if usable else None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._child: _Child | None = None

    def stop(self) -> None:
        """Stop the split after the chunk being cut (a child is ended at once)."""
        self._stop.set()
        with self._lock:
            child = self._child
        if child is not None:
            child.kill()

    def __iter__(self) -> Iterator[Batch]:
        child = None if self._settings is None else _Child.start(self._settings)
        if child is None:
            yield from batches(self._chunks_of, self._left, self._stop)
            return
        with self._lock:
            self._child = child
        try:
            skip = yield from self._until_ready(child)
            if not self._left or self._stop.is_set():
                return
            if child.failed:  # it could not start: split the rest here
                yield from batches(self._chunks_of, self._left, self._stop, skip=skip)
            else:
                yield from child.split(self._left, self._chunks_of, self._stop, skip=skip)
        finally:
            child.close()

    def _until_ready(self, child: _Child) -> Generator[Batch, None, int]:
        """Split here, :data:`HANDOVER` chunks at a time, while the child is starting and
        the run is short of chunks; return how many chunks of the first document left
        in ``_left`` were made here (0 when the thread stopped between documents)."""
        current: Iterator[Chunk] | None = None  # the split of self._left[0], once begun
        made = 0
        while self._left and not self._stop.is_set():
            wanted = self._backlog() < AHEAD
            if child.ready.wait(0 if wanted else _POLL):
                break
            if not wanted:
                continue
            if current is None:
                current = iter(self._chunks_of(self._left[0]))
            if (ready := _next_batch(current, self._stop)) is None:
                break
            last = len(ready) < HANDOVER
            made = 0 if last else made + len(ready)
            if last:  # the document is done here
                self._left.popleft()
                current = None
            yield ready, last
        return made


class _Child:
    """One split process and the documents sent to it."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.ready = threading.Event()
        """Set once the child has loaded its encoding, or has failed to."""
        self.failed = False
        self._sent: collections.deque[Document] = collections.deque()
        """Documents sent whose last chunk has not come back."""
        self._unsendable = False
        self._writer: threading.Thread | None = None
        threading.Thread(target=self._log_stderr, daemon=True).start()
        threading.Thread(target=self._await_ready, daemon=True).start()

    @classmethod
    def start(cls, settings: SplitSettings) -> _Child | None:
        """The child, started, or ``None`` if it cannot be (logged)."""
        argv, env, cwd = child_command("qasynth._splitchild:serve")
        try:
            frame = encode_frame(settings)
            process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=cwd,
            )
        except (OSError, pickle.PicklingError, TypeError, AttributeError) as exc:
            logger.debug("splitting in this process: no split process (%s)", exc)
            return None
        assert process.stdin is not None
        try:
            process.stdin.write(frame)
            process.stdin.flush()
        except OSError:  # it ended at once: it says why on stderr, and is not ready
            pass
        return cls(process)

    def _await_ready(self) -> None:
        assert self.process.stdout is not None
        try:
            frame = read_frame(self.process.stdout)
            self.failed = frame is None or pickle.loads(frame)[0] != _READY
        except (OSError, ValueError, pickle.UnpicklingError):
            self.failed = True
        if self.failed:
            logger.debug("the split process did not start; splitting in this process")
        self.ready.set()

    def split(
        self,
        left: collections.deque[Document],
        chunks_of: ChunksOf,
        stop: threading.Event,
        skip: int = 0,
    ) -> Iterator[Batch]:
        """Send the child the documents in ``left`` (taking each out as it is sent) and
        yield its chunks, but for the first ``skip`` of the first document (made
        elsewhere); if it ends part way, split the rest with ``chunks_of``."""
        self._writer = threading.Thread(target=self._write, args=(left, stop, skip), daemon=True)
        self._writer.start()
        stdout = self.process.stdout
        assert stdout is not None
        received, refused = skip, False
        while (frame := read_frame(stdout)) is not None:
            kind, value = pickle.loads(frame)
            if kind == _ERROR:
                raise value
            if kind == _REFUSED:
                refused = True
                break
            chunks, last = value
            if last:
                self._sent.popleft()
                received = 0
            else:
                received += len(chunks)
            yield chunks, last
        if stop.is_set():
            return
        self.kill()  # it ended, or refused a document: it takes no more
        self._writer.join()
        rest = collections.deque([*self._sent, *left])
        self._sent.clear()
        left.clear()
        if not rest:
            return
        if refused or self._unsendable:
            logger.debug("a document cannot go to the split process; splitting the rest here")
        else:
            logger.warning(
                "the split process ended (exit code %s); splitting the rest of the inputs "
                "in this process", self.process.wait(),
            )  # fmt: skip
        yield from batches(chunks_of, rest, stop, skip=received)

    def _write(self, left: collections.deque[Document], stop: threading.Event, skip: int) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            while left and not stop.is_set():
                text = left[0].page_content
                parts = -(-len(text) // _SLICE)
                try:  # the document without its text, then the text in slices
                    shell = left[0].model_copy(update={"page_content": ""})
                    head = encode_frame((shell, parts, skip))
                except Exception:  # not picklable (a user's metadata): split here
                    self._unsendable = True
                    break
                self._sent.append(left.popleft())
                skip = 0
                stdin.write(head)
                for start in range(0, len(text), _SLICE):
                    stdin.write(encode_frame(text[start : start + _SLICE]))
                stdin.flush()
        except OSError:  # the child ended: the reader splits what it did not
            pass
        finally:
            with contextlib.suppress(OSError):
                stdin.close()  # the child ends once it has split what it was sent

    def _log_stderr(self) -> None:
        stderr = self.process.stderr
        assert stderr is not None
        with stderr:
            for line in stderr:
                logger.debug("split process: %s", line.decode(errors="replace").rstrip())

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()

    def close(self) -> None:
        """End the child (if it still runs) and wait for it."""
        self.kill()
        self.process.wait()
        if self._writer is not None:
            self._writer.join()
        elif self.process.stdin is not None:
            self.process.stdin.close()
        if self.process.stdout is not None:
            self.process.stdout.close()


def serve() -> None:
    """The child: the settings, then one document a frame until stdin closes; its chunks
    go back in frames of :data:`HANDOVER`."""
    from ._chunking import Chunker

    source, frames = frame_streams()
    first = read_frame(source)
    if first is None:
        return
    settings: SplitSettings = pickle.loads(first)
    chunker = Chunker(
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        encoding=settings.encoding,
    )
    _send(frames, (_READY, None))

    def chunks_of(document: Document) -> Iterator[Chunk]:
        return chunker.iter_split_document(document, theme=settings.theme)

    never = threading.Event()
    while (frame := read_frame(source)) is not None:
        try:
            shell, parts, skip = pickle.loads(frame)
        except Exception:  # of a class only the parent can import: the parent splits it
            traceback.print_exc()
            _send(frames, (_REFUSED, None))
            return
        texts = [read_frame(source) for _ in range(parts)]
        if None in texts:
            return  # the parent stopped part way through a document
        text = "".join(pickle.loads(part) for part in texts if part is not None)
        document = shell.model_copy(update={"page_content": text})
        try:
            for batch in batches(chunks_of, collections.deque([document]), never, skip):
                _send(frames, (_CHUNKS, batch))
        except Exception as exc:
            traceback.print_exc()
            _send(frames, (_ERROR, _portable(exc)))
            return


def _send(frames: Any, value: Any) -> None:
    frames.write(encode_frame(value))
    frames.flush()


def _portable(exc: Exception) -> Exception:
    """``exc`` if it survives pickling, else its type and message in a RuntimeError."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc
