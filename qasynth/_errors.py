"""Exceptions raised on purpose by qasynth.

Every error qasynth raises deliberately inherits from :class:`QasynthError`, so
``except qasynth.QasynthError`` catches all of them and nothing else::

    QasynthError
    ├── InputError                 a document, table or option is unusable
    │   ├── DocumentError          a file cannot be read or decoded (carries ``path``)
    │   ├── ColumnError            a table lacks a column (carries ``columns``)
    │   └── OutputError            an output cannot be written (carries ``path``)
    ├── ConfigurationError         the run cannot start (no API key, bad encoding, ...)
    │   └── EncodingUnavailableError   tiktoken cannot load its BPE files offline
    ├── ModelError                 the chat model failed in a way retries cannot fix
    │   ├── AuthenticationError    the provider refused the key, the model or the account
    │   └── UnreachableError       no model server answers at the URL
    ├── ParseError                 model output stayed unusable (carries ``raw_output``)
    └── StateError                 a resumable run's state does not match this run

Messages say what failed, show the offending value and say how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "AuthenticationError",
    "CheckError",
    "ColumnError",
    "ConfigurationError",
    "DocumentError",
    "EncodingUnavailableError",
    "InputError",
    "ModelError",
    "OutputError",
    "ParseError",
    "QasynthError",
    "StateError",
    "UnreachableError",
]


REPORTED_KEY = "qasynth_reported"
REPORTED = {REPORTED_KEY: True}
"""``extra`` for a log record whose news the command reports in its own words (its
summary, its list of notes): the command does not print the record too."""


class QasynthError(Exception):
    """Root of every error qasynth raises on purpose."""


class InputError(QasynthError):
    """An input (document, table, option value) cannot be used."""


class DocumentError(InputError):
    """A document file cannot be read or decoded."""

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else Path(path)


class ColumnError(InputError):
    """A table does not have a column that was asked for."""

    def __init__(self, message: str, *, columns: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.columns = list(columns)


class OutputError(InputError):
    """An output file cannot be written (a read-only folder, a full disk, an input's path)."""

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else Path(path)


class ConfigurationError(QasynthError, ValueError):
    """The run cannot start as configured (missing API key, unknown encoding, an option
    out of range, ...); also a ``ValueError``, as a bad argument is."""


class EncodingUnavailableError(ConfigurationError):
    """tiktoken could not load the files for an encoding (usually: no network)."""


class ModelError(QasynthError):
    """The chat model failed in a way that retrying will not fix.

    When raised by ``Synthesizer.arun``/``synthesize``, ``partial`` holds the
    ``Dataset`` of what was already made, so nothing paid for is lost.
    """

    partial: Any = None


class CheckError(QasynthError):
    """A check raised an error of its own (a bug in a check, not a model failure); the
    message names the check and the chunk. The run stops; when raised by
    ``Synthesizer.arun``/``synthesize``, ``partial`` holds the ``Dataset`` of what was
    already made, and a file run keeps every finished chunk in its state."""

    partial: Any = None


class AuthenticationError(ModelError):
    """The provider refused what holds for every request: the key (401), permission
    (403), the model or URL (404), or the account's quota."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class UnreachableError(ModelError):
    """No model server answers at the configured URL (connection refused, DNS, a reply
    that is not the provider's JSON), so retrying cannot help."""


class ParseError(QasynthError):
    """Model output stayed unusable after local repair and every fix attempt."""

    def __init__(
        self,
        message: str,
        *,
        raw_output: str,
        attempts: int,
        chunk_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.raw_output = raw_output
        self.attempts = attempts
        self.chunk_id = chunk_id


class StateError(QasynthError):
    """A resumable run's saved state does not match the run being started."""
