"""Where ``eval`` and ``finetune`` keep what a rerun must not pay for again.

Their state files sit beside the file they work on, under a hidden name
(``.test.jsonl.qasynth-eval.jsonl``). The file they work on is most often a split
``generate`` wrote, in a folder that ``datasets.load_dataset`` reads whole; it
skips hidden files, so the state never becomes a fourth split with another
schema. A state file kept under the visible name of earlier versions is moved to
the hidden one on first use, so nothing already paid for is lost.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

__all__ = ["state_file_beside"]

logger = logging.getLogger("qasynth")


def state_file_beside(path: Path, suffix: str) -> Path:
    """``.NAME{suffix}`` beside ``path`` (``NAME`` its file name)."""
    hidden = path.with_name(f".{path.name}{suffix}")
    visible = path.with_name(path.name + suffix)
    if visible.is_file() and not hidden.exists():
        try:
            os.replace(visible, hidden)
        except OSError as exc:  # a read-only folder: keep reading it where it is
            logger.debug("cannot rename %s to %s (%s); using it as it is", visible, hidden, exc)
            return visible
        logger.info("moved %s to %s (hidden, out of the way of the splits)", visible, hidden)
    return hidden
