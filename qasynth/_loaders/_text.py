"""Plain text and Markdown files, and the decoding every text format shares: UTF-8, or
UTF-16/UTF-32 with a byte-order mark."""

from __future__ import annotations

import codecs
import os
import shlex
from collections.abc import Iterator
from pathlib import Path

from langchain_core.documents import Document

from .._errors import DocumentError
from .._outline import first_heading

__all__ = [
    "decode_text",
    "not_utf8_hint",
    "read_bytes",
    "read_markdown",
    "read_text",
    "read_text_file",
]

# UTF-32 first: its little-endian mark starts with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def read_bytes(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except FileNotFoundError as exc:
        raise DocumentError(f"file not found: {file}", path=file) from exc
    except OSError as exc:
        raise DocumentError(f"cannot read {file}: {exc.strerror or exc}", path=file) from exc


def not_utf8_hint(file: Path, *, encoding: str | None = None) -> str:
    """How to convert ``file`` to UTF-8 from ``encoding`` (else examples), for an error message."""
    converted = file.with_name(f"{file.stem}.utf8{file.suffix}")
    command = (
        f"iconv -f {encoding or 'ENCODING'} -t utf-8 {shlex.quote(str(file))} "
        f"> {shlex.quote(str(converted))}"
    )
    if encoding:
        return f"convert it to UTF-8 first: {command}"
    return (
        "convert it to UTF-8 first from the encoding it was saved in (such as cp932 for "
        f"Japanese Windows text, or latin-1 for Western European text): {command}"
    )


def decode_text(data: bytes, file: Path) -> str:
    """UTF-8 text, or UTF-16 or UTF-32 text that starts with its byte-order mark;
    the BOM dropped and line ends normalised to ``\\n``."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(name.lower())  # the codec reads the BOM and drops it
            except UnicodeDecodeError as exc:
                raise DocumentError(
                    f"{file} starts with a {name} byte-order mark but is not valid {name} "
                    f"(byte {exc.start}); save it again as UTF-8",
                    path=file,
                ) from exc
            return text.replace("\r\n", "\n").replace("\r", "\n")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if b"\x00" in data[:8192]:
            raise _not_text(file) from exc
        line = data.count(b"\n", 0, exc.start) + 1
        raise DocumentError(
            f"{file} is not valid UTF-8 (byte {exc.start}, line {line}: "
            f"{data[exc.start : exc.start + 4]!r}); {not_utf8_hint(file)}",
            path=file,
        ) from exc
    if "\x00" in text:  # valid UTF-8, yet UTF-16 without a BOM (ASCII letters) or binary
        raise _not_text(file)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _not_text(file: Path) -> DocumentError:
    return DocumentError(
        f"{file} is not a text file (it holds NUL bytes: binary data, or text in UTF-16 "
        "without a byte-order mark); pass a text, Markdown, PDF, DOCX, HTML, JSONL or CSV "
        "file, or save it again as UTF-8",
        path=file,
    )


def read_text_file(path: str | os.PathLike[str]) -> str:
    """Read a text file as UTF-8 (or UTF-16/UTF-32 with a BOM), dropping a BOM and
    normalising line ends."""
    file = Path(path)
    return decode_text(read_bytes(file), file)


def read_text(file: Path) -> Iterator[Document]:
    yield Document(page_content=read_text_file(file), metadata={"source": str(file)})


def read_markdown(file: Path) -> Iterator[Document]:
    """A Markdown file; its first ``# `` heading is its title."""
    text = read_text_file(file)
    metadata: dict[str, object] = {"source": str(file)}
    title = first_heading(text)
    if title:
        metadata["title"] = title
    yield Document(page_content=text, metadata=metadata)
