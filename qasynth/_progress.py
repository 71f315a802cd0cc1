"""Progress of a run: a bar on a terminal, a status line now and then elsewhere.

The total is set once every input is split (the first chunks start before:
:meth:`Progress.set_total`); until then the bar counts without one, so the
percentage never goes backwards. Chunks resumed from an earlier run are not in
the total and do not count toward the rate. When stderr is not a terminal (a
log file, CI), no bar frames are written: status lines go to the
``qasynth.progress`` logger instead (the command shows them on stderr): one when
the total is known, one every ``every`` seconds, and one when requests pause for
a rate limit.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from tqdm.auto import tqdm

__all__ = ["Progress"]

logger = logging.getLogger("qasynth.progress")


class Progress:
    """Shows chunks done out of ``total``; ``enabled=False`` shows nothing.

    ``resumed`` chunks were finished by an earlier run: they are named at the start
    but are neither in the total nor in the rate."""

    def __init__(
        self, total: int | None, *, enabled: bool = True, every: float = 30.0, resumed: int = 0
    ) -> None:
        """``total=None``: not known yet (the inputs are still being split); see
        :meth:`set_total`."""
        self.total = total
        self.done = 0
        self.enabled = enabled
        self._every = every
        self._started = time.monotonic()
        self._last_line = self._started
        self._waiting_until = 0.0
        self._stopping = False
        self._bar: Any = None
        if not enabled:
            return
        if sys.stderr.isatty():
            self._bar = tqdm(total=total, unit="chunk", desc="qasynth", file=sys.stderr)
        elif total is not None:
            self._announce(total, resumed)

    def set_total(self, total: int, *, resumed: int = 0) -> None:
        """The number of chunks to do, once every input is split."""
        self.total = total
        if self._bar is not None:
            self._bar.total = total
            self._note("")
            self._bar.refresh()
        elif self.enabled:
            self._announce(total, resumed)

    @staticmethod
    def _announce(total: int, resumed: int) -> None:
        earlier = f" ({resumed:,} finished by an earlier run)" if resumed else ""
        logger.info("qasynth: %s chunks to do%s", f"{total:,}", earlier)

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self._bar is not None:
            if self._waiting_until and now >= self._waiting_until:
                self._waiting_until = 0.0
                self._bar.set_postfix_str("", refresh=False)
            self._bar.update(n)
        elif self.enabled and now - self._last_line >= self._every:
            self._status()

    def splitting(self, done: int, total: int, chunks: int) -> None:
        """Say how far the split of the inputs is (``done`` of ``total`` documents,
        ``chunks`` so far), until the total is known: a run busy with its chunks can
        take a while to split the rest, and a long document a while on its own."""
        self._note(f"splitting the inputs: {done:,}/{total:,} documents ({chunks:,} chunks)")

    def _note(self, text: str) -> None:
        """Show ``text`` beside the bar, unless a stop or a rate-limit wait is shown."""
        if self._bar is not None and not self._stopping and not self._waiting_until:
            self._bar.set_postfix_str(text, refresh=False)

    def waiting(self, seconds: float) -> None:
        """Say that requests are paused (the provider asked to wait), once per pause."""
        now = time.monotonic()
        if not self.enabled or self._stopping or now + seconds <= self._waiting_until:
            return
        fresh = now >= self._waiting_until
        self._waiting_until = now + seconds
        if self._bar is not None:
            self._bar.set_postfix_str(f"waiting {seconds:.0f} s (rate limit)")
        elif fresh:
            logger.info("qasynth: waiting %.0f s: the provider asked to slow down", seconds)

    def stopping(self, in_progress: int) -> None:
        """Say that the run is stopping after the chunks in progress (a first Ctrl-C)."""
        if not self.enabled:
            return
        self._stopping = True
        self._waiting_until = 0.0
        if self._bar is not None:
            self._bar.set_postfix_str(
                f"stopping after {in_progress} in progress; Ctrl-C again: stop now"
            )
        else:
            logger.info(
                "qasynth: stopping: finishing the %s chunks in progress (their requests are "
                "paid for); press Ctrl-C again to stop at once",
                f"{in_progress:,}",
            )

    def _status(self) -> None:
        self._last_line = time.monotonic()
        elapsed = self._last_line - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if self.total is None:
            logger.info("qasynth: %s chunks, %.2f chunks/s", f"{self.done:,}", rate)
            return
        percent = 100.0 * self.done / self.total if self.total else 100.0
        logger.info(
            "qasynth: %s/%s chunks (%.0f%%), %.2f chunks/s",
            f"{self.done:,}",
            f"{self.total:,}",
            percent,
            rate,
        )

    def close(self) -> None:
        """Close the bar (before any final message is printed)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
